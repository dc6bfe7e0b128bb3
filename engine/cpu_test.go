package engine_test

// Behaviour tests of the CPU backend that the gradient checks
// (gradcheck_test.go) do not cover: forward values against naive float64
// references, fully written outputs, error recording, pools, dropout masks,
// Philox, determinism across core counts, max-pool ties, the optimizers and
// the output-size formulas.

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
)

// ---- fully written outputs -------------------------------------------

type opCase struct {
	name string
	// build declares the op's tensors and returns its outputs (to poison)
	// and the call.
	build func(a *alloc) (outs []*engine.Tensor, run func())
}

func pp(k, s, p int, ceil, excl bool) engine.Pool2dParams { return pool(k, s, p, ceil, excl) }

// writeCases covers every op that writes outputs. Sizes cross the chunk
// boundaries of the element-wise loops (2^15 elements) and use batch 37 for
// the convolution.
func writeCases() []opCase {
	const big = 70001 // three element-wise chunks, the last one partial
	key := engine.DropoutKey{Seed: 42, Step: 1, Layer: 0}
	unary := func(f func(be *engine.CPU, y, x *engine.Tensor)) func(a *alloc) ([]*engine.Tensor, func()) {
		return func(a *alloc) ([]*engine.Tensor, func()) {
			x, y := a.rand(big), a.zeros(big)
			return []*engine.Tensor{y}, func() { f(a.be, y, x) }
		}
	}
	binary := func(f func(be *engine.CPU, y, x, z *engine.Tensor)) func(a *alloc) ([]*engine.Tensor, func()) {
		return func(a *alloc) ([]*engine.Tensor, func()) {
			x, z, y := a.rand(big), a.rand(big), a.zeros(big)
			return []*engine.Tensor{y}, func() { f(a.be, y, x, z) }
		}
	}
	conv := func(k, pad int, bwd bool) func(a *alloc) ([]*engine.Tensor, func()) {
		return func(a *alloc) ([]*engine.Tensor, func()) {
			prm := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: pad, PadW: pad}
			x, w, b := a.rand(37, 3, 8, 7), a.rand(4, 3, k, k), a.rand(4)
			oh, ow := engine.ConvOut(8, k, 1, pad), engine.ConvOut(7, k, 1, pad)
			if !bwd {
				y := a.zeros(37, 4, oh, ow)
				return []*engine.Tensor{y}, func() { a.be.Conv2d(y, x, w, b, prm) }
			}
			dy, dx, dw, db := a.rand(37, 4, oh, ow), a.like(x), a.like(w), a.like(b)
			return []*engine.Tensor{dx, dw, db}, func() { a.be.Conv2dBackward(dx, dw, db, dy, x, w, prm) }
		}
	}
	return []opCase{
		{"fill", func(a *alloc) ([]*engine.Tensor, func()) {
			y := a.zeros(big)
			return []*engine.Tensor{y}, func() { a.be.Fill(y, 3) }
		}},
		{"copy", unary(func(be *engine.CPU, y, x *engine.Tensor) { be.Copy(y, x) })},
		{"scale", unary(func(be *engine.CPU, y, x *engine.Tensor) { be.Scale(y, x, 0.5) })},
		{"mul", binary(func(be *engine.CPU, y, x, z *engine.Tensor) { be.Mul(y, x, z) })},
		{"add", binary(func(be *engine.CPU, y, x, z *engine.Tensor) { be.Add(y, x, z) })},
		{"relu", unary(func(be *engine.CPU, y, x *engine.Tensor) { be.Relu(y, x) })},
		{"relu backward", binary(func(be *engine.CPU, y, x, z *engine.Tensor) { be.ReluBackward(y, x, z) })},
		{"sigmoid", unary(func(be *engine.CPU, y, x *engine.Tensor) { be.Sigmoid(y, x) })},
		{"sigmoid backward", binary(func(be *engine.CPU, y, x, z *engine.Tensor) { be.SigmoidBackward(y, x, z) })},
		{"gelu", unary(func(be *engine.CPU, y, x *engine.Tensor) { be.Gelu(y, x) })},
		{"gelu backward", binary(func(be *engine.CPU, y, x, z *engine.Tensor) { be.GeluBackward(y, x, z) })},
		{"dropout", unary(func(be *engine.CPU, y, x *engine.Tensor) { be.Dropout(y, x, 0.5, key) })},
		{"dropout p=0", unary(func(be *engine.CPU, y, x *engine.Tensor) { be.Dropout(y, x, 0, key) })},
		{"dropout backward", unary(func(be *engine.CPU, y, x *engine.Tensor) { be.DropoutBackward(y, x, 0.25, key) })},
		{"add broadcast", func(a *alloc) ([]*engine.Tensor, func()) {
			x, b, y := a.rand(37, 50, 40), a.rand(50, 1), a.zeros(37, 50, 40)
			return []*engine.Tensor{y}, func() { a.be.Add(y, x, b) }
		}},
		{"sum to (40)", func(a *alloc) ([]*engine.Tensor, func()) {
			dy, y := a.rand(37, 50, 40), a.zeros(40)
			return []*engine.Tensor{y}, func() { a.be.SumTo(y, dy) }
		}},
		{"sum to (50,1)", func(a *alloc) ([]*engine.Tensor, func()) {
			dy, y := a.rand(37, 50, 40), a.zeros(50, 1)
			return []*engine.Tensor{y}, func() { a.be.SumTo(y, dy) }
		}},
		{"conv2d 3x3", conv(3, 1, false)},
		{"conv2d 1x1", conv(1, 0, false)},
		{"conv2d backward 3x3", conv(3, 1, true)},
		{"conv2d backward 1x1", conv(1, 0, true)},
		{"linear", func(a *alloc) ([]*engine.Tensor, func()) {
			x, w, b, y := a.rand(37, 3, 40), a.rand(24, 40), a.rand(24), a.zeros(37, 3, 24)
			return []*engine.Tensor{y}, func() { a.be.Linear(y, x, w, b) }
		}},
		{"linear backward", func(a *alloc) ([]*engine.Tensor, func()) {
			x, w, dy := a.rand(37, 3, 40), a.rand(24, 40), a.rand(37, 3, 24)
			dx, dw, db := a.like(x), a.like(w), a.zeros(24)
			return []*engine.Tensor{dx, dw, db}, func() { a.be.LinearBackward(dx, dw, db, dy, x, w) }
		}},
		{"matmul NN", func(a *alloc) ([]*engine.Tensor, func()) {
			x, z, y := a.rand(5, 7, 9), a.rand(5, 9, 6), a.zeros(5, 7, 6)
			return []*engine.Tensor{y}, func() { a.be.MatMul(y, x, z, false, false) }
		}},
		{"matmul TT", func(a *alloc) ([]*engine.Tensor, func()) {
			x, z, y := a.rand(2, 9, 7), a.rand(2, 6, 9), a.zeros(2, 7, 6)
			return []*engine.Tensor{y}, func() { a.be.MatMul(y, x, z, true, true) }
		}},
		{"batchnorm", func(a *alloc) ([]*engine.Tensor, func()) {
			x, g, b, rm, rv := a.rand(37, 4, 5, 5), a.rand(4), a.rand(4), a.zeros(4), a.full(1, 4)
			y, sm, si := a.like(x), a.zeros(4), a.zeros(4)
			return []*engine.Tensor{y, sm, si}, func() { a.be.BatchNormTrain(y, sm, si, rm, rv, x, g, b, 0.1, 1e-5) }
		}},
		{"batchnorm eval", func(a *alloc) ([]*engine.Tensor, func()) {
			x, g, b, rm, rv := a.rand(37, 4, 5, 5), a.rand(4), a.rand(4), a.rand(4), a.full(2, 4)
			y := a.like(x)
			return []*engine.Tensor{y}, func() { a.be.BatchNormEval(y, x, g, b, rm, rv, 1e-5) }
		}},
		{"batchnorm backward", func(a *alloc) ([]*engine.Tensor, func()) {
			x, g, dy, sm, si := a.rand(37, 4, 5, 5), a.rand(4), a.rand(37, 4, 5, 5), a.rand(4), a.full(2, 4)
			dx, dg, db := a.like(x), a.zeros(4), a.zeros(4)
			return []*engine.Tensor{dx, dg, db}, func() { a.be.BatchNormBackward(dx, dg, db, dy, x, g, sm, si) }
		}},
		{"batchnorm eval backward", func(a *alloc) ([]*engine.Tensor, func()) {
			x, g, dy, rm, rv := a.rand(37, 4, 5, 5), a.rand(4), a.rand(37, 4, 5, 5), a.rand(4), a.full(2, 4)
			dx, dg, db := a.like(x), a.zeros(4), a.zeros(4)
			return []*engine.Tensor{dx, dg, db}, func() { a.be.BatchNormEvalBackward(dx, dg, db, dy, x, g, rm, rv, 1e-5) }
		}},
		{"layernorm", func(a *alloc) ([]*engine.Tensor, func()) {
			x, g, b := a.rand(37, 3, 20), a.rand(20), a.rand(20)
			y, sm, si := a.like(x), a.zeros(111), a.zeros(111)
			return []*engine.Tensor{y, sm, si}, func() { a.be.LayerNorm(y, sm, si, x, g, b, 1e-5) }
		}},
		{"layernorm backward", func(a *alloc) ([]*engine.Tensor, func()) {
			x, g, dy, sm, si := a.rand(37, 3, 20), a.rand(20), a.rand(37, 3, 20), a.rand(111), a.full(2, 111)
			dx, dg, db := a.like(x), a.zeros(20), a.zeros(20)
			return []*engine.Tensor{dx, dg, db}, func() { a.be.LayerNormBackward(dx, dg, db, dy, x, g, sm, si) }
		}},
		{"softmax", func(a *alloc) ([]*engine.Tensor, func()) {
			x, y := a.rand(37, 3, 20), a.zeros(37, 3, 20)
			return []*engine.Tensor{y}, func() { a.be.Softmax(y, x) }
		}},
		{"softmax backward", func(a *alloc) ([]*engine.Tensor, func()) {
			dy, y, dx := a.rand(37, 20), a.rand(37, 20), a.zeros(37, 20)
			return []*engine.Tensor{dx}, func() { a.be.SoftmaxBackward(dx, dy, y) }
		}},
		{"maxpool2d", func(a *alloc) ([]*engine.Tensor, func()) {
			x, y, idx := a.rand(37, 3, 7, 6), a.zeros(37, 3, 4, 4), a.int32s(nil, 37, 3, 4, 4)
			return []*engine.Tensor{y, idx}, func() { a.be.MaxPool2d(y, idx, x, pp(3, 2, 1, true, false)) }
		}},
		{"maxpool2d backward", func(a *alloc) ([]*engine.Tensor, func()) {
			x, y, idx, dy, dx := a.rand(37, 3, 7, 6), a.zeros(37, 3, 4, 4), a.int32s(nil, 37, 3, 4, 4), a.rand(37, 3, 4, 4), a.zeros(37, 3, 7, 6)
			a.be.MaxPool2d(y, idx, x, pp(3, 2, 1, true, false))
			return []*engine.Tensor{dx}, func() { a.be.MaxPool2dBackward(dx, dy, idx) }
		}},
		{"avgpool2d", func(a *alloc) ([]*engine.Tensor, func()) {
			x, y := a.rand(37, 3, 7, 6), a.zeros(37, 3, 4, 4)
			return []*engine.Tensor{y}, func() { a.be.AvgPool2d(y, x, pp(3, 2, 1, true, true)) }
		}},
		{"avgpool2d backward", func(a *alloc) ([]*engine.Tensor, func()) {
			dy, dx := a.rand(37, 3, 4, 4), a.zeros(37, 3, 7, 6)
			return []*engine.Tensor{dx}, func() { a.be.AvgPool2dBackward(dx, dy, pp(3, 2, 1, true, false)) }
		}},
		{"adaptive avgpool2d", func(a *alloc) ([]*engine.Tensor, func()) {
			x, y := a.rand(37, 3, 7, 5), a.zeros(37, 3, 3, 2)
			return []*engine.Tensor{y}, func() { a.be.AdaptiveAvgPool2d(y, x) }
		}},
		{"adaptive avgpool2d backward", func(a *alloc) ([]*engine.Tensor, func()) {
			dy, dx := a.rand(37, 3, 3, 2), a.zeros(37, 3, 7, 5)
			return []*engine.Tensor{dx}, func() { a.be.AdaptiveAvgPool2dBackward(dx, dy) }
		}},
		{"permute", func(a *alloc) ([]*engine.Tensor, func()) {
			x, y := a.rand(37, 30, 7, 5), a.zeros(37, 7, 5, 30)
			return []*engine.Tensor{y}, func() { a.be.Permute(y, x, []int{0, 2, 3, 1}) }
		}},
		{"concat", func(a *alloc) ([]*engine.Tensor, func()) {
			x1, x2, y := a.rand(37, 3, 5), a.rand(37, 4, 5), a.zeros(37, 7, 5)
			return []*engine.Tensor{y}, func() { a.be.Concat(y, []*engine.Tensor{x1, x2}, 1) }
		}},
		{"split", func(a *alloc) ([]*engine.Tensor, func()) {
			dy, d1, d2 := a.rand(37, 7, 5), a.zeros(37, 3, 5), a.zeros(37, 4, 5)
			return []*engine.Tensor{d1, d2}, func() { a.be.Split([]*engine.Tensor{d1, d2}, dy, 1) }
		}},
		{"mean", func(a *alloc) ([]*engine.Tensor, func()) {
			x, y := a.rand(37, 9, 5), a.zeros(37, 5)
			return []*engine.Tensor{y}, func() { a.be.Mean(y, x, 1) }
		}},
		{"mean backward", func(a *alloc) ([]*engine.Tensor, func()) {
			dy, dx := a.rand(37, 5), a.zeros(37, 9, 5)
			return []*engine.Tensor{dx}, func() { a.be.MeanBackward(dx, dy, 1) }
		}},
		{"channel scale", func(a *alloc) ([]*engine.Tensor, func()) {
			x, s, y := a.rand(37, 4, 3, 3), a.rand(37, 4), a.zeros(37, 4, 3, 3)
			return []*engine.Tensor{y}, func() { a.be.ChannelScale(y, x, s) }
		}},
		{"channel scale backward", func(a *alloc) ([]*engine.Tensor, func()) {
			x, s, dy := a.rand(37, 4, 3, 3), a.rand(37, 4), a.rand(37, 4, 3, 3)
			dx, ds := a.like(x), a.like(s)
			return []*engine.Tensor{dx, ds}, func() { a.be.ChannelScaleBackward(dx, ds, dy, x, s) }
		}},
		{"cross entropy", func(a *alloc) ([]*engine.Tensor, func()) {
			x, loss, dl := a.rand(37, 10), a.zeros(1), a.zeros(37, 10)
			lab := make([]int32, 37)
			for i := range lab {
				lab[i] = int32(i % 10)
			}
			l := a.int32s(lab, 37)
			return []*engine.Tensor{loss, dl}, func() { a.be.CrossEntropy(loss, dl, x, l) }
		}},
	}
}

