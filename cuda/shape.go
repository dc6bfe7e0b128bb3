//go:build cuda || cgo

package cuda

import (
	"math"
	"math/bits"

	"github.com/gotrain/gotrain/engine"
)

// Broadcast add, sum-to, permute, concat/split, mean and channel scale: the
// kernels of kernels/shape.cu. Shape checks and error messages are the CPU
// engine's (engine/cpu_shape.go).

// shapeThreads is the block size of the one-thread-per-element kernels.
const shapeThreads = 256

// shapeMagic is the magic number of shape_fdiv (kernels/shape.cu) for the
// divisor d (1 <= d < 2^31): m = ceil(2^s/d) with s = 31 + ceil(log2 d),
// which makes (n·m) >> s equal n/d for every n < 2^31.
func shapeMagic(d int) arg {
	if d < 1 {
		d = 1 // never divided by: the size is 0 only when nothing is launched
	}
	s := 31 + bits.Len32(uint32(d-1))
	return u32(uint32((uint64(1)<<s + uint64(d) - 1) / uint64(d)))
}

// shapeU is an unsigned 32-bit kernel argument.
func shapeU(v int) arg { return u32(uint32(v)) }

// shapeNeed fails op when a required operand is nil (the CPU engine would
// panic).
func (b *Backend) shapeNeed(op string, ts ...*engine.Tensor) bool {
	for _, t := range ts {
		if t == nil {
			b.fail(op, "missing operand: %s", shapeStr(ts...))
			return false
		}
	}
	return true
}

// shapeFits fails op when a tensor is too large for the kernels' 32-bit
// indexing.
func (b *Backend) shapeFits(op string, ts ...*engine.Tensor) bool {
	for _, t := range ts {
		if t != nil && t.Len() > math.MaxInt32 {
			b.fail(op, "%s has %d elements: the kernels index at most %d", t, t.Len(), math.MaxInt32)
			return false
		}
	}
	return true
}

// shapeAligned reports whether every tensor starts on a 16-byte boundary
// (float4 access).
func shapeAligned(ts ...*engine.Tensor) bool {
	for _, t := range ts {
		if addr(t)%16 != 0 {
			return false
		}
	}
	return true
}

// shapeCopy copies x into y (equal element counts, n > 0 checked here).
func (b *Backend) shapeCopy(op string, y, x *engine.Tensor) {
	n := y.Len()
	if n == 0 || ptr(y) == ptr(x) {
		return
	}
	if n%4 == 0 && shapeAligned(y, x) {
		b.launch(op, "shape_copy4", d1(blocks(n/4, shapeThreads)), d1(shapeThreads), 0, ptr(y), ptr(x), i32(n/4))
		return
	}
	b.launch(op, "shape_copy", d1(blocks(n, shapeThreads)), d1(shapeThreads), 0, ptr(y), ptr(x), i32(n))
}

// ---- Add --------------------------------------------------------------------

// shapeBDim is one dimension of a broadcast add: its size and the element
// strides of the two operands.
type shapeBDim struct{ n, sa, sb int }

