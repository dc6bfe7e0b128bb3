//go:build cuda || cgo

// Package cuda is gotrain's GPU engine: an engine.Backend whose tensors live
// in device memory and whose ops launch the hand-written kernels of package
// kernels through gorgonia.org/cu (the CUDA driver API; no cuDNN, no cuBLAS).
//
// The driver calls sit behind a small interface (driver.go) with two
// implementations. Built with the `cuda` tag, gorgonia.org/cu drives a GPU;
// only such a build links it, because it initialises the driver when the
// program starts and exits the process when no usable GPU is present.
// Built without the tag (with cgo), the same engine runs the same kernels
// on the CPU emulator of package kernels/emu: that is how every commit tests
// the engine's launches on machines without a GPU.
//
// Every launch's argument count and kinds (pointer, 32-bit integer, float)
// are checked against the kernel's .param list in the embedded PTX.
//
// A CUDA context belongs to an OS thread. Open locks the calling goroutine
// to its thread and makes the device's primary context current there; use
// the backend from that goroutine only (or call Bind from another one).
// Every op is queued on one stream without waiting; errors from the driver
// are recorded with the op's name and surface at Err or Sync.
//
// # Precision and the tensor-core kernels
//
// The GEMMs of convolutions, linear layers and matmuls run at the
// backend's engine.Precision (SetPrecision; -precision on the command
// line): fp32 (float32 products and sums: the float32 SIMT GEMM of
// kernels/gemm.cu, convolutions as im2col or col2im around it), tf32 (the
// default on compute capability 8.0 and later) or bf16 (tensor cores,
// mma.sync m16n8k8 TF32 or m16n8k16 BF16, operands rounded to nearest,
// float32 sums). Batch norm, losses, optimizers, the weights (master
// copies), the gradients and the checkpoints stay float32 in all three:
// BF16 operands are made from float32 as they go from shared memory to
// the tensor cores. At bf16 the activations on a model's conv → batch
// norm (+ ReLU) → conv path are also stored in memory as engine.BFloat16
// tensors (layers.Builder.NarrowAct): a convolution's output that only a
// batch norm reads (layers.StoreForBatchNorm) and a fused batch norm +
// ReLU's output that only convolutions read (layers.StoreForConvs). The
// convolutions write and read them (below); the norm_bn_*_xbf16 kernels
// read a bfloat16 input x and the norm_bn_*_ybf16 ones round y as they
// write it and read it back as the backward pass's ReLU mask, with their
// sums and statistics in double and float32 as before. That halves those
// tensors' memory and traffic (the SE-ResNet's batch-64 training step
// plans 458 MiB instead of 578), as PyTorch's autocast keeps them.
// Rounding a ReLU output that only convolutions read loses nothing the
// convolutions would not round away (the step is bit-identical); a
// convolution's output stored in bfloat16 is rounded once more before its
// batch norm. Any other op handed a BFloat16 tensor refuses it (b.ok).
//
// At tf32 and bf16 the convolutions are implicit GEMMs
// (kernels/conv_igemm.cu): forward, backward-data and backward-weight
// gather their operand tiles straight from the NCHW tensors with cp.async
// into shared memory, so no column buffer is written or read (im2col
// cost a 9x copy of a 3x3 convolution's input each pass, and col2im a
// second pass over the gradient). Linear and MatMul use the same mainloop
// (kernels/igemm.cuh) through the tensor-core kernels of kernels/gemm.cu.
//
// At bf16 a convolution's input x may be an engine.BFloat16 tensor (the
// fused batch norm + ReLU outputs that only convolutions read, which a
// model allocates in bfloat16 at bf16): Conv2d and Conv2dBackward then
// always run the implicit GEMMs, the forward and weight-gradient ones in
// their bf16x variants, which gather x with 2-byte loads into registers
// (cp.async has no 2-byte copy), widen it to float32 in shared memory and
// halve the input's traffic. Likewise the forward's output y may be
// BFloat16 (a convolution output that only a batch norm reads): Conv2d
// then always runs the implicit GEMM in its bf16y (x float32) or bf16xy
// (x BFloat16 too) variant, whose epilogue adds the bias in float32 and
// rounds y to bfloat16 (nearest even) as it stores it; Conv2dBackward
// never reads y. dx, dw, db, dy and w stay float32. At fp32 and tf32 a
// BFloat16 x or y is an error naming the tensor, and every other op
// refuses BFloat16 tensors.
//
// Layout: the engine keeps NCHW, and so do the kernels: no conversion
// runs at all. The cost is in the loads: shared memory holds both operands
// k-contiguous (what ldmatrix and the mma fragments need), and along the
// reduction (c, r, s) an NCHW input is contiguous only within a filter
// row, so the input pixels (forward B, backward-weight B) and dy
// (backward-data B) are gathered with 4-byte cp.async; the weights
// (forward A, contiguous along C·R·S) and dy in the weight gradient
// (contiguous along P·Q) are read with 16-byte cp.async when the row
// length is a multiple of 4 and the tensor 16-byte aligned (4-byte copies
// otherwise). NHWC would make every activation operand contiguous along
// C (16-byte copies everywhere) but would need a layout change in every
// other kernel and the CPU reference, or a transpose per convolution (a
// read and a write of each activation, about what im2col cost): not done;
// NCHW with gathers is where the kernel lab's numbers on a GPU should
// decide. The backward-data pass of a strided convolution is a gather over
// dy whose stride holes are zero-filled copies: for stride 2, 3/4 of its
// B tile is zeros (the 1x1/2 shortcut and the 3x3/2 downsampling; the 7x7/2
// stem's dx is never needed).
//
// The weight gradient splits its reduction over N·P·Q into chunks (a
// multiple of 16, at least 256 long) so that tiles times splits fill the
// device about twice; each split writes its own slice of a partials buffer
// and gemm_sum_splits adds them in split order: deterministic, no float
// atomics.
//
// Which tile (128×64 with 256 threads, or 64×64 with 128) each op uses, per
// precision and by how many large tiles the launch has per SM, comes from
// the committed variant table (variants.tsv, variants.go), which the kernel
// lab (cmd/kernellab -write) measures on a GPU; the one committed now is a
// conservative default that says so in its header.
package cuda