// TestOutputsFullyWritten poisons every output with NaN (int32 indices with
// -1) before each op and checks that every element was written.
func TestOutputsFullyWritten(t *testing.T) {
	be := engine.NewCPU(0)
	for _, c := range writeCases() {
		t.Run(c.name, func(t *testing.T) {
			be.ClearErr()
			outs, run := c.build(newAlloc(t, be, seedOf(c.name)))
			for _, o := range outs {
				if o.DType() == engine.Int32 {
					be.Fill(o, -1)
				} else {
					be.Fill(o, float32(math.NaN()))
				}
			}
			run()
			require.NoError(t, be.Err())
			for k, o := range outs {
				if o.DType() == engine.Int32 {
					for i, v := range engine.I32(o) {
						if v < 0 {
							t.Fatalf("output %d element %d not written", k, i)
						}
					}
					continue
				}
				for i, v := range engine.F32(o) {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("output %d %v element %d not written (%g)", k, o.Shape(), i, v)
					}
				}
			}
		})
	}
}

// ---- errors ----------------------------------------------------------

// TestErrorsRecorded checks that a bad call records an error that names the
// op, that later ops are skipped until ClearErr, and that Sync returns it.
func TestErrorsRecorded(t *testing.T) {
	be := engine.NewCPU(2)
	other := engine.NewCPU(1)
	a := newAlloc(t, be, 1)
	conv := engine.Conv2dParams{StrideH: 1, StrideW: 1}
	cases := []struct {
		op  string
		run func()
	}{
		{"upload", func() { be.Upload(a.zeros(3), []float32{1, 2}) }},
		{"copy", func() { be.Copy(a.zeros(3), a.zeros(4)) }},
		{"scale", func() { be.Scale(a.zeros(3), a.zeros(4), 2) }},
		{"axpy", func() { be.Axpy(a.zeros(3), 1, a.zeros(4)) }},
		{"mul", func() { be.Mul(a.zeros(3), a.zeros(3), a.zeros(4)) }},
		{"relu", func() { be.Relu(a.zeros(3), a.zeros(4)) }},
		{"relu", func() {
			st, _ := other.Alloc(engine.Float32, 3)
			be.Relu(a.zeros(3), engine.NewTensor("foreign", st, 0, 3))
		}},
		{"relu", func() {
			p := engine.NewPool("unallocated", engine.Float32)
			be.Relu(a.zeros(3), p.New("x", 3))
		}},
		{"gelu backward", func() { be.GeluBackward(a.zeros(3), a.zeros(3), a.zeros(2)) }},
		{"add", func() { be.Add(a.zeros(2, 3), a.zeros(2, 3), a.zeros(4)) }},
		{"add", func() { be.Add(a.zeros(2, 3), a.zeros(2, 2, 3), a.zeros(3)) }},
		{"sum to", func() { be.SumTo(a.zeros(4), a.zeros(2, 3)) }},
		{"dropout", func() { be.Dropout(a.zeros(3), a.zeros(3), 1, engine.DropoutKey{}) }},
		{"dropout backward", func() { be.DropoutBackward(a.zeros(3), a.zeros(3), -0.1, engine.DropoutKey{}) }},
		{"conv2d", func() { be.Conv2d(a.zeros(1, 2, 3, 3), a.zeros(1, 3, 5, 5), a.zeros(2, 2, 3, 3), nil, conv) }},
		{"conv2d", func() { be.Conv2d(a.zeros(1, 2, 4, 3), a.zeros(1, 3, 5, 5), a.zeros(2, 3, 3, 3), nil, conv) }},
		{"conv2d", func() { be.Conv2d(a.zeros(1, 2, 3, 3), a.zeros(1, 3, 5, 5), a.zeros(2, 3, 3, 3), a.zeros(3), conv) }},
		{"conv2d", func() {
			be.Conv2d(a.zeros(1, 2, 3, 3), a.zeros(1, 3, 5, 5), a.zeros(2, 3, 3, 3), nil, engine.Conv2dParams{})
		}},
		{"conv2d backward", func() {
			be.Conv2dBackward(a.zeros(1, 3, 5, 4), nil, nil, a.zeros(1, 2, 3, 3), a.zeros(1, 3, 5, 5), a.zeros(2, 3, 3, 3), conv)
		}},
		{"linear", func() { be.Linear(a.zeros(4, 2), a.zeros(4, 3), a.zeros(2, 4), nil) }},
		{"linear backward", func() { be.LinearBackward(a.zeros(4, 2), nil, nil, a.zeros(4, 2), a.zeros(4, 3), a.zeros(2, 3)) }},
		{"matmul", func() { be.MatMul(a.zeros(2, 3), a.zeros(2, 4), a.zeros(5, 3), false, false) }},
		{"matmul", func() { be.MatMul(a.zeros(2, 2, 3), a.zeros(2, 2, 4), a.zeros(3, 4, 3), false, false) }},
		{"batchnorm", func() {
			be.BatchNormTrain(a.zeros(4, 3), a.zeros(3), a.zeros(3), nil, nil, a.zeros(4, 3), a.zeros(2), nil, 0.1, 1e-5)
		}},
		{"batchnorm", func() {
			be.BatchNormTrain(a.zeros(1, 3), a.zeros(3), a.zeros(3), nil, nil, a.zeros(1, 3), nil, nil, 0.1, 1e-5)
		}},
		{"batchnorm eval", func() {
			be.BatchNormEval(a.zeros(4, 3), a.zeros(4, 2), nil, nil, a.zeros(3), a.zeros(3), 1e-5)
		}},
		{"layernorm", func() {
			be.LayerNorm(a.zeros(4, 3), a.zeros(3), a.zeros(4), a.zeros(4, 3), nil, nil, 1e-5)
		}},
		{"softmax", func() { be.Softmax(a.zeros(4, 3), a.zeros(3, 4)) }},
		{"maxpool2d", func() {
			be.MaxPool2d(a.zeros(1, 1, 3, 3), a.int32s(nil, 1, 1, 3, 3), a.zeros(1, 1, 4, 4), pp(2, 2, 0, false, false))
		}},
		{"maxpool2d", func() {
			be.MaxPool2d(a.zeros(1, 1, 2, 2), a.zeros(1, 1, 2, 2), a.zeros(1, 1, 4, 4), pp(2, 2, 0, false, false))
		}},
		{"avgpool2d", func() { be.AvgPool2d(a.zeros(1, 1, 3, 3), a.zeros(1, 1, 4, 4), pp(2, 2, 2, false, false)) }},
		{"adaptive avgpool2d", func() { be.AdaptiveAvgPool2d(a.zeros(1, 2, 1, 1), a.zeros(1, 1, 4, 4)) }},
		{"permute", func() { be.Permute(a.zeros(2, 3), a.zeros(3, 2), []int{0, 0}) }},
		{"permute", func() { be.Permute(a.zeros(2, 3), a.zeros(2, 3), []int{1, 0}) }},
		{"concat", func() { be.Concat(a.zeros(2, 5), []*engine.Tensor{a.zeros(2, 2), a.zeros(2, 2)}, 1) }},
		{"split", func() { be.Split([]*engine.Tensor{a.zeros(2, 2), a.zeros(3, 3)}, a.zeros(2, 5), 1) }},
		{"mean", func() { be.Mean(a.zeros(3), a.zeros(3, 4), 2) }},
		{"mean", func() { be.Mean(a.zeros(4), a.zeros(3, 4), 1) }},
		{"channel scale", func() { be.ChannelScale(a.zeros(2, 3, 4), a.zeros(2, 3, 4), a.zeros(3)) }},
		{"cross entropy", func() { be.CrossEntropy(a.zeros(1), nil, a.zeros(2, 3), a.int32s([]int32{0, 3}, 2)) }},
		{"cross entropy", func() { be.CrossEntropy(a.zeros(1), nil, a.zeros(2, 3), a.zeros(2)) }},
		// Element types: a panic in F32/I32 would be a bug, not a recorded error.
		{"relu", func() { be.Relu(a.zeros(3), a.int32s(nil, 3)) }},
		{"copy", func() { be.Copy(a.zeros(3), a.int32s(nil, 3)) }},
		{"upload", func() { be.Upload(a.int32s(nil, 2), []float32{1, 2}) }},
		{"upload", func() { be.UploadInt32(a.zeros(2), []int32{1, 2}) }},
		{"download", func() { be.DownloadInt32(make([]int32, 2), a.zeros(2)) }},
		{"maxpool2d", func() {
			be.MaxPool2d(a.zeros(1, 1, 2, 2), a.int32s(nil, 1, 1, 2, 2), a.int32s(nil, 1, 1, 4, 4), pp(2, 2, 0, false, false))
		}},
		{"maxpool2d backward", func() { be.MaxPool2dBackward(a.zeros(1, 1, 4, 4), a.zeros(1, 1, 2, 2), a.zeros(1, 1, 2, 2)) }},
		{"cross entropy", func() { be.CrossEntropy(a.zeros(1), nil, a.int32s(nil, 2, 3), a.int32s([]int32{0, 1}, 2)) }},
		{"sgd step", func() { be.SGDStep(a.zeros(3), a.zeros(3), nil, engine.SGDParams{LR: 1, Momentum: 0.9}) }},
		{"adadelta step", func() { be.AdadeltaStep(a.zeros(3), a.zeros(3), a.zeros(3), a.zeros(2), engine.AdadeltaParams{}) }},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%02d_%s", i, c.op), func(t *testing.T) {
			be.ClearErr()
			require.NoError(t, be.Err())
			c.run()
			err := be.Err()
			require.Error(t, err)
			require.Truef(t, strings.HasPrefix(err.Error(), c.op+": "), "error %q does not start with %q", err, c.op+": ")
			require.Equal(t, err, be.Sync())
			// Later ops are skipped and the first error is kept.
			y := a.zeros(5)
			be.Fill(y, 7)
			be.Softmax(a.zeros(1, 2), a.zeros(2, 1))
			require.Equal(t, []float32{0, 0, 0, 0, 0}, engine.F32(y))
			require.Equal(t, err, be.Err())
			be.ClearErr()
			be.Fill(y, 7)
			require.NoError(t, be.Err())
			require.Equal(t, []float32{7, 7, 7, 7, 7}, engine.F32(y))
		})
	}
}

