//go:build cuda || cgo

package parity

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// precTol is the tolerance of a GEMM with a reduction of k random products
// on inputs in [-1,1) at a tensor-core precision. TF32 rounds each operand
// to an 11-bit significand (relative error up to 2^-11 ≈ 4.9e-4), BF16 to
// an 8-bit one (2^-8 ≈ 3.9e-3, eight times more); the rounding errors of k
// products add like a random walk, so an output is off by about
// u·√k·E|a·b|: tol = 4u·√k leaves a margin of about four (u the unit
// roundoff). A wrong fragment layout or a missing tile is off by O(1).
func precTol(p engine.Precision, k int) float64 {
	switch p {
	case engine.TF32:
		return 2e-3 * math.Sqrt(float64(k))
	case engine.BF16:
		return 1.6e-2 * math.Sqrt(float64(k))
	}
	tol, _ := gemmTol(k)
	return tol
}

// igemmCases cover every convolution shape the seven models use (3x3 with
// and without padding, strided 3x3, 1x1, strided 1x1, 7x7/2, 4x4/4, with
// and without bias) at sizes the emulator runs in seconds, with ragged M, N
// and K (odd channels and pixel counts), several tiles in M and N, a split
// weight-gradient reduction, and both the 16-byte and the 4-byte copies of
// the weights and dy.
var igemmCases = []convCase{
	{2, 5, 9, 7, 6, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, true},      // odd everything
	{2, 1, 12, 12, 8, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1}, true},                      // baseline conv1: C = 1, no padding
	{2, 8, 10, 10, 12, 3, 3, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, false},  // strided 3x3, P·Q = 25
	{2, 16, 8, 8, 24, 1, 1, engine.Conv2dParams{StrideH: 1, StrideW: 1}, false},                     // 1x1: 16-byte A copies
	{2, 12, 7, 7, 8, 1, 1, engine.Conv2dParams{StrideH: 2, StrideW: 2}, false},                      // strided 1x1 shortcut
	{2, 3, 16, 16, 8, 7, 7, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}, true},    // 7x7/2 stem
	{2, 1, 16, 16, 20, 4, 4, engine.Conv2dParams{StrideH: 4, StrideW: 4}, true},                     // ViT patches 4x4/4
	{3, 7, 5, 6, 3, 2, 3, engine.Conv2dParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 2}, true},      // asymmetric
	{4, 40, 12, 12, 70, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false}, // 2 M tiles, split-K
}

// TestConvIGemmParity runs the implicit-GEMM convolutions (forward,
// backward-data, backward-weight) and the tensor-core GEMMs (MatMul,
// Linear) in TF32 and BF16, with each tile variant, against the CPU
// engine in float32.
func TestConvIGemmParity(t *testing.T) {
	e := newEnv(t, 13)
	defer e.g.SetKernelVariant(e.g.SetKernelVariant(""))
	defer e.g.SetPrecision(engine.FP32)
	for _, prec := range []engine.Precision{engine.TF32, engine.BF16} {
		if err := e.g.SetPrecision(prec); err != nil {
			t.Skipf("%v", err)
		}
		for _, v := range []string{"l", "s"} {
			e.g.SetKernelVariant(v)
			for _, c := range igemmCases {
				igemmCase(t, e, prec, v, c)
			}
			igemmGemmCases(t, e, prec, v)
		}
	}
}

