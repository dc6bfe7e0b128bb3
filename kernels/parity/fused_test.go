//go:build cuda || cgo

package parity

import (
	"fmt"
	"testing"
)

// The fused ops: batch norm + ReLU (norm.cu's batch-norm kernels with their
// relu flag or output mask) and add + ReLU (fused.cu), against
// engine/cpu_fused.go, with the tolerances of the unfused ops (norm_test.go;
// add + ReLU is one float add on both engines: exact).

// fusedBNCases cover the batch-norm kernels' paths as normBNCases does: one
// block per channel (P = 1), split channels (P > 1: partials, finalize,
// apply), S = 1, odd S and S % 4 == 0 (float4).
var fusedBNCases = []struct {
	name  string
	shape []int
}{
	{"odd", []int{3, 5, 7, 7}},                // P = 1, S = 49
	{"2-D", []int{64, 10}},                    // S = 1
	{"2-D split", []int{4096, 16}},            // P = 4, S = 1
	{"one channel", []int{32, 1, 16, 16}},     // P = 8, float4
	{"se-resnet 7x7", []int{64, 64, 7, 7}},    // S = 49
	{"split float4", []int{64, 8, 14, 16}},    // P > 1, float4
	{"rows of 12", []int{2, 7, 3, 4}},         // P = 1, S = 12
	{"split odd", []int{128, 3, 9, 9}},        // P > 1, scalar
	{"se-resnet 14x14", []int{8, 32, 14, 14}}, // float4
}

func TestBatchNormReluParity(t *testing.T) {
	t.Run("bf16 output", bnReluBF16Parity)
	e := newEnv(t, 21)
	const momentum, eps = 0.1, 1e-5
	for _, tc := range fusedBNCases {
		ch := tc.shape[1]
		t.Logf("case %s %v", tc.name, tc.shape)
		x := e.randRange("x", -2, 2, tc.shape...)
		gamma, beta := e.randRange("gamma", 0.5, 1.5, ch), e.rand("beta", 0.5, ch)
		y := e.out("y", tc.shape...)
		sm, si := e.out("save mean", ch), e.out("save invstd", ch)
		rm, rv := e.rand("running mean", 0.5, ch), e.randRange("running var", 0.5, 1.5, ch)
		e.g.BatchNormReluTrain(y.g, sm.g, si.g, rm.g, rv.g, x.g, gamma.g, beta.g, momentum, eps)
		e.c.BatchNormReluTrain(y.c, sm.c, si.c, rm.c, rv.c, x.c, gamma.c, beta.c, momentum, eps)
		e.check("batchnorm relu y", y, normFwdTol, normFwdEps)
		e.check("batchnorm relu save mean", sm, normFwdTol, normFwdEps)
		e.check("batchnorm relu save invstd", si, normFwdTol, normFwdEps)
		e.check("batchnorm relu running mean", rm, normFwdTol, normFwdEps)
		e.check("batchnorm relu running var", rv, normFwdTol, normFwdEps)

		// Backward from the CPU's saved statistics and output on both
		// engines (the mask of y > 0 then agrees element for element).
		smIn, siIn := normFromCPU(e, "save mean", sm), normFromCPU(e, "save invstd", si)
		yIn := normFromCPU(e, "y", y)
		dy := e.rand("dy", 1, tc.shape...)
		dx := e.out("dx", tc.shape...)
		dg, db := e.out("dgamma", ch), e.out("dbeta", ch)
		e.g.BatchNormReluBackward(dx.g, dg.g, db.g, dy.g, yIn.g, x.g, gamma.g, smIn.g, siIn.g)
		e.c.BatchNormReluBackward(dx.c, dg.c, db.c, dy.c, yIn.c, x.c, gamma.c, smIn.c, siIn.c)
		e.check("batchnorm relu backward dx", dx, normBwdTol, normBwdEps)
		e.check("batchnorm relu backward dgamma", dg, normBwdTol, normBwdEps)
		e.check("batchnorm relu backward dbeta", db, normBwdTol, normBwdEps)

		// dx in dy's memory.
		dyIn := normFromCPU(e, "dy in place", dy)
		dg2, db2 := e.out("dgamma (in place)", ch), e.out("dbeta (in place)", ch)
		e.g.BatchNormReluBackward(dyIn.g, dg2.g, db2.g, dyIn.g, yIn.g, x.g, gamma.g, smIn.g, siIn.g)
		e.c.BatchNormReluBackward(dyIn.c, dg2.c, db2.c, dyIn.c, yIn.c, x.c, gamma.c, smIn.c, siIn.c)
		e.check("batchnorm relu backward dx in place", dyIn, normBwdTol, normBwdEps)
		e.check("batchnorm relu backward dgamma (dx in place)", dg2, normBwdTol, normBwdEps)

		// Eval mode.
		rmE, rvE := e.rand("eval mean", 0.5, ch), e.randRange("eval var", 0.5, 1.5, ch)
		ye := e.out("y eval", tc.shape...)
		e.g.BatchNormReluEval(ye.g, x.g, gamma.g, beta.g, rmE.g, rvE.g, eps)
		e.c.BatchNormReluEval(ye.c, x.c, gamma.c, beta.c, rmE.c, rvE.c, eps)
		e.check("batchnorm relu eval y", ye, normFwdTol, normFwdEps)
		yeIn := normFromCPU(e, "y eval", ye)
		dxe := e.out("dx eval", tc.shape...)
		dge, dbe := e.out("dgamma eval", ch), e.out("dbeta eval", ch)
		e.g.BatchNormReluEvalBackward(dxe.g, dge.g, dbe.g, dy.g, yeIn.g, x.g, gamma.g, rmE.g, rvE.g, eps)
		e.c.BatchNormReluEvalBackward(dxe.c, dge.c, dbe.c, dy.c, yeIn.c, x.c, gamma.c, rmE.c, rvE.c, eps)
		e.check("batchnorm relu eval backward dx", dxe, normBwdTol, normBwdEps)
		e.check("batchnorm relu eval backward dgamma", dge, normBwdTol, normBwdEps)
		e.check("batchnorm relu eval backward dbeta", dbe, normBwdTol, normBwdEps)
	}
	// Missing y: the same one-line error on both engines.
	x := e.rand("x", 1, 4, 3)
	st := e.out("stat", 3)
	e.g.BatchNormReluBackward(x.g, nil, nil, x.g, nil, x.g, nil, st.g, st.g)
	e.c.BatchNormReluBackward(x.c, nil, nil, x.c, nil, x.c, nil, st.c, st.c)
	e.sameError("batchnorm relu backward without y")
}