// Add computes y = a + c with NumPy broadcasting of a and c to y's shape.
func (b *Backend) Add(y, a, c *engine.Tensor) {
	const op = "add"
	if !b.ok(op, y, a, c) || !b.shapeNeed(op, y, a, c) {
		return
	}
	n := y.Len()
	if engine.SameShape(a.Shape(), y.Shape()) && engine.SameShape(c.Shape(), y.Shape()) {
		if n == 0 || !b.shapeFits(op, y) {
			return
		}
		b.shapeAddSame(op, y, a, c, n)
		return
	}
	sa, okA := engine.BroadcastStrides(y.Shape(), a)
	sb, okB := engine.BroadcastStrides(y.Shape(), c)
	if !okA || !okB {
		b.fail(op, "cannot broadcast %s", shapeStr(y, a, c))
		return
	}
	if n == 0 || !b.shapeFits(op, y) {
		return
	}
	// Drop size-1 dimensions and merge neighbours that are contiguous for
	// both operands (outer stride = inner stride · inner size; two
	// broadcast dimensions merge too).
	var dims []shapeBDim
	for i, d := range y.Shape() {
		if d == 1 {
			continue
		}
		if k := len(dims) - 1; k >= 0 && dims[k].sa == sa[i]*d && dims[k].sb == sb[i]*d {
			dims[k] = shapeBDim{dims[k].n * d, sa[i], sb[i]}
			continue
		}
		dims = append(dims, shapeBDim{d, sa[i], sb[i]})
	}
	if len(dims) == 1 && dims[0].sa == 1 && dims[0].sb == 1 {
		b.shapeAddSame(op, y, a, c, n)
		return
	}
	grid, block := d1(blocks(n, shapeThreads)), d1(shapeThreads)
	if len(dims) <= 4 {
		var p [4]shapeBDim
		for i := range p {
			p[i] = shapeBDim{1, 0, 0}
		}
		copy(p[4-len(dims):], dims)
		b.launch(op, "shape_add_bc4", grid, block, 0, ptr(y), ptr(a), ptr(c), i32(n),
			shapeU(p[1].n), shapeMagic(p[1].n), shapeU(p[2].n), shapeMagic(p[2].n), shapeU(p[3].n), shapeMagic(p[3].n),
			i32(p[0].sa), i32(p[1].sa), i32(p[2].sa), i32(p[3].sa),
			i32(p[0].sb), i32(p[1].sb), i32(p[2].sb), i32(p[3].sb))
		return
	}
	var p [engine.MaxRank]shapeBDim
	for i := range p {
		p[i] = shapeBDim{1, 0, 0}
	}
	copy(p[engine.MaxRank-len(dims):], dims)
	args := []arg{ptr(y), ptr(a), ptr(c), i32(n)}
	for k := 1; k < engine.MaxRank; k++ {
		args = append(args, i32(p[k].n))
	}
	for k := 0; k < engine.MaxRank; k++ {
		args = append(args, i32(p[k].sa))
	}
	for k := 0; k < engine.MaxRank; k++ {
		args = append(args, i32(p[k].sb))
	}
	b.launch(op, "shape_add_bc8", grid, block, 0, args...)
}

// shapeAddSame is the element-wise y = a + c of n elements.
func (b *Backend) shapeAddSame(op string, y, a, c *engine.Tensor, n int) {
	if n%4 == 0 && shapeAligned(y, a, c) {
		b.launch(op, "shape_add4", d1(blocks(n/4, shapeThreads)), d1(shapeThreads), 0, ptr(y), ptr(a), ptr(c), i32(n/4))
		return
	}
	b.launch(op, "shape_add", d1(blocks(n, shapeThreads)), d1(shapeThreads), 0, ptr(y), ptr(a), ptr(c), i32(n))
}

// ---- reductions: SumTo, Mean --------------------------------------------------

// shapeRDim is one dimension of a reduction's input: size, element stride
// and whether it is summed over.
type shapeRDim struct {
	n, st int
	red   bool
}