import (
	"fmt"
	"math"
	"os"
	"sync"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/kernels"
)

// tf32EnvOnce prints GOTRAIN_TF32's deprecation once per process.
var tf32EnvOnce sync.Once

// Backend is the CUDA engine on one device.
type Backend struct {
	drv     driver
	open    bool
	ordinal int
	name    string
	sms     int // multiprocessors
	cc      [2]int

	fns      map[string]int // kernel name -> index in kernels
	kernels  []kernel
	launched []int // kernels launched since TakeLaunched, by index

	err error

	prec engine.Precision // GEMMs (convolutions, linear, matmul): fp32, or TF32/BF16 tensor cores

	convVariant string // SetKernelVariant: "" (the table's pick), "im2col", "l" or "s"

	batchedPQ int // SetConvBatchedBelow

	prof *profile // non-nil between StartProfile and StopProfile

	argv [maxArgs]uint64

	scratch [numScratch]deviceBuffer
	allocs  []devptr
	bytes   int64

	capturing    bool     // between BeginCapture and EndCapture (graph.go)
	captureNodes int      // ops captured so far
	launches     int64    // launches, copies and fills queued (Launches)
	timer        [2]event // StartTiming/StopTiming; -1 until made
	scratchGen   int      // counts scratch reallocations: graphs captured before one are stale
}

// kernel is a loaded kernel: the driver's handle, its parameter kinds from
// the PTX (kernels.Sig) and how often it ran.
type kernel struct {
	name     string
	fn       kernelFn
	sig      string
	launches int
}

const maxArgs = 32

// deviceBuffer is a reusable block of device memory (grown, never shrunk).
type deviceBuffer struct {
	ptr   devptr
	bytes int64
}