// ---- pools -------------------------------------------------------------

func TestPool(t *testing.T) {
	be := engine.NewCPU(1)
	p := engine.NewPool("act", engine.Float32)
	a := p.NewBatched("a", 8, 3, 2)     // (8,3,2): 48
	b := p.New("b", 5)                  // (5): 5, padded to 16
	c := p.NewBatchedRows("c", 8, 4, 3) // (32,3): 96
	av := a.View(8, 6)
	ar := a.View(24, 2) // 3 rows per sample
	require.Equal(t, "act", p.Name())
	require.Equal(t, 8, p.MaxBatch())
	require.Equal(t, 48+16+96, p.Size())
	require.Equal(t, int64(4*p.Size()), p.Bytes())
	require.True(t, a.Batched())
	require.False(t, b.Batched())
	require.True(t, c.Batched())
	require.Equal(t, []int{32, 3}, c.Shape())
	require.Equal(t, []*engine.Tensor{a, b, c}, p.Tensors())
	require.False(t, p.Allocated())
	require.Panics(t, func() { engine.F32(a) })
	require.Panics(t, func() { p.Flat() })

	require.NoError(t, p.Allocate(be))
	require.True(t, p.Allocated())
	require.Error(t, p.Allocate(be))
	require.Panics(t, func() { p.New("late", 3) })
	require.Panics(t, func() { a.View(7, 7) })                        // element count
	require.Panics(t, func() { a.View(6, 8) })                        // leading dim does not keep the batch
	require.Panics(t, func() { a.Slice(0, 1) })                       // batched
	require.Panics(t, func() { b.Slice(2, 6) })                       // out of range
	require.Panics(t, func() { p.NewBatched("late", 2, 1) })          // allocated
	require.Panics(t, func() { engine.NewPool("n", 0).New("x", -1) }) // negative dim

	flat := engine.F32(p.Flat())
	require.Len(t, flat, p.Size())
	for _, v := range flat {
		require.Zero(t, v)
	}
	// Tensors are disjoint, aligned, and padding stays zero.
	be.Fill(a, 1)
	be.Fill(b, 2)
	be.Fill(c, 3)
	require.NoError(t, be.Err())
	for i, v := range flat {
		var want float32
		switch {
		case i < 48:
			want = 1
		case i < 53:
			want = 2
		case i < 64:
			want = 0
		default:
			want = 3
		}
		require.Equalf(t, want, v, "flat[%d]", i)
	}
	for _, tt := range []*engine.Tensor{a, b, c} {
		st, off := tt.Storage()
		require.NotNil(t, st)
		require.Zero(t, off%16, "offset %d of %s not 64-byte aligned", off, tt)
	}
	// Views share memory.
	for i := range engine.F32(a) {
		engine.F32(a)[i] = float32(i)
	}
	require.Equal(t, []int{8, 6}, av.Shape())
	require.Equal(t, float32(13), engine.F32(av)[13])
	require.Equal(t, float32(13), engine.F32(ar)[13])
	bs := b.Slice(1, 3)
	require.Equal(t, []int{2}, bs.Shape())
	engine.F32(bs)[0] = 9
	require.Equal(t, float32(9), engine.F32(b)[1])

	// A smaller batch is a prefix; views and row-batched tensors follow.
	base := &engine.F32(a)[0]
	p.SetBatch(3)
	require.Equal(t, []int{3, 3, 2}, a.Shape())
	require.Equal(t, []int{3, 6}, av.Shape())
	require.Equal(t, []int{9, 2}, ar.Shape())
	require.Equal(t, []int{12, 3}, c.Shape())
	require.Equal(t, []int{5}, b.Shape())
	require.Equal(t, 18, a.Len())
	require.Same(t, base, &engine.F32(a)[0])
	for i, v := range engine.F32(a) {
		require.Equal(t, float32(i), v)
	}
	sum := newAlloc(t, be, 1).zeros(3, 6)
	be.Copy(sum, av) // ops see the smaller batch
	require.NoError(t, be.Err())
	require.Equal(t, engine.F32(a), engine.F32(sum))
	require.Panics(t, func() { p.SetBatch(9) })
	require.Panics(t, func() { p.SetBatch(0) })
	p.SetBatch(8)
	require.Equal(t, []int{8, 3, 2}, a.Shape())
	require.Equal(t, []int{24, 2}, ar.Shape())
	require.Equal(t, []int{32, 3}, c.Shape())
}