func igemmCase(t *testing.T, e *env, prec engine.Precision, variant string, c convCase) {
	t.Helper()
	p, q := engine.ConvOut(c.h, c.r, c.prm.StrideH, c.prm.PadH), engine.ConvOut(c.w, c.s, c.prm.StrideW, c.prm.PadW)
	name := fmt.Sprintf("igemm %v/%s %dx%d s%dx%d p%dx%d n%d c%d %dx%d k%d", prec, variant, c.r, c.s, c.prm.StrideH,
		c.prm.StrideW, c.prm.PadH, c.prm.PadW, c.n, c.c, c.h, c.w, c.k)
	x := e.rand("x", 1, c.n, c.c, c.h, c.w)
	w := e.rand("w", 0.5, c.k, c.c, c.r, c.s)
	var bg, bc *engine.Tensor
	if c.bias {
		b := e.rand("b", 1, c.k)
		bg, bc = b.g, b.c
	}
	y := e.out("y", c.n, c.k, p, q)
	e.g.Conv2d(y.g, x.g, w.g, bg, c.prm)
	e.c.Conv2d(y.c, x.c, w.c, bc, c.prm)
	e.wantLaunched(name+" y", "conv_igemm_fwd_"+prec.String()+"_"+variant)
	e.check(name+" y", y, precTol(prec, c.c*c.r*c.s)/2, 0)

	dy := e.rand("dy", 1, c.n, c.k, p, q)
	dx, dw := e.out("dx", c.n, c.c, c.h, c.w), e.out("dw", c.k, c.c, c.r, c.s)
	db := e.out("db", c.k)
	var dbg, dbc *engine.Tensor
	if c.bias {
		dbg, dbc = db.g, db.c
	}
	e.g.Conv2dBackward(dx.g, dw.g, dbg, dy.g, x.g, w.g, c.prm)
	e.c.Conv2dBackward(dx.c, dw.c, dbc, dy.c, x.c, w.c, c.prm)
	e.wantLaunched(name+" backward", "conv_igemm_dgrad_"+prec.String()+"_"+variant, "conv_igemm_wgrad_"+prec.String()+"_"+variant)
	e.check(name+" dx", dx, precTol(prec, c.k*c.r*c.s)/2, 0)
	e.check(name+" dw", dw, precTol(prec, c.n*p*q), 0)
	if c.bias {
		tol, eps := gemmTol(c.n * p * q)
		e.check(name+" db", db, tol, eps) // float32 sums in every precision
	}

	// Misaligned weights and dy (one float past a 16-byte boundary): the
	// 4-byte copies replace the 16-byte ones.
	wm := e.randAt("w+1", 1, 0.5, c.k, c.c, c.r, c.s)
	dym := e.randAt("dy+1", 1, 1, c.n, c.k, p, q)
	y2, dw2 := e.out("y2", c.n, c.k, p, q), e.out("dw2", c.k, c.c, c.r, c.s)
	e.g.Conv2d(y2.g, x.g, wm.g, nil, c.prm)
	e.c.Conv2d(y2.c, x.c, wm.c, nil, c.prm)
	e.check(name+" y (misaligned w)", y2, precTol(prec, c.c*c.r*c.s)/2, 0)
	e.g.Conv2dBackward(nil, dw2.g, nil, dym.g, x.g, wm.g, c.prm)
	e.c.Conv2dBackward(nil, dw2.c, nil, dym.c, x.c, wm.c, c.prm)
	e.check(name+" dw (misaligned dy, no dx)", dw2, precTol(prec, c.n*p*q), 0)
}