// shapeReduce writes y[o] = (Σ over the reduced dimensions of x) / div,
// with o running row-major over the kept dimensions (y's layout).
func (b *Backend) shapeReduce(op string, y, x *engine.Tensor, dims []shapeRDim, div int) {
	if y.Len() == 0 {
		return
	}
	// Drop size-1 dimensions, merge contiguous neighbours of one kind.
	var m []shapeRDim
	for _, d := range dims {
		if d.n == 1 {
			continue
		}
		if k := len(m) - 1; k >= 0 && m[k].red == d.red && m[k].st == d.st*d.n {
			m[k] = shapeRDim{m[k].n * d.n, d.st, d.red}
			continue
		}
		m = append(m, d)
	}
	var kept, red []shapeRDim
	nout, nred := 1, 1
	for _, d := range m {
		if d.red {
			red = append(red, d)
			nred *= d.n
		} else {
			kept = append(kept, d)
			nout *= d.n
		}
	}
	if nout != y.Len() {
		b.fail(op, "internal: %d outputs for %s", nout, y)
		return
	}
	if nred == 0 {
		// Nothing to add (a zero-size dimension of x): zeros, as the CPU's
		// empty float64 sum. Only SumTo gets here (Mean refuses an empty axis).
		b.launch(op, "shape_fill", d1(blocks(nout, shapeThreads)), d1(shapeThreads), 0, ptr(y), f32(0), i32(nout))
		return
	}
	if len(red) == 0 {
		b.shapeCopy(op, y, x) // div is 1: only size-1 dimensions are reduced
		return
	}
	if len(kept) > 4 || len(red) > 4 {
		b.fail(op, "internal: %d kept and %d reduced dimension groups", len(kept), len(red))
		return
	}
	// Contiguous rows (x is (nout, nred)): one warp per row.
	last := m[len(m)-1]
	if last.red && last.st == 1 && len(red) == 1 && len(kept) <= 1 && nred >= 32 && (nout >= 1024 || nred <= 8192) {
		b.launch(op, "shape_reduce_rows", d1(blocks(nout*32, shapeThreads)), d1(shapeThreads), 0,
			ptr(y), ptr(x), i32(nout), i32(nred), i32(div))
		return
	}
	// One thread per output, the reduction split into chunks when there are
	// few outputs and many terms (the split depends on the shapes only).
	nchunks := 1
	if nout < 16384 && nred > 1024 {
		nchunks = min(blocks(131072, nout), blocks(nred, 256))
	}
	chunk := blocks(nred, nchunks)
	nchunks = blocks(nred, chunk)
	var ks, rs [4]shapeRDim
	for i := range ks {
		ks[i], rs[i] = shapeRDim{n: 1}, shapeRDim{n: 1}
	}
	copy(ks[4-len(kept):], kept)
	copy(rs[4-len(red):], red)
	var part devptr
	if nchunks > 1 {
		var okS bool
		if part, okS = b.scratchBuf(op, scratchReduce, 2*nchunks*nout); !okS {
			return
		}
	}
	b.launch(op, "shape_reduce", d1(blocks(nout*nchunks, shapeThreads)), d1(shapeThreads), 0,
		ptr(y), dp(part), ptr(x), i32(nout), i32(nred), i32(chunk), i32(div),
		i32(ks[1].n), i32(ks[2].n), i32(ks[3].n), i32(ks[0].st), i32(ks[1].st), i32(ks[2].st), i32(ks[3].st),
		i32(rs[1].n), i32(rs[2].n), i32(rs[3].n), i32(rs[0].st), i32(rs[1].st), i32(rs[2].st), i32(rs[3].st))
	if nchunks > 1 {
		b.launch(op, "shape_reduce_partials", d1(blocks(nout, shapeThreads)), d1(shapeThreads), 0,
			ptr(y), dp(part), i32(nout), i32(nchunks), i32(div))
	}
}

// SumTo sums dy over the dimensions in which y was broadcast to dy's shape.
func (b *Backend) SumTo(y, dy *engine.Tensor) {
	const op = "sum to"
	if !b.ok(op, y, dy) || !b.shapeNeed(op, y, dy) {
		return
	}
	if engine.SameShape(y.Shape(), dy.Shape()) {
		if b.shapeFits(op, y) {
			b.shapeCopy(op, y, dy)
		}
		return
	}
	sy, ok := engine.BroadcastStrides(dy.Shape(), y)
	if !ok {
		b.fail(op, "%s does not broadcast to %s", y, dy)
		return
	}
	if !b.shapeFits(op, y, dy) {
		return
	}
	ds := dy.Shape()
	dims := make([]shapeRDim, len(ds))
	s := 1
	for d := len(ds) - 1; d >= 0; d-- {
		dims[d] = shapeRDim{n: ds[d], st: s, red: sy[d] == 0 && ds[d] != 1}
		s *= ds[d]
	}
	b.shapeReduce(op, y, dy, dims, 1)
}