// ---- dropout -----------------------------------------------------------

func TestDropoutZeroIsCopy(t *testing.T) {
	be := engine.NewCPU(0)
	a := newAlloc(t, be, 2)
	x, y, dx := a.rand(1001), a.nans(1001), a.nans(1001)
	be.Dropout(y, x, 0, engine.DropoutKey{Seed: 1})
	be.DropoutBackward(dx, x, 0, engine.DropoutKey{Seed: 1})
	require.NoError(t, be.Err())
	require.Equal(t, engine.F32(x), engine.F32(y))
	require.Equal(t, engine.F32(x), engine.F32(dx))
}

// TestDropoutMask checks the kept fraction, the scaling, that the mask is
// DropoutUniform(key,i) < p element by element, that backward uses the same
// mask, and that it does not depend on the core count.
func TestDropoutMask(t *testing.T) {
	const n = 1<<16 + 3 // crosses chunk boundaries, partial last Philox block
	be, be1 := engine.NewCPU(0), engine.NewCPU(1)
	a, a1 := newAlloc(t, be, 3), newAlloc(t, be1, 3)
	x := a.uniform(0.5, 1.5, n) // never zero: a zero output means dropped
	x1 := a1.zeros(n)
	copy(engine.F32(x1), engine.F32(x))
	for _, p := range []float32{0.25, 0.5} {
		t.Run(fmt.Sprint("p=", p), func(t *testing.T) {
			key := engine.DropoutKey{Seed: 0xdead_beef_0123, Step: 17, Layer: 3}
			y, y1, dx := a.nans(n), a1.nans(n), a.nans(n)
			be.Dropout(y, x, p, key)
			be1.Dropout(y1, x1, p, key)
			be.DropoutBackward(dx, x, p, key)
			require.NoError(t, be.Err())
			require.NoError(t, be1.Err())
			xs, ys := engine.F32(x), engine.F32(y)
			kept := 0
			for i := range ys {
				drop := engine.DropoutUniform(key, i) < p
				if drop != (ys[i] == 0) {
					t.Fatalf("element %d: uniform %g, p %g, y %g", i, engine.DropoutUniform(key, i), p, ys[i])
				}
				if !drop {
					kept++
					want := float64(xs[i]) / (1 - float64(p))
					require.InEpsilonf(t, want, float64(ys[i]), 2.5e-7, "kept element %d", i)
				}
			}
			frac := float64(kept) / n
			sigma := math.Sqrt(float64(p) * (1 - float64(p)) / n)
			require.InDeltaf(t, 1-float64(p), frac, 5*sigma, "kept fraction %.5f, want %.5f ± 5·%.5f", frac, 1-p, sigma)
			require.Equal(t, engine.F32(y), engine.F32(y1), "mask depends on the core count")
			require.Equal(t, engine.F32(y), engine.F32(dx), "backward mask differs from forward")
			t.Logf("p=%g: kept %.5f (want %.5f, σ %.5f)", p, frac, 1-p, sigma)

			// The same key draws the same mask; any other key another one.
			y2 := a.nans(n)
			be.Dropout(y2, x, p, key)
			require.Equal(t, engine.F32(y), engine.F32(y2))
			for _, k2 := range []engine.DropoutKey{
				{Seed: key.Seed, Step: key.Step + 1, Layer: key.Layer},
				{Seed: key.Seed, Step: key.Step, Layer: key.Layer + 1},
				{Seed: key.Seed + 1, Step: key.Step, Layer: key.Layer},
				{Seed: key.Seed + 1<<32, Step: key.Step, Layer: key.Layer},
			} {
				be.Dropout(y2, x, p, k2)
				diff := 0
				for i, v := range engine.F32(y2) {
					if (v == 0) != (ys[i] == 0) {
						diff++
					}
				}
				// Independent masks differ in a fraction 2p(1-p).
				want := 2 * float64(p) * (1 - float64(p)) * n
				require.Greaterf(t, float64(diff), 0.9*want, "key %+v: %d positions differ", k2, diff)
			}
		})
	}
}

// ---- Philox ------------------------------------------------------------

// TestPhiloxKnownAnswers uses the Random123 known-answer vectors for
// philox4x32-10 (kat_vectors).
func TestPhiloxKnownAnswers(t *testing.T) {
	cases := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		require.Equalf(t, c.want, engine.Philox(c.ctr, c.key), "counter %#x key %#x", c.ctr, c.key)
	}
	// DropoutUniform is word i%4 of the block at counter (i/4 low, i/4
	// high, layer, step) under key (seed low, seed high), top 24 bits.
	key := engine.DropoutKey{Seed: 0x299f31d0_a4093822, Step: 0x03707344, Layer: 0x13198a2e}
	for _, q := range []uint64{0, 5, 1<<32 + 7} {
		block := engine.Philox([4]uint32{uint32(q), uint32(q >> 32), key.Layer, key.Step}, [2]uint32{0xa4093822, 0x299f31d0})
		for j := 0; j < 4; j++ {
			u := engine.DropoutUniform(key, int(q*4)+j)
			require.Equal(t, float32(block[j]>>8)/(1<<24), u)
			require.True(t, u >= 0 && u < 1)
		}
	}
}

// ---- determinism ---------------------------------------------------------