func TestAddReluParity(t *testing.T) {
	e := newEnv(t, 22)
	for _, shape := range [][]int{{64, 64, 28, 28}, {3, 5, 7}, {2, 2}, {1, 1}, {7, 1029}} {
		name := fmt.Sprint(shape)
		a, b := e.rand("a", 2, shape...), e.rand("b", 2, shape...)
		y := e.out("y", shape...)
		e.g.AddRelu(y.g, a.g, b.g)
		e.c.AddRelu(y.c, a.c, b.c)
		e.check("add relu "+name, y, 0, 0)
		// y in b's memory.
		bIn := normFromCPU(e, "b", b)
		e.g.AddRelu(bIn.g, a.g, bIn.g)
		e.c.AddRelu(bIn.c, a.c, bIn.c)
		e.check("add relu in place "+name, bIn, 0, 0)
	}
	// Odd offsets: the scalar kernel on a length that is a multiple of 4.
	a, b := e.rand("a", 2, 33), e.rand("b", 2, 33)
	y := e.out("y", 33)
	av, bv, yv := a.g.Slice(1, 33), b.g.Slice(1, 33), y.g.Slice(1, 33)
	e.g.AddRelu(yv, av, bv)
	e.c.AddRelu(y.c.Slice(1, 33), a.c.Slice(1, 33), b.c.Slice(1, 33))
	yy := pair{g: yv, c: y.c.Slice(1, 33)}
	e.check("add relu unaligned", yy, 0, 0)
	// Broadcasting is refused with one message on both engines.
	r := e.rand("row", 1, 3)
	big := e.out("y", 2, 3)
	e.g.AddRelu(big.g, big.g, r.g)
	e.c.AddRelu(big.c, big.c, r.c)
	e.sameError("add relu broadcast")
}

