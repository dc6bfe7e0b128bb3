package engine_test

// Benchmarks of the memory-bound ops on the CPU engine, each reporting the
// bytes it must move (every input read once, every output written once) per
// second as GB/s, beside BenchmarkMemcpy, a copy of the same bytes: the ratio
// is how close an op runs to the machine's memory speed.
//
//	go test ./engine -run '^$' -bench 'Memcpy|MemBound' -benchtime 20x

import (
	"strings"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// memShape is an SE-ResNet stage-1 activation at batch 64: (64, 64, 28, 28),
// 12.8 MB of float32.
var memShape = []int{64, 64, 28, 28}

func reportGBs(b *testing.B, bytes int) {
	b.SetBytes(int64(bytes))
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkMemcpy copies one activation (reads and writes count: 2 × its
// bytes), with the engine's workers as the ops use them.
func BenchmarkMemcpy(b *testing.B) {
	be := engine.NewCPU(0)
	a := newAlloc(b, be, 1)
	x := a.rand(memShape...)
	y := a.like(x)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		be.Copy(y, x)
	}
	reportGBs(b, 2*4*x.Len())
}

// BenchmarkMemcpyBuiltin is Go's copy of the same bytes on one goroutine.
func BenchmarkMemcpyBuiltin(b *testing.B) {
	n := engine.Numel(memShape)
	x, y := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(y, x)
	}
	reportGBs(b, 2*4*n)
}

// memOp is one benchmarked op: run does the op, bytes is its minimal
// traffic in units of one activation (4·len bytes).
type memOp struct {
	name  string
	units float64
	setup func(a *alloc) func()
}

func memOps() []memOp {
	ch := memShape[1]
	bnArgs := func(a *alloc) (x, y, sm, si, rm, rv, g, bt *engine.Tensor) {
		return a.rand(memShape...), a.zeros(memShape...), a.zeros(ch), a.zeros(ch), a.zeros(ch), a.full(1, ch),
			a.uniform(0.5, 1.5, ch), a.rand(ch)
	}
	return []memOp{
		{"relu", 2, func(a *alloc) func() {
			x, y := a.rand(memShape...), a.zeros(memShape...)
			return func() { a.be.Relu(y, x) }
		}},
		{"relu_backward", 3, func(a *alloc) func() {
			y, dy, dx := a.rand(memShape...), a.rand(memShape...), a.zeros(memShape...)
			return func() { a.be.ReluBackward(dx, dy, y) }
		}},
		{"add", 3, func(a *alloc) func() {
			x, z, y := a.rand(memShape...), a.rand(memShape...), a.zeros(memShape...)
			return func() { a.be.Add(y, x, z) }
		}},
		{"axpy", 3, func(a *alloc) func() {
			x, y := a.rand(memShape...), a.rand(memShape...)
			return func() { a.be.Axpy(y, 1e-3, x) }
		}},
		{"channelscale", 2, func(a *alloc) func() {
			x, y, s := a.rand(memShape...), a.zeros(memShape...), a.rand(memShape[0], ch)
			return func() { a.be.ChannelScale(y, x, s) }
		}},
		{"adaptiveavgpool_1x1", 1, func(a *alloc) func() {
			x, y := a.rand(memShape...), a.zeros(memShape[0], ch, 1, 1)
			return func() { a.be.AdaptiveAvgPool2d(y, x) }
		}},
		{"batchnorm_train", 2, func(a *alloc) func() {
			x, y, sm, si, rm, rv, g, bt := bnArgs(a)
			return func() { a.be.BatchNormTrain(y, sm, si, rm, rv, x, g, bt, 0.1, 1e-5) }
		}},
		{"batchnorm_eval", 2, func(a *alloc) func() {
			x, y, _, _, rm, rv, g, bt := bnArgs(a)
			return func() { a.be.BatchNormEval(y, x, g, bt, rm, rv, 1e-5) }
		}},
		{"batchnorm_backward", 3, func(a *alloc) func() {
			x, y, sm, si, rm, rv, g, bt := bnArgs(a)
			a.be.BatchNormTrain(y, sm, si, rm, rv, x, g, bt, 0.1, 1e-5)
			dy, dx, dg, db := a.rand(memShape...), a.zeros(memShape...), a.zeros(ch), a.zeros(ch)
			return func() { a.be.BatchNormBackward(dx, dg, db, dy, x, g, sm, si) }
		}},
		{"batchnorm_relu_train", 2, func(a *alloc) func() {
			x, y, sm, si, rm, rv, g, bt := bnArgs(a)
			return func() { a.be.BatchNormReluTrain(y, sm, si, rm, rv, x, g, bt, 0.1, 1e-5) }
		}},
		{"batchnorm_relu_backward", 4, func(a *alloc) func() {
			x, y, sm, si, rm, rv, g, bt := bnArgs(a)
			a.be.BatchNormReluTrain(y, sm, si, rm, rv, x, g, bt, 0.1, 1e-5)
			dy, dx, dg, db := a.rand(memShape...), a.zeros(memShape...), a.zeros(ch), a.zeros(ch)
			return func() { a.be.BatchNormReluBackward(dx, dg, db, dy, y, x, g, sm, si) }
		}},
		{"add_relu", 3, func(a *alloc) func() {
			x, z, y := a.rand(memShape...), a.rand(memShape...), a.zeros(memShape...)
			return func() { a.be.AddRelu(y, x, z) }
		}},
		{"dropout", 2, func(a *alloc) func() {
			x, y := a.rand(memShape...), a.zeros(memShape...)
			return func() { a.be.Dropout(y, x, 0.25, engine.DropoutKey{Seed: 1, Layer: 2, Step: 3}) }
		}},
		{"maxpool_3x3s1", 3, func(a *alloc) func() { // x read, y and the int32 indices written
			x, y := a.rand(memShape...), a.zeros(memShape...)
			idx := a.int32s(make([]int32, y.Len()), memShape...)
			return func() {
				a.be.MaxPool2d(y, idx, x, engine.Pool2dParams{KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1})
			}
		}},
		{"maxpool_2x2s2", 1.5, func(a *alloc) func() {
			x, y := a.rand(memShape...), a.zeros(memShape[0], ch, memShape[2]/2, memShape[3]/2)
			idx := a.int32s(make([]int32, y.Len()), y.Shape()...)
			return func() { a.be.MaxPool2d(y, idx, x, engine.Pool2dParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}) }
		}},
		{"gelu", 2, func(a *alloc) func() {
			x, y := a.rand(memShape...), a.zeros(memShape...)
			return func() { a.be.Gelu(y, x) }
		}},
		{"gelu_backward", 3, func(a *alloc) func() {
			x, dy, dx := a.rand(memShape...), a.rand(memShape...), a.zeros(memShape...)
			return func() { a.be.GeluBackward(dx, dy, x) }
		}},
		{"layernorm_3200x768", 0, func(a *alloc) func() { // the ViT's rows (batch 64, 50 tokens)
			x, y, g, bt := a.rand(3200, 768), a.zeros(3200, 768), a.rand(768), a.rand(768)
			sm, si := a.zeros(3200), a.zeros(3200)
			return func() { a.be.LayerNorm(y, sm, si, x, g, bt, 1e-5) }
		}},
		{"layernorm_backward_3200x768", 0, func(a *alloc) func() {
			x, y, g, bt := a.rand(3200, 768), a.zeros(3200, 768), a.rand(768), a.rand(768)
			sm, si := a.zeros(3200), a.zeros(3200)
			a.be.LayerNorm(y, sm, si, x, g, bt, 1e-5)
			dy, dx, dg, db := a.rand(3200, 768), a.zeros(3200, 768), a.zeros(768), a.zeros(768)
			return func() { a.be.LayerNormBackward(dx, dg, db, dy, x, g, sm, si) }
		}},
		{"sgd_momentum", 5, func(a *alloc) func() { // params, grads, momentum read; params, momentum written
			p, g, m := a.rand(memShape...), a.rand(memShape...), a.rand(memShape...)
			return func() { a.be.SGDStep(p, g, m, engine.SGDParams{LR: 1e-3, Momentum: 0.9, WeightDecay: 5e-4}) }
		}},
		{"adadelta", 7, func(a *alloc) func() { // four read, three written
			p, g, s, d := a.rand(memShape...), a.rand(memShape...), a.full(1, memShape...), a.full(1, memShape...)
			return func() { a.be.AdadeltaStep(p, g, s, d, engine.AdadeltaParams{LR: 1e-3, Rho: 0.9, Eps: 1e-6}) }
		}},
		{"crossentropy_64x10", 0, func(a *alloc) func() {
			logits, d, loss := a.uniform(-3, 3, 64, 10), a.zeros(64, 10), a.zeros(1)
			lab := make([]int32, 64)
			for i := range lab {
				lab[i] = int32(i % 10)
			}
			labels := a.int32s(lab, 64)
			return func() { a.be.CrossEntropy(loss, d, logits, labels) }
		}},
	}
}

// BenchmarkMemBound runs every memory-bound op of memOps on memShape.
func BenchmarkMemBound(b *testing.B) {
	for _, op := range memOps() {
		b.Run(op.name, func(b *testing.B) {
			be := engine.NewCPU(0)
			run := op.setup(newAlloc(b, be, 2))
			run()
			if err := be.Err(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run()
			}
			bytes := int(op.units * float64(4*engine.Numel(memShape)))
			switch {
			case strings.HasPrefix(op.name, "layernorm_backward"):
				bytes = 3 * 4 * 3200 * 768 // dy and x read, dx written
			case strings.HasPrefix(op.name, "layernorm"):
				bytes = 2 * 4 * 3200 * 768 // x read, y written
			case op.units == 0:
				bytes = 4 * (2*64*10 + 64) // logits read, dlogits written, labels
			}
			reportGBs(b, bytes)
		})
	}
}
