//go:build cuda || cgo

package parity

import (
	"fmt"
	"math"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// GEMM tolerances: float32 sums of k products in another order differ by
// about k·ulp; inputs in [-1,1) keep |ref| near √k, so tol scales with k.
func gemmTol(k int) (tol, eps float64) { return 2e-6 * float64(k), 1e-5 }

func TestMatMulParity(t *testing.T) {
	e := newEnv(t, 5)
	cases := []struct {
		batch   []int
		m, n, k int
	}{
		{nil, 1, 1, 1},
		{nil, 7, 5, 3},
		{nil, 129, 131, 67},
		{nil, 256, 512, 384},
		{[]int{3}, 65, 33, 17},
		{[]int{2, 12}, 197, 197, 64},
		{[]int{24}, 197, 64, 197},
	}
	for _, c := range cases {
		if e.tooBig(fmt.Sprintf("matmul %v %dx%dx%d", c.batch, c.m, c.n, c.k), float64(engine.Numel(c.batch)*c.m*c.n*c.k)) {
			continue
		}
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ash := []int{c.m, c.k}
			if tr[0] {
				ash = []int{c.k, c.m}
			}
			bsh := []int{c.k, c.n}
			if tr[1] {
				bsh = []int{c.n, c.k}
			}
			a := e.rand("a", 1, append(append([]int{}, c.batch...), ash...)...)
			b := e.rand("b", 1, append(append([]int{}, c.batch...), bsh...)...)
			y := e.out("c", append(append([]int{}, c.batch...), c.m, c.n)...)
			e.g.MatMul(y.g, a.g, b.g, tr[0], tr[1])
			e.c.MatMul(y.c, a.c, b.c, tr[0], tr[1])
			tol, eps := gemmTol(c.k)
			e.check(fmt.Sprintf("matmul ta=%v tb=%v", tr[0], tr[1]), y, tol, eps)
		}
	}
}

func TestLinearParity(t *testing.T) {
	e := newEnv(t, 6)
	cases := []struct{ rows, in, out int }{
		{1, 3, 2},
		{64, 9216, 128},
		{64, 128, 10},
		{7, 25088, 33},
		{1000, 768, 2304},
		{64 * 197, 768, 768},
		{600, 192, 300}, // the emulator's stand-in for the two above
	}
	for _, c := range cases {
		if e.tooBig(fmt.Sprintf("linear %dx%d->%d", c.rows, c.in, c.out), float64(c.rows*c.in*c.out)) {
			continue
		}
		for _, withBias := range []bool{true, false} {
			x := e.rand("x", 1, c.rows, c.in)
			w := e.rand("w", 0.5, c.out, c.in)
			var bg, bc *engine.Tensor
			if withBias {
				b := e.rand("b", 1, c.out)
				bg, bc = b.g, b.c
			}
			y := e.out("y", c.rows, c.out)
			e.g.Linear(y.g, x.g, w.g, bg)
			e.c.Linear(y.c, x.c, w.c, bc)
			tol, eps := gemmTol(c.in)
			e.check("linear y", y, tol/2, eps)

			dy := e.rand("dy", 1, c.rows, c.out)
			dx, dw := e.out("dx", c.rows, c.in), e.out("dw", c.out, c.in)
			db := e.out("db", c.out)
			var dbg, dbc *engine.Tensor
			if withBias {
				dbg, dbc = db.g, db.c
			}
			e.g.LinearBackward(dx.g, dw.g, dbg, dy.g, x.g, w.g)
			e.c.LinearBackward(dx.c, dw.c, dbc, dy.c, x.c, w.c)
			tol, eps = gemmTol(c.out)
			e.check("linear dx", dx, tol/2, eps)
			tol, eps = gemmTol(c.rows)
			e.check("linear dw", dw, tol, eps)
			if withBias {
				e.check("linear db", db, tol, eps)
			}
		}
	}
}

