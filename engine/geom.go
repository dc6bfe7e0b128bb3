package engine

import "fmt"

// The shape checks of the ops, shared by every backend: each returns the
// geometry an op needs, or an error saying what does not fit (a backend
// records it with the op's name), so that every engine accepts the same
// shapes and says the same thing about the others.

// MaxRank is the most dimensions a broadcast operand may have.
const MaxRank = 8

// BroadcastStrides returns, for each dimension of shape, the stride of t
// (aligned to the right, NumPy rules) in elements: 0 where t is broadcast.
func BroadcastStrides(shape []int, t *Tensor) (st [MaxRank]int, ok bool) {
	r, rt := len(shape), t.Rank()
	if r > MaxRank || rt > r {
		return st, false
	}
	stride := 1
	for i := rt - 1; i >= 0; i-- {
		d := t.shape[i]
		yi := i + r - rt
		switch {
		case d == shape[yi]:
			if d != 1 {
				st[yi] = stride
			}
		case d == 1:
		default:
			return st, false
		}
		stride *= d
	}
	return st, true
}

// Rows views t as a matrix over its last dimension.
func Rows(t *Tensor) (rows, cols int) {
	cols = t.shape[len(t.shape)-1]
	if cols == 0 {
		return 0, 0
	}
	return t.Len() / cols, cols
}

// ConvGeom is a convolution's geometry: x (N,C,H,W), w (K,C,R,S),
// y (N,K,P,Q).
type ConvGeom struct {
	N, C, H, W int // input
	K, R, S    int // filters
	P, Q       int // output
	Params     Conv2dParams
	CRS, PQ    int
	// Direct: 1x1, stride 1, no padding: the input is its own im2col.
	Direct bool
}

// ConvGeometry checks y, x, w and the bias b (nil: none) of a convolution.
func ConvGeometry(y, x, w, b *Tensor, p Conv2dParams) (g ConvGeom, err error) {
	if x.Rank() != 4 || w.Rank() != 4 || y.Rank() != 4 {
		return g, fmt.Errorf("want 4-D x, w, y; got %s", shapeStr(y, x, w))
	}
	if p.StrideH < 1 || p.StrideW < 1 || p.PadH < 0 || p.PadW < 0 {
		return g, fmt.Errorf("bad stride/padding %+v", p)
	}
	g = ConvGeom{N: x.shape[0], C: x.shape[1], H: x.shape[2], W: x.shape[3], K: w.shape[0], R: w.shape[2], S: w.shape[3], Params: p}
	g.P = ConvOut(g.H, g.R, p.StrideH, p.PadH)
	g.Q = ConvOut(g.W, g.S, p.StrideW, p.PadW)
	if w.shape[1] != g.C || !SameShape(y.shape, []int{g.N, g.K, g.P, g.Q}) || g.P < 1 || g.Q < 1 {
		return g, fmt.Errorf("shapes do not fit stride %d,%d padding %d,%d: %s", p.StrideH, p.StrideW, p.PadH, p.PadW, shapeStr(y, x, w))
	}
	if b != nil && (b.Rank() != 1 || b.shape[0] != g.K) {
		return g, fmt.Errorf("bias %s for %d filters", b, g.K)
	}
	g.CRS, g.PQ = g.C*g.R*g.S, g.P*g.Q
	g.Direct = g.R == 1 && g.S == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0
	return g, nil
}

// PoolGeometry checks x (N,C,H,W) pooled to y (N,C,OH,OW) with p: planes
// (N·C) and the sizes.
func PoolGeometry(y, x *Tensor, p Pool2dParams) (planes, h, w, oh, ow int, err error) {
	if x.Rank() != 4 || y.Rank() != 4 || x.shape[0] != y.shape[0] || x.shape[1] != y.shape[1] {
		return 0, 0, 0, 0, 0, fmt.Errorf("want 4-D x and y with equal N and C: %s", shapeStr(y, x))
	}
	if p.KH < 1 || p.KW < 1 || p.StrideH < 1 || p.StrideW < 1 || p.PadH < 0 || p.PadW < 0 || 2*p.PadH > p.KH || 2*p.PadW > p.KW {
		return 0, 0, 0, 0, 0, fmt.Errorf("bad window %+v (padding must be at most half the kernel)", p)
	}
	h, w = x.shape[2], x.shape[3]
	oh, ow = PoolOut(h, p.KH, p.StrideH, p.PadH, p.CeilMode), PoolOut(w, p.KW, p.StrideW, p.PadW, p.CeilMode)
	if y.shape[2] != oh || y.shape[3] != ow || oh < 1 || ow < 1 {
		return 0, 0, 0, 0, 0, fmt.Errorf("output %s should be %dx%d for input %s and %+v", y, oh, ow, x, p)
	}
	return x.shape[0] * x.shape[1], h, w, oh, ow, nil
}

// AdaptivePoolGeometry checks x (N,C,H,W) pooled to y (N,C,OH,OW).
func AdaptivePoolGeometry(y, x *Tensor) (planes, h, w, oh, ow int, err error) {
	if x.Rank() != 4 || y.Rank() != 4 || x.shape[0] != y.shape[0] || x.shape[1] != y.shape[1] || y.shape[2] < 1 || y.shape[3] < 1 {
		return 0, 0, 0, 0, 0, fmt.Errorf("want 4-D x and y with equal N and C: %s", shapeStr(y, x))
	}
	return x.shape[0] * x.shape[1], x.shape[2], x.shape[3], y.shape[2], y.shape[3], nil
}

