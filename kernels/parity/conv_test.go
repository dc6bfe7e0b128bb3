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