func TestConvParity(t *testing.T) {
	e := newEnv(t, 7)
	cases := []convCase{
		{2, 1, 28, 28, 32, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1}, true},                 // baseline conv1
		{3, 5, 9, 7, 4, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false}, // odd sizes
		{8, 64, 28, 28, 64, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},
		{8, 64, 28, 28, 256, 1, 1, engine.Conv2dParams{StrideH: 1, StrideW: 1}, false},
		{8, 256, 28, 28, 128, 1, 1, engine.Conv2dParams{StrideH: 2, StrideW: 2}, false}, // 1x1 stride 2
		{4, 128, 14, 14, 128, 3, 3, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, false},
		{5, 3, 32, 32, 64, 7, 7, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}, true}, // 7x7 s2
		{2, 1, 28, 28, 768, 4, 4, engine.Conv2dParams{StrideH: 4, StrideW: 4}, true},                  // ViT patches
		{64, 512, 7, 7, 2048, 1, 1, engine.Conv2dParams{StrideH: 1, StrideW: 1}, false},
		{64, 512, 4, 4, 512, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false}, // SE-ResNet stage 4
		{3, 7, 5, 6, 3, 2, 3, engine.Conv2dParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 2}, true},
		// Smaller stand-ins for the emulator of the cases above it skips.
		{2, 64, 14, 14, 64, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},
		{2, 64, 14, 14, 256, 1, 1, engine.Conv2dParams{StrideH: 1, StrideW: 1}, false},
		{8, 256, 7, 7, 512, 1, 1, engine.Conv2dParams{StrideH: 1, StrideW: 1}, false},
		{8, 128, 4, 4, 128, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},
	}
	// Every case on both column layouts: per image, and one matrix for
	// the batch (the default below 100 output pixels).
	defer e.g.SetConvBatchedBelow(e.g.SetConvBatchedBelow(0))
	for _, layout := range []struct {
		name string
		pq   int
	}{{"per-image", 0}, {"batched", 1 << 30}} {
		e.g.SetConvBatchedBelow(layout.pq)
		convCases(t, e, cases, layout.name)
	}
}

type convCase struct {
	n, c, h, w, k, r, s int
	prm                 engine.Conv2dParams
	bias                bool
}

func convCases(t *testing.T, e *env, cases []convCase, layout string) {
	for _, c := range cases {
		p, q := engine.ConvOut(c.h, c.r, c.prm.StrideH, c.prm.PadH), engine.ConvOut(c.w, c.s, c.prm.StrideW, c.prm.PadW)
		name := fmt.Sprintf("conv %s %dx%d s%d p%d c%d k%d", layout, c.r, c.s, c.prm.StrideH, c.prm.PadH, c.c, c.k)
		if e.tooBig(fmt.Sprintf("%s n%d %dx%d", name, c.n, c.h, c.w), float64(c.n*c.k*c.c*c.r*c.s*p*q)) {
			continue
		}
		x := e.rand("x", 1, c.n, c.c, c.h, c.w)
		w := e.rand("w", 0.5, c.k, c.c, c.r, c.s)
		var bg, bc *engine.Tensor
		db := e.out("db", c.k)
		if c.bias {
			b := e.rand("b", 1, c.k)
			bg, bc = b.g, b.c
		}
		y := e.out("y", c.n, c.k, p, q)
		e.g.Conv2d(y.g, x.g, w.g, bg, c.prm)
		e.c.Conv2d(y.c, x.c, w.c, bc, c.prm)
		crs := c.c * c.r * c.s
		tol, eps := gemmTol(crs)
		e.check(name+" y", y, tol/2, eps)

		dy := e.rand("dy", 1, c.n, c.k, p, q)
		dx, dw := e.out("dx", c.n, c.c, c.h, c.w), e.out("dw", c.k, c.c, c.r, c.s)
		var dbg, dbc *engine.Tensor
		if c.bias {
			dbg, dbc = db.g, db.c
		}
		e.g.Conv2dBackward(dx.g, dw.g, dbg, dy.g, x.g, w.g, c.prm)
		e.c.Conv2dBackward(dx.c, dw.c, dbc, dy.c, x.c, w.c, c.prm)
		tol, eps = gemmTol(c.k * c.r * c.s)
		e.check(name+" dx", dx, tol/2, eps)
		tol, eps = gemmTol(c.n * p * q)
		e.check(name+" dw", dw, tol, eps)
		if c.bias {
			e.check(name+" db", db, tol, eps)
		}
		// dx not needed: dw alone.
		dw2 := e.out("dw2", c.k, c.c, c.r, c.s)
		e.g.Conv2dBackward(nil, dw2.g, nil, dy.g, x.g, w.g, c.prm)
		e.c.Conv2dBackward(nil, dw2.c, nil, dy.c, x.c, w.c, c.prm)
		e.check(name+" dw (no dx)", dw2, tol, eps)
	}
}