// TestDeterminismAcrossThreads runs conv, linear, batchnorm (shapes in
// several chunks of samples, small planes included), cross entropy,
// dropout, GELU, softmax, max pooling and SGD (forward and backward, batch
// 37 or 70) on backends with 1, 3 and 4 goroutines and requires
// bit-identical results.
func TestDeterminismAcrossThreads(t *testing.T) {
	run := func(threads int) map[string][]float32 {
		be := engine.NewCPU(threads)
		a := newAlloc(t, be, 37) // same seed: same inputs on every backend
		out := map[string][]float32{}
		keep := func(name string, ts ...*engine.Tensor) {
			for i, tt := range ts {
				out[fmt.Sprintf("%s/%d", name, i)] = append([]float32(nil), engine.F32(tt)...)
			}
		}
		for _, k := range []int{3, 1} {
			prm := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: k / 2, PadW: k / 2}
			x, w, b := a.rand(37, 3, 9, 9), a.rand(5, 3, k, k), a.rand(5)
			y, dy := a.zeros(37, 5, 9, 9), a.rand(37, 5, 9, 9)
			dx, dw, db := a.like(x), a.like(w), a.like(b)
			be.Conv2d(y, x, w, b, prm)
			be.Conv2dBackward(dx, dw, db, dy, x, w, prm)
			keep(fmt.Sprint("conv", k), y, dx, dw, db)
		}
		{
			// Winograd F(4x4, 3x3): on 1 thread the forward and the
			// input gradient run as per-worker tasks (winoTiledForward),
			// on 3 and 4 as chunks over all workers.
			prm := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
			x, w, b := a.rand(67, 448, 5, 5), a.rand(64, 448, 3, 3), a.rand(64)
			y, dy := a.zeros(67, 64, 5, 5), a.rand(67, 64, 5, 5)
			dx, dw, db := a.like(x), a.like(w), a.like(b)
			be.Conv2d(y, x, w, b, prm)
			be.Conv2dBackward(dx, dw, db, dy, x, w, prm)
			keep("winograd", y, dx, dw, db)
		}
		{
			x, w, b := a.rand(37, 200), a.rand(24, 200), a.rand(24)
			y, dy := a.zeros(37, 24), a.rand(37, 24)
			dx, dw, db := a.like(x), a.like(w), a.like(b)
			be.Linear(y, x, w, b)
			be.LinearBackward(dx, dw, db, dy, x, w)
			keep("linear", y, dx, dw, db)
		}
		for _, shape := range [][]int{{37, 4, 16, 16}, {37, 64, 12, 12}, {70, 256, 7, 7}, {37, 6}} {
			ch := shape[1]
			x, g, b := a.rand(shape...), a.rand(ch), a.rand(ch)
			y, sm, si, rm, rv := a.like(x), a.zeros(ch), a.zeros(ch), a.zeros(ch), a.full(1, ch)
			dy, dx, dg, db := a.rand(shape...), a.like(x), a.zeros(ch), a.zeros(ch)
			be.BatchNormTrain(y, sm, si, rm, rv, x, g, b, 0.1, 1e-5)
			be.BatchNormBackward(dx, dg, db, dy, x, g, sm, si)
			keep(fmt.Sprint("batchnorm", shape), y, sm, si, rm, rv, dx, dg, db)
			be.BatchNormReluTrain(y, sm, si, rm, rv, x, g, b, 0.1, 1e-5)
			be.BatchNormReluBackward(dx, dg, db, dy, y, x, g, sm, si)
			keep(fmt.Sprint("batchnorm relu", shape), y, sm, si, rm, rv, dx, dg, db)
			s := a.like(x)
			be.AddRelu(s, x, dy)
			keep(fmt.Sprint("add relu", shape), s)
		}
		{
			x, loss, dl := a.uniform(-4, 4, 37, 10), a.zeros(1), a.zeros(37, 10)
			lab := make([]int32, 37)
			for i := range lab {
				lab[i] = int32(a.rng.IntN(10))
			}
			be.CrossEntropy(loss, dl, x, a.int32s(lab, 37))
			keep("cross entropy", loss, dl)
		}
		{
			x, dy := a.uniform(-4, 4, 37, 3000), a.rand(37, 3000)
			y, dx, sy := a.like(x), a.like(x), a.like(x)
			key := engine.DropoutKey{Seed: 5, Layer: 1, Step: 2}
			be.Dropout(y, x, 0.3, key)
			be.DropoutBackward(dx, dy, 0.3, key)
			keep("dropout", y, dx)
			be.Gelu(y, x)
			be.GeluBackward(dx, dy, x)
			be.Softmax(sy, x)
			keep("gelu softmax", y, dx, sy)
			p, m := a.rand(37, 3000), a.zeros(37, 3000)
			be.SGDStep(p, dy, m, engine.SGDParams{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-3, First: true})
			keep("sgd", p, m)
			px, py := a.rand(37, 16, 20, 20), a.zeros(37, 16, 20, 20)
			idx := a.int32s(make([]int32, py.Len()), 37, 16, 20, 20)
			be.MaxPool2d(py, idx, px, engine.Pool2dParams{KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1})
			keep("maxpool", py)
		}
		require.NoError(t, be.Err())
		return out
	}
	ref := run(1)
	for _, threads := range []int{3, 4} {
		got := run(threads)
		require.Equal(t, len(ref), len(got))
		for name, want := range ref {
			g := got[name]
			require.Len(t, g, len(want))
			for i := range want {
				if math.Float32bits(want[i]) != math.Float32bits(g[i]) {
					t.Fatalf("%s[%d]: %d threads %g, 1 thread %g", name, i, threads, g[i], want[i])
				}
			}
		}
	}
}

// ---- max pooling ties ------------------------------------------------------

func TestMaxPoolTies(t *testing.T) {
	be := engine.NewCPU(0)
	a := newAlloc(t, be, 4)
	run := func(x []float32, h, w int, p engine.Pool2dParams) ([]float32, []int32, *engine.Tensor, *engine.Tensor) {
		xt := a.zeros(1, 1, h, w)
		copy(engine.F32(xt), x)
		oh, ow := engine.PoolOut(h, p.KH, p.StrideH, p.PadH, p.CeilMode), engine.PoolOut(w, p.KW, p.StrideW, p.PadW, p.CeilMode)
		y, idx := a.zeros(1, 1, oh, ow), a.int32s(nil, 1, 1, oh, ow)
		be.MaxPool2d(y, idx, xt, p)
		require.NoError(t, be.Err())
		return engine.F32(y), engine.I32(idx), idx, xt
	}
	// Constant input: the first element of each window (row-major).
	y, idx, _, _ := run(make([]float32, 16), 4, 4, pp(2, 2, 0, false, false))
	require.Equal(t, []float32{0, 0, 0, 0}, y)
	require.Equal(t, []int32{0, 2, 8, 10}, idx)
	// Padding: the first in-bounds element, padding never wins even over
	// negative values.
	neg := []float32{-5, -5, -5, -5, -5, -5, -5, -5, -5}
	y, idx, _, _ = run(neg, 3, 3, pp(3, 2, 1, false, false))
	require.Equal(t, []float32{-5, -5, -5, -5}, y)
	require.Equal(t, []int32{0, 1, 3, 4}, idx)
	// Ceil mode: the partial last window starts at its first element.
	y, idx, _, _ = run(make([]float32, 25), 5, 5, pp(2, 2, 0, true, false))
	require.Equal(t, make([]float32, 9), y)
	require.Equal(t, []int32{0, 2, 4, 10, 12, 14, 20, 22, 24}, idx)
	// Ties between two maxima: the first one gets the gradient.
	x := []float32{
		0, 5, 5,
		5, 0, 5,
		5, 5, 1,
	}
	y, idx, it, xt := run(x, 3, 3, pp(2, 1, 0, false, false))
	require.Equal(t, []float32{5, 5, 5, 5}, y)
	require.Equal(t, []int32{1, 1, 3, 5}, idx)
	dy, dx := a.full(1, 1, 1, 2, 2), a.nans(xt.Shape()...)
	be.MaxPool2dBackward(dx, dy, it)
	require.NoError(t, be.Err())
	require.Equal(t, []float32{0, 2, 0, 1, 0, 1, 0, 0, 0}, engine.F32(dx))
	// NaN propagates, as in PyTorch.
	nan := float32(math.NaN())
	y, idx, _, _ = run([]float32{1, nan, 3, 2}, 2, 2, pp(2, 2, 0, false, false))
	require.True(t, math.IsNaN(float64(y[0])))
	require.Equal(t, []int32{1}, idx)
}

// ---- optimizers ------------------------------------------------------------

// sgdRef is torch.optim.SGD's step for one parameter, in float64.
func sgdRef(p, g, buf []float64, prm engine.SGDParams, first bool) {
	lr, mom, damp, wd := float64(prm.LR), float64(prm.Momentum), float64(prm.Dampening), float64(prm.WeightDecay)
	for i := range p {
		d := g[i]
		if wd != 0 {
			d += wd * p[i]
		}
		if mom != 0 {
			if first {
				buf[i] = d
			} else {
				buf[i] = mom*buf[i] + (1-damp)*d
			}
			if prm.Nesterov {
				d += mom * buf[i]
			} else {
				d = buf[i]
			}
		}
		p[i] -= lr * d
	}
}

// adadeltaRef is torch.optim.Adadelta's step for one parameter, in float64.
func adadeltaRef(p, g, sq, acc []float64, prm engine.AdadeltaParams) {
	lr, rho, eps, wd := float64(prm.LR), float64(prm.Rho), float64(prm.Eps), float64(prm.WeightDecay)
	for i := range p {
		d := g[i]
		if wd != 0 {
			d += wd * p[i]
		}
		sq[i] = rho*sq[i] + (1-rho)*d*d
		std := math.Sqrt(sq[i] + eps)
		delta := math.Sqrt(acc[i]+eps) / std * d
		acc[i] = rho*acc[i] + (1-rho)*delta*delta
		p[i] -= lr * delta
	}
}

func f64(s []float32) []float64 {
	r := make([]float64, len(s))
	for i, v := range s {
		r[i] = float64(v)
	}
	return r
}

func requireClose(t *testing.T, what string, want []float64, got []float32, atol, rtol float64) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		if e := math.Abs(float64(got[i]) - want[i]); !(e <= atol+rtol*math.Abs(want[i])) {
			t.Fatalf("%s[%d]: got %.8g, want %.8g (|err| %.3g)", what, i, got[i], want[i], e)
		}
	}
}

func TestSGDStep(t *testing.T) {
	cases := []struct {
		name string
		prm  engine.SGDParams
	}{
		{"plain", engine.SGDParams{LR: 0.1}},
		{"weight_decay", engine.SGDParams{LR: 0.1, WeightDecay: 0.01}},
		{"momentum", engine.SGDParams{LR: 0.05, Momentum: 0.9}},
		{"momentum_dampening", engine.SGDParams{LR: 0.05, Momentum: 0.9, Dampening: 0.1}},
		{"nesterov_weight_decay", engine.SGDParams{LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4, Nesterov: true}},
		{"momentum_dampening_weight_decay", engine.SGDParams{LR: 0.01, Momentum: 0.5, Dampening: 0.5, WeightDecay: 0.1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			be := engine.NewCPU(0)
			a := newAlloc(t, be, seedOf(c.name))
			const n = 257
			p, g := a.rand(n), a.zeros(n)
			var mom *engine.Tensor
			if c.prm.Momentum != 0 {
				mom = a.nans(n) // First must overwrite, never read, the buffer
			}
			rp, rb := f64(engine.F32(p)), make([]float64, n)
			for step := 0; step < 3; step++ {
				copy(engine.F32(g), engine.F32(a.rand(n)))
				prm := c.prm
				prm.First = step == 0
				be.SGDStep(p, g, mom, prm)
				require.NoError(t, be.Err())
				sgdRef(rp, f64(engine.F32(g)), rb, prm, step == 0)
				requireClose(t, fmt.Sprint("step ", step+1, " params"), rp, engine.F32(p), 1e-6, 1e-5)
				if mom != nil {
					requireClose(t, fmt.Sprint("step ", step+1, " momentum"), rb, engine.F32(mom), 1e-6, 1e-5)
				}
			}
		})
	}
}

