package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
)

// TestCompositeGradients checks each composite layer's backward pass (in
// eval mode)
// against central finite differences of L = Σ y·w (accumulated in float64),
// for the input and every parameter, on small shapes: the wiring of the
// blocks (residual sums, branch splits, the attention's permutes) is what
// is under test; the ops themselves have their own checks in engine.
func TestCompositeGradients(t *testing.T) {
	const n = 2
	cases := []struct {
		name  string
		in    []int
		build func(b *Builder, in []int) Module
	}{
		{"bottleneck_down", []int{4, 5, 5}, func(b *Builder, in []int) Module {
			return NewBottleneck(b, "blk.", in, []ConvBN{
				{Conv: "conv1", BN: "bn1", Out: 3, K: 1, Stride: 1},
				{Conv: "conv2", BN: "bn2", Out: 3, K: 3, Stride: 2, Pad: 1},
				{Conv: "conv3", BN: "bn3", Out: 6, K: 1, Stride: 1},
			}, &ConvBN{Conv: "downsample.0", BN: "downsample.1", Out: 6, K: 1, Stride: 2}, 1e-5)
		}},
		{"bottleneck_identity", []int{6, 4, 4}, func(b *Builder, in []int) Module {
			return NewBottleneck(b, "blk.", in, []ConvBN{
				{Conv: "conv2", BN: "bn2", Out: 3, K: 3, Stride: 1, Pad: 1},
				{Conv: "conv3", BN: "bn3", Out: 6, K: 1, Stride: 1},
			}, nil, 1e-5)
		}},
		{"preact_se_shortcut", []int{4, 6, 6}, func(b *Builder, in []int) Module {
			return NewPreActSEBlock(b, "blk.", in, 5, 8, 2, 2, true)
		}},
		{"preact_se_identity", []int{8, 4, 4}, func(b *Builder, in []int) Module {
			return NewPreActSEBlock(b, "blk.", in, 6, 8, 2, 1, false)
		}},
		{"inception", []int{5, 3, 3}, func(b *Builder, in []int) Module {
			return NewInception(b, "inc.", in, 2, 3, 4, 2, 3, 2)
		}},
		{"attention_residual", []int{5, 8}, func(b *Builder, in []int) Module {
			ln := NewLayerNorm(b, "ln", in, 1e-5)
			att := NewMultiHeadAttention(b, "att.", in, 2, 0)
			return NewResidual(b, "res", in, ln, att)
		}},
		{"patch_embedding_mean", []int{1, 8, 8}, func(b *Builder, in []int) Module {
			pe := NewPatchEmbedding(b, "pe.", in, 4, 6)
			return NewSequential(in, pe, NewTokenMean(b, "mean", pe.OutShape()))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := engine.NewCPU(1)
			b := NewBuilder(n)
			x := b.Act("x", tc.in...)
			m := tc.build(b, tc.in)
			require.NoError(t, b.Allocate(be))
			require.NoError(t, b.Init(be, 1))
			rng := rand.New(rand.NewPCG(7, 7))
			randomize := func(t *engine.Tensor) {
				v := engine.F32(t)
				for i := range v {
					v[i] = float32(rng.Float64()*2 - 1)
				}
			}
			b.SetBatch(n)
			randomize(x)
			for _, e := range b.Entries() {
				if e.Kind == Param {
					randomize(e.Value)
				}
			}
			// Eval mode: batch norm is then affine per element. In training mode
			// it couples every element of a channel, so one finite difference
			// moves every ReLU input after it and crosses kinks; the
			// training-mode wiring is checked against PyTorch in
			// models/torch_test.go (SE-ResNet, GoogLeNet, ResNets, ViT).
			ctx := &Ctx{B: be, Train: false}
			y := m.Forward(ctx, x)
			w := make([]float32, y.Len())
			for i := range w {
				w[i] = float32(rng.Float64()*2 - 1)
			}
			dyT := engine.NewTensor("dy", mustAlloc(t, be, y.Len()), 0, y.Shape()...)
			copy(engine.F32(dyT), w)
			dx := m.Backward(ctx, dyT)
			require.NoError(t, be.Err())
			loss := func() float64 {
				out := m.Forward(ctx, x)
				var s float64
				for i, v := range engine.F32(out) {
					s += float64(v) * float64(w[i])
				}
				return s
			}
			// Central differences with ε = 1e-3; an element whose two
			// one-sided differences disagree sits on a kink (a ReLU or a
			// max-pool switching inside ±ε) and is skipped; few may be.
			check := func(what string, val, grad []float32) {
				const eps = 1e-3
				l0 := loss()
				var worst float64
				skipped := 0
				for i := range val {
					old := val[i]
					val[i] = old + eps
					lp := loss()
					val[i] = old - eps
					lm := loss()
					val[i] = old
					fwd, bwd := (lp-l0)/eps, (l0-lm)/eps
					if math.Abs(fwd-bwd) > 1e-2+0.1*(math.Abs(fwd)+math.Abs(bwd)) {
						skipped++
						continue
					}
					num := (lp - lm) / (2 * eps)
					ana := float64(grad[i])
					worst = max(worst, math.Abs(num-ana)/(1e-2+math.Abs(num)))
					require.InDelta(t, num, ana, 1e-2+1e-2*math.Abs(num), "%s[%d]", what, i)
				}
				require.LessOrEqual(t, skipped, max(1, len(val)/20), "%s: %d of %d elements on kinks", what, skipped, len(val))
				t.Logf("%s: %d elements (%d on kinks, skipped), max rel err %.2g", what, len(val), skipped, worst)
			}
			grads := map[string][]float32{"x": append([]float32(nil), engine.F32(dx)...)}
			for _, e := range b.Entries() {
				if e.Kind == Param {
					grads[e.Name] = append([]float32(nil), engine.F32(e.Grad)...)
				}
			}
			check("x", engine.F32(x), grads["x"])
			for _, e := range b.Entries() {
				if e.Kind == Param {
					check(e.Name, engine.F32(e.Value), grads[e.Name])
				}
			}
		})
	}
}

func mustAlloc(t *testing.T, be *engine.CPU, n int) engine.Storage {
	st, err := be.Alloc(engine.Float32, n)
	require.NoError(t, err, fmt.Sprint(n))
	return st
}
