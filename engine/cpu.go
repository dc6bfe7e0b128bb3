package engine

import (
	"fmt"
	"math"
	"runtime"
)

// CPU is the pure-Go backend: the fallback when no GPU is present and the
// reference every CUDA kernel is tested against. It parallelises over all
// cores with chunkings that depend only on the problem, so its results are
// bit-identical whatever the number of cores.
type CPU struct {
	w       *workers
	err     error
	scratch []float32
	sub     []float32 // strided 1x1 convolutions' subsampled input (subScratch)
	part64  []float64
	wino    winoTables // the Winograd transforms' gather tables
	// winoLast: the tables of a smaller last task (winoTiledForward);
	// winoTask: the tasks' transformed tiles and products.
	winoLast winoTables
	winoTask []float32
	taps     []int32 // the dense convolutions' tap table (denseTaps)
	tab      []int32 // im2col's offset table (colTable)
	// The batch norms' per-channel buffers (bnScratch, bnCoef32, bnCoef64).
	bn64, bnc64 []float64
	bn32        []float32
	// noWinograd keeps every convolution on im2col + GEMM (SetWinograd).
	noWinograd bool
}

// NewCPU returns a CPU backend using threads goroutines (0: GOMAXPROCS).
func NewCPU(threads int) *CPU {
	return &CPU{w: newWorkers(threads)}
}

// Threads is the number of goroutines the backend runs ops on.
func (c *CPU) Threads() int { return c.w.n }

// Name describes the backend.
func (c *CPU) Name() string {
	return fmt.Sprintf("cpu (%d threads, %s/%s)", c.w.n, runtime.GOOS, runtime.GOARCH)
}

type hostStorage struct {
	c   *CPU
	dt  DType
	f32 []float32
	i32 []int32
}

func (s *hostStorage) Backend() Backend { return s.c }
func (s *hostStorage) DType() DType     { return s.dt }
func (s *hostStorage) Len() int {
	if s.dt == Int32 {
		return len(s.i32)
	}
	return len(s.f32)
}

// Alloc returns zero-filled host memory.
func (c *CPU) Alloc(dt DType, n int) (st Storage, err error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu alloc: negative size %d", n)
	}
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, fmt.Errorf("cpu alloc: %d %s elements (%d MiB): out of memory", n, dt, int64(n)*4>>20)
		}
	}()
	s := &hostStorage{c: c, dt: dt}
	switch dt {
	case Float32:
		s.f32 = make([]float32, n)
	case Int32:
		s.i32 = make([]int32, n)
	case BFloat16:
		return nil, fmt.Errorf("cpu alloc: the CPU engine keeps no bfloat16 tensors (only a GPU at -precision bf16 does)")
	default:
		return nil, fmt.Errorf("cpu alloc: unsupported dtype %s", dt)
	}
	return s, nil
}

// Err returns the first error an op recorded.
func (c *CPU) Err() error { return c.err }

// Sync returns Err: CPU ops complete before they return.
func (c *CPU) Sync() error { return c.err }

// ClearErr forgets a recorded error (tests use it after checking a failure).
func (c *CPU) ClearErr() { c.err = nil }

func (c *CPU) fail(op string, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: %s", op, fmt.Sprintf(format, args...))
	}
}

// ok reports whether op may run: no earlier error, and every non-nil
// tensor is bound to this backend's memory with the right type (float32;
// okAs for the others).
func (c *CPU) ok(op string, ts ...*Tensor) bool { return c.okAs(op, Float32, ts...) }

// check records err (a shape check's) for op and reports whether there was
// none.
func (c *CPU) check(op string, err error) bool {
	if err != nil {
		c.fail(op, "%s", err)
		return false
	}
	return true
}

// anyDType lets okAs accept tensors of every element type.
const anyDType DType = 0xff