// The GEMMs on TF32 tensor cores: inputs rounded to 10-bit mantissas (a
// relative error up to 2^-11 per factor), so each output may be off by
// about 2^-10·√k·E|a·b| for k random products: tol 2e-3·√k on inputs in
// [-1,1).
func TestTF32Parity(t *testing.T) {
	e := newEnv(t, 8)
	if !e.g.SetTF32(true) {
		t.Skip("this GPU has no TF32 tensor cores")
	}
	defer e.g.SetTF32(false)
	tf32Tol := func(k int) float64 { return 2e-3 * math.Sqrt(float64(k)) }
	for _, c := range []struct{ m, n, k int }{{7, 5, 3}, {129, 131, 67}, {512, 256, 1024}, {200, 160, 300}} {
		if e.tooBig(fmt.Sprintf("tf32 matmul 2x%dx%dx%d", c.m, c.n, c.k), float64(2*c.m*c.n*c.k)) {
			continue
		}
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ash, bsh := []int{2, c.m, c.k}, []int{2, c.k, c.n}
			if tr[0] {
				ash = []int{2, c.k, c.m}
			}
			if tr[1] {
				bsh = []int{2, c.n, c.k}
			}
			a, b := e.rand("a", 1, ash...), e.rand("b", 1, bsh...)
			y := e.out("c", 2, c.m, c.n)
			e.g.MatMul(y.g, a.g, b.g, tr[0], tr[1])
			e.c.MatMul(y.c, a.c, b.c, tr[0], tr[1])
			e.check(fmt.Sprintf("tf32 matmul %dx%dx%d ta=%v tb=%v", c.m, c.n, c.k, tr[0], tr[1]), y, tf32Tol(c.k), 0)
		}
	}
	prm := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	n, hw := 8, 28
	if e.tooBig("tf32 conv 8x64x28x28", 8*64*576*784) {
		n, hw = 2, 14
	}
	x, w := e.rand("x", 1, n, 64, hw, hw), e.rand("w", 0.5, 64, 64, 3, 3)
	y := e.out("y", n, 64, hw, hw)
	e.g.Conv2d(y.g, x.g, w.g, nil, prm)
	e.c.Conv2d(y.c, x.c, w.c, nil, prm)
	e.check("tf32 conv 3x3 y", y, tf32Tol(576), 0)
	dy := e.rand("dy", 1, n, 64, hw, hw)
	dx, dw := e.out("dx", n, 64, hw, hw), e.out("dw", 64, 64, 3, 3)
	e.g.Conv2dBackward(dx.g, dw.g, nil, dy.g, x.g, w.g, prm)
	e.c.Conv2dBackward(dx.c, dw.c, nil, dy.c, x.c, w.c, prm)
	e.check("tf32 conv 3x3 dx", dx, tf32Tol(576), 0)
	e.check("tf32 conv 3x3 dw", dw, tf32Tol(n*hw*hw), 0)
}