// igemmGemmCases: MatMul (every transpose, batched, ragged) and Linear
// (forward and backward, whose weight gradient is a split reduction) on
// the tensor-core GEMM.
func igemmGemmCases(t *testing.T, e *env, prec engine.Precision, variant string) {
	t.Helper()
	for _, c := range []struct{ batch, m, n, k int }{{2, 7, 5, 3}, {1, 70, 67, 37}, {2, 33, 130, 20}} {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ash, bsh := []int{c.batch, c.m, c.k}, []int{c.batch, c.k, c.n}
			if tr[0] {
				ash = []int{c.batch, c.k, c.m}
			}
			if tr[1] {
				bsh = []int{c.batch, c.n, c.k}
			}
			a, b := e.rand("a", 1, ash...), e.rand("b", 1, bsh...)
			y := e.out("c", c.batch, c.m, c.n)
			e.g.MatMul(y.g, a.g, b.g, tr[0], tr[1])
			e.c.MatMul(y.c, a.c, b.c, tr[0], tr[1])
			what := fmt.Sprintf("igemm %v/%s matmul %dx%dx%dx%d ta=%v tb=%v", prec, variant, c.batch, c.m, c.n, c.k, tr[0], tr[1])
			e.wantLaunched(what, "gemm_"+prec.String()+"_"+variant+"_"+map[bool]string{false: "n", true: "t"}[tr[0]]+
				map[bool]string{false: "n", true: "t"}[tr[1]])
			e.check(what, y, precTol(prec, c.k), 0)
		}
	}
	rows, in, out := 300, 36, 20
	x, w, bias := e.rand("x", 1, rows, in), e.rand("w", 0.5, out, in), e.rand("b", 1, out)
	y := e.out("y", rows, out)
	e.g.Linear(y.g, x.g, w.g, bias.g)
	e.c.Linear(y.c, x.c, w.c, bias.c)
	what := fmt.Sprintf("igemm %v/%s linear %dx%d->%d", prec, variant, rows, in, out)
	e.check(what+" y", y, precTol(prec, in), 0)
	dy := e.rand("dy", 1, rows, out)
	dx, dw, db := e.out("dx", rows, in), e.out("dw", out, in), e.out("db", out)
	e.g.LinearBackward(dx.g, dw.g, db.g, dy.g, x.g, w.g)
	e.c.LinearBackward(dx.c, dw.c, db.c, dy.c, x.c, w.c)
	e.check(what+" dx", dx, precTol(prec, out), 0)
	e.check(what+" dw", dw, precTol(prec, rows), 0)
}

// randAt is rand on a view that starts off floats into its allocation
// (off = 1: not 16-byte aligned).
func (e *env) randAt(name string, off int, scale float32, shape ...int) pair {
	e.t.Helper()
	n := engine.Numel(shape)
	big := e.rand(name, scale, n+off)
	gs, _ := big.g.Storage()
	cs, _ := big.c.Storage()
	return pair{engine.NewTensor(name, gs, off, shape...), engine.NewTensor(name, cs, off, shape...)}
}

// wantLaunched fails unless every named kernel ran since the last check
// (without taking the launches: check credits them).
func (e *env) wantLaunched(what string, kernels ...string) {
	e.t.Helper()
	launched := e.g.PeekLaunched()
	for _, k := range kernels {
		if !launched[k] {
			var got []string
			for n := range launched {
				got = append(got, n)
			}
			e.t.Errorf("%s: kernel %s did not run (ran: %s)", what, k, strings.Join(got, ", "))
		}
	}
}

// bf16xCases: convolutions whose input x is stored as BFloat16 (the fused
// batch norm + ReLU outputs at -precision bf16), read by the bf16x
// kernels: 3x3 stride 1 and 2, 1x1 stride 1 and 2, ragged and odd sizes,
// a split weight-gradient reduction (tiles·splits fill the emulator's 4
// SMs: 3 splits of N·P·Q = 800), and the SE-ResNet's 3x3 stage shapes at
// batch 2: 64@28x28 as it is, the deeper ones with 16 filters (the input
// side, which the bf16x kernels gather, is the real one; the filters only
// set the GEMM's M) to keep the test to seconds on the emulator.
var bf16xCases = []convCase{
	{2, 5, 9, 7, 6, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, true},       // odd everything
	{2, 8, 10, 10, 12, 3, 3, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, false},   // strided 3x3
	{2, 16, 8, 8, 24, 1, 1, engine.Conv2dParams{StrideH: 1, StrideW: 1}, false},                      // 1x1
	{2, 12, 7, 7, 8, 1, 1, engine.Conv2dParams{StrideH: 2, StrideW: 2}, false},                       // strided 1x1 shortcut
	{3, 7, 5, 6, 3, 2, 3, engine.Conv2dParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 2}, true},       // asymmetric, ragged
	{2, 8, 20, 20, 16, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},   // split-K (3 splits)
	{2, 64, 28, 28, 64, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},  // SE-ResNet 64@28
	{2, 128, 14, 14, 16, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false}, // SE-ResNet 128@14
	{2, 256, 7, 7, 16, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},   // SE-ResNet 256@7
	{2, 512, 4, 4, 16, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},   // SE-ResNet 512@4
}