// okAs is ok for tensors of element type dt.
func (c *CPU) okAs(op string, dt DType, ts ...*Tensor) bool {
	if c.err != nil {
		return false
	}
	for _, t := range ts {
		if t == nil {
			continue
		}
		st, _ := t.Storage()
		hs, isHost := st.(*hostStorage)
		if st == nil || !isHost || hs.c != c {
			c.fail(op, "tensor %s is not allocated on this backend", t)
			return false
		}
		if dt != anyDType && t.dtype != dt {
			c.fail(op, "tensor %s must be %s", t, dt)
			return false
		}
	}
	return true
}

// F32 returns the host slice of a Float32 tensor bound to a CPU backend.
func F32(t *Tensor) []float32 {
	st, off := t.Storage()
	hs, isHost := st.(*hostStorage)
	if !isHost || hs.dt != Float32 {
		panic(fmt.Sprintf("engine: %s is not a float32 tensor in CPU memory", t))
	}
	return hs.f32[off : off+t.Len()]
}

// I32 returns the host slice of an Int32 tensor bound to a CPU backend.
func I32(t *Tensor) []int32 {
	st, off := t.Storage()
	hs, isHost := st.(*hostStorage)
	if !isHost || hs.dt != Int32 {
		panic(fmt.Sprintf("engine: %s is not an int32 tensor in CPU memory", t))
	}
	return hs.i32[off : off+t.Len()]
}

// scratchF32 returns a reused buffer of n floats (grown, never shrunk).
func (c *CPU) scratchF32(n int) []float32 {
	if cap(c.scratch) < n {
		c.scratch = make([]float32, n)
	}
	return c.scratch[:n]
}

func (c *CPU) scratchF64(n int) []float64 {
	if cap(c.part64) < n {
		c.part64 = make([]float64, n)
	}
	p := c.part64[:n]
	clear(p)
	return p
}

func (c *CPU) sameLen(op string, ts ...*Tensor) bool {
	for _, t := range ts[1:] {
		if t != nil && t.Len() != ts[0].Len() {
			c.fail(op, "element counts differ: %s", shapeStr(ts...))
			return false
		}
	}
	return true
}

func (c *CPU) sameShape(op string, ts ...*Tensor) bool {
	for _, t := range ts[1:] {
		if t != nil && !SameShape(t.shape, ts[0].shape) {
			c.fail(op, "shapes differ: %s", shapeStr(ts...))
			return false
		}
	}
	return true
}

// elementwise grain: elements per chunk.
const ewGrain = 1 << 15

// Upload copies src into dst.
func (c *CPU) Upload(dst *Tensor, src []float32) {
	if !c.ok("upload", dst) {
		return
	}
	if len(src) != dst.Len() {
		c.fail("upload", "%d values for %s", len(src), dst)
		return
	}
	copy(F32(dst), src)
}

// UploadInt32 copies src into an Int32 tensor.
func (c *CPU) UploadInt32(dst *Tensor, src []int32) {
	if !c.okAs("upload", Int32, dst) {
		return
	}
	if len(src) != dst.Len() {
		c.fail("upload", "%d values for %s", len(src), dst)
		return
	}
	copy(I32(dst), src)
}

// Download copies src into dst.
func (c *CPU) Download(dst []float32, src *Tensor) {
	if !c.ok("download", src) {
		return
	}
	if len(dst) != src.Len() {
		c.fail("download", "%d values for %s", len(dst), src)
		return
	}
	copy(dst, F32(src))
}

// DownloadInt32 copies an Int32 tensor into dst.
func (c *CPU) DownloadInt32(dst []int32, src *Tensor) {
	if !c.okAs("download", Int32, src) {
		return
	}
	if len(dst) != src.Len() {
		c.fail("download", "%d values for %s", len(dst), src)
		return
	}
	copy(dst, I32(src))
}

// Fill sets every element to v.
func (c *CPU) Fill(t *Tensor, v float32) {
	if !c.okAs("fill", anyDType, t) {
		return
	}
	if t.dtype == Int32 {
		s := I32(t)
		for i := range s {
			s[i] = int32(v)
		}
		return
	}
	s := F32(t)
	c.w.For(len(s), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s[i] = v
		}
	})
}

