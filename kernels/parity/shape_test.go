//go:build cuda || cgo

package parity

import (
	"fmt"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// Sums in another order (or split in chunks) differ from the CPU's by a
// few float32 ulps.
const shapeSumTol, shapeSumEps = 1e-5, 1e-5

func shapeOf(s ...int) []int { return s }

// shapeBcastCases are (y, a, b) shapes of broadcast adds; SumTo runs them
// backwards (a from y-shaped dy, b likewise).
var shapeBcastCases = [][3][]int{
	{shapeOf(4, 8, 5, 5), shapeOf(4, 8, 5, 5), shapeOf(1, 8, 1, 1)},
	{shapeOf(4, 8, 5, 5), shapeOf(1, 8, 1, 1), shapeOf(4, 8, 5, 5)},
	{shapeOf(3, 197, 768), shapeOf(3, 197, 768), shapeOf(1, 197, 768)},
	{shapeOf(3, 7, 16), shapeOf(3, 7, 16), shapeOf(16)},
	{shapeOf(5, 7, 9), shapeOf(5, 7, 9), shapeOf(5, 7, 9)},
	{shapeOf(4, 64), shapeOf(4, 64), shapeOf(4, 64)},
	{shapeOf(2, 3, 4, 5), shapeOf(2, 3, 1, 5), shapeOf(4, 1)},
	{shapeOf(2, 3, 2, 3, 2, 3), shapeOf(2, 1, 2, 1, 2, 1), shapeOf(1, 3, 1, 3, 1, 3)}, // does not merge below 6 dims
	{shapeOf(3, 4), shapeOf(1), shapeOf(3, 4)},
	{shapeOf(1), shapeOf(1), shapeOf(1)},
	{shapeOf(6, 1, 40), shapeOf(1, 1, 40), shapeOf(1)}, // the ViT's cls token expansion
	{shapeOf(8, 300), shapeOf(8, 1), shapeOf(300)},
	{shapeOf(2048, 40), shapeOf(2048, 1), shapeOf(1, 40)},
	{shapeOf(5000, 40), shapeOf(5000, 40), shapeOf(1, 40)},
	{shapeOf(100000), shapeOf(100000), shapeOf(1)},
	{shapeOf(1, 5), shapeOf(5), shapeOf(1, 1)},
	{shapeOf(64, 1, 7, 7), shapeOf(64, 1, 7, 7), shapeOf(64, 1, 1, 1)},
}

func TestAddParity(t *testing.T) {
	e := newEnv(t, 31)
	for _, c := range shapeBcastCases {
		a := e.rand("a", 1, c[1]...)
		b := e.rand("b", 1, c[2]...)
		y := e.out("y", c[0]...)
		e.g.Add(y.g, a.g, b.g)
		e.c.Add(y.c, a.c, b.c)
		e.check(fmt.Sprintf("add %v + %v", c[1], c[2]), y, 0, 0)
	}
	// In place, as the ViT's positions: y = y + pos.
	y := e.rand("y", 1, 3, 197, 64)
	pos := e.rand("pos", 1, 197, 64)
	e.g.Add(y.g, y.g, pos.g)
	e.c.Add(y.c, y.c, pos.c)
	e.check("add in place", y, 0, 0)
	z := e.rand("z", 1, 3, 5, 7)
	e.g.Add(z.g, z.g, z.g)
	e.c.Add(z.c, z.c, z.c)
	e.check("add in place, odd length", z, 0, 0)
}

func TestSumToParity(t *testing.T) {
	e := newEnv(t, 32)
	for _, c := range shapeBcastCases {
		for _, ys := range [][]int{c[1], c[2]} {
			dy := e.rand("dy", 1, c[0]...)
			y := e.out("y", ys...)
			e.g.SumTo(y.g, dy.g)
			e.c.SumTo(y.c, dy.c)
			e.check(fmt.Sprintf("sum to %v from %v", ys, c[0]), y, shapeSumTol, shapeSumEps)
		}
	}
	// A zero-size reduced dimension sums to zeros.
	dy := e.zeros("dy", 0, 5)
	y := e.out("y", 1, 5)
	e.g.SumTo(y.g, dy.g)
	e.c.SumTo(y.c, dy.c)
	e.check("sum to (1,5) from (0,5)", y, 0, 0)
}

func TestPermuteParity(t *testing.T) {
	e := newEnv(t, 33)
	cases := []struct {
		x    []int
		perm []int
	}{
		{shapeOf(2, 96, 49), shapeOf(0, 2, 1)},            // patch tokens: tiles
		{shapeOf(2, 49, 96), shapeOf(0, 2, 1)},            // and back
		{shapeOf(2, 5, 7), shapeOf(0, 2, 1)},              // too narrow for tiles
		{shapeOf(3, 33, 65), shapeOf(0, 2, 1)},            // partial tiles
		{shapeOf(2, 3, 5, 8), shapeOf(0, 2, 1, 3)},        // attention heads
		{shapeOf(2, 7, 4, 16, 3), shapeOf(4, 0, 2, 1, 3)}, // qkv split: (n,t,h,d,3) -> (3,n,h,t,d)
		{shapeOf(3, 2, 4, 7, 16), shapeOf(1, 3, 2, 4, 0)}, // its gradient
		{shapeOf(2, 7, 3, 4, 16), shapeOf(2, 0, 3, 1, 4)}, // (B,T,3,H,D) -> (3,B,H,T,D)
		{shapeOf(2, 33, 17, 40), shapeOf(0, 3, 1, 2)},     // tiles over a batch dimension
		{shapeOf(2, 3, 17, 40), shapeOf(1, 0, 3, 2)},      // tiles over two batch dimensions
		{shapeOf(1, 5), shapeOf(1, 0)},                    // a copy
		{shapeOf(4, 6), shapeOf(0, 1)},                    // identity
		{shapeOf(2, 1, 2, 3, 1, 2, 2, 3), shapeOf(7, 6, 5, 4, 3, 2, 1, 0)},
		{shapeOf(2, 3, 2, 3, 2, 3, 2, 3), shapeOf(1, 0, 3, 2, 5, 4, 7, 6)},
		{shapeOf(7), shapeOf(0)},
	}
	for _, c := range cases {
		ys := make([]int, len(c.perm))
		for i, p := range c.perm {
			ys[i] = c.x[p]
		}
		x := e.rand("x", 1, c.x...)
		y := e.out("y", ys...)
		e.g.Permute(y.g, x.g, c.perm)
		e.c.Permute(y.c, x.c, c.perm)
		e.check(fmt.Sprintf("permute %v by %v", c.x, c.perm), y, 0, 0)
	}
}

func TestConcatSplitParity(t *testing.T) {
	e := newEnv(t, 34)
	cases := []struct {
		axis  int
		parts [][]int
	}{
		{1, [][]int{{2, 3, 6, 5}, {2, 5, 6, 5}, {2, 2, 6, 5}, {2, 7, 6, 5}}}, // inception
		{-1, [][]int{{3, 4, 5}, {3, 4, 1}, {3, 4, 7}}},
		{2, [][]int{{3, 4, 5}, {3, 4, 1}, {3, 4, 7}}},
		{0, [][]int{{2, 3}, {4, 3}}},
		{1, [][]int{{3, 1, 40}, {3, 49, 40}}}, // cls token and patches
		{1, [][]int{{2, 1, 3}, {2, 2, 3}, {2, 3, 3}, {2, 1, 3}, {2, 2, 3}, {2, 1, 3}, {2, 4, 3}, {2, 1, 3}, {2, 2, 3}, {2, 5, 3}}}, // two launches
		{1, [][]int{{2, 0, 3}, {2, 4, 3}}}, // an empty part
	}
	for _, c := range cases {
		axis := c.axis
		if axis < 0 {
			axis += len(c.parts[0])
		}
		ys := append([]int(nil), c.parts[0]...)
		ys[axis] = 0
		var xs []pair
		var xg, xc []*engine.Tensor
		for _, s := range c.parts {
			ys[axis] += s[axis]
			x := e.rand("x", 1, s...)
			xs = append(xs, x)
			xg, xc = append(xg, x.g), append(xc, x.c)
		}
		y := e.out("y", ys...)
		e.g.Concat(y.g, xg, c.axis)
		e.c.Concat(y.c, xc, c.axis)
		what := fmt.Sprintf("concat %v along %d", c.parts, c.axis)
		e.check(what, y, 0, 0)

		dy := e.rand("dy", 1, ys...)
		var dxs []pair
		var dg, dc []*engine.Tensor
		for _, s := range c.parts {
			dx := e.out("dx", s...)
			dxs = append(dxs, dx)
			dg, dc = append(dg, dx.g), append(dc, dx.c)
		}
		e.g.Split(dg, dy.g, c.axis)
		e.c.Split(dc, dy.c, c.axis)
		for i, dx := range dxs {
			e.check(fmt.Sprintf("split %v along %d: part %d", c.parts, c.axis, i), dx, 0, 0)
		}
	}
}

func TestMeanParity(t *testing.T) {
	e := newEnv(t, 35)
	cases := []struct {
		x    []int
		axis int
		y    []int
	}{
		{shapeOf(3, 197, 64), 1, shapeOf(3, 64)}, // the ViT's token mean
		{shapeOf(3, 197, 64), 1, shapeOf(3, 1, 64)},
		{shapeOf(5, 7, 300), -1, shapeOf(5, 7)},
		{shapeOf(2048, 40), 1, shapeOf(2048)},
		{shapeOf(5000, 8), 0, shapeOf(8)},
		{shapeOf(2, 3, 4, 5), 2, shapeOf(2, 3, 5)},
		{shapeOf(4, 1, 6), 1, shapeOf(4, 6)},
		{shapeOf(9), 0, shapeOf(1)},
	}
	for _, c := range cases {
		what := fmt.Sprintf("mean %v over %d", c.x, c.axis)
		x := e.rand("x", 1, c.x...)
		y := e.out("y", c.y...)
		e.g.Mean(y.g, x.g, c.axis)
		e.c.Mean(y.c, x.c, c.axis)
		e.check(what, y, 1e-6, 1e-5)

		dy := e.rand("dy", 1, c.y...)
		dx := e.out("dx", c.x...)
		e.g.MeanBackward(dx.g, dy.g, c.axis)
		e.c.MeanBackward(dx.c, dy.c, c.axis)
		e.check(what+" backward", dx, 0, 0)
	}
}

func TestChannelScaleParity(t *testing.T) {
	e := newEnv(t, 36)
	cases := []struct{ x, s []int }{
		{shapeOf(64, 256, 7, 7), shapeOf(64, 256)},
		{shapeOf(3, 5, 9, 9), shapeOf(3, 5, 1, 1)},
		{shapeOf(2, 3, 40, 40), shapeOf(2, 3, 1, 1)},
		{shapeOf(4, 6), shapeOf(4, 6)},
		{shapeOf(2, 3, 4, 4), shapeOf(6)},
	}
	for _, c := range cases {
		what := fmt.Sprintf("channel scale %v by %v", c.x, c.s)
		x := e.rand("x", 1, c.x...)
		s := e.rand("s", 1, c.s...)
		y := e.out("y", c.x...)
		e.g.ChannelScale(y.g, x.g, s.g)
		e.c.ChannelScale(y.c, x.c, s.c)
		e.check(what, y, 0, 0)

		dy := e.rand("dy", 1, c.x...)
		dx := e.out("dx", c.x...)
		ds := e.out("ds", c.s...)
		e.g.ChannelScaleBackward(dx.g, ds.g, dy.g, x.g, s.g)
		e.c.ChannelScaleBackward(dx.c, ds.c, dy.c, x.c, s.c)
		e.check(what+" backward dx", dx, 0, 0)
		e.check(what+" backward ds", ds, shapeSumTol, shapeSumEps)

		// Each gradient alone.
		dx2, ds2 := e.out("dx", c.x...), e.out("ds", c.s...)
		e.g.ChannelScaleBackward(dx2.g, nil, dy.g, x.g, s.g)
		e.c.ChannelScaleBackward(dx2.c, nil, dy.c, x.c, s.c)
		e.g.ChannelScaleBackward(nil, ds2.g, dy.g, x.g, s.g)
		e.c.ChannelScaleBackward(nil, ds2.c, dy.c, x.c, s.c)
		e.check(what+" backward dx only", dx2, 0, 0)
		e.check(what+" backward ds only", ds2, shapeSumTol, shapeSumEps)
	}
	// In place: y = x·s into x.
	x := e.rand("x", 1, 3, 5, 9, 9)
	s := e.rand("s", 1, 3, 5)
	e.g.ChannelScale(x.g, x.g, s.g)
	e.c.ChannelScale(x.c, x.c, s.c)
	e.check("channel scale in place", x, 0, 0)
}

// TestShapeErrors: bad shapes fail on the GPU with the CPU's message.
func TestShapeErrors(t *testing.T) {
	e := newEnv(t, 37)
	a, b, y := e.zeros("a", 3, 4), e.zeros("b", 5), e.zeros("y", 3, 4)
	x3 := e.zeros("x", 2, 3, 4)
	s, s6 := e.zeros("s", 7), e.zeros("s6", 6)
	calls := []struct {
		name string
		run  func(be engine.Backend, g bool)
	}{
		{"add", func(be engine.Backend, g bool) { be.Add(poolPick(g, y), poolPick(g, a), poolPick(g, b)) }},
		{"sum to", func(be engine.Backend, g bool) { be.SumTo(poolPick(g, b), poolPick(g, y)) }},
		{"permute", func(be engine.Backend, g bool) { be.Permute(poolPick(g, y), poolPick(g, a), []int{0, 0}) }},
		{"permute rank", func(be engine.Backend, g bool) { be.Permute(poolPick(g, y), poolPick(g, x3), []int{0, 1}) }},
		{"concat", func(be engine.Backend, g bool) {
			be.Concat(poolPick(g, x3), []*engine.Tensor{poolPick(g, a), poolPick(g, y)}, 0)
		}},
		{"split sizes", func(be engine.Backend, g bool) {
			be.Split([]*engine.Tensor{poolPick(g, a), poolPick(g, y)}, poolPick(g, y), 0)
		}},
		{"mean", func(be engine.Backend, g bool) { be.Mean(poolPick(g, b), poolPick(g, x3), 1) }},
		{"mean axis", func(be engine.Backend, g bool) { be.Mean(poolPick(g, b), poolPick(g, x3), 3) }},
		{"channel scale", func(be engine.Backend, g bool) { be.ChannelScale(poolPick(g, x3), poolPick(g, x3), poolPick(g, s)) }},
		{"channel scale backward", func(be engine.Backend, g bool) {
			be.ChannelScaleBackward(poolPick(g, y), nil, poolPick(g, x3), poolPick(g, x3), poolPick(g, s6))
		}},
	}
	for _, c := range calls {
		c.run(e.g, true)
		c.run(e.c, false)
		e.sameError(c.name)
	}
}
