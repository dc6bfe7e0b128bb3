package engine_test

import (
	"math"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// TestFusedMatchesChain requires each fused op to give, bit for bit, what
// its unfused chain gives on the CPU (the fused ops share the chain's
// arithmetic, applying the ReLU or its mask as they write or read), on
// shapes with a tail that the unrolled loops handle apart, NaNs and
// zeros included.
func TestFusedMatchesChain(t *testing.T) {
	be := engine.NewCPU(0)
	for _, shape := range [][]int{{7, 5}, {3, 4, 5, 7}, {2, 3, 8, 8}} {
		a := newAlloc(t, be, uint64(engine.Numel(shape)))
		ch := shape[1]
		x, gamma, beta := a.rand(shape...), a.uniform(0.5, 1.5, ch), a.rand(ch)
		engine.F32(x)[1] = 0
		dy := a.rand(shape...)
		engine.F32(dy)[2] = float32(math.NaN())
		rmA, rvA, rmB, rvB := a.zeros(ch), a.full(1, ch), a.zeros(ch), a.full(1, ch)

		// Training: BatchNormTrain, Relu, ReluBackward, BatchNormBackward.
		z, y, smA, siA := a.like(x), a.like(x), a.zeros(ch), a.zeros(ch)
		be.BatchNormTrain(z, smA, siA, rmA, rvA, x, gamma, beta, 0.1, 1e-5)
		be.Relu(y, z)
		dz, dxA, dgA, dbA := a.like(x), a.like(x), a.zeros(ch), a.zeros(ch)
		be.ReluBackward(dz, dy, y)
		be.BatchNormBackward(dxA, dgA, dbA, dz, x, gamma, smA, siA)

		yF, smB, siB := a.nans(shape...), a.nans(ch), a.nans(ch)
		be.BatchNormReluTrain(yF, smB, siB, rmB, rvB, x, gamma, beta, 0.1, 1e-5)
		dxB, dgB, dbB := a.nans(shape...), a.nans(ch), a.nans(ch)
		be.BatchNormReluBackward(dxB, dgB, dbB, dy, yF, x, gamma, smB, siB)
		// dx may be dy.
		dyIn := a.like(dy)
		copy(engine.F32(dyIn), engine.F32(dy))
		dgC, dbC := a.nans(ch), a.nans(ch)
		be.BatchNormReluBackward(dyIn, dgC, dbC, dyIn, yF, x, gamma, smB, siB)

		// Evaluation.
		zE, yE, yEF := a.like(x), a.like(x), a.nans(shape...)
		be.BatchNormEval(zE, x, gamma, beta, rmA, rvA, 1e-5)
		be.Relu(yE, zE)
		be.BatchNormReluEval(yEF, x, gamma, beta, rmB, rvB, 1e-5)
		dzE, dxE, dgE, dbE := a.like(x), a.like(x), a.zeros(ch), a.zeros(ch)
		be.ReluBackward(dzE, dy, yE)
		be.BatchNormEvalBackward(dxE, dgE, dbE, dzE, x, gamma, rmA, rvA, 1e-5)
		dxEF, dgEF, dbEF := a.nans(shape...), a.nans(ch), a.nans(ch)
		be.BatchNormReluEvalBackward(dxEF, dgEF, dbEF, dy, yEF, x, gamma, rmB, rvB, 1e-5)

		// Residual add + ReLU; y may be an operand.
		r := a.rand(shape...)
		sum, yR := a.like(x), a.like(x)
		be.Add(sum, x, r)
		be.Relu(yR, sum)
		yRF := a.nans(shape...)
		be.AddRelu(yRF, x, r)
		inPlace := a.like(r)
		copy(engine.F32(inPlace), engine.F32(r))
		be.AddRelu(inPlace, x, inPlace)
		if err := be.Err(); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what      string
			want, got *engine.Tensor
		}{
			{"train y", y, yF}, {"save mean", smA, smB}, {"save invstd", siA, siB},
			{"running mean", rmA, rmB}, {"running var", rvA, rvB},
			{"dx", dxA, dxB}, {"dgamma", dgA, dgB}, {"dbeta", dbA, dbB},
			{"dx in place", dxA, dyIn}, {"dgamma (dx in place)", dgA, dgC}, {"dbeta (dx in place)", dbA, dbC},
			{"eval y", yE, yEF}, {"eval dx", dxE, dxEF}, {"eval dgamma", dgE, dgEF}, {"eval dbeta", dbE, dbEF},
			{"add relu", yR, yRF}, {"add relu in place", yR, inPlace},
		} {
			w, g := engine.F32(c.want), engine.F32(c.got)
			for i := range w {
				if math.Float32bits(w[i]) != math.Float32bits(g[i]) {
					t.Fatalf("%v %s: element %d: fused %g, chain %g", shape, c.what, i, g[i], w[i])
				}
			}
		}
	}
	t.Logf("fused ops: bit-identical to their chains on 3 shapes")
}