// Scratch slots: buffers reused by ops for temporaries. Two ops that are
// live at the same time use different slots.
const (
	scratchCols     = iota // im2col columns of a convolution
	scratchPartials        // split-K partial sums of a GEMM
	scratchReduce          // per-block partial sums of reductions
	scratchConvOut         // a batched convolution's (K, N·P·Q) output or dy
	numScratch
)

// Open makes device ordinal ready: it retains the device's primary context,
// makes it current on the calling goroutine's OS thread (which it locks) and
// loads every kernel module.
func Open(ordinal int) (*Backend, error) {
	drv := newDriver()
	info, err := drv.open(ordinal)
	if err != nil {
		return nil, err
	}
	b := &Backend{drv: drv, open: true, ordinal: ordinal, fns: map[string]int{}, sms: info.sms, cc: info.cc, batchedPQ: defaultBatchedPQ,
		timer: [2]event{-1, -1}}
	if b.sms <= 0 {
		b.sms = 1
	}
	b.name = fmt.Sprintf("cuda:%d %s", ordinal, info.name)
	// TF32 GEMMs by default where the GPU has them, as PyTorch runs its
	// convolutions; -precision (SetPrecision) changes it. GOTRAIN_TF32=0,
	// deprecated (kept for one release), still keeps every GEMM in float32.
	if b.cc[0] >= 8 {
		b.prec = engine.TF32
	}
	switch os.Getenv("GOTRAIN_TF32") {
	case "0", "false", "off":
		b.prec = engine.FP32
		tf32EnvOnce.Do(func() {
			fmt.Fprintln(os.Stderr, "gotrain: GOTRAIN_TF32=0 is deprecated and goes in the next release: use -precision fp32")
		})
	}
	for _, m := range kernels.Modules() {
		entries := kernels.Entries(m.PTX)
		fns, err := drv.load(m.Name, m.PTX, entries)
		if err != nil {
			drv.close()
			return nil, fmt.Errorf("cuda: load kernels %s.ptx on %s (compute capability %d.%d): %w", m.Name, b.name, b.cc[0], b.cc[1], err)
		}
		params := kernels.Params(m.PTX)
		for i, e := range entries {
			b.fns[e] = len(b.kernels)
			b.kernels = append(b.kernels, kernel{name: e, fn: fns[i], sig: kernels.Sig(params[e])})
		}
	}
	return b, nil
}

// Bind locks the calling goroutine to its OS thread and makes the backend's
// context current there: call it before using the backend from a goroutine
// other than the one that opened it.
func (b *Backend) Bind() error {
	if err := b.drv.bind(); err != nil {
		return fmt.Errorf("cuda: make context of %s current: %w", b.name, err)
	}
	return nil
}

// Close frees every allocation and releases the context. The backend and
// every tensor on it are unusable afterwards.
func (b *Backend) Close() error {
	if !b.open {
		return nil
	}
	err := b.drv.sync()
	for i := range b.scratch {
		if b.scratch[i].ptr != 0 {
			if e := b.drv.free(b.scratch[i].ptr); err == nil {
				err = e
			}
		}
	}
	for _, p := range b.allocs {
		if e := b.drv.free(p); err == nil {
			err = e
		}
	}
	if e := b.drv.close(); err == nil {
		err = e
	}
	b.open = false
	b.allocs = nil
	return err
}

// Name says which device the backend runs on.
func (b *Backend) Name() string {
	switch b.prec {
	case engine.TF32:
		return b.name + " (TF32)"
	case engine.BF16:
		return b.name + " (BF16)"
	}
	return b.name
}

// Ordinal is the device's index.
func (b *Backend) Ordinal() int { return b.ordinal }

// Multiprocessors is the device's SM count.
func (b *Backend) Multiprocessors() int { return b.sms }

// ComputeCapability is the device's major and minor version.
func (b *Backend) ComputeCapability() (int, int) { return b.cc[0], b.cc[1] }

// MemInfo returns the device's free and total memory in bytes, and the bytes
// this backend holds.
func (b *Backend) MemInfo() (free, total, held int64, err error) {
	free, total, err = b.drv.memInfo()
	held = b.bytes
	for _, s := range b.scratch {
		held += s.bytes
	}
	return free, total, held, err
}