// shapeMeanGeom is engine.MeanGeometry.
func (b *Backend) shapeMeanGeom(op string, y, x *engine.Tensor, axis int) (outer, l, inner int, ok bool) {
	outer, l, inner, err := engine.MeanGeometry(y, x, axis)
	return outer, l, inner, b.check(op, err)
}

// Mean averages x over axis (summed in double).
func (b *Backend) Mean(y, x *engine.Tensor, axis int) {
	const op = "mean"
	if !b.ok(op, y, x) || !b.shapeNeed(op, y, x) {
		return
	}
	outer, l, inner, ok := b.shapeMeanGeom(op, y, x, axis)
	if !ok || !b.shapeFits(op, x) {
		return
	}
	dims := []shapeRDim{{n: outer, st: l * inner}, {n: l, st: inner, red: true}, {n: inner, st: 1}}
	b.shapeReduce(op, y, x, dims, l)
}

// MeanBackward broadcasts dy/L back over axis.
func (b *Backend) MeanBackward(dx, dy *engine.Tensor, axis int) {
	const op = "mean backward"
	if !b.ok(op, dx, dy) || !b.shapeNeed(op, dx, dy) {
		return
	}
	_, l, inner, ok := b.shapeMeanGeom(op, dy, dx, axis)
	if !ok || !b.shapeFits(op, dx) {
		return
	}
	n := dx.Len()
	if n == 0 {
		return
	}
	inv := 1 / float32(l)
	b.launch(op, "shape_mean_bwd", d1(blocks(n, shapeThreads)), d1(shapeThreads), 0,
		ptr(dx), ptr(dy), i32(n), shapeU(l*inner), shapeMagic(l*inner), shapeU(inner), shapeMagic(inner), f32(inv))
}

// ---- Permute ----------------------------------------------------------------

// shapePDim is one dimension of a permutation's output: size, x stride.
type shapePDim struct{ n, sx int }

// Permute writes y with y.dim(i) = x.dim(perm[i]).
func (b *Backend) Permute(y, x *engine.Tensor, perm []int) {
	const op = "permute"
	if !b.ok(op, y, x) || !b.shapeNeed(op, y, x) {
		return
	}
	r := x.Rank()
	if len(perm) != r || y.Rank() != r || r > engine.MaxRank {
		b.fail(op, "perm %v for %s", perm, shapeStr(y, x))
		return
	}
	xs, ys := x.Shape(), y.Shape()
	var xstride [engine.MaxRank]int
	s := 1
	for d := r - 1; d >= 0; d-- {
		xstride[d] = s
		s *= xs[d]
	}
	seen := 0
	var dims []shapePDim
	for i, p := range perm {
		if p < 0 || p >= r || seen&(1<<p) != 0 || ys[i] != xs[p] {
			b.fail(op, "perm %v does not map %s", perm, shapeStr(x, y))
			return
		}
		seen |= 1 << p
		if ys[i] == 1 {
			continue
		}
		// Merge with the previous output dimension when it is the next
		// outer one in x too.
		if k := len(dims) - 1; k >= 0 && dims[k].sx == xstride[p]*ys[i] {
			dims[k] = shapePDim{dims[k].n * ys[i], xstride[p]}
			continue
		}
		dims = append(dims, shapePDim{ys[i], xstride[p]})
	}
	n := y.Len()
	if n == 0 || !b.shapeFits(op, y) {
		return
	}
	if len(dims) <= 1 {
		b.shapeCopy(op, y, x) // the memory order is unchanged
		return
	}
	last := len(dims) - 1
	if dims[last].sx != 1 {
		// x's innermost dimension (stride 1) went elsewhere: a batched
		// transpose when both sides are wide enough for tiles.
		k := -1
		for i, d := range dims {
			if d.sx == 1 {
				k = i
			}
		}
		if k >= 0 && dims[last].n >= 16 && dims[k].n >= 16 {
			b.shapePermuteTile(op, y, x, dims, k)
			return
		}
	}
	var p [engine.MaxRank]shapePDim
	for i := range p {
		p[i] = shapePDim{1, 0}
	}
	copy(p[engine.MaxRank-len(dims):], dims)
	args := []arg{ptr(y), ptr(x), i32(n)}
	for k := 1; k < engine.MaxRank; k++ {
		args = append(args, shapeU(p[k].n))
	}
	for k := 1; k < engine.MaxRank; k++ {
		args = append(args, shapeMagic(p[k].n))
	}
	for k := 0; k < engine.MaxRank; k++ {
		args = append(args, i32(p[k].sx))
	}
	b.launch(op, "shape_permute", d1(blocks(n, shapeThreads)), d1(shapeThreads), 0, args...)
}

