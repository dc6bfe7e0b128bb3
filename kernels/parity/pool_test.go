//go:build cuda || cgo

package parity

import (
	"fmt"
	"math"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// poolP is a pooling window: k×k with stride s and padding p (rectangular
// ones are spelled out).
func poolP(k, s, p int, ceil, excl bool) engine.Pool2dParams {
	return engine.Pool2dParams{KH: k, KW: k, StrideH: s, StrideW: s, PadH: p, PadW: p, CeilMode: ceil, ExcludePad: excl}
}

type poolCase struct {
	n, c, h, w int
	p          engine.Pool2dParams
}

func (pc poolCase) out() (oh, ow int) {
	p := pc.p
	return engine.PoolOut(pc.h, p.KH, p.StrideH, p.PadH, p.CeilMode), engine.PoolOut(pc.w, p.KW, p.StrideW, p.PadW, p.CeilMode)
}

func (pc poolCase) String() string {
	p := pc.p
	return fmt.Sprintf("(%d,%d,%d,%d) k%dx%d s%dx%d p%dx%d ceil=%v excl=%v", pc.n, pc.c, pc.h, pc.w,
		p.KH, p.KW, p.StrideH, p.StrideW, p.PadH, p.PadW, p.CeilMode, p.ExcludePad)
}

var poolCases = []poolCase{
	{2, 3, 28, 28, poolP(3, 2, 1, false, false)},
	{2, 3, 28, 28, poolP(3, 2, 0, true, false)},
	{2, 5, 7, 7, poolP(3, 2, 0, true, false)},
	{2, 3, 13, 11, poolP(3, 2, 0, true, false)},
	{2, 3, 13, 11, poolP(3, 2, 1, true, false)},
	{3, 2, 28, 28, poolP(2, 2, 0, false, false)},
	{1, 3, 13, 11, poolP(2, 2, 0, true, false)},
	{2, 4, 14, 14, poolP(3, 1, 1, true, false)},    // GoogLeNet's branch-4 pool
	{1, 2, 56, 56, poolP(3, 1, 1, false, false)},   // max backward: 3 planes per block in shared memory
	{1, 3, 112, 112, poolP(3, 2, 1, false, false)}, // max backward: plane too large for shared memory
	{2, 3, 9, 10, engine.Pool2dParams{KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0}},
	{2, 3, 8, 9, engine.Pool2dParams{KH: 4, KW: 5, StrideH: 3, StrideW: 2, PadH: 2, PadW: 1, CeilMode: true}},
	{1, 1, 5, 5, poolP(5, 1, 2, false, false)}, // overlapping windows, wide padding
	{1, 1, 1, 1, poolP(1, 1, 0, false, false)},
}

// poolQuantized is a pair of small-integer values: many ties, and
// overlapping windows that select the same input.
func poolQuantized(e *env, name string, levels int, shape ...int) pair {
	p := e.zeros(name, shape...)
	v := make([]float32, engine.Numel(shape))
	for i := range v {
		v[i] = float32(e.rng.IntN(levels))
	}
	e.set(p, v)
	return p
}

func TestMaxPoolParity(t *testing.T) {
	e := newEnv(t, 21)
	for _, pc := range poolCases {
		oh, ow := pc.out()
		for _, quant := range []int{0, 2, 1} {
			var x pair
			if quant == 0 {
				x = e.rand("x", 1, pc.n, pc.c, pc.h, pc.w)
			} else {
				x = poolQuantized(e, "x", quant, pc.n, pc.c, pc.h, pc.w)
			}
			y := e.out("y", pc.n, pc.c, oh, ow)
			idx := e.outInt("idx", pc.n, pc.c, oh, ow)
			e.g.MaxPool2d(y.g, idx.g, x.g, pc.p)
			e.c.MaxPool2d(y.c, idx.c, x.c, pc.p)
			what := fmt.Sprintf("maxpool %v levels=%d", pc, quant)
			e.check(what, y, 0, 0)
			e.checkInt(what+" idx", idx)

			dy := e.rand("dy", 1, pc.n, pc.c, oh, ow)
			dx := e.out("dx", pc.n, pc.c, pc.h, pc.w)
			e.g.MaxPool2dBackward(dx.g, dy.g, idx.g)
			e.c.MaxPool2dBackward(dx.c, dy.c, idx.c)
			e.check(what+" backward", dx, 0, 0) // same additions in the same order
		}
	}
}

// TestMaxPoolSpecialValues: -Inf windows keep their first element, a NaN
// wins at once.
func TestMaxPoolSpecialValues(t *testing.T) {
	e := newEnv(t, 22)
	const n, c, h, w = 2, 3, 9, 8
	for _, p := range []engine.Pool2dParams{poolP(3, 2, 1, true, false), poolP(2, 2, 0, false, false), poolP(3, 1, 1, false, false)} {
		x := e.zeros("x", n, c, h, w)
		v := make([]float32, n*c*h*w)
		for i := range v {
			switch r := e.rng.IntN(10); {
			case r < 3:
				v[i] = float32(math.Inf(-1))
			case r == 3:
				v[i] = float32(math.NaN())
			default:
				v[i] = float32(e.rng.IntN(3))
			}
		}
		e.set(x, v)
		pc := poolCase{n, c, h, w, p}
		oh, ow := pc.out()
		y := e.out("y", n, c, oh, ow)
		idx := e.outInt("idx", n, c, oh, ow)
		e.g.MaxPool2d(y.g, idx.g, x.g, p)
		e.c.MaxPool2d(y.c, idx.c, x.c, p)
		e.checkInt(fmt.Sprintf("maxpool special %v idx", pc), idx)
		g, cc := e.host(y)
		for i := range g {
			if math.Float32bits(g[i]) != math.Float32bits(cc[i]) && !(g[i] != g[i] && cc[i] != cc[i]) {
				t.Errorf("maxpool special %v: y[%d] gpu %g cpu %g", pc, i, g[i], cc[i])
				break
			}
		}
	}
}

func TestAvgPoolParity(t *testing.T) {
	e := newEnv(t, 23)
	for _, pc := range poolCases {
		for _, excl := range []bool{false, true} {
			pc.p.ExcludePad = excl
			oh, ow := pc.out()
			x := e.rand("x", 1, pc.n, pc.c, pc.h, pc.w)
			y := e.out("y", pc.n, pc.c, oh, ow)
			e.g.AvgPool2d(y.g, x.g, pc.p)
			e.c.AvgPool2d(y.c, x.c, pc.p)
			what := fmt.Sprintf("avgpool %v", pc)
			e.check(what, y, 1e-6, 1e-5)

			dy := e.rand("dy", 1, pc.n, pc.c, oh, ow)
			dx := e.out("dx", pc.n, pc.c, pc.h, pc.w)
			e.g.AvgPool2dBackward(dx.g, dy.g, pc.p)
			e.c.AvgPool2dBackward(dx.c, dy.c, pc.p)
			e.check(what+" backward", dx, 1e-6, 1e-5)
		}
	}
}

func TestAdaptiveAvgPoolParity(t *testing.T) {
	e := newEnv(t, 24)
	cases := []struct{ n, c, h, w, oh, ow int }{
		{2, 3, 28, 28, 1, 1},
		{2, 3, 28, 28, 7, 7},
		{2, 3, 13, 13, 7, 7},
		{2, 3, 13, 11, 1, 1},
		{2, 3, 5, 5, 7, 7}, // windows smaller than one element apart
		{2, 3, 5, 6, 1, 1},
		{4, 8, 7, 7, 1, 1},
		{2, 4, 56, 56, 1, 1},
		{1, 2, 10, 9, 3, 4},
		{64, 32, 7, 7, 1, 1},
	}
	for _, c := range cases {
		what := fmt.Sprintf("adaptive avgpool (%d,%d,%d,%d)->%dx%d", c.n, c.c, c.h, c.w, c.oh, c.ow)
		x := e.rand("x", 1, c.n, c.c, c.h, c.w)
		y := e.out("y", c.n, c.c, c.oh, c.ow)
		e.g.AdaptiveAvgPool2d(y.g, x.g)
		e.c.AdaptiveAvgPool2d(y.c, x.c)
		e.check(what, y, 1e-6, 1e-5)

		dy := e.rand("dy", 1, c.n, c.c, c.oh, c.ow)
		dx := e.out("dx", c.n, c.c, c.h, c.w)
		e.g.AdaptiveAvgPool2dBackward(dx.g, dy.g)
		e.c.AdaptiveAvgPool2dBackward(dx.c, dy.c)
		e.check(what+" backward", dx, 1e-6, 1e-5)
	}
}

// TestPoolErrors: bad shapes fail on the GPU with the CPU's message.
func TestPoolErrors(t *testing.T) {
	e := newEnv(t, 25)
	x := e.zeros("x", 2, 3, 8, 8)
	yBad := e.zeros("y", 2, 3, 5, 4)
	idx := e.alloc("idx", engine.Int32, 2, 3, 5, 4)
	idxBad := e.alloc("idx", engine.Int32, 2, 3, 4, 4)
	y := e.zeros("y", 2, 3, 4, 4)
	calls := []struct {
		name string
		run  func(be engine.Backend, g bool)
	}{
		{"maxpool output size", func(be engine.Backend, g bool) {
			be.MaxPool2d(poolPick(g, yBad), poolPick(g, idx), poolPick(g, x), poolP(2, 2, 0, false, false))
		}},
		{"maxpool bad window", func(be engine.Backend, g bool) {
			be.MaxPool2d(poolPick(g, y), poolPick(g, idxBad), poolPick(g, x), poolP(2, 2, 2, false, false))
		}},
		{"maxpool backward shapes", func(be engine.Backend, g bool) {
			be.MaxPool2dBackward(poolPick(g, x), poolPick(g, y), poolPick(g, idx))
		}},
		{"avgpool output size", func(be engine.Backend, g bool) {
			be.AvgPool2d(poolPick(g, yBad), poolPick(g, x), poolP(2, 2, 0, false, false))
		}},
		{"adaptive rank", func(be engine.Backend, g bool) {
			be.AdaptiveAvgPool2d(poolPick(g, x).View(6, 8, 8), poolPick(g, y))
		}},
	}
	for _, c := range calls {
		c.run(e.g, true)
		c.run(e.c, false)
		e.sameError(c.name)
	}
}

// poolPick is a pair's GPU or CPU side.
func poolPick(g bool, p pair) *engine.Tensor {
	if g {
		return p.g
	}
	return p.c
}