// TestFusedErrors: bad operands get a one-line error naming the op.
func TestFusedErrors(t *testing.T) {
	be := engine.NewCPU(1)
	a := newAlloc(t, be, 3)
	x, y := a.rand(2, 3, 4), a.zeros(2, 3, 4)
	for _, c := range []struct {
		name string
		run  func()
		want string
	}{
		{"add relu broadcast", func() { be.AddRelu(y, x, a.rand(4)) }, "add relu: want a, b and y of one shape"},
		{"bn relu backward without y", func() {
			be.BatchNormReluBackward(a.zeros(2, 3, 4), nil, nil, x, nil, x, nil, a.zeros(3), a.zeros(3))
		}, "batchnorm relu backward: needs the forward output y"},
		{"bn relu channels", func() {
			be.BatchNormReluTrain(y, a.zeros(4), a.zeros(4), nil, nil, x, nil, nil, 0.1, 1e-5)
		}, "batchnorm relu:"},
	} {
		be.ClearErr()
		c.run()
		err := be.Err()
		if err == nil || len(err.Error()) < len(c.want) || err.Error()[:len(c.want)] != c.want {
			t.Errorf("%s: got error %v, want one starting %q", c.name, err, c.want)
		}
	}
}

// TestSqueezeExciteMatchesChain compares SqueezeExcite and its backward with
// the chain of unfused ops the SE block ran before (adaptive pooling, 1x1
// convolutions with bias, ReLU, sigmoid, channel scale, add; their
// backward ops and an Axpy): the fused op pools and multiplies in float64,
// so the two agree within float32 rounding, 1e-5 + 1e-5·|chain|.
func TestSqueezeExciteMatchesChain(t *testing.T) {
	be := engine.NewCPU(0)
	a := newAlloc(t, be, 41)
	const n, ch, h, w, d = 3, 32, 7, 5, 2
	x, res := a.uniform(-2, 2, n, ch, h, w), a.rand(n, ch, h, w)
	w1, b1, w2, b2 := a.rand(d, ch, 1, 1), a.rand(d), a.rand(ch, d, 1, 1), a.rand(ch)
	dy := a.rand(n, ch, h, w)
	one := engine.Conv2dParams{StrideH: 1, StrideW: 1}

	pool, z1, h1, z2, s := a.zeros(n, ch, 1, 1), a.zeros(n, d, 1, 1), a.zeros(n, d, 1, 1), a.zeros(n, ch, 1, 1), a.zeros(n, ch, 1, 1)
	scaled, y := a.like(x), a.like(x)
	be.AdaptiveAvgPool2d(pool, x)
	be.Conv2d(z1, pool, w1, b1, one)
	be.Relu(h1, z1)
	be.Conv2d(z2, h1, w2, b2, one)
	be.Sigmoid(s, z2)
	be.ChannelScale(scaled, x, s)
	be.Add(y, scaled, res)
	dout, ds, dz2, dh1, dz1, dpool := a.like(x), a.like(s), a.like(s), a.like(h1), a.like(h1), a.like(pool)
	dw1, db1, dw2, db2, dpx := a.like(w1), a.like(b1), a.like(w2), a.like(b2), a.like(x)
	be.ChannelScaleBackward(dout, ds, dy, x, s)
	be.SigmoidBackward(dz2, ds, s)
	be.Conv2dBackward(dh1, dw2, db2, dz2, h1, w2, one)
	be.ReluBackward(dz1, dh1, h1)
	be.Conv2dBackward(dpool, dw1, db1, dz1, pool, w1, one)
	be.AdaptiveAvgPool2dBackward(dpx, dpool)
	be.Axpy(dout, 1, dpx)

	yF, pF, hF, sF := a.nans(n, ch, h, w), a.nans(n, ch), a.nans(n, d), a.nans(n, ch)
	be.SqueezeExcite(yF, pF, hF, sF, x, res, w1, b1, w2, b2)
	dxF, dw1F, db1F, dw2F, db2F := a.nans(n, ch, h, w), a.nans(d, ch, 1, 1), a.nans(d), a.nans(ch, d, 1, 1), a.nans(ch)
	be.SqueezeExciteBackward(dxF, dw1F, db1F, dw2F, db2F, dy, x, w1, w2, pF, hF, sF)
	// Without the residual, dx in dy's memory.
	yN := a.nans(n, ch, h, w)
	be.SqueezeExcite(yN, pF, hF, sF, x, nil, w1, b1, w2, b2)
	dyIn := a.like(dy)
	copy(engine.F32(dyIn), engine.F32(dy))
	be.SqueezeExciteBackward(dyIn, nil, nil, nil, nil, dyIn, x, w1, w2, pF, hF, sF)
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		want, got *engine.Tensor
	}{
		{"y", y, yF}, {"pooled", pool, pF}, {"hidden", h1, hF}, {"scale", s, sF}, {"y without residual", scaled, yN},
		{"dx", dout, dxF}, {"dw1", dw1, dw1F}, {"db1", db1, db1F}, {"dw2", dw2, dw2F}, {"db2", db2, db2F},
		{"dx in place", dout, dyIn},
	} {
		want, got := engine.F32(c.want), engine.F32(c.got)
		for i := range want {
			if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= 1e-5+1e-5*math.Abs(float64(want[i]))) {
				t.Fatalf("%s[%d]: fused %g, chain %g", c.what, i, got[i], want[i])
			}
		}
	}
	t.Logf("squeeze excite: within 1e-5 + 1e-5·|chain| of the unfused chain")
}