// SetTF32 runs the GEMMs of convolutions, linear layers and matmuls on
// TF32 tensor cores (inputs rounded to 10-bit mantissas, float32 sums)
// when on and the device has them (compute capability 8.0 or later). It is
// on from Open unless GOTRAIN_TF32=0 was set. It reports whether TF32 is
// now in use.
func (b *Backend) SetTF32(on bool) bool {
	p := engine.FP32
	if on {
		p = engine.TF32
	}
	return b.SetPrecision(p) == nil && on
}

// TF32 reports whether GEMMs run on TF32 tensor cores.
func (b *Backend) TF32() bool { return b.prec == engine.TF32 }

// SetPrecision sets the arithmetic of the GEMMs of convolutions, linear
// layers and matmuls (engine.Precision): fp32 anywhere, tf32 and bf16 on
// compute capability 8.0 and later (an error below, the precision then
// unchanged). Batch norm, losses, optimizers and the weights stay float32.
func (b *Backend) SetPrecision(p engine.Precision) error {
	switch p {
	case engine.FP32:
	case engine.TF32, engine.BF16:
		if b.cc[0] < 8 {
			return fmt.Errorf("cuda: -precision %s needs compute capability 8.0 or later; %s has %d.%d: use -precision fp32",
				p, b.name, b.cc[0], b.cc[1])
		}
	default:
		return fmt.Errorf("cuda: unknown precision %v", p)
	}
	b.prec = p
	return nil
}

// Precision is the GEMMs' arithmetic.
func (b *Backend) Precision() engine.Precision { return b.prec }

// Err returns the first error recorded by an op.
func (b *Backend) Err() error { return b.err }

// ClearErr forgets a recorded error (tests use it after checking a failure).
func (b *Backend) ClearErr() { b.err = nil }

// Sync waits for every queued launch and returns Err (with the driver's
// error for a launch that failed while running, if any).
func (b *Backend) Sync() error {
	if err := b.drv.sync(); err != nil && b.err == nil {
		b.err = fmt.Errorf("cuda: synchronize %s: %w", b.name, err)
	}
	return b.err
}

type deviceStorage struct {
	b   *Backend
	dt  engine.DType
	n   int
	ptr devptr
}

func (s *deviceStorage) Backend() engine.Backend { return s.b }
func (s *deviceStorage) Len() int                { return s.n }
func (s *deviceStorage) DType() engine.DType     { return s.dt }

// Alloc returns zero-filled device memory of n elements.
func (b *Backend) Alloc(dt engine.DType, n int) (engine.Storage, error) {
	if n < 0 {
		return nil, fmt.Errorf("cuda alloc: negative size %d", n)
	}
	if dt != engine.Float32 && dt != engine.Int32 && dt != engine.BFloat16 {
		return nil, fmt.Errorf("cuda alloc: unsupported dtype %s", dt)
	}
	s := &deviceStorage{b: b, dt: dt, n: n}
	if n == 0 {
		return s, nil
	}
	bytes := (int64(n)*int64(dt.Size()) + 3) &^ 3 // whole 32-bit words, for the fill
	if b.capturing {
		return nil, fmt.Errorf("cuda alloc: %d MiB while capturing a graph (allocate before the capture: run one step uncaptured first)", bytes>>20)
	}
	p, err := b.drv.alloc(bytes)
	if err != nil {
		free, total, _ := b.drv.memInfo()
		return nil, fmt.Errorf("cuda alloc: %d MiB on %s (%d MiB free of %d MiB, %d MiB held by gotrain): %w",
			bytes>>20, b.name, free>>20, total>>20, b.bytes>>20, err)
	}
	if err := b.drv.memsetD32(p, 0, bytes/4); err != nil {
		b.drv.free(p)
		return nil, fmt.Errorf("cuda alloc: clear %d MiB: %w", bytes>>20, err)
	}
	s.ptr = p
	b.allocs = append(b.allocs, p)
	b.bytes += bytes
	return s, nil
}