func TestAdadeltaStep(t *testing.T) {
	cases := []struct {
		name string
		prm  engine.AdadeltaParams
	}{
		{"default", engine.AdadeltaParams{LR: 1, Rho: 0.9, Eps: 1e-6}},
		{"weight_decay", engine.AdadeltaParams{LR: 0.5, Rho: 0.95, Eps: 1e-6, WeightDecay: 0.01}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			be := engine.NewCPU(0)
			a := newAlloc(t, be, seedOf(c.name))
			const n = 257
			p, g, sq, acc := a.rand(n), a.zeros(n), a.zeros(n), a.zeros(n)
			rp, rsq, racc := f64(engine.F32(p)), make([]float64, n), make([]float64, n)
			for step := 0; step < 3; step++ {
				copy(engine.F32(g), engine.F32(a.rand(n)))
				be.AdadeltaStep(p, g, sq, acc, c.prm)
				require.NoError(t, be.Err())
				adadeltaRef(rp, f64(engine.F32(g)), rsq, racc, c.prm)
				what := fmt.Sprint("step ", step+1)
				requireClose(t, what+" params", rp, engine.F32(p), 1e-6, 1e-5)
				requireClose(t, what+" square_avg", rsq, engine.F32(sq), 1e-9, 1e-5)
				requireClose(t, what+" acc_delta", racc, engine.F32(acc), 1e-10, 1e-4)
			}
		})
	}
}

// TestOptimizerPaddingStaysZero: the optimizers run over a pool's Flat view,
// padding included; zero parameters with zero gradients stay zero.
func TestOptimizerPaddingStaysZero(t *testing.T) {
	be := engine.NewCPU(0)
	a := newAlloc(t, be, 5)
	p, g, m, s, d := a.zeros(40), a.zeros(40), a.zeros(40), a.zeros(40), a.zeros(40)
	be.SGDStep(p, g, m, engine.SGDParams{LR: 0.1, Momentum: 0.9, WeightDecay: 0.1, Nesterov: true, First: true})
	be.SGDStep(p, g, m, engine.SGDParams{LR: 0.1, Momentum: 0.9, WeightDecay: 0.1, Nesterov: true})
	be.AdadeltaStep(p, g, s, d, engine.AdadeltaParams{LR: 1, Rho: 0.9, Eps: 1e-6, WeightDecay: 0.1})
	require.NoError(t, be.Err())
	for _, tt := range []*engine.Tensor{p, m, s, d} {
		require.Equal(t, make([]float32, 40), engine.F32(tt))
	}
}

// ---- output sizes ------------------------------------------------------------

func TestOutputSizes(t *testing.T) {
	conv := []struct{ in, k, s, p, want int }{
		{28, 7, 2, 3, 14},   // GoogLeNet stem on 28x28
		{224, 7, 2, 3, 112}, // ResNet/GoogLeNet stem
		{224, 11, 4, 2, 55}, // AlexNet conv1
		{32, 3, 1, 1, 32},
		{7, 3, 2, 0, 3},
		{5, 1, 2, 0, 3},
		{9, 4, 4, 0, 2},
	}
	for _, c := range conv {
		require.Equalf(t, c.want, engine.ConvOut(c.in, c.k, c.s, c.p), "ConvOut(%d,%d,%d,%d)", c.in, c.k, c.s, c.p)
	}
	pools := []struct {
		in, k, s, p int
		ceil        bool
		want        int
	}{
		{14, 3, 2, 0, true, 7}, // GoogLeNet on 28x28: maxpool 3 s2 ceil
		{7, 3, 2, 0, true, 3},
		{3, 3, 2, 0, true, 1},
		{1, 2, 2, 0, true, 1},
		{112, 3, 2, 0, true, 56}, // GoogLeNet on 224
		{56, 3, 2, 0, true, 28},
		{28, 3, 2, 0, true, 14},
		{14, 2, 2, 0, true, 7},
		{112, 3, 2, 1, false, 56}, // ResNet maxpool
		{55, 3, 2, 0, false, 27},  // AlexNet
		{27, 3, 2, 0, false, 13},
		{13, 3, 2, 0, false, 6},
		{6, 3, 2, 0, false, 2},
		{6, 3, 2, 0, true, 3},
		{6, 3, 2, 1, true, 4},
		{5, 2, 2, 1, true, 3}, // the last window would start in the right padding: dropped
		{5, 2, 2, 1, false, 3},
		{4, 2, 2, 0, true, 2},
		{7, 7, 1, 0, false, 1},
	}
	for _, c := range pools {
		require.Equalf(t, c.want, engine.PoolOut(c.in, c.k, c.s, c.p, c.ceil), "PoolOut(%d,%d,%d,%d,%v)", c.in, c.k, c.s, c.p, c.ceil)
	}
}

// ---- forward values against naive references ---------------------------------

// at4 indexes an (N,C,H,W) slice.
func at4(s []float32, shape []int, n, c, h, w int) float64 {
	return float64(s[((n*shape[1]+c)*shape[2]+h)*shape[3]+w])
}

func TestConvForwardReference(t *testing.T) {
	be := engine.NewCPU(0)
	for _, c := range []struct {
		n, ch, h, w, k, r, s, sh, sw, ph, pw int
		bias                                 bool
	}{
		{2, 3, 7, 6, 4, 3, 3, 1, 1, 0, 0, true},
		{2, 3, 7, 9, 2, 3, 3, 2, 2, 1, 1, false},
		{3, 5, 5, 3, 3, 1, 1, 1, 1, 0, 0, true},
		{1, 2, 11, 9, 3, 7, 7, 2, 2, 3, 3, true},
		{2, 2, 9, 13, 3, 4, 4, 4, 4, 0, 0, false},
		{2, 3, 8, 6, 2, 3, 2, 2, 1, 1, 0, true}, // rectangular kernel, mixed strides
		{17, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, true},
	} {
		name := fmt.Sprintf("%+v", c)
		a := newAlloc(t, be, seedOf(name))
		prm := engine.Conv2dParams{StrideH: c.sh, StrideW: c.sw, PadH: c.ph, PadW: c.pw}
		oh, ow := engine.ConvOut(c.h, c.r, c.sh, c.ph), engine.ConvOut(c.w, c.s, c.sw, c.pw)
		x, w := a.rand(c.n, c.ch, c.h, c.w), a.rand(c.k, c.ch, c.r, c.s)
		var b *engine.Tensor
		if c.bias {
			b = a.rand(c.k)
		}
		y := a.nans(c.n, c.k, oh, ow)
		be.Conv2d(y, x, w, b, prm)
		require.NoError(t, be.Err())
		xs, ws, ys := engine.F32(x), engine.F32(w), engine.F32(y)
		want := make([]float64, len(ys))
		for n := 0; n < c.n; n++ {
			for k := 0; k < c.k; k++ {
				for p := 0; p < oh; p++ {
					for q := 0; q < ow; q++ {
						var sum float64
						if b != nil {
							sum = float64(engine.F32(b)[k])
						}
						for ch := 0; ch < c.ch; ch++ {
							for r := 0; r < c.r; r++ {
								for s := 0; s < c.s; s++ {
									ih, iw := p*c.sh-c.ph+r, q*c.sw-c.pw+s
									if ih >= 0 && ih < c.h && iw >= 0 && iw < c.w {
										sum += at4(xs, x.Shape(), n, ch, ih, iw) * at4(ws, w.Shape(), k, ch, r, s)
									}
								}
							}
						}
						want[((n*c.k+k)*oh+p)*ow+q] = sum
					}
				}
			}
		}
		requireClose(t, "conv "+name, want, ys, 1e-5, 1e-5)
	}
}

// matRef is c = op(a)·op(b) for one batch element, in float64.
func matRef(a, b []float32, m, k, n int, ta, tb bool) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av, bv := a[i*k+p], b[p*n+j]
				if ta {
					av = a[p*m+i]
				}
				if tb {
					bv = b[j*k+p]
				}
				s += float64(av) * float64(bv)
			}
			c[i*n+j] = s
		}
	}
	return c
}

