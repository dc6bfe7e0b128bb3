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