// TestBatchNormPlanePaths runs training batch norms, with and without the
// fused ReLU, forward and backward, through the per-plane path and the
// channel-block path of small planes on the same inputs (outputs poisoned
// first): they agree within float32 rounding.
func TestBatchNormPlanePaths(t *testing.T) {
	be := engine.NewCPU(0)
	for _, shape := range [][]int{{5, 70, 2, 2}, {3, 11, 7, 7}, {4, 600, 1, 1}, {6, 300}, {3, 5, 9, 9}, {2, 3, 4, 4}} {
		ch := shape[1]
		a := newAlloc(t, be, uint64(engine.Numel(shape)))
		x, gamma, beta, dy := a.uniform(-2, 3, shape...), a.uniform(0.5, 1.5, ch), a.rand(ch), a.rand(shape...)
		run := func(small int) [][]float32 {
			defer engine.SetBNSmallPlane(small)()
			var out [][]float32
			for _, relu := range []bool{false, true} {
				y, sm, si, rm, rv := a.nans(shape...), a.nans(ch), a.nans(ch), a.zeros(ch), a.full(1, ch)
				dx, dg, db := a.nans(shape...), a.nans(ch), a.nans(ch)
				if relu {
					be.BatchNormReluTrain(y, sm, si, rm, rv, x, gamma, beta, 0.1, 1e-5)
					be.BatchNormReluBackward(dx, dg, db, dy, y, x, gamma, sm, si)
				} else {
					be.BatchNormTrain(y, sm, si, rm, rv, x, gamma, beta, 0.1, 1e-5)
					be.BatchNormBackward(dx, dg, db, dy, x, gamma, sm, si)
				}
				ye := a.nans(shape...)
				be.BatchNormEval(ye, x, gamma, beta, rm, rv, 1e-5)
				for _, v := range []*engine.Tensor{y, sm, si, rm, rv, dx, dg, db, ye} {
					out = append(out, append([]float32(nil), engine.F32(v)...))
				}
			}
			if err := be.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		planes, blocks := run(0), run(1<<30)
		for i := range planes {
			for j, want := range planes[i] {
				got := blocks[i][j]
				if math.IsNaN(float64(want)) || math.Abs(float64(got-want)) > 1e-5+1e-5*math.Abs(float64(want)) {
					t.Fatalf("%v output %d [%d]: per-plane %v, blocks %v", shape, i, j, want, got)
				}
			}
		}
	}
}