func TestMatMulLinearReference(t *testing.T) {
	be := engine.NewCPU(0)
	a := newAlloc(t, be, 6)
	const m, k, n = 5, 7, 33 // n spans two 24-wide micro-tiles
	for _, batch := range []int{1, 3, 6} {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ash, bsh := []int{batch, m, k}, []int{batch, k, n}
			if tr[0] {
				ash = []int{batch, k, m}
			}
			if tr[1] {
				bsh = []int{batch, n, k}
			}
			x, z, y := a.rand(ash...), a.rand(bsh...), a.nans(batch, m, n)
			be.MatMul(y, x, z, tr[0], tr[1])
			require.NoError(t, be.Err())
			var want []float64
			for i := 0; i < batch; i++ {
				want = append(want, matRef(engine.F32(x)[i*m*k:], engine.F32(z)[i*k*n:], m, k, n, tr[0], tr[1])...)
			}
			requireClose(t, fmt.Sprintf("matmul batch %d trans %v", batch, tr), want, engine.F32(y), 1e-5, 1e-5)
		}
	}
	// Linear: y = x·wᵀ + b over the last dimension of a 3-D x.
	x, w, b, y := a.rand(2, 3, k), a.rand(n, k), a.rand(n), a.nans(2, 3, n)
	be.Linear(y, x, w, b)
	require.NoError(t, be.Err())
	want := matRef(engine.F32(x), engine.F32(w), 6, k, n, false, true)
	for i := range want {
		want[i] += float64(engine.F32(b)[i%n])
	}
	requireClose(t, "linear", want, engine.F32(y), 1e-5, 1e-5)
}

func TestNormForwardReference(t *testing.T) {
	be := engine.NewCPU(0)
	a := newAlloc(t, be, 7)
	const eps, mom = 1e-5, 0.1
	for _, shape := range [][]int{{6, 3}, {4, 3, 5, 2}, {3, 2, 9, 8}, {5, 70, 2, 2}, {2, 9, 7, 7}} {
		n, ch := shape[0], shape[1]
		s := engine.Numel(shape[2:])
		x, g, b := a.uniform(-2, 3, shape...), a.rand(ch), a.rand(ch)
		rm0, rv0 := a.rand(ch), a.uniform(0.5, 2, ch)
		rm, rv := a.zeros(ch), a.zeros(ch)
		copy(engine.F32(rm), engine.F32(rm0))
		copy(engine.F32(rv), engine.F32(rv0))
		y, sm, si := a.nans(shape...), a.nans(ch), a.nans(ch)
		be.BatchNormTrain(y, sm, si, rm, rv, x, g, b, mom, eps)
		ye := a.nans(shape...)
		be.BatchNormEval(ye, x, g, b, rm0, rv0, eps)
		require.NoError(t, be.Err())
		xs := engine.F32(x)
		wantY, wantYe := make([]float64, len(xs)), make([]float64, len(xs))
		var wantM, wantI, wantRM, wantRV []float64
		for k := 0; k < ch; k++ {
			var sum, sq float64
			for i := 0; i < n; i++ {
				for j := 0; j < s; j++ {
					sum += float64(xs[(i*ch+k)*s+j])
				}
			}
			mean := sum / float64(n*s)
			for i := 0; i < n; i++ {
				for j := 0; j < s; j++ {
					d := float64(xs[(i*ch+k)*s+j]) - mean
					sq += d * d
				}
			}
			inv := 1 / math.Sqrt(sq/float64(n*s)+eps)
			invE := 1 / math.Sqrt(float64(engine.F32(rv0)[k])+eps)
			gk, bk := float64(engine.F32(g)[k]), float64(engine.F32(b)[k])
			for i := 0; i < n; i++ {
				for j := 0; j < s; j++ {
					o := (i*ch+k)*s + j
					wantY[o] = (float64(xs[o])-mean)*inv*gk + bk
					wantYe[o] = (float64(xs[o])-float64(engine.F32(rm0)[k]))*invE*gk + bk
				}
			}
			wantM, wantI = append(wantM, mean), append(wantI, inv)
			wantRM = append(wantRM, (1-mom)*float64(engine.F32(rm0)[k])+mom*mean)
			wantRV = append(wantRV, (1-mom)*float64(engine.F32(rv0)[k])+mom*sq/float64(n*s-1))
		}
		name := fmt.Sprint(shape)
		requireClose(t, "batchnorm y "+name, wantY, engine.F32(y), 1e-5, 1e-5)
		requireClose(t, "batchnorm mean "+name, wantM, engine.F32(sm), 1e-6, 1e-6)
		requireClose(t, "batchnorm invstd "+name, wantI, engine.F32(si), 1e-6, 1e-6)
		requireClose(t, "batchnorm running mean "+name, wantRM, engine.F32(rm), 1e-6, 1e-6)
		requireClose(t, "batchnorm running var "+name, wantRV, engine.F32(rv), 1e-6, 1e-6)
		requireClose(t, "batchnorm eval y "+name, wantYe, engine.F32(ye), 1e-5, 1e-5)
	}

	// LayerNorm and softmax over the last dimension.
	const rows, d = 6, 9
	x, g, b := a.uniform(-3, 3, 2, 3, d), a.rand(d), a.rand(d)
	y, sm, si, sy := a.nans(2, 3, d), a.nans(rows), a.nans(rows), a.nans(2, 3, d)
	be.LayerNorm(y, sm, si, x, g, b, eps)
	be.Softmax(sy, x)
	require.NoError(t, be.Err())
	xs := engine.F32(x)
	var wantY, wantM, wantI, wantS []float64
	for i := 0; i < rows; i++ {
		row := f64(xs[i*d : (i+1)*d])
		var sum, sq, mx, z float64
		mx = math.Inf(-1)
		for _, v := range row {
			sum += v
			mx = math.Max(mx, v)
		}
		mean := sum / d
		for _, v := range row {
			sq += (v - mean) * (v - mean)
			z += math.Exp(v - mx)
		}
		inv := 1 / math.Sqrt(sq/d+eps)
		wantM, wantI = append(wantM, mean), append(wantI, inv)
		for j, v := range row {
			wantY = append(wantY, (v-mean)*inv*float64(engine.F32(g)[j])+float64(engine.F32(b)[j]))
			wantS = append(wantS, math.Exp(v-mx)/z)
		}
	}
	requireClose(t, "layernorm y", wantY, engine.F32(y), 1e-5, 1e-5)
	requireClose(t, "layernorm mean", wantM, engine.F32(sm), 1e-6, 1e-6)
	requireClose(t, "layernorm invstd", wantI, engine.F32(si), 1e-6, 1e-6)
	requireClose(t, "softmax", wantS, engine.F32(sy), 1e-7, 1e-6)
}

func TestCrossEntropyReference(t *testing.T) {
	be := engine.NewCPU(0)
	a := newAlloc(t, be, 8)
	const n, k = 7, 5
	x := a.uniform(-10, 10, n, k)
	engine.F32(x)[3] = 80 // large logits must not overflow
	engine.F32(x)[4] = -80
	lab := []int32{0, 4, 2, 1, 3, 0, 4}
	loss, dl := a.nans(1), a.nans(n, k)
	be.CrossEntropy(loss, dl, x, a.int32s(lab, n))
	require.NoError(t, be.Err())
	var want float64
	wantD := make([]float64, n*k)
	for i := 0; i < n; i++ {
		row := f64(engine.F32(x)[i*k : (i+1)*k])
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range row {
			z += math.Exp(v - mx)
		}
		lse := mx + math.Log(z)
		want += (lse - row[lab[i]]) / n
		for j, v := range row {
			p := math.Exp(v - lse)
			if j == int(lab[i]) {
				p--
			}
			wantD[i*k+j] = p / n
		}
	}
	requireClose(t, "loss", []float64{want}, engine.F32(loss), 0, 2e-7)
	requireClose(t, "dlogits", wantD, engine.F32(dl), 1e-7, 1e-6)
}

func TestElementwiseReference(t *testing.T) {
	be := engine.NewCPU(0)
	a := newAlloc(t, be, 9)
	x, z := a.uniform(-6, 6, 3, 67), a.rand(3, 67)
	xs, zs := f64(engine.F32(x)), f64(engine.F32(z))
	check := func(name string, f func(y *engine.Tensor), ref func(x, z float64) float64, atol float64) {
		y := a.nans(3, 67)
		f(y)
		require.NoError(t, be.Err())
		want := make([]float64, len(xs))
		for i := range xs {
			want[i] = ref(xs[i], zs[i])
		}
		requireClose(t, name, want, engine.F32(y), atol, 1e-6)
	}
	check("relu", func(y *engine.Tensor) { be.Relu(y, x) }, func(x, _ float64) float64 { return math.Max(x, 0) }, 0)
	check("relu backward", func(y *engine.Tensor) { be.ReluBackward(y, z, x) }, func(x, z float64) float64 {
		if x > 0 {
			return z
		}
		return 0
	}, 0)
	check("sigmoid", func(y *engine.Tensor) { be.Sigmoid(y, x) }, func(x, _ float64) float64 { return 1 / (1 + math.Exp(-x)) }, 1e-7)
	check("sigmoid backward", func(y *engine.Tensor) { be.SigmoidBackward(y, z, x) }, func(x, z float64) float64 { return z * x * (1 - x) }, 1e-6)
	check("gelu", func(y *engine.Tensor) { be.Gelu(y, x) }, func(x, _ float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }, 1e-7)
	check("scale", func(y *engine.Tensor) { be.Scale(y, x, -0.3) }, func(x, _ float64) float64 { return -0.3 * x }, 1e-7)
	check("mul", func(y *engine.Tensor) { be.Mul(y, x, z) }, func(x, z float64) float64 { return x * z }, 1e-7)
	check("add", func(y *engine.Tensor) { be.Add(y, x, z) }, func(x, z float64) float64 { return x + z }, 1e-6)
	check("axpy", func(y *engine.Tensor) { be.Copy(y, z); be.Axpy(y, 2, x) }, func(x, z float64) float64 { return z + 2*x }, 1e-6)
	check("copy", func(y *engine.Tensor) { be.Copy(y, x) }, func(x, _ float64) float64 { return x }, 0)
	check("fill", func(y *engine.Tensor) { be.Fill(y, 1.5) }, func(_, _ float64) float64 { return 1.5 }, 0)

	// Int32 fill, copy, upload, download.
	i1, i2 := a.int32s(nil, 4), a.int32s(nil, 4)
	be.Fill(i1, 3)
	be.Copy(i2, i1)
	got := make([]int32, 4)
	be.DownloadInt32(got, i2)
	require.Equal(t, []int32{3, 3, 3, 3}, got)
	be.UploadInt32(i1, []int32{1, -2, 3, -4})
	be.DownloadInt32(got, i1)
	require.Equal(t, []int32{1, -2, 3, -4}, got)
	f := a.zeros(3)
	be.Upload(f, []float32{1, 2, 3})
	gotF := make([]float32, 3)
	be.Download(gotF, f)
	require.NoError(t, be.Err())
	require.Equal(t, []float32{1, 2, 3}, gotF)
}