// shapePermuteTile launches shape_permute_tile: dims are y's merged
// dimensions, the last one y's innermost (U), dims[k] the one x's innermost
// (V, x stride 1) became.
func (b *Backend) shapePermuteTile(op string, y, x *engine.Tensor, dims []shapePDim, k int) {
	last := len(dims) - 1
	ystride := make([]int, len(dims))
	s := 1
	for i := last; i >= 0; i-- {
		ystride[i] = s
		s *= dims[i].n
	}
	type bdim struct{ n, sx, sy int }
	var bd [6]bdim
	for i := range bd {
		bd[i] = bdim{1, 0, 0}
	}
	var rest []bdim
	nbatch := 1
	for i, d := range dims {
		if i != last && i != k {
			rest = append(rest, bdim{d.n, d.sx, ystride[i]})
			nbatch *= d.n
		}
	}
	copy(bd[6-len(rest):], rest)
	u, v := dims[last].n, dims[k].n
	tilesU, tilesV := blocks(u, 32), blocks(v, 32)
	args := []arg{ptr(y), ptr(x), i32(u), i32(v), i32(dims[last].sx), i32(ystride[k]), i32(tilesU), i32(tilesV)}
	for _, d := range bd {
		args = append(args, i32(d.n))
	}
	for _, d := range bd {
		args = append(args, i32(d.sx))
	}
	for _, d := range bd {
		args = append(args, i32(d.sy))
	}
	b.launch(op, "shape_permute_tile", d1(tilesU*tilesV*nbatch), dim3{32, 8, 1}, 0, args...)
}

// ---- Concat, Split ------------------------------------------------------------

// shapeConcatGeom is engine.ConcatGeometry, with every operand present.
func (b *Backend) shapeConcatGeom(op string, y *engine.Tensor, xs []*engine.Tensor, axis int) (outer, inner, rowLen int, ok bool) {
	if !b.shapeNeed(op, append([]*engine.Tensor{y}, xs...)...) {
		return
	}
	outer, inner, rowLen, err := engine.ConcatGeometry(y, xs, axis)
	return outer, inner, rowLen, b.check(op, err)
}

// Concat joins xs along axis.
func (b *Backend) Concat(y *engine.Tensor, xs []*engine.Tensor, axis int) {
	const op = "concat"
	if !b.ok(op, y) || !b.ok(op, xs...) || !b.shapeNeed(op, y) {
		return
	}
	outer, inner, rowLen, ok := b.shapeConcatGeom(op, y, xs, axis)
	if !ok || !b.shapeFits(op, y) {
		return
	}
	b.shapeConcatRun(op, "shape_concat", y, xs, outer, inner, rowLen, axis)
}

// Split is Concat's gradient: it copies the parts of dy back to dxs.
func (b *Backend) Split(dxs []*engine.Tensor, dy *engine.Tensor, axis int) {
	const op = "split"
	if !b.ok(op, dy) || !b.ok(op, dxs...) || !b.shapeNeed(op, dy) {
		return
	}
	outer, inner, rowLen, ok := b.shapeConcatGeom(op, dy, dxs, axis)
	if !ok || !b.shapeFits(op, dy) {
		return
	}
	b.shapeConcatRun(op, "shape_split", dy, dxs, outer, inner, rowLen, axis)
}