// Copy copies src into dst (same element count).
func (c *CPU) Copy(dst, src *Tensor) {
	if !c.okAs("copy", dst.dtype, dst, src) || !c.sameLen("copy", dst, src) {
		return
	}
	if dst.dtype == Int32 {
		copy(I32(dst), I32(src))
		return
	}
	copy(F32(dst), F32(src))
}

// Scale computes y = alpha·x.
func (c *CPU) Scale(y, x *Tensor, alpha float32) {
	if !c.ok("scale", y, x) || !c.sameLen("scale", y, x) {
		return
	}
	ys, xs := F32(y), F32(x)
	c.w.For(len(ys), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] = alpha * xs[i]
		}
	})
}

// Axpy computes y += alpha·x.
func (c *CPU) Axpy(y *Tensor, alpha float32, x *Tensor) {
	if !c.ok("axpy", y, x) || !c.sameLen("axpy", y, x) {
		return
	}
	ys, xs := F32(y), F32(x)
	c.w.For(len(ys), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] += alpha * xs[i]
		}
	})
}

// Mul computes y = a·b element-wise.
func (c *CPU) Mul(y, a, b *Tensor) {
	if !c.ok("mul", y, a, b) || !c.sameLen("mul", y, a, b) {
		return
	}
	ys, as, bs := F32(y), F32(a), F32(b)
	c.w.For(len(ys), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] = as[i] * bs[i]
		}
	})
}

// Relu computes y = max(x, 0). y may be x.
func (c *CPU) Relu(y, x *Tensor) {
	if !c.ok("relu", y, x) || !c.sameLen("relu", y, x) {
		return
	}
	ys, xs := F32(y), F32(x)
	c.w.For(len(ys), ewGrain, func(lo, hi int) {
		reluRun(ys[lo:hi], xs[lo:hi])
	})
}

// ReluBackward computes dx = dy where y > 0, else 0. dx may be dy.
func (c *CPU) ReluBackward(dx, dy, y *Tensor) {
	if !c.ok("relu backward", dx, dy, y) || !c.sameLen("relu backward", dx, dy, y) {
		return
	}
	dxs, dys, ys := F32(dx), F32(dy), F32(y)
	c.w.For(len(dxs), ewGrain, func(lo, hi int) {
		reluBackwardRun(dxs[lo:hi], dys[lo:hi], ys[lo:hi])
	})
}

// Sigmoid computes y = 1/(1+exp(-x)).
func (c *CPU) Sigmoid(y, x *Tensor) {
	if !c.ok("sigmoid", y, x) || !c.sameLen("sigmoid", y, x) {
		return
	}
	ys, xs := F32(y), F32(x)
	c.w.For(len(ys), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] = float32(1 / (1 + math.Exp(-float64(xs[i]))))
		}
	})
}

// SigmoidBackward computes dx = dy·y·(1-y).
func (c *CPU) SigmoidBackward(dx, dy, y *Tensor) {
	if !c.ok("sigmoid backward", dx, dy, y) || !c.sameLen("sigmoid backward", dx, dy, y) {
		return
	}
	dxs, dys, ys := F32(dx), F32(dy), F32(y)
	c.w.For(len(dxs), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dxs[i] = dys[i] * ys[i] * (1 - ys[i])
		}
	})
}

// Gelu computes the exact GELU, 0.5·x·(1+erf(x/√2)) (cpu_gelu.go: within
// about two float32 ulps of math.Erf's).
func (c *CPU) Gelu(y, x *Tensor) {
	if !c.ok("gelu", y, x) || !c.sameLen("gelu", y, x) {
		return
	}
	ys, xs := F32(y), F32(x)
	c.w.For(len(ys), ewGrain, func(lo, hi int) {
		geluRun(ys[lo:hi], xs[lo:hi])
	})
}

// GeluBackward computes dx = dy·(Φ(x) + x·φ(x)).
func (c *CPU) GeluBackward(dx, dy, x *Tensor) {
	if !c.ok("gelu backward", dx, dy, x) || !c.sameLen("gelu backward", dx, dy, x) {
		return
	}
	dxs, dys, xs := F32(dx), F32(dy), F32(x)
	c.w.For(len(dxs), ewGrain, func(lo, hi int) {
		geluBackwardRun(dxs[lo:hi], dys[lo:hi], xs[lo:hi])
	})
}

