package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// Per-kernel benchmarks at the shapes that matter (the SE-ResNet's, batch
// 64 at 28x28: stages of 64@28, 128@14, 256@7, 512@4), each reporting its
// achieved GFLOP/s or GB/s, and the peaks they are compared with, measured
// in the same run: BenchmarkPeak/<engine>/gemm512 (a 512³ MatMul on the
// engine: on the CPU, engine/gemm) and BenchmarkPeak/<engine>/memcpy (a
// 64 MiB copy; on the CPU one goroutine per core).
//
// GB/s counts the compulsory traffic only: each input read once and each
// output written once (a kernel that reads its input twice can report less
// than the memory moved).

// kernelBatch is the batch of the per-kernel benchmarks.
const kernelBatch = 64

// kernelEnv is a pool of random tensors on one engine.
type kernelEnv struct {
	be   engine.Backend
	pool *engine.Pool
	idx  *engine.Pool
	rng  *rand.Rand
	todo []*engine.Tensor
}

func newKernelEnv(be engine.Backend) *kernelEnv {
	return &kernelEnv{be: be, pool: engine.NewPool("bench", engine.Float32), idx: engine.NewPool("bench-idx", engine.Int32),
		rng: rand.New(rand.NewPCG(3, 4))}
}

// t declares a float32 tensor filled with N(0,1) values at allocation.
func (k *kernelEnv) t(name string, shape ...int) *engine.Tensor {
	t := k.pool.New(name, shape...)
	k.todo = append(k.todo, t)
	return t
}

// allocate backs the tensors and fills them.
func (k *kernelEnv) allocate(b *testing.B) {
	if err := k.pool.Allocate(k.be); err != nil {
		b.Fatal(err)
	}
	if k.idx.Size() > 0 {
		if err := k.idx.Allocate(k.be); err != nil {
			b.Fatal(err)
		}
	}
	for _, t := range k.todo {
		v := make([]float32, t.Len())
		for i := range v {
			v[i] = float32(k.rng.NormFloat64())
		}
		k.be.Upload(t, v)
	}
	if err := k.be.Sync(); err != nil {
		b.Fatal(err)
	}
}

// run times op (after one untimed call) and reports work/s in unit, with
// work per op in units of 1e9 (GFLOP or GB).
func runKernel(b *testing.B, be engine.Backend, op func(), work float64, unit string) {
	op()
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuSeconds()
	for b.Loop() {
		op()
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(work*float64(b.N)/b.Elapsed().Seconds()/1e9, unit)
	// CPU time per call: on a shared machine it varies far less than the
	// wall time (the process's threads, spinning GEMM helpers included).
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N)*1e3, "cpu-ms/op")
}

type convShape struct {
	name      string
	c, k, h   int // input channels, output channels, input size (square)
	r, stride int // kernel size (square), stride
	pad       int
}

// seConvs are the SE-ResNet's convolutions: the 3x3 stride-1 convs of each
// stage (every block's conv2, and conv1 after the first block) and the
// 1x1 stride-2 shortcuts of stages 2-4; then three of the light ResNet's.
var seConvs = []convShape{
	{"conv3x3_64x28", 64, 64, 28, 3, 1, 1},
	{"conv3x3_128x14", 128, 128, 14, 3, 1, 1},
	{"conv3x3_256x7", 256, 256, 7, 3, 1, 1},
	{"conv3x3_512x4", 512, 512, 4, 3, 1, 1},
	{"conv1x1s2_64to128x28", 64, 128, 28, 1, 2, 0},
	{"conv1x1s2_128to256x14", 128, 256, 14, 1, 2, 0},
	{"conv1x1s2_256to512x7", 256, 512, 7, 1, 2, 0},
	// The light ResNet's small maps: a 1x1 convolution of 2x2 maps (the
	// batched GEMM), a 3x3 one of 2x2 maps (the dense path) and a
	// stride-2 3x3 one of 7x7 maps (im2col through the offset table).
	{"lr_conv1x1_256to1024x2", 256, 1024, 2, 1, 1, 0},
	{"lr_conv3x3_256x2", 256, 256, 2, 3, 1, 1},
	{"lr_conv3x3s2_128x7", 128, 128, 7, 3, 2, 1},
}

func benchConv(b *testing.B, be engine.Backend, s convShape, backward bool) {
	n := kernelBatch
	p := engine.Conv2dParams{StrideH: s.stride, StrideW: s.stride, PadH: s.pad, PadW: s.pad}
	o := engine.ConvOut(s.h, s.r, s.stride, s.pad)
	k := newKernelEnv(be)
	x, w := k.t("x", n, s.c, s.h, s.h), k.t("w", s.k, s.c, s.r, s.r)
	y := k.t("y", n, s.k, o, o)
	var dx, dw *engine.Tensor
	if backward {
		dx, dw = k.t("dx", n, s.c, s.h, s.h), k.t("dw", s.k, s.c, s.r, s.r)
	}
	k.allocate(b)
	flops := 2 * float64(n*s.k*o*o) * float64(s.c*s.r*s.r)
	if !backward {
		runKernel(b, be, func() { be.Conv2d(y, x, w, nil, p) }, flops, UnitFLOPS)
		return
	}
	// dx and dw: two products the size of the forward one.
	runKernel(b, be, func() { be.Conv2dBackward(dx, dw, nil, y, x, w, p) }, 2*flops, UnitFLOPS)
}

