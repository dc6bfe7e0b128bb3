//go:build cuda || cgo

package parity

import (
	"fmt"
	"math"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// Tolerances of the norm parity tests, |gpu − cpu| <= tol + |cpu|·eps:
// forward outputs and saved statistics (element-wise float math from
// coefficients computed in double on both engines) within 1e-5 + 1e-5·|cpu|;
// gradients (reductions over up to 50k elements in another order, then
// element-wise float math) within 1e-4 + 1e-4·|cpu|.
const (
	normFwdTol, normFwdEps = 1e-5, 1e-5
	normBwdTol, normBwdEps = 1e-4, 1e-4
)

// normOpt returns both sides of p, or nils when use is false (an optional
// operand left out).
func normOpt(p pair, use bool) (g, c *engine.Tensor) {
	if !use {
		return nil, nil
	}
	return p.g, p.c
}

// normFromCPU is a new pair holding p's CPU values on both sides: the
// backward tests give both engines the same saved statistics.
func normFromCPU(e *env, name string, p pair) pair {
	e.t.Helper()
	_, c := e.host(p)
	q := e.zeros(name, p.c.Shape()...)
	e.set(q, c)
	return q
}

// normBNCases covers the kernels' paths on a 132-SM H200: one block per
// channel (P = 1, fused) and channels split over P > 1 blocks (partials,
// finalize, element-wise apply), rows of S = 1, odd S (scalar accesses) and
// S % 4 == 0 (float4).
var normBNCases = []struct {
	name   string
	shape  []int
	lo, hi float32 // x uniform in [lo, hi)
	tol    float64 // forward absolute tolerance
}{
	{"odd", []int{3, 5, 7, 7}, -2, 2, normFwdTol},                 // P = 1, S = 49
	{"2-D", []int{64, 10}, -2, 2, normFwdTol},                     // S = 1
	{"2-D tiny", []int{2, 3}, -2, 2, normFwdTol},                  // M = 2
	{"2-D split", []int{4096, 16}, -2, 2, normFwdTol},             // P = 4, S = 1
	{"one channel", []int{32, 1, 16, 16}, -2, 2, normFwdTol},      // P = 8, float4
	{"se-resnet 28x28", []int{64, 64, 28, 28}, -2, 2, normFwdTol}, // P = 17, float4
	{"se-resnet 7x7", []int{64, 512, 7, 7}, -2, 2, normFwdTol},    // P = 3, S = 49
	{"se-resnet 2048", []int{64, 2048, 7, 7}, -2, 2, normFwdTol},  // P = 1
	{"rows of 12", []int{2, 7, 3, 4}, -2, 2, normFwdTol},          // P = 1, S = 12
	// A large mean: y = x·a + off subtracts terms of ~170 (both engines
	// alike), so y is compared to 1e-4.
	{"offset", []int{64, 32, 14, 14}, 99, 101, 1e-4},
}

func TestBatchNormParity(t *testing.T) {
	e := newEnv(t, 11)
	const momentum, eps = 0.1, 1e-5
	for _, tc := range normBNCases {
		ch := tc.shape[1]
		for _, affine := range []bool{true, false} {
			t.Logf("case %s %v affine=%v", tc.name, tc.shape, affine)
			x := e.randRange("x", tc.lo, tc.hi, tc.shape...)
			gamma := e.randRange("gamma", 0.5, 1.5, ch)
			beta := e.rand("beta", 0.5, ch)
			gg, gc := normOpt(gamma, affine)
			bg, bc := normOpt(beta, affine)
			y := e.out("y", tc.shape...)
			sm, si := e.out("save mean", ch), e.out("save invstd", ch)
			rm, rv := e.rand("running mean", 0.5, ch), e.randRange("running var", 0.5, 1.5, ch)
			rmg, rmc := normOpt(rm, affine) // no running statistics without affine too
			rvg, rvc := normOpt(rv, affine)
			e.g.BatchNormTrain(y.g, sm.g, si.g, rmg, rvg, x.g, gg, bg, momentum, eps)
			e.c.BatchNormTrain(y.c, sm.c, si.c, rmc, rvc, x.c, gc, bc, momentum, eps)
			e.check("batchnorm y", y, tc.tol, normFwdEps)
			e.check("batchnorm save mean", sm, normFwdTol, normFwdEps)
			e.check("batchnorm save invstd", si, normFwdTol, normFwdEps)
			if affine {
				e.check("batchnorm running mean", rm, normFwdTol, normFwdEps)
				e.check("batchnorm running var", rv, normFwdTol, normFwdEps)
			}

			// Backward from the CPU's saved statistics on both engines.
			smIn, siIn := normFromCPU(e, "save mean", sm), normFromCPU(e, "save invstd", si)
			dy := e.rand("dy", 1, tc.shape...)
			dx := e.out("dx", tc.shape...)
			dg, db := e.out("dgamma", ch), e.out("dbeta", ch)
			e.g.BatchNormBackward(dx.g, dg.g, db.g, dy.g, x.g, gg, smIn.g, siIn.g)
			e.c.BatchNormBackward(dx.c, dg.c, db.c, dy.c, x.c, gc, smIn.c, siIn.c)
			e.check("batchnorm backward dx", dx, normBwdTol, normBwdEps)
			e.check("batchnorm backward dgamma", dg, normBwdTol, normBwdEps)
			e.check("batchnorm backward dbeta", db, normBwdTol, normBwdEps)

			// Only some gradients wanted.
			dx2 := e.out("dx only", tc.shape...)
			e.g.BatchNormBackward(dx2.g, nil, nil, dy.g, x.g, gg, smIn.g, siIn.g)
			e.c.BatchNormBackward(dx2.c, nil, nil, dy.c, x.c, gc, smIn.c, siIn.c)
			e.check("batchnorm backward dx (no dgamma, dbeta)", dx2, normBwdTol, normBwdEps)
			dg2, db2 := e.out("dgamma only", ch), e.out("dbeta only", ch)
			e.g.BatchNormBackward(nil, dg2.g, db2.g, dy.g, x.g, gg, smIn.g, siIn.g)
			e.c.BatchNormBackward(nil, dg2.c, db2.c, dy.c, x.c, gc, smIn.c, siIn.c)
			e.check("batchnorm backward dgamma (no dx)", dg2, normBwdTol, normBwdEps)
			e.check("batchnorm backward dbeta (no dx)", db2, normBwdTol, normBwdEps)

			// Eval mode from the running statistics (positive variances).
			rmE, rvE := e.rand("eval mean", 0.5, ch), e.randRange("eval var", 0.5, 1.5, ch)
			ye := e.out("y eval", tc.shape...)
			e.g.BatchNormEval(ye.g, x.g, gg, bg, rmE.g, rvE.g, eps)
			e.c.BatchNormEval(ye.c, x.c, gc, bc, rmE.c, rvE.c, eps)
			e.check("batchnorm eval y", ye, tc.tol, normFwdEps)
			dxe := e.out("dx eval", tc.shape...)
			dge, dbe := e.out("dgamma eval", ch), e.out("dbeta eval", ch)
			e.g.BatchNormEvalBackward(dxe.g, dge.g, dbe.g, dy.g, x.g, gg, rmE.g, rvE.g, eps)
			e.c.BatchNormEvalBackward(dxe.c, dge.c, dbe.c, dy.c, x.c, gc, rmE.c, rvE.c, eps)
			e.check("batchnorm eval backward dx", dxe, normBwdTol, normBwdEps)
			e.check("batchnorm eval backward dgamma", dge, normBwdTol, normBwdEps)
			e.check("batchnorm eval backward dbeta", dbe, normBwdTol, normBwdEps)
			dxe2 := e.out("dx eval only", tc.shape...)
			e.g.BatchNormEvalBackward(dxe2.g, nil, nil, dy.g, x.g, gg, rmE.g, rvE.g, eps)
			e.c.BatchNormEvalBackward(dxe2.c, nil, nil, dy.c, x.c, gc, rmE.c, rvE.c, eps)
			e.check("batchnorm eval backward dx (no dgamma, dbeta)", dxe2, normBwdTol, normBwdEps)
		}
	}
}

// TestBatchNormInPlace runs the ops with the output in the input's memory,
// which the CPU engine allows.
func TestBatchNormInPlace(t *testing.T) {
	e := newEnv(t, 12)
	for _, shape := range [][]int{{3, 5, 7, 7}, {64, 64, 28, 28}, {64, 512, 7, 7}} {
		ch := shape[1]
		x := e.rand("x", 2, shape...)
		gamma, beta := e.randRange("gamma", 0.5, 1.5, ch), e.rand("beta", 0.5, ch)
		sm, si := e.out("save mean", ch), e.out("save invstd", ch)
		e.g.BatchNormTrain(x.g, sm.g, si.g, nil, nil, x.g, gamma.g, beta.g, 0.1, 1e-5)
		e.c.BatchNormTrain(x.c, sm.c, si.c, nil, nil, x.c, gamma.c, beta.c, 0.1, 1e-5)
		e.check("batchnorm in place y", x, normFwdTol, normFwdEps)
		// Backward with dx in dy's memory; x is now the normalised values.
		smIn, siIn := normFromCPU(e, "save mean", sm), normFromCPU(e, "save invstd", si)
		xIn := normFromCPU(e, "x", x)
		dy := e.rand("dy", 1, shape...)
		dg, db := e.out("dgamma", ch), e.out("dbeta", ch)
		e.g.BatchNormBackward(dy.g, dg.g, db.g, dy.g, xIn.g, gamma.g, smIn.g, siIn.g)
		e.c.BatchNormBackward(dy.c, dg.c, db.c, dy.c, xIn.c, gamma.c, smIn.c, siIn.c)
		e.check("batchnorm in place dx", dy, normBwdTol, normBwdEps)
		e.check("batchnorm in place dgamma", dg, normBwdTol, normBwdEps)
		e.check("batchnorm in place dbeta", db, normBwdTol, normBwdEps)
	}
}

var normRowShapes = [][]int{
	{64, 768},     // warp per row
	{5, 33},       // warp per row, odd
	{7, 3, 33},    // 3-D
	{6, 1},        // one element per row
	{2048, 256},   // many rows: dγ, dβ split over many blocks
	{4, 2048},     // block per row
	{3, 1500},     // block per row, odd
	{1, 1025},     // block per row, one row
	{197, 64, 10}, // 12608 rows of 10
}

func TestLayerNormParity(t *testing.T) {
	e := newEnv(t, 13)
	const eps = 1e-5
	for _, shape := range normRowShapes {
		d := shape[len(shape)-1]
		r := engine.Numel(shape) / d
		for _, affine := range []bool{true, false} {
			t.Logf("case %v affine=%v", shape, affine)
			x := e.randRange("x", -1, 3, shape...)
			gamma, beta := e.randRange("gamma", 0.5, 1.5, d), e.rand("beta", 0.5, d)
			gg, gc := normOpt(gamma, affine)
			bg, bc := normOpt(beta, affine)
			y := e.out("y", shape...)
			sm, si := e.out("save mean", r), e.out("save invstd", r)
			e.g.LayerNorm(y.g, sm.g, si.g, x.g, gg, bg, eps)
			e.c.LayerNorm(y.c, sm.c, si.c, x.c, gc, bc, eps)
			e.check("layernorm y", y, normFwdTol, normFwdEps)
			e.check("layernorm save mean", sm, normFwdTol, normFwdEps)
			e.check("layernorm save invstd", si, normFwdTol, normFwdEps)

			smIn, siIn := normFromCPU(e, "save mean", sm), normFromCPU(e, "save invstd", si)
			dy := e.rand("dy", 1, shape...)
			dx := e.out("dx", shape...)
			dg, db := e.out("dgamma", d), e.out("dbeta", d)
			e.g.LayerNormBackward(dx.g, dg.g, db.g, dy.g, x.g, gg, smIn.g, siIn.g)
			e.c.LayerNormBackward(dx.c, dg.c, db.c, dy.c, x.c, gc, smIn.c, siIn.c)
			e.check("layernorm backward dx", dx, normBwdTol, normBwdEps)
			e.check("layernorm backward dgamma", dg, normBwdTol, normBwdEps)
			e.check("layernorm backward dbeta", db, normBwdTol, normBwdEps)

			// Only some gradients wanted.
			dx2 := e.out("dx only", shape...)
			e.g.LayerNormBackward(dx2.g, nil, nil, dy.g, x.g, gg, smIn.g, siIn.g)
			e.c.LayerNormBackward(dx2.c, nil, nil, dy.c, x.c, gc, smIn.c, siIn.c)
			e.check("layernorm backward dx (no dgamma, dbeta)", dx2, normBwdTol, normBwdEps)
			dg2 := e.out("dgamma only", d)
			e.g.LayerNormBackward(nil, dg2.g, nil, dy.g, x.g, gg, smIn.g, siIn.g)
			e.c.LayerNormBackward(nil, dg2.c, nil, dy.c, x.c, gc, smIn.c, siIn.c)
			e.check("layernorm backward dgamma (no dx, dbeta)", dg2, normBwdTol, normBwdEps)
		}
	}
}

func TestSoftmaxParity(t *testing.T) {
	e := newEnv(t, 14)
	shapes := append([][]int{{64, 10}, {12, 197}, {7, 1000}, {3, 4096}, {2, 3, 1500}}, normRowShapes...)
	for _, shape := range shapes {
		x := e.rand("x", 8, shape...)
		y := e.out("y", shape...)
		e.g.Softmax(y.g, x.g)
		e.c.Softmax(y.c, x.c)
		e.check("softmax", y, normFwdTol, normFwdEps)

		xi := normFromCPU(e, "x in place", x)
		e.g.Softmax(xi.g, xi.g)
		e.c.Softmax(xi.c, xi.c)
		e.check("softmax in place", xi, normFwdTol, normFwdEps)

		yIn := normFromCPU(e, "y", y)
		dy := e.rand("dy", 1, shape...)
		dx := e.out("dx", shape...)
		e.g.SoftmaxBackward(dx.g, dy.g, yIn.g)
		e.c.SoftmaxBackward(dx.c, dy.c, yIn.c)
		e.check("softmax backward", dx, normBwdTol, normBwdEps)
	}
}

func TestCrossEntropyParity(t *testing.T) {
	e := newEnv(t, 15)
	for _, shape := range [][]int{{64, 10}, {7, 1000}, {3, 2000}, {1, 1}, {1000, 3}, {5, 1025}} {
		n, k := shape[0], shape[1]
		logits := e.rand("logits", 6, n, k)
		labels := e.labels("labels", k, n)
		loss := e.out("loss", 1)
		dl := e.out("dlogits", n, k)
		e.g.CrossEntropy(loss.g, dl.g, logits.g, labels.g)
		e.c.CrossEntropy(loss.c, dl.c, logits.c, labels.c)
		e.check("cross entropy loss", loss, normFwdTol, normFwdEps)
		e.check("cross entropy dlogits", dl, normFwdTol, normFwdEps)

		loss2 := e.out("loss only", 1)
		e.g.CrossEntropy(loss2.g, nil, logits.g, labels.g)
		e.c.CrossEntropy(loss2.c, nil, logits.c, labels.c)
		e.check("cross entropy loss (no dlogits)", loss2, normFwdTol, normFwdEps)
	}
}

// TestCrossEntropyBadLabel: a label outside [0, C) cannot be reported
// without a synchronisation; the GPU makes the loss NaN instead.
func TestCrossEntropyBadLabel(t *testing.T) {
	e := newEnv(t, 16)
	logits := e.rand("logits", 1, 4, 10)
	labels := e.alloc("labels", engine.Int32, 4)
	e.g.UploadInt32(labels.g, []int32{1, 2, 10, 3})
	loss := e.out("loss", 1)
	e.g.CrossEntropy(loss.g, nil, logits.g, labels.g)
	if err := e.g.Sync(); err != nil {
		t.Fatal(err)
	}
	v := make([]float32, 1)
	e.g.Download(v, loss.g)
	if !math.IsNaN(float64(v[0])) {
		t.Fatalf("loss with label 10 of 10 classes is %g, want NaN", v[0])
	}
	t.Logf("ok bad label: loss %g", v[0])
}

func TestNormErrorsRecorded(t *testing.T) {
	e := newEnv(t, 17)
	x, y := e.zeros("x", 4, 3, 2, 2), e.zeros("y", 4, 3, 2, 2)
	sm, si, g4 := e.zeros("mean", 3), e.zeros("invstd", 3), e.zeros("gamma", 4)
	e.g.BatchNormTrain(y.g, sm.g, si.g, nil, nil, x.g, g4.g, nil, 0.1, 1e-5)
	if e.g.Err() == nil {
		t.Fatal("batchnorm with 4 gammas for 3 channels recorded no error")
	}
	t.Logf("ok channel mismatch: %v", e.g.Err())
	e.g.ClearErr()
	one := e.zeros("one", 1, 3)
	e.g.BatchNormTrain(one.g, sm.g, si.g, nil, nil, one.g, nil, nil, 0.1, 1e-5)
	if e.g.Err() == nil {
		t.Fatal("batchnorm training on 1 value per channel recorded no error")
	}
	t.Logf("ok one value per channel: %v", e.g.Err())
	e.g.ClearErr()
	lg, lb, loss := e.zeros("logits", 4, 10), e.alloc("labels", engine.Int32, 3), e.zeros("loss", 1)
	e.g.CrossEntropy(loss.g, nil, lg.g, lb.g)
	if e.g.Err() == nil {
		t.Fatal("cross entropy with 3 labels for 4 rows recorded no error")
	}
	t.Logf("ok label count: %v", e.g.Err())
	e.g.ClearErr()
}

// bnOutBF16 is an output pair whose GPU side is bfloat16 (a convolution
// operand at -precision bf16: layers.StoreForConvs), NaN-poisoned, and
// whose CPU side is float32 zeros.
func bnOutBF16(e *env, name string, shape ...int) pair {
	e.t.Helper()
	n := engine.Numel(shape)
	gs, err := e.g.Alloc(engine.BFloat16, n)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	cs, err := e.c.Alloc(engine.Float32, n)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	p := pair{engine.NewTensor(name, gs, 0, shape...), engine.NewTensor(name, cs, 0, shape...)}
	e.poison(p.g)
	return p
}

// roundCPU rounds the CPU side of p to bfloat16 in place: the reference
// of a bfloat16 output is the float32 reference rounded.
func roundCPU(e *env, p pair) {
	e.t.Helper()
	_, c := e.host(p)
	for i, v := range c {
		c[i] = engine.RoundBF16(v)
	}
	e.c.Upload(p.c, c)
}

// bf16Eps: the float32 y is computed with the same correctly rounded
// float operations on both engines (bn_affine), so the stored bfloat16
// values are the CPU's rounded to nearest exactly (worst 0.00 on the
// emulator); a rounding other than to nearest even (truncation: up to one
// bfloat16 ulp, 2^-7 relative) fails.
const bf16Eps = normFwdEps

// bnInBF16 is an input pair whose GPU side is bfloat16 and whose CPU side
// holds the same values (uniform in [lo, hi), rounded to bfloat16).
func bnInBF16(e *env, name string, lo, hi float32, shape ...int) pair {
	e.t.Helper()
	p := bnOutBF16(e, name, shape...)
	v := make([]float32, engine.Numel(shape))
	for i := range v {
		v[i] = engine.RoundBF16(lo + (hi-lo)*e.rng.Float32())
	}
	e.set(p, v)
	return p
}

// bnReluBF16Parity (a subtest of TestBatchNormReluParity): batch norm with
// its input x, its output y, or both stored in bfloat16 (the _xbf16 and
// _ybf16 kernels; y only with the fused ReLU, whose backward pass reads it
// as its mask), forward in training and eval and both backward passes,
// against the CPU on float32 with x the same rounded values and y rounded.
func bnReluBF16Parity(t *testing.T) {
	e := newEnv(t, 21)
	const momentum, eps = 0.1, 1e-5
	for _, tc := range normBNCases {
		ch := tc.shape[1]
		for _, v := range []struct{ x16, y16, relu bool }{{false, true, true}, {true, false, true}, {true, true, true}, {true, false, false}} {
			what := fmt.Sprintf("batchnorm relu=%v x bf16=%v y bf16=%v", v.relu, v.x16, v.y16)
			t.Logf("case %s %v: %s", tc.name, tc.shape, what)
			x := e.randRange("x", tc.lo, tc.hi, tc.shape...)
			if v.x16 {
				x = bnInBF16(e, "x", tc.lo, tc.hi, tc.shape...)
			}
			gamma, beta := e.randRange("gamma", 0.5, 1.5, ch), e.rand("beta", 0.5, ch)
			rm, rv := e.rand("running mean", 0.5, ch), e.randRange("running var", 0.5, 1.5, ch)
			y := e.out("y", tc.shape...)
			if v.y16 {
				y = bnOutBF16(e, "y", tc.shape...)
			}
			train := func(be engine.Backend, y, sm, si, rm, rv, x, g, b *engine.Tensor) {
				if v.relu {
					be.BatchNormReluTrain(y, sm, si, rm, rv, x, g, b, momentum, eps)
				} else {
					be.BatchNormTrain(y, sm, si, rm, rv, x, g, b, momentum, eps)
				}
			}
			sm, si := e.out("save mean", ch), e.out("save invstd", ch)
			train(e.g, y.g, sm.g, si.g, rm.g, rv.g, x.g, gamma.g, beta.g)
			train(e.c, y.c, sm.c, si.c, rm.c, rv.c, x.c, gamma.c, beta.c)
			e.check(what+" save mean", sm, normFwdTol, normFwdEps)
			e.check(what+" save invstd", si, normFwdTol, normFwdEps)
			e.check(what+" running var", rv, normFwdTol, normFwdEps)
			if v.y16 {
				roundCPU(e, y)
			}
			e.check(what+" y", y, tc.tol, bf16Eps)

			// Backward (through the mask y when fused), from the CPU's statistics.
			smIn, siIn := normFromCPU(e, "save mean", sm), normFromCPU(e, "save invstd", si)
			dy := e.rand("dy", 1, tc.shape...)
			dx := e.out("dx", tc.shape...)
			dg, db := e.out("dgamma", ch), e.out("dbeta", ch)
			if v.relu {
				e.g.BatchNormReluBackward(dx.g, dg.g, db.g, dy.g, y.g, x.g, gamma.g, smIn.g, siIn.g)
				e.c.BatchNormReluBackward(dx.c, dg.c, db.c, dy.c, y.c, x.c, gamma.c, smIn.c, siIn.c)
			} else {
				e.g.BatchNormBackward(dx.g, dg.g, db.g, dy.g, x.g, gamma.g, smIn.g, siIn.g)
				e.c.BatchNormBackward(dx.c, dg.c, db.c, dy.c, x.c, gamma.c, smIn.c, siIn.c)
			}
			e.check(what+" backward dx", dx, normBwdTol, normBwdEps)
			e.check(what+" backward dgamma", dg, normBwdTol, normBwdEps)
			e.check(what+" backward dbeta", db, normBwdTol, normBwdEps)

			ye := e.out("y eval", tc.shape...)
			if v.y16 {
				ye = bnOutBF16(e, "y eval", tc.shape...)
			}
			dxe := e.out("dx eval", tc.shape...)
			if v.relu {
				e.g.BatchNormReluEval(ye.g, x.g, gamma.g, beta.g, rm.g, rv.g, eps)
				e.c.BatchNormReluEval(ye.c, x.c, gamma.c, beta.c, rm.c, rv.c, eps)
			} else {
				e.g.BatchNormEval(ye.g, x.g, gamma.g, beta.g, rm.g, rv.g, eps)
				e.c.BatchNormEval(ye.c, x.c, gamma.c, beta.c, rm.c, rv.c, eps)
			}
			if v.y16 {
				roundCPU(e, ye)
			}
			e.check(what+" eval y", ye, tc.tol, bf16Eps)
			if v.relu {
				e.g.BatchNormReluEvalBackward(dxe.g, nil, nil, dy.g, ye.g, x.g, gamma.g, rm.g, rv.g, eps)
				e.c.BatchNormReluEvalBackward(dxe.c, nil, nil, dy.c, ye.c, x.c, gamma.c, rm.c, rv.c, eps)
			} else {
				e.g.BatchNormEvalBackward(dxe.g, nil, nil, dy.g, x.g, gamma.g, rm.g, rv.g, eps)
				e.c.BatchNormEvalBackward(dxe.c, nil, nil, dy.c, x.c, gamma.c, rm.c, rv.c, eps)
			}
			e.check(what+" eval backward dx", dxe, normBwdTol, normBwdEps)
		}
	}
}

// TestBatchNormBF16Refused: only the fused ReLU ops store bfloat16, and
// no op but the batch norms (and convolutions) reads a bfloat16 tensor.
func TestBatchNormBF16Refused(t *testing.T) {
	e := newEnv(t, 22)
	shape := []int{4, 3, 2, 2}
	x, y16 := e.rand("x", 1, shape...), bnOutBF16(e, "y", shape...)
	sm, si := e.zeros("mean", 3), e.zeros("invstd", 3)
	e.g.TakeLaunched()
	e.g.BatchNormTrain(y16.g, sm.g, si.g, nil, nil, x.g, nil, nil, 0.1, 1e-5)
	if e.g.Err() == nil {
		t.Fatal("batchnorm without relu stored a bfloat16 output")
	}
	t.Logf("ok plain batch norm, bfloat16 y: %v", e.g.Err())
	e.g.ClearErr()
	y := e.zeros("y32", shape...)
	e.g.Add(y.g, y16.g, x.g)
	if e.g.Err() == nil {
		t.Fatal("add read a bfloat16 input")
	}
	t.Logf("ok add of bfloat16: %v", e.g.Err())
	e.g.ClearErr()
	e.g.Relu(y.g, y16.g)
	if e.g.Err() == nil {
		t.Fatal("relu read a bfloat16 tensor")
	}
	t.Logf("ok relu of bfloat16: %v", e.g.Err())
	e.g.ClearErr()
	if n := len(e.g.TakeLaunched()); n != 0 {
		t.Fatalf("refused ops launched %d kernels", n)
	}
}