// dropoutApply writes dst = src·mask/(1-p) with the mask of key.
func (c *CPU) dropoutApply(op string, dst, src *Tensor, p float32, key DropoutKey) {
	if !c.ok(op, dst, src) || !c.sameLen(op, dst, src) {
		return
	}
	if p < 0 || p >= 1 {
		c.fail(op, "probability %g outside [0,1)", p)
		return
	}
	ds, ss := F32(dst), F32(src)
	if p == 0 {
		copy(ds, ss)
		return
	}
	if key.Vars != nil {
		v := c.hostVars(op, key.Vars)
		if v == nil {
			return
		}
		key.Step = uint32(v[VarStep])
	}
	scale := 1 / (1 - p)
	c.w.For((len(ds)+3)/4, ewGrain/4, func(lo, hi int) {
		dropoutRun(ds[lo*4:min(hi*4, len(ds))], ss[lo*4:], lo, key.Layer, key.Step, uint32(key.Seed), uint32(key.Seed>>32), p, scale)
	})
}

// Dropout zeroes each element with probability p and scales the rest by 1/(1-p).
func (c *CPU) Dropout(y, x *Tensor, p float32, key DropoutKey) {
	c.dropoutApply("dropout", y, x, p, key)
}

// DropoutBackward applies the same mask and scale to dy.
func (c *CPU) DropoutBackward(dx, dy *Tensor, p float32, key DropoutKey) {
	c.dropoutApply("dropout backward", dx, dy, p, key)
}

// AddSign adds lambda·sign(param) to grad.
func (c *CPU) AddSign(grad, param *Tensor, lambda float32) {
	if !c.ok("add sign", grad, param) || !c.sameLen("add sign", grad, param) {
		return
	}
	gs, ps := F32(grad), F32(param)
	c.w.For(len(gs), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			switch p := ps[i]; {
			case p > 0:
				gs[i] += lambda
			case p < 0:
				gs[i] -= lambda
			}
		}
	})
}

// SGDStep is torch.optim.SGD's update.
func (c *CPU) SGDStep(params, grads, mom *Tensor, p SGDParams) {
	if !c.ok("sgd step", params, grads, mom) || !c.sameLen("sgd step", params, grads, mom) {
		return
	}
	if p.Momentum != 0 && mom == nil {
		c.fail("sgd step", "momentum %g needs a momentum buffer", p.Momentum)
		return
	}
	if p.Vars != nil {
		v := c.hostVars("sgd step", p.Vars)
		if v == nil {
			return
		}
		p.LR, p.First = math.Float32frombits(uint32(v[VarLR])), v[VarFirst] != 0
	}
	ps, gs := F32(params), F32(grads)
	var ms []float32
	if mom != nil {
		ms = F32(mom)
	}
	c.w.For(len(ps), ewGrain, func(lo, hi int) {
		var m []float32
		if p.Momentum != 0 {
			m = ms[lo:hi]
		}
		sgdRun(ps[lo:hi], gs[lo:hi], m, p)
	})
}

// AdadeltaStep is torch.optim.Adadelta's update.
func (c *CPU) AdadeltaStep(params, grads, squareAvg, accDelta *Tensor, p AdadeltaParams) {
	if !c.ok("adadelta step", params, grads, squareAvg, accDelta) || !c.sameLen("adadelta step", params, grads, squareAvg, accDelta) {
		return
	}
	if p.Vars != nil {
		v := c.hostVars("adadelta step", p.Vars)
		if v == nil {
			return
		}
		p.LR = math.Float32frombits(uint32(v[VarLR]))
	}
	ps, gs, sq, ad := F32(params), F32(grads), F32(squareAvg), F32(accDelta)
	c.w.For(len(ps), ewGrain, func(lo, hi int) {
		adadeltaRun(ps[lo:hi], gs[lo:hi], sq[lo:hi], ad[lo:hi], p)
	})
}