func TestBroadcastShapeReference(t *testing.T) {
	be := engine.NewCPU(0)
	a := newAlloc(t, be, 10)
	// Add with broadcasting of both operands, and SumTo back.
	x, b := a.rand(2, 1, 4), a.rand(3, 1)
	y := a.nans(2, 3, 4)
	be.Add(y, x, b)
	xs, bs, ys := engine.F32(x), engine.F32(b), engine.F32(y)
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 4; k++ {
				require.Equal(t, xs[i*4+k]+bs[j], ys[(i*3+j)*4+k])
			}
		}
	}
	sx, sb := a.nans(2, 1, 4), a.nans(3, 1)
	be.SumTo(sx, y)
	be.SumTo(sb, y)
	require.NoError(t, be.Err())
	for i := 0; i < 2; i++ {
		for k := 0; k < 4; k++ {
			var s float64
			for j := 0; j < 3; j++ {
				s += float64(ys[(i*3+j)*4+k])
			}
			require.InDelta(t, s, engine.F32(sx)[i*4+k], 1e-6)
		}
	}
	for j := 0; j < 3; j++ {
		var s float64
		for i := 0; i < 2; i++ {
			for k := 0; k < 4; k++ {
				s += float64(ys[(i*3+j)*4+k])
			}
		}
		require.InDelta(t, s, engine.F32(sb)[j], 1e-6)
	}

	// Permute (2,3,4) by (2,0,1): y[k,i,j] = x[i,j,k].
	p := a.rand(2, 3, 4)
	py := a.nans(4, 2, 3)
	be.Permute(py, p, []int{2, 0, 1})
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 4; k++ {
				require.Equal(t, engine.F32(p)[(i*3+j)*4+k], engine.F32(py)[(k*2+i)*3+j])
			}
		}
	}
	// Concat along axis 1, Mean along axis 1.
	c1, c2 := a.rand(2, 1, 3), a.rand(2, 2, 3)
	cy := a.nans(2, 3, 3)
	be.Concat(cy, []*engine.Tensor{c1, c2}, 1)
	for i := 0; i < 2; i++ {
		require.Equal(t, engine.F32(c1)[i*3:i*3+3], engine.F32(cy)[i*9:i*9+3])
		require.Equal(t, engine.F32(c2)[i*6:i*6+6], engine.F32(cy)[i*9+3:i*9+9])
	}
	my := a.nans(2, 3)
	be.Mean(my, cy, 1)
	for i := 0; i < 2; i++ {
		for k := 0; k < 3; k++ {
			var s float64
			for j := 0; j < 3; j++ {
				s += float64(engine.F32(cy)[(i*3+j)*3+k])
			}
			require.InDelta(t, s/3, engine.F32(my)[i*3+k], 1e-6)
		}
	}
	// ChannelScale.
	cx, cs := a.rand(2, 3, 2, 2), a.rand(2, 3)
	csy := a.nans(2, 3, 2, 2)
	be.ChannelScale(csy, cx, cs)
	require.NoError(t, be.Err())
	for i, v := range engine.F32(csy) {
		require.Equal(t, engine.F32(cx)[i]*engine.F32(cs)[i/4], v)
	}
}

func TestPoolForwardReference(t *testing.T) {
	be := engine.NewCPU(0)
	for _, c := range []struct {
		h, w int
		p    engine.Pool2dParams
	}{
		{6, 7, pp(2, 2, 0, false, false)},
		{7, 6, pp(3, 2, 1, false, false)},
		{7, 6, pp(3, 2, 1, false, true)},
		{6, 8, pp(3, 2, 0, true, false)},
		{6, 5, pp(3, 2, 1, true, false)},
		{6, 5, pp(3, 2, 1, true, true)},
		{5, 5, pp(2, 2, 1, true, false)},
		{9, 9, engine.Pool2dParams{KH: 3, KW: 2, StrideH: 2, StrideW: 3, PadH: 1, PadW: 1, CeilMode: true}},
	} {
		name := fmt.Sprintf("%dx%d %+v", c.h, c.w, c.p)
		a := newAlloc(t, be, seedOf(name))
		p := c.p
		oh, ow := engine.PoolOut(c.h, p.KH, p.StrideH, p.PadH, p.CeilMode), engine.PoolOut(c.w, p.KW, p.StrideW, p.PadW, p.CeilMode)
		x := a.rand(2, 2, c.h, c.w)
		my, idx, ay := a.nans(2, 2, oh, ow), a.int32s(nil, 2, 2, oh, ow), a.nans(2, 2, oh, ow)
		be.MaxPool2d(my, idx, x, p)
		be.AvgPool2d(ay, x, p)
		require.NoError(t, be.Err())
		xs := engine.F32(x)
		var wantMax, wantAvg []float64
		var wantIdx []int32
		for pl := 0; pl < 4; pl++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					mx, mi := math.Inf(-1), int32(-1)
					var sum float64
					count, inPad := 0, 0
					for r := 0; r < p.KH; r++ {
						for s := 0; s < p.KW; s++ {
							ih, iw := i*p.StrideH-p.PadH+r, j*p.StrideW-p.PadW+s
							// PyTorch counts window positions inside the
							// padded input (count_include_pad).
							if ih < c.h+p.PadH && iw < c.w+p.PadW {
								inPad++
							}
							if ih < 0 || ih >= c.h || iw < 0 || iw >= c.w {
								continue
							}
							v := float64(xs[pl*c.h*c.w+ih*c.w+iw])
							count++
							sum += v
							if v > mx {
								mx, mi = v, int32(ih*c.w+iw)
							}
						}
					}
					div := inPad
					if p.ExcludePad {
						div = count
					}
					wantMax, wantIdx, wantAvg = append(wantMax, mx), append(wantIdx, mi), append(wantAvg, sum/float64(div))
				}
			}
		}
		requireClose(t, "maxpool "+name, wantMax, engine.F32(my), 0, 0)
		require.Equal(t, wantIdx, engine.I32(idx), "maxpool indices "+name)
		requireClose(t, "avgpool "+name, wantAvg, engine.F32(ay), 1e-6, 1e-6)
	}
	// Adaptive average pooling: PyTorch's windows [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).
	for _, c := range [][4]int{{5, 5, 1, 1}, {5, 5, 2, 2}, {7, 5, 3, 2}, {4, 6, 4, 3}, {3, 3, 5, 4}} {
		a := newAlloc(t, be, seedOf(fmt.Sprint(c)))
		h, w, oh, ow := c[0], c[1], c[2], c[3]
		x, y := a.rand(2, 3, h, w), a.nans(2, 3, oh, ow)
		be.AdaptiveAvgPool2d(y, x)
		require.NoError(t, be.Err())
		var want []float64
		for pl := 0; pl < 6; pl++ {
			for i := 0; i < oh; i++ {
				h0, h1 := int(math.Floor(float64(i*h)/float64(oh))), int(math.Ceil(float64((i+1)*h)/float64(oh)))
				for j := 0; j < ow; j++ {
					w0, w1 := int(math.Floor(float64(j*w)/float64(ow))), int(math.Ceil(float64((j+1)*w)/float64(ow)))
					var s float64
					for r := h0; r < h1; r++ {
						for q := w0; q < w1; q++ {
							s += float64(engine.F32(x)[pl*h*w+r*w+q])
						}
					}
					want = append(want, s/float64((h1-h0)*(w1-w0)))
				}
			}
		}
		requireClose(t, fmt.Sprint("adaptive ", c), want, engine.F32(y), 1e-6, 1e-6)
	}
}

func TestAddSign(t *testing.T) {
	be := engine.NewCPU(1)
	a := newAlloc(t, be, 5)
	p := a.zeros(5)
	be.Upload(p, []float32{-2, 0, 3, -0.5, 1e-30})
	g := a.zeros(5)
	be.Upload(g, []float32{1, 1, 1, 1, 1})
	be.AddSign(g, p, 0.25)
	require.NoError(t, be.Err())
	require.Equal(t, []float32{0.75, 1, 1.25, 0.75, 1.25}, engine.F32(g))
	be.AddSign(g, a.zeros(4), 1)
	require.ErrorContains(t, be.Err(), "add sign: ")
}