// BNGeometry views x as (N, C, S) (S is 1 for (N,C) and H·W for (N,C,H,W))
// and checks that the per-channel tensors (nil ones skipped) have C
// elements.
func BNGeometry(x *Tensor, chanTensors ...*Tensor) (n, ch, s int, err error) {
	if x.Rank() < 2 {
		return 0, 0, 0, fmt.Errorf("want (N,C) or (N,C,...), got %s", x)
	}
	n, ch = x.shape[0], x.shape[1]
	s = Numel(x.shape[2:])
	for _, t := range chanTensors {
		if t != nil && t.Len() != ch {
			return 0, 0, 0, fmt.Errorf("%s does not have %d channels", t, ch)
		}
	}
	return n, ch, s, nil
}

// ConcatGeometry checks that the xs fit y along axis: outer rows, the
// inner size, and y's row length.
func ConcatGeometry(y *Tensor, xs []*Tensor, axis int) (outer, inner, rowLen int, err error) {
	r := y.Rank()
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r || len(xs) == 0 {
		return 0, 0, 0, fmt.Errorf("axis %d of %s with %d inputs", axis, y, len(xs))
	}
	total := 0
	for _, x := range xs {
		if x.Rank() != r {
			return 0, 0, 0, fmt.Errorf("ranks differ: %s", shapeStr(append([]*Tensor{y}, xs...)...))
		}
		for d := 0; d < r; d++ {
			if d != axis && x.shape[d] != y.shape[d] {
				return 0, 0, 0, fmt.Errorf("shapes differ off axis %d: %s", axis, shapeStr(append([]*Tensor{y}, xs...)...))
			}
		}
		total += x.shape[axis]
	}
	if total != y.shape[axis] {
		return 0, 0, 0, fmt.Errorf("sizes along axis %d add to %d, not %d", axis, total, y.shape[axis])
	}
	outer = Numel(y.shape[:axis])
	inner = Numel(y.shape[axis+1:])
	return outer, inner, y.shape[axis] * inner, nil
}

// MeanGeometry checks that y holds the mean of x over axis: x split
// around axis into outer, l and inner.
func MeanGeometry(y, x *Tensor, axis int) (outer, l, inner int, err error) {
	r := x.Rank()
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r || x.shape[axis] == 0 {
		return 0, 0, 0, fmt.Errorf("axis %d of %s", axis, x)
	}
	outer, l, inner = Numel(x.shape[:axis]), x.shape[axis], Numel(x.shape[axis+1:])
	if y.Len() != outer*inner {
		return 0, 0, 0, fmt.Errorf("%s cannot hold the mean of %s over axis %d", y, x, axis)
	}
	return outer, l, inner, nil
}

// ChannelGeometry checks x (N,C,...), y like x and s (N,C): N·C rows of
// sp elements.
func ChannelGeometry(y, x, s *Tensor) (nc, sp int, err error) {
	if x.Rank() < 2 || !SameShape(y.shape, x.shape) || s.Len() != x.shape[0]*x.shape[1] {
		return 0, 0, fmt.Errorf("want x (N,C,...) and s (N,C): %s", shapeStr(y, x, s))
	}
	return x.shape[0] * x.shape[1], Numel(x.shape[2:]), nil
}

// AddReluGeometry checks AddRelu's operands: y, a and b of one shape (the
// fused op does not broadcast; use Add then Relu for that).
func AddReluGeometry(y, a, b *Tensor) error {
	if !SameShape(y.shape, a.shape) || !SameShape(y.shape, b.shape) {
		return fmt.Errorf("want a, b and y of one shape (no broadcasting), got %s", shapeStr(y, a, b))
	}
	return nil
}

// SEGeometry checks the operands of SqueezeExcite (and, with y, res nil, of
// its backward pass): x (N,C,...) with S elements per plane, pooled and
// scale of N·C elements, hidden of N·D, w1 of D·C with D rows, w2 of C·D
// with C rows, b1 of D and b2 of C (nil allowed), y and res (nil allowed)
// of x's shape.
func SEGeometry(y, pooled, hidden, scale, x, res, w1, b1, w2, b2 *Tensor) (n, c, s, d int, err error) {
	if x.Rank() < 2 || w1.Rank() < 1 || w2.Rank() < 1 {
		return 0, 0, 0, 0, fmt.Errorf("want x (N,C,...) and weights (D,C,...), (C,D,...), got %s", shapeStr(x, w1, w2))
	}
	n, c = x.shape[0], x.shape[1]
	s = Numel(x.shape[2:])
	d = w1.shape[0]
	switch {
	case w1.Len() != d*c || w2.shape[0] != c || w2.Len() != c*d:
		err = fmt.Errorf("weights %s do not map %d channels to %d and back", shapeStr(w1, w2), c, d)
	case pooled.Len() != n*c || scale.Len() != n*c || hidden.Len() != n*d:
		err = fmt.Errorf("saved tensors %s do not fit N=%d, C=%d, D=%d", shapeStr(pooled, hidden, scale), n, c, d)
	case (b1 != nil && b1.Len() != d) || (b2 != nil && b2.Len() != c):
		err = fmt.Errorf("biases %s do not fit D=%d, C=%d", shapeStr(b1, b2), d, c)
	case (y != nil && !SameShape(y.shape, x.shape)) || (res != nil && !SameShape(res.shape, x.shape)):
		err = fmt.Errorf("y and res must have x's shape: %s", shapeStr(y, x, res))
	case s == 0 || d == 0:
		err = fmt.Errorf("empty planes or hidden layer: %s", shapeStr(x, w1))
	}
	return n, c, s, d, err
}