// shapeConcatRun launches shape_concat or shape_split over the parts,
// eight at a time: each launch covers the columns of its parts in every
// one of the outer rows of y.
func (b *Backend) shapeConcatRun(op, kernel string, y *engine.Tensor, parts []*engine.Tensor, outer, inner, rowLen, axis int) {
	if axis < 0 {
		axis += y.Rank()
	}
	if outer == 0 || rowLen == 0 {
		return
	}
	col := 0
	for g := 0; g < len(parts); g += 8 {
		group := parts[g:min(g+8, len(parts))]
		c0 := col
		var ps, es [8]arg
		for k := range es {
			ps[k], es[k] = dp(0), i32(math.MaxInt32)
		}
		for k, x := range group {
			col += x.Dim(axis) * inner
			ps[k], es[k] = ptr(x), i32(col)
		}
		w := col - c0
		n := outer * w
		if n == 0 {
			continue
		}
		args := []arg{ptr(y), i32(n), i32(rowLen), shapeU(w), shapeMagic(w), i32(c0)}
		args = append(args, ps[:]...)
		args = append(args, es[:]...)
		b.launch(op, kernel, d1(blocks(n, shapeThreads)), d1(shapeThreads), 0, args...)
	}
}

// ---- ChannelScale -------------------------------------------------------------

// shapeChannelGeom is engine.ChannelGeometry.
func (b *Backend) shapeChannelGeom(op string, y, x, s *engine.Tensor) (nc, sp int, ok bool) {
	nc, sp, err := engine.ChannelGeometry(y, x, s)
	return nc, sp, b.check(op, err)
}

// ChannelScale computes y[n,c,...] = x[n,c,...]·s[n,c].
func (b *Backend) ChannelScale(y, x, s *engine.Tensor) {
	const op = "channel scale"
	if !b.ok(op, y, x, s) || !b.shapeNeed(op, y, x, s) {
		return
	}
	nc, sp, ok := b.shapeChannelGeom(op, y, x, s)
	if !ok || !b.shapeFits(op, x) {
		return
	}
	n := nc * sp
	if n == 0 {
		return
	}
	b.launch(op, "shape_chscale", d1(blocks(n, shapeThreads)), d1(shapeThreads), 0,
		ptr(y), ptr(x), ptr(s), i32(n), shapeU(sp), shapeMagic(sp))
}

// ChannelScaleBackward computes dx = dy·s and ds[n,c] = Σ dy·x (either may
// be nil).
func (b *Backend) ChannelScaleBackward(dx, ds, dy, x, s *engine.Tensor) {
	const op = "channel scale backward"
	if !b.ok(op, dx, ds, dy, x, s) || !b.shapeNeed(op, dy, x, s) {
		return
	}
	nc, sp, ok := b.shapeChannelGeom(op, dy, x, s)
	if !ok || (dx != nil && !engine.SameShape(dx.Shape(), x.Shape())) || (ds != nil && ds.Len() != s.Len()) {
		if ok {
			b.fail(op, "gradient shapes: %s", shapeStr(dx, ds, dy, x, s))
		}
		return
	}
	if (dx == nil && ds == nil) || nc == 0 || !b.shapeFits(op, x) {
		return
	}
	args := []arg{ptr(dx), ptr(ds), ptr(dy), ptr(x), ptr(s), i32(nc), i32(sp)}
	if sp >= 32 {
		b.launch(op, "shape_chscale_bwd_warp", d1(blocks(nc*32, shapeThreads)), d1(shapeThreads), 0, args...)
		return
	}
	b.launch(op, "shape_chscale_bwd_thread", d1(blocks(nc, shapeThreads)), d1(shapeThreads), 0, args...)
}