// TestConvIGemmBF16Input runs the forward and weight-gradient implicit
// GEMMs on an input stored as BFloat16 (conv_igemm_{fwd,wgrad}_bf16x_*)
// with each tile, and with the table set to im2col (which a BFloat16
// input overrides: the small tile), against the CPU engine on the
// bfloat16-rounded input in float32. x is exact in bfloat16, so only the
// other operand's rounding remains: the tolerances of TestConvIGemmParity.
func TestConvIGemmBF16Input(t *testing.T) {
	e := newEnv(t, 17)
	defer e.g.SetKernelVariant(e.g.SetKernelVariant(""))
	defer e.g.SetPrecision(engine.FP32)
	if err := e.g.SetPrecision(engine.BF16); err != nil {
		t.Skipf("%v", err)
	}
	for _, v := range []string{"l", "s", "im2col"} {
		e.g.SetKernelVariant(v)
		tile := map[string]string{"l": "l", "s": "s", "im2col": "s"}[v]
		for i, c := range bf16xCases {
			if v == "im2col" && i > 1 {
				break // the override, not the shapes again
			}
			bf16xCase(t, e, v, tile, c, i%2)
		}
	}
}

func bf16xCase(t *testing.T, e *env, variant, tile string, c convCase, off int) {
	t.Helper()
	p, q := engine.ConvOut(c.h, c.r, c.prm.StrideH, c.prm.PadH), engine.ConvOut(c.w, c.s, c.prm.StrideW, c.prm.PadW)
	name := fmt.Sprintf("igemm bf16x/%s %dx%d s%dx%d p%dx%d n%d c%d %dx%d k%d", variant, c.r, c.s, c.prm.StrideH,
		c.prm.StrideW, c.prm.PadH, c.prm.PadW, c.n, c.c, c.h, c.w, c.k)
	x := e.randBF16("x", off, 1, c.n, c.c, c.h, c.w)
	w := e.rand("w", 0.5, c.k, c.c, c.r, c.s)
	var bg, bc *engine.Tensor
	if c.bias {
		b := e.rand("b", 1, c.k)
		bg, bc = b.g, b.c
	}
	y := e.out("y", c.n, c.k, p, q)
	e.g.Conv2d(y.g, x.g, w.g, bg, c.prm)
	e.c.Conv2d(y.c, x.c, w.c, bc, c.prm)
	e.wantLaunched(name+" y", "conv_igemm_fwd_bf16x_"+tile)
	e.check(name+" y", y, precTol(engine.BF16, c.c*c.r*c.s)/2, 0)

	dy := e.rand("dy", 1, c.n, c.k, p, q)
	dx, dw := e.out("dx", c.n, c.c, c.h, c.w), e.out("dw", c.k, c.c, c.r, c.s)
	db := e.out("db", c.k)
	var dbg, dbc *engine.Tensor
	if c.bias {
		dbg, dbc = db.g, db.c
	}
	e.g.Conv2dBackward(dx.g, dw.g, dbg, dy.g, x.g, w.g, c.prm)
	e.c.Conv2dBackward(dx.c, dw.c, dbc, dy.c, x.c, w.c, c.prm)
	want := []string{"conv_igemm_wgrad_bf16x_" + tile}
	if npq := c.n * p * q; npq >= 512 && c.k <= 64 && c.c*c.r*c.s <= 128 {
		want = append(want, "gemm_sum_splits") // the split case
	}
	e.wantLaunched(name+" backward", want...)
	e.check(name+" dw", dw, precTol(engine.BF16, c.n*p*q), 0)
	e.check(name+" dx", dx, precTol(engine.BF16, c.k*c.r*c.s)/2, 0)
	if c.bias {
		tol, eps := gemmTol(c.n * p * q)
		e.check(name+" db", db, tol, eps)
	}
}