// scratchBuf returns a device buffer of at least n float32s for slot, grown
// (never shrunk) on demand: a training loop allocates in its first step only.
func (b *Backend) scratchBuf(op string, slot, n int) (devptr, bool) {
	bytes := int64(n) * 4
	s := &b.scratch[slot]
	if s.bytes >= bytes {
		return s.ptr, true
	}
	if s.ptr != 0 {
		// Queued kernels may still read the old buffer.
		if err := b.drv.sync(); err != nil {
			b.fail(op, "synchronize before growing scratch: %v", err)
			return 0, false
		}
		if err := b.drv.free(s.ptr); err != nil {
			b.fail(op, "free scratch: %v", err)
			return 0, false
		}
		s.ptr, s.bytes = 0, 0
	}
	grow := bytes + bytes/4
	p, err := b.drv.alloc(grow)
	if err != nil {
		free, total, _ := b.drv.memInfo()
		b.fail(op, "scratch of %d MiB on %s (%d MiB free of %d MiB): %v", grow>>20, b.name, free>>20, total>>20, err)
		return 0, false
	}
	s.ptr, s.bytes = p, grow
	b.scratchGen++
	return p, true
}

func (b *Backend) fail(op string, format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("%s: %s", op, fmt.Sprintf(format, args...))
	}
}

// check records err (a shape check's, shared with the CPU engine) for op
// and reports whether there was none.
func (b *Backend) check(op string, err error) bool {
	if err != nil {
		b.fail(op, "%s", err)
		return false
	}
	return true
}

// anyDType lets okAs accept every element type.
const anyDType engine.DType = 0xff

// ok reports whether op may run: no earlier error, every non-nil tensor in
// this backend's memory and float32.
func (b *Backend) ok(op string, ts ...*engine.Tensor) bool { return b.okAs(op, engine.Float32, ts...) }

func (b *Backend) okAs(op string, dt engine.DType, ts ...*engine.Tensor) bool {
	if b.err != nil {
		return false
	}
	for _, t := range ts {
		if t == nil {
			continue
		}
		st, _ := t.Storage()
		ds, isDev := st.(*deviceStorage)
		if st == nil || !isDev || ds.b != b {
			b.fail(op, "tensor %s is not allocated on %s", t, b.name)
			return false
		}
		if dt != anyDType && t.DType() != dt {
			b.fail(op, "tensor %s must be %s", t, dt)
			return false
		}
	}
	return true
}

func shapeStr(ts ...*engine.Tensor) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		if t == nil {
			s += "nil"
		} else {
			s += t.String()
		}
	}
	return s
}

func (b *Backend) sameLen(op string, ts ...*engine.Tensor) bool {
	for _, t := range ts[1:] {
		if t != nil && t.Len() != ts[0].Len() {
			b.fail(op, "element counts differ: %s", shapeStr(ts...))
			return false
		}
	}
	return true
}

func (b *Backend) sameShape(op string, ts ...*engine.Tensor) bool {
	for _, t := range ts[1:] {
		if t != nil && !engine.SameShape(t.Shape(), ts[0].Shape()) {
			b.fail(op, "shapes differ: %s", shapeStr(ts...))
			return false
		}
	}
	return true
}

// addr is the device address of t's first element (0 for a nil tensor).
// t must have passed ok.
func addr(t *engine.Tensor) devptr {
	if t == nil {
		return 0
	}
	st, off := t.Storage()
	return st.(*deviceStorage).ptr + devptr(off)*devptr(t.DType().Size())
}

// arg is one kernel argument in the 8-byte slot cuLaunchKernel reads (a
// 32-bit int or float takes the low 4 bytes), with its kind as kernels.Sig
// writes it (p: pointer, i: 32-bit integer, f: float32), checked against
// the kernel's PTX parameters at every launch.
type arg struct {
	bits uint64
	kind byte
}

// ptr is t's address as a pointer argument; dp is a device address as one.
func ptr(t *engine.Tensor) arg { return dp(addr(t)) }
func dp(p devptr) arg          { return arg{uint64(p), 'p'} }