// seBNs are batch norms of the SE-ResNet's first and third stages.
var seBNs = []struct {
	name  string
	c, hw int
}{
	{"bn_64x28", 64, 28},
	{"bn_256x7", 256, 7},
}

func benchBN(b *testing.B, be engine.Backend, c, hw int, backward bool) {
	n := kernelBatch
	k := newKernelEnv(be)
	x, y := k.t("x", n, c, hw, hw), k.t("y", n, c, hw, hw)
	mean, inv := k.t("mean", c), k.t("invstd", c)
	rm, rv := k.t("running_mean", c), k.t("running_var", c)
	gamma, beta := k.t("gamma", c), k.t("beta", c)
	var dx, dg, db *engine.Tensor
	if backward {
		dx, dg, db = k.t("dx", n, c, hw, hw), k.t("dgamma", c), k.t("dbeta", c)
	}
	k.allocate(b)
	be.Fill(rv, 1)
	be.BatchNormTrain(y, mean, inv, rm, rv, x, gamma, beta, 0.1, 1e-5)
	size := float64(4 * x.Len())
	if !backward {
		// x read, y written.
		runKernel(b, be, func() { be.BatchNormTrain(y, mean, inv, rm, rv, x, gamma, beta, 0.1, 1e-5) }, 2*size, UnitBW)
		return
	}
	// dy and x read, dx written.
	runKernel(b, be, func() { be.BatchNormBackward(dx, dg, db, y, x, gamma, mean, inv) }, 3*size, UnitBW)
}

// xentShapes: the models' loss (batch 64, 10 classes) and a large one
// where bandwidth, not launch or loop overhead, decides.
var xentShapes = []struct{ n, k int }{{64, 10}, {8192, 1000}}

func benchXent(b *testing.B, be engine.Backend, n, c int) {
	k := newKernelEnv(be)
	logits, dlogits, loss := k.t("logits", n, c), k.t("dlogits", n, c), k.t("loss", 1)
	labels := k.idx.New("labels", n)
	k.allocate(b)
	lab := make([]int32, n)
	for i := range lab {
		lab[i] = int32(k.rng.IntN(c))
	}
	be.UploadInt32(labels, lab)
	// logits and labels read, dlogits written (the loss is 4 bytes).
	bytes := float64(4 * (2*n*c + n))
	runKernel(b, be, func() { be.CrossEntropy(loss, dlogits, logits, labels) }, bytes, UnitBW)
}

// BenchmarkKernel is BenchmarkKernel/<engine>/<kernel>/<pass>.
func BenchmarkKernel(b *testing.B) {
	for _, bk := range Backends() {
		b.Run(bk.Name, func(b *testing.B) {
			for _, s := range seConvs {
				b.Run(s.name+"/fwd", func(b *testing.B) { benchConv(b, openBackend(b, bk), s, false) })
				b.Run(s.name+"/bwd", func(b *testing.B) { benchConv(b, openBackend(b, bk), s, true) })
			}
			for _, s := range seBNs {
				b.Run(s.name+"/fwd", func(b *testing.B) { benchBN(b, openBackend(b, bk), s.c, s.hw, false) })
				b.Run(s.name+"/bwd", func(b *testing.B) { benchBN(b, openBackend(b, bk), s.c, s.hw, true) })
			}
			for _, s := range xentShapes {
				b.Run(fmt.Sprintf("softmax_nll_%dx%d/fwdbwd", s.n, s.k), func(b *testing.B) { benchXent(b, openBackend(b, bk), s.n, s.k) })
			}
		})
	}
}

// BenchmarkPeak is BenchmarkPeak/<engine>/gemm512 (GFLOP/s) and
// BenchmarkPeak/<engine>/memcpy (GB/s, bytes read plus bytes written).
func BenchmarkPeak(b *testing.B) {
	for _, bk := range Backends() {
		b.Run(bk.Name, func(b *testing.B) {
			b.Run("gemm512", func(b *testing.B) {
				be := openBackend(b, bk)
				const n = 512
				k := newKernelEnv(be)
				x, y, z := k.t("a", n, n), k.t("b", n, n), k.t("c", n, n)
				k.allocate(b)
				runKernel(b, be, func() { be.MatMul(z, x, y, false, false) }, 2*n*n*n, UnitFLOPS)
			})
			b.Run("memcpy", func(b *testing.B) {
				be := openBackend(b, bk)
				const n = 16 << 20 // 64 MiB of float32
				k := newKernelEnv(be)
				src, dst := k.t("src", n), k.t("dst", n)
				k.allocate(b)
				cp := bk.Memcpy
				if cp == nil {
					cp = func(be engine.Backend, d, s *engine.Tensor) { be.Copy(d, s) }
				}
				runKernel(b, be, func() { cp(be, dst, src) }, 2*4*n, UnitBW)
			})
		})
	}
}