// randBF16 is a pair holding the same uniform values in [-scale, scale)
// rounded to bfloat16: a BFloat16 tensor on the GPU (Upload rounds), float32
// on the CPU, starting off elements into its allocation (off = 1: 2-byte
// aligned only). It checks that the GPU stored the rounded values.
func (e *env) randBF16(name string, off int, scale float32, shape ...int) pair {
	e.t.Helper()
	n := engine.Numel(shape)
	gs, err := e.g.Alloc(engine.BFloat16, n+off)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	cs, err := e.c.Alloc(engine.Float32, n+off)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	p := pair{engine.NewTensor(name, gs, off, shape...), engine.NewTensor(name, cs, off, shape...)}
	v := make([]float32, n)
	for i := range v {
		v[i] = (2*e.rng.Float32() - 1) * scale
	}
	e.g.Upload(p.g, v)
	for i := range v {
		v[i] = engine.RoundBF16(v[i])
	}
	e.c.Upload(p.c, v)
	g, c := e.host(p)
	for i := range g {
		if math.Float32bits(g[i]) != math.Float32bits(c[i]) {
			e.t.Fatalf("%s: element %d reads back %g, want %g (rounded to bfloat16)", name, i, g[i], c[i])
		}
	}
	return p
}

// bf16yCases: convolutions whose output y is stored as BFloat16 (a
// convolution output that only a batch norm reads, at -precision bf16),
// written by the bf16y (x float32) and bf16xy (x BFloat16) forwards: odd
// P·Q (a thread's pair of adjacent columns then straddles two images:
// 7x7, 5x5, 9x7 and 3x8... outputs), an odd N·P·Q (the last column has no
// neighbour), strided 3x3 and 1x1, 1x1, ragged sizes, two M tiles, and the
// SE-ResNet's 3x3 stage shapes at batch 2 (64@28 as it is, the deeper
// ones with 32 filters to keep the emulator to seconds).
var bf16yCases = []convCase{
	{2, 5, 9, 7, 6, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, true},       // odd everything, P·Q = 63
	{3, 16, 7, 7, 24, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},    // 7x7, N·P·Q = 147 odd
	{2, 8, 10, 10, 12, 3, 3, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true},    // strided 3x3, 5x5
	{1, 6, 5, 5, 10, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},     // 5x5, N·P·Q = 25
	{2, 16, 8, 8, 24, 1, 1, engine.Conv2dParams{StrideH: 1, StrideW: 1}, false},                      // 1x1, P·Q = 64
	{2, 12, 7, 7, 8, 1, 1, engine.Conv2dParams{StrideH: 2, StrideW: 2}, true},                        // strided 1x1 shortcut, 4x4
	{3, 7, 5, 6, 3, 2, 3, engine.Conv2dParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 2}, true},       // asymmetric, ragged
	{4, 40, 12, 12, 70, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},  // 2 M tiles, ragged K
	{2, 64, 28, 28, 64, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},  // SE-ResNet 64@28
	{2, 64, 28, 28, 32, 3, 3, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, false},  // SE-ResNet 64->128 3x3/2
	{2, 128, 14, 14, 32, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false}, // SE-ResNet 128@14
	{2, 256, 7, 7, 32, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},   // SE-ResNet 256@7
	{2, 512, 4, 4, 32, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},   // SE-ResNet 512@4
}