// i32 is a 32-bit integer argument (int or unsigned in the kernel), f32 a
// float argument.
func i32(v int) arg     { return arg{uint64(uint32(int32(v))), 'i'} }
func u32(v uint32) arg  { return arg{uint64(v), 'i'} }
func f32(v float32) arg { return arg{uint64(math.Float32bits(v)), 'f'} }

// dim3 is a launch's grid or block shape.
type dim3 struct{ x, y, z int }

func d1(x int) dim3 { return dim3{x, 1, 1} }

// blocks is the number of blocks of size per that cover n items.
func blocks(n, per int) int { return (n + per - 1) / per }

// launch queues kernel on the backend's stream; op names the engine op for
// errors. The arguments must match the kernel's PTX parameters in number
// and kind.
func (b *Backend) launch(op, name string, grid, block dim3, shmem int, args ...arg) {
	if b.err != nil {
		return
	}
	ki, found := b.fns[name]
	if !found {
		b.fail(op, "kernel %s is not in the embedded PTX (run `make ptx`)", name)
		return
	}
	k := &b.kernels[ki]
	if len(args) > maxArgs {
		b.fail(op, "kernel %s: %d arguments (at most %d)", name, len(args), maxArgs)
		return
	}
	if len(args) != len(k.sig) {
		b.fail(op, "kernel %s takes %d parameters (%s), launched with %d", name, len(k.sig), k.sig, len(args))
		return
	}
	for i, a := range args {
		if a.kind != k.sig[i] {
			b.fail(op, "kernel %s: argument %d is a %s, its parameter a %s (PTX %s)", name, i, kindName(a.kind), kindName(k.sig[i]), k.sig)
			return
		}
		b.argv[i] = a.bits
	}
	if grid.x <= 0 || grid.y <= 0 || grid.z <= 0 {
		return // nothing to do
	}
	if k.launches == 0 {
		b.launched = append(b.launched, ki)
	}
	k.launches++
	if b.prof != nil {
		if err := b.prof.before(b.drv, op, name); err != nil {
			b.fail(op, "%v", err)
			return
		}
	}
	b.queued()
	if err := b.drv.launch(k.fn, grid, block, shmem, b.argv[:len(args)]); err != nil {
		b.fail(op, "launch %s grid %v block %v: %v", name, grid, block, err)
	}
	if b.prof != nil {
		if err := b.prof.after(b.drv); err != nil {
			b.fail(op, "%v", err)
		}
	}
}

func kindName(k byte) string {
	switch k {
	case 'p':
		return "pointer"
	case 'i':
		return "32-bit integer"
	case 'f':
		return "float32"
	case 'd':
		return "float64"
	}
	return "parameter of another kind"
}

// TakeLaunched returns the kernels launched since the last call, each
// with its launch count, and starts counting again (the parity tests use it
// to say which kernels a check covered).
func (b *Backend) TakeLaunched() map[string]int {
	out := make(map[string]int, len(b.launched))
	for _, ki := range b.launched {
		out[b.kernels[ki].name] = b.kernels[ki].launches
		b.kernels[ki].launches = 0
	}
	b.launched = b.launched[:0]
	return out
}

// PeekLaunched reports which kernels were launched since TakeLaunched,
// without forgetting them.
func (b *Backend) PeekLaunched() map[string]bool {
	out := make(map[string]bool, len(b.launched))
	for _, ki := range b.launched {
		out[b.kernels[ki].name] = true
	}
	return out
}

// Kernels lists every kernel the backend loaded.
func (b *Backend) Kernels() []string {
	out := make([]string, len(b.kernels))
	for i, k := range b.kernels {
		out[i] = k.name
	}
	return out
}

// Driver says what the backend runs on: "cuda" (a GPU through
// gorgonia.org/cu) or "emulator" (the kernels on the CPU, kernels/emu).
func (b *Backend) Driver() string { return DriverName }

var _ engine.Backend = (*Backend)(nil)

// PeakMemoryBytes is the device memory the backend holds: its allocations
// and scratch buffers, which only grow (bench.PeakMemory).
func (b *Backend) PeakMemoryBytes() int64 {
	_, _, held, _ := b.MemInfo()
	return held
}