// TestSqueezeExciteParity covers fused.cu's SE kernels: planes of one
// element to the SE-ResNet's 28x28, hidden layers of 1 to 32, with and
// without the residual and biases, dx in dy's memory.
func TestSqueezeExciteParity(t *testing.T) {
	e := newEnv(t, 23)
	for _, tc := range []struct {
		n, c, h, w, d int
		res, bias     bool
	}{
		{4, 64, 28, 28, 4, true, true},   // SE-ResNet stage 1 (batch 4)
		{8, 512, 4, 4, 32, true, true},   // stage 4
		{3, 5, 7, 3, 1, false, true},     // odd plane, one hidden unit
		{2, 33, 1, 1, 2, true, false},    // planes of one element, no biases
		{5, 300, 2, 3, 19, false, false}, // channels over one block of 256
	} {
		shape := []int{tc.n, tc.c, tc.h, tc.w}
		name := fmt.Sprint(shape, " d=", tc.d, " res=", tc.res, " bias=", tc.bias)
		x := e.rand("x", 2, shape...)
		w1, w2 := e.rand("w1", 0.5, tc.d, tc.c, 1, 1), e.rand("w2", 0.5, tc.c, tc.d, 1, 1)
		b1, b2 := e.rand("b1", 0.5, tc.d), e.rand("b2", 0.5, tc.c)
		b1g, b1c := normOpt(b1, tc.bias)
		b2g, b2c := normOpt(b2, tc.bias)
		res := e.rand("res", 1, shape...)
		rg, rc := normOpt(res, tc.res)
		y, pooled := e.out("y", shape...), e.out("pooled", tc.n, tc.c)
		hidden, scale := e.out("hidden", tc.n, tc.d), e.out("scale", tc.n, tc.c)
		e.g.SqueezeExcite(y.g, pooled.g, hidden.g, scale.g, x.g, rg, w1.g, b1g, w2.g, b2g)
		e.c.SqueezeExcite(y.c, pooled.c, hidden.c, scale.c, x.c, rc, w1.c, b1c, w2.c, b2c)
		e.check("squeeze excite pooled "+name, pooled, normFwdTol, normFwdEps)
		e.check("squeeze excite hidden "+name, hidden, normFwdTol, normFwdEps)
		e.check("squeeze excite scale "+name, scale, normFwdTol, normFwdEps)
		e.check("squeeze excite y "+name, y, normFwdTol, normFwdEps)

		// Backward from the CPU's saved tensors on both engines.
		pIn, hIn, sIn := normFromCPU(e, "pooled", pooled), normFromCPU(e, "hidden", hidden), normFromCPU(e, "scale", scale)
		dy := e.rand("dy", 1, shape...)
		dx := e.out("dx", shape...)
		dw1, dw2 := e.out("dw1", tc.d, tc.c, 1, 1), e.out("dw2", tc.c, tc.d, 1, 1)
		db1, db2 := e.out("db1", tc.d), e.out("db2", tc.c)
		db1g, db1c := normOpt(db1, tc.bias)
		db2g, db2c := normOpt(db2, tc.bias)
		e.g.SqueezeExciteBackward(dx.g, dw1.g, db1g, dw2.g, db2g, dy.g, x.g, w1.g, w2.g, pIn.g, hIn.g, sIn.g)
		e.c.SqueezeExciteBackward(dx.c, dw1.c, db1c, dw2.c, db2c, dy.c, x.c, w1.c, w2.c, pIn.c, hIn.c, sIn.c)
		e.check("squeeze excite backward dx "+name, dx, normBwdTol, normBwdEps)
		e.check("squeeze excite backward dw1 "+name, dw1, normBwdTol, normBwdEps)
		e.check("squeeze excite backward dw2 "+name, dw2, normBwdTol, normBwdEps)
		if tc.bias {
			e.check("squeeze excite backward db1 "+name, db1, normBwdTol, normBwdEps)
			e.check("squeeze excite backward db2 "+name, db2, normBwdTol, normBwdEps)
		}
		dyIn := normFromCPU(e, "dy in place", dy)
		e.g.SqueezeExciteBackward(dyIn.g, nil, nil, nil, nil, dyIn.g, x.g, w1.g, w2.g, pIn.g, hIn.g, sIn.g)
		e.c.SqueezeExciteBackward(dyIn.c, nil, nil, nil, nil, dyIn.c, x.c, w1.c, w2.c, pIn.c, hIn.c, sIn.c)
		e.check("squeeze excite backward dx in place "+name, dyIn, normBwdTol, normBwdEps)
	}
	x := e.rand("x", 1, 2, 4, 3, 3)
	w := e.rand("w", 1, 3, 4)
	p, h := e.out("p", 2, 4), e.out("h", 2, 2)
	e.g.SqueezeExcite(x.g, p.g, h.g, p.g, x.g, nil, w.g, nil, w.g, nil)
	e.c.SqueezeExcite(x.c, p.c, h.c, p.c, x.c, nil, w.c, nil, w.c, nil)
	e.sameError("squeeze excite with mismatched weights")
}