// TestConvIGemmBF16Output runs the forward implicit GEMMs that store y
// as BFloat16 (conv_igemm_fwd_bf16y_* with x float32, conv_igemm_fwd_
// bf16xy_* with x BFloat16) with each tile, and with the table set to
// im2col and every output batched (which a BFloat16 y overrides: the small
// tile), with and without bias and with y starting at an odd element (its
// pairs then never 4-byte aligned), against the CPU engine's forward on
// the float32 operands (x rounded to bfloat16 for bf16xy) with its output
// rounded by engine.RoundBF16. Tolerance: TestConvIGemmBF16Input's, plus
// one bfloat16 ulp of the value (2^-7·|ref|): a float32 sum that differs
// from the CPU's by a rounding may round to a neighbouring bfloat16.
func TestConvIGemmBF16Output(t *testing.T) {
	e := newEnv(t, 23)
	defer e.g.SetKernelVariant(e.g.SetKernelVariant(""))
	defer e.g.SetPrecision(engine.FP32)
	if err := e.g.SetPrecision(engine.BF16); err != nil {
		t.Skipf("%v", err)
	}
	for _, v := range []string{"l", "s", "im2col"} {
		e.g.SetKernelVariant(v)
		tile := map[string]string{"l": "l", "s": "s", "im2col": "s"}[v]
		if v == "im2col" {
			defer e.g.SetConvBatchedBelow(e.g.SetConvBatchedBelow(1 << 30))
		}
		for i, c := range bf16yCases {
			if v == "im2col" && i > 1 {
				break // the override, not the shapes again
			}
			for _, bx := range []bool{false, true} {
				cb := c
				cb.bias = c.bias != bx // each case with and without bias across the two inputs
				bf16yCase(t, e, v, tile, cb, bx, i%2)
			}
		}
	}
}

func bf16yCase(t *testing.T, e *env, variant, tile string, c convCase, bf16x bool, off int) {
	t.Helper()
	p, q := engine.ConvOut(c.h, c.r, c.prm.StrideH, c.prm.PadH), engine.ConvOut(c.w, c.s, c.prm.StrideW, c.prm.PadW)
	kernel := "bf16y"
	if bf16x {
		kernel = "bf16xy"
	}
	name := fmt.Sprintf("igemm %s/%s %dx%d s%dx%d p%dx%d n%d c%d %dx%d k%d bias=%v y+%d", kernel, variant, c.r, c.s,
		c.prm.StrideH, c.prm.StrideW, c.prm.PadH, c.prm.PadW, c.n, c.c, c.h, c.w, c.k, c.bias, off)
	var x pair
	if bf16x {
		x = e.randBF16("x", 1-off, 1, c.n, c.c, c.h, c.w)
	} else {
		x = e.rand("x", 1, c.n, c.c, c.h, c.w)
	}
	w := e.rand("w", 0.5, c.k, c.c, c.r, c.s)
	var bg, bc *engine.Tensor
	if c.bias {
		b := e.rand("b", 1, c.k)
		bg, bc = b.g, b.c
	}
	y, all := e.outBF16("y", off, c.n, c.k, p, q)
	e.g.Conv2d(y.g, x.g, w.g, bg, c.prm)
	e.c.Conv2d(y.c, x.c, w.c, bc, c.prm)
	e.wantLaunched(name+" y", "conv_igemm_fwd_"+kernel+"_"+tile)
	ref := make([]float32, y.c.Len())
	e.c.Download(ref, y.c)
	for i := range ref {
		ref[i] = engine.RoundBF16(ref[i])
	}
	e.c.Upload(y.c, ref)
	e.check(name+" y", y, precTol(engine.BF16, c.c*c.r*c.s)/2, 1.0/128)
	if off > 0 {
		v := make([]float32, all.Len())
		e.g.Download(v, all)
		e.sync()
		for i := range off {
			if !math.IsNaN(float64(v[i])) {
				t.Errorf("%s: wrote %g into element %d before y", name, v[i], i)
			}
		}
	}
}

// TestConvIGemmBF16OutputExact checks the bfloat16 rounding of y bit for
// bit: x, w and the bias are integers in [-8, 8] (exact in bfloat16), so
// every float32 sum is exact in any order and the kernels' y must equal
// the CPU's rounded by engine.RoundBF16 exactly. The sums reach the
// hundreds, where bfloat16's spacing is 2 to 8: odd sums in [256, 512)
// are ties (to even), the rest round up or down, which truncation or
// ties away from zero would get wrong. 7x7 outputs over 3 images (odd P·Q
// and N·P·Q: pairs across images, a last column alone), y at an even and
// an odd element, x float32 and bfloat16, both tiles.
func TestConvIGemmBF16OutputExact(t *testing.T) {
	e := newEnv(t, 29)
	defer e.g.SetKernelVariant(e.g.SetKernelVariant(""))
	defer e.g.SetPrecision(engine.FP32)
	if err := e.g.SetPrecision(engine.BF16); err != nil {
		t.Skipf("%v", err)
	}
	c := convCase{3, 32, 7, 7, 20, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, true}
	ints := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(e.rng.IntN(17) - 8)
		}
		return v
	}
	xv, wv, bv := ints(c.n*c.c*c.h*c.w), ints(c.k*c.c*c.r*c.s), ints(c.k)
	xf, w, b := e.zeros("x", c.n, c.c, c.h, c.w), e.zeros("w", c.k, c.c, c.r, c.s), e.zeros("b", c.k)
	e.set(xf, xv)
	e.set(w, wv)
	e.set(b, bv)
	gs, err := e.g.Alloc(engine.BFloat16, len(xv))
	if err != nil {
		t.Fatal(err)
	}
	xb := pair{engine.NewTensor("xbf", gs, 0, c.n, c.c, c.h, c.w), xf.c}
	e.g.Upload(xb.g, xv)
	for _, v := range []string{"l", "s"} {
		e.g.SetKernelVariant(v)
		for off := range 2 {
			for _, x := range []pair{xf, xb} {
				kernel := "bf16y"
				if x.g.DType() == engine.BFloat16 {
					kernel = "bf16xy"
				}
				name := fmt.Sprintf("igemm %s/%s exact, y+%d", kernel, v, off)
				y, _ := e.outBF16("y", off, c.n, c.k, c.h, c.w)
				e.g.Conv2d(y.g, x.g, w.g, b.g, c.prm)
				e.c.Conv2d(y.c, x.c, w.c, b.c, c.prm)
				e.wantLaunched(name, "conv_igemm_fwd_"+kernel+"_"+v)
				g, ref := e.host(y)
				bad, big, ties := 0, 0, 0
				for i := range ref {
					r := engine.RoundBF16(ref[i])
					if math.Float32bits(g[i]) != math.Float32bits(r) {
						if bad == 0 {
							t.Errorf("%s: y[%d] = %g, want %g (the float32 sum %g rounded)", name, i, g[i], r, ref[i])
						}
						bad++
					}
					if r != ref[i] {
						big++
					}
					if a := math.Abs(float64(ref[i])); a >= 256 && a < 512 && int(a)%2 == 1 {
						ties++
					}
				}
				covered(e.g, bad == 0)
				if bad > 0 {
					t.Errorf("%s: %d of %d elements differ", name, bad, len(g))
					continue
				}
				if big < len(ref)/10 || ties == 0 {
					t.Fatalf("%s: only %d of %d sums need rounding, %d ties: not a test of it", name, big, len(ref), ties)
				}
				t.Logf("ok %s %v: bit-exact (%d of %d elements rounded, %d ties)", name, y.c.Shape(), big, len(ref), ties)
			}
		}
	}
}

// outBF16 is an output pair: BFloat16 on the GPU, poisoned with NaN and
// starting off elements into its allocation (off = 1: never 4-byte
// aligned), float32 on the CPU. all is the GPU's whole allocation, to
// check that nothing before y was written.
func (e *env) outBF16(name string, off int, shape ...int) (p pair, all *engine.Tensor) {
	e.t.Helper()
	n := engine.Numel(shape)
	gs, err := e.g.Alloc(engine.BFloat16, n+off)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	cs, err := e.c.Alloc(engine.Float32, n)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	all = engine.NewTensor(name+"-all", gs, 0, n+off)
	e.poison(all)
	return pair{engine.NewTensor(name, gs, off, shape...), engine.NewTensor(name, cs, 0, shape...)}, all
}

// TestConvBF16InputNeedsBF16 checks that a BFloat16 input, or a BFloat16
// forward output, is refused at fp32 and tf32 (one line naming the tensor
// and the precision it needs, nothing launched), and that other ops still
// refuse BFloat16 tensors at bf16.
func TestConvBF16InputNeedsBF16(t *testing.T) {
	e := newEnv(t, 19)
	defer e.g.SetPrecision(engine.FP32)
	prm := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	x := e.randBF16("xbf", 0, 1, 2, 3, 6, 6)
	w, dy := e.rand("w", 0.5, 4, 3, 3, 3), e.rand("dy", 1, 2, 4, 6, 6)
	y, dx, dw := e.out("y", 2, 4, 6, 6), e.out("dx", 2, 3, 6, 6), e.out("dw", 4, 3, 3, 3)
	xf, bias := e.rand("xf", 1, 2, 3, 6, 6), e.rand("bias", 1, 4)
	yb, _ := e.outBF16("ybf", 0, 2, 4, 6, 6)
	e.sync()
	e.g.TakeLaunched()
	refused := func(what, want string) {
		t.Helper()
		err := e.g.Err()
		launched := e.g.TakeLaunched()
		e.g.ClearErr()
		switch {
		case err == nil:
			t.Errorf("%s: no error", what)
		case !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: error %q, want one line with %q", what, err, want)
		case len(launched) > 0:
			t.Errorf("%s: launched %v", what, launched)
		default:
			t.Logf("ok %s: %v", what, err)
		}
	}
	for _, prec := range []engine.Precision{engine.FP32, engine.TF32} {
		if err := e.g.SetPrecision(prec); err != nil {
			t.Logf("%v: %v", prec, err)
			continue
		}
		e.g.Conv2d(y.g, x.g, w.g, nil, prm)
		refused(fmt.Sprintf("conv2d %v bfloat16 x", prec), "conv2d: tensor xbf[2 3 6 6]:bfloat16 needs -precision bf16")
		e.g.Conv2dBackward(dx.g, dw.g, nil, dy.g, x.g, w.g, prm)
		refused(fmt.Sprintf("conv2d backward %v bfloat16 x", prec), "needs -precision bf16")
		e.g.Conv2d(yb.g, xf.g, w.g, bias.g, prm)
		refused(fmt.Sprintf("conv2d %v bfloat16 y", prec), "conv2d: tensor ybf[2 4 6 6]:bfloat16 needs -precision bf16")
		e.g.Conv2d(yb.g, x.g, w.g, nil, prm)
		refused(fmt.Sprintf("conv2d %v bfloat16 x and y", prec), "needs -precision bf16")
	}
	if err := e.g.SetPrecision(engine.BF16); err != nil {
		t.Skipf("%v", err)
	}
	e.g.Conv2d(y.g, xf.g, w.g, nil, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1})
	e.sync()
	e.g.TakeLaunched()
	wb := e.randBF16("wbf", 0, 0.5, 4, 3, 3, 3)
	e.g.Conv2d(y.g, xf.g, wb.g, nil, prm)
	refused("conv2d bf16 bfloat16 w", "tensor wbf[4 3 3 3]:bfloat16 must be float32")
	a := e.randBF16("abf", 0, 1, 1, 4, 6)
	mm := e.out("mm", 1, 4, 4)
	e.g.MatMul(mm.g, a.g, e.rand("b", 1, 1, 6, 4).g, false, false)
	refused("matmul bf16 bfloat16 a", "tensor abf[1 4 6]:bfloat16 must be float32")
	e.g.Relu(dx.g, x.g)
	refused("relu bf16 bfloat16 x", "tensor xbf[2 3 6 6]:bfloat16 must be float32")
}
