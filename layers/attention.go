package layers

import (
	"math"

	"github.com/gotrain/gotrain/engine"
)

// Residual is the ViT's ResidualAdd: y = fn(x) + x, fn a chain of modules.
type Residual struct {
	fn    []Module
	y, dx *engine.Tensor
	shape []int
}

// NewResidual wraps fn (already declared) over per-sample shape.
func NewResidual(b *Builder, name string, shape []int, fn ...Module) *Residual {
	l := &Residual{fn: fn, shape: shape, y: b.Act(name+".out", shape...), dx: b.Act(name+".dx", shape...)}
	b.Record(l, "ResidualAdd", shape, 0)
	return l
}

// OutShape is the input shape.
func (l *Residual) OutShape() []int { return l.shape }

// Forward computes fn(x) + x.
func (l *Residual) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	h := x
	for _, m := range l.fn {
		h = m.Forward(ctx, h)
	}
	ctx.B.Add(l.y, h, x)
	return l.y
}

// Backward returns dfn + dy.
func (l *Residual) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	d := dy
	for i := len(l.fn) - 1; i >= 0; i-- {
		d = l.fn[i].Backward(ctx, d)
	}
	ctx.B.Add(l.dx, d, dy)
	return l.dx
}

// qkvViews are the q, k and v views of the split qkv tensor for one batch size.
type qkvViews struct {
	all     *engine.Tensor // (3, n, heads, tokens, dim)
	q, k, v *engine.Tensor // (n, heads, tokens, dim)
}

// MultiHeadAttention is the seed ViT's attention, computed as the seed does:
//
//	qkv = Linear(E → 3E), split with the pattern "b n (h d qkv)": qkv is the
//	innermost factor of the 3E axis
//	att = softmax(q·kᵀ) / sqrt(E)   (scaled after the softmax, by the full
//	                                  embedding size, not 1/sqrt(d) before it)
//	out = Linear(E → E)(merge heads(att·v))
type MultiHeadAttention struct {
	qkv, proj              *Linear
	drop                   *Dropout
	heads, tokens, dim, e  int
	scale                  float32
	qkvP, dqkvP            *engine.Tensor // flat (3·maxN·heads·tokens·dim)
	views, dviews          map[int]*qkvViews
	energy, sm, att, o     *engine.Tensor
	oPerm, oPermView       *engine.Tensor
	dO, datt, dsm, denergy *engine.Tensor
	dqkv, dqkv5            *engine.Tensor
	qkv5, dOPview          *engine.Tensor
	a                      *engine.Tensor
	shape                  []int
}

// NewMultiHeadAttention declares attention over per-sample (tokens, E).
func NewMultiHeadAttention(b *Builder, prefix string, shape []int, heads int, dropout float32) *MultiHeadAttention {
	t, e := shape[0], shape[1]
	d := e / heads
	l := &MultiHeadAttention{heads: heads, tokens: t, dim: d, e: e, shape: shape, scale: float32(1 / math.Sqrt(float64(e))),
		views: map[int]*qkvViews{}, dviews: map[int]*qkvViews{}}
	l.qkv = NewLinear(b, prefix+"qkv", shape, 3*e, true)
	l.drop = NewDropout(b, prefix+"att_drop", []int{heads, t, t}, dropout)
	l.proj = NewLinear(b, prefix+"projection", shape, e, true)
	n := b.MaxBatch
	l.qkvP = b.Acts.New(prefix+"qkv_split", 3*n*heads*t*d)
	l.dqkvP = b.Acts.New(prefix+"dqkv_split", 3*n*heads*t*d)
	l.energy = b.Act(prefix+"energy", heads, t, t)
	l.sm = b.Act(prefix+"softmax", heads, t, t)
	l.att = b.Act(prefix+"att", heads, t, t)
	l.o = b.Act(prefix+"att_v", heads, t, d)
	l.oPerm = b.Act(prefix+"merged", t, heads, d)
	l.oPermView = l.oPerm.View(n, t, e)
	l.dO = b.Act(prefix+"datt_v", heads, t, d)
	l.datt = b.Act(prefix+"datt", heads, t, t)
	l.dsm = b.Act(prefix+"dsoftmax", heads, t, t)
	l.denergy = b.Act(prefix+"denergy", heads, t, t)
	l.dqkv = b.Act(prefix+"dqkv", t, 3*e)
	l.dqkv5 = l.dqkv.View(n, t, heads, d, 3)
	l.qkv5 = l.qkv.y.View(n, t, heads, d, 3)
	l.dOPview = l.proj.dx.View(n, t, heads, d)
	b.Record(l, "MultiHeadAttention", shape, 0)
	return l
}

func (l *MultiHeadAttention) split(cache map[int]*qkvViews, flat *engine.Tensor, n int) *qkvViews {
	if v, ok := cache[n]; ok {
		return v
	}
	h, t, d := l.heads, l.tokens, l.dim
	per := n * h * t * d
	v := &qkvViews{
		all: flat.Slice(0, 3*per).View(3, n, h, t, d),
		q:   flat.Slice(0, per).View(n, h, t, d),
		k:   flat.Slice(per, 2*per).View(n, h, t, d),
		v:   flat.Slice(2*per, 3*per).View(n, h, t, d),
	}
	cache[n] = v
	return v
}

// OutShape is (tokens, E).
func (l *MultiHeadAttention) OutShape() []int { return l.shape }

// Forward computes attention.
func (l *MultiHeadAttention) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	be := ctx.B
	n := x.Dim(0)
	l.qkv.Forward(ctx, x)
	s := l.split(l.views, l.qkvP, n)
	be.Permute(s.all, l.qkv5, []int{4, 0, 2, 1, 3})
	be.MatMul(l.energy, s.q, s.k, false, true)
	be.Softmax(l.sm, l.energy)
	be.Scale(l.att, l.sm, l.scale)
	l.a = l.drop.Forward(ctx, l.att)
	be.MatMul(l.o, l.a, s.v, false, false)
	be.Permute(l.oPerm, l.o, []int{0, 2, 1, 3})
	return l.proj.Forward(ctx, l.oPermView)
}

// Backward returns dx.
func (l *MultiHeadAttention) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	be := ctx.B
	n := dy.Dim(0)
	l.proj.Backward(ctx, dy)
	s := l.split(l.views, l.qkvP, n)
	ds := l.split(l.dviews, l.dqkvP, n)
	be.Permute(l.dO, l.dOPview, []int{0, 2, 1, 3})
	be.MatMul(l.datt, l.dO, s.v, false, true)
	be.MatMul(ds.v, l.a, l.dO, true, false)
	datt := l.drop.Backward(ctx, l.datt)
	be.Scale(l.dsm, datt, l.scale)
	be.SoftmaxBackward(l.denergy, l.dsm, l.sm)
	be.MatMul(ds.q, l.denergy, s.k, false, false)
	be.MatMul(ds.k, l.denergy, s.q, true, false)
	be.Permute(l.dqkv5, ds.all, []int{1, 3, 2, 4, 0})
	return l.qkv.Backward(ctx, l.dqkv)
}

// PatchEmbedding is the ViT's patch embedding: a conv with kernel and
// stride p (with bias), the patches flattened row-major into tokens
// (einops Rearrange 'b e h w -> b (h w) e'), a learned cls token prepended
// and learned position embeddings added. cls_token and positions start
// from randn, as in the seed.
type PatchEmbedding struct {
	Cls, DCls, Pos, DPos *engine.Tensor
	conv                 *Conv2d
	e, patches           int
	convView, dconvView  *engine.Tensor
	dconv                *engine.Tensor
	tokens, dtokens      *engine.Tensor
	clsExp, dclsExp      *engine.Tensor
	zero                 *engine.Tensor
	parts, dparts        []*engine.Tensor
	y                    *engine.Tensor
	shape                []int
}

// NewPatchEmbedding declares the embedding of per-sample input in (C,H,W)
// into (H/p·W/p + 1, e) tokens.
func NewPatchEmbedding(b *Builder, prefix string, in []int, p, e int) *PatchEmbedding {
	l := &PatchEmbedding{e: e}
	l.patches = (in[1] / p) * (in[2] / p)
	t := l.patches + 1
	l.Cls, l.DCls = b.Param(prefix+"cls_token", Normal(), 1, 1, e)
	l.Pos, l.DPos = b.Param(prefix+"positions", Normal(), t, e)
	l.conv = NewConv2d(b, prefix+"projection.0", in, e, p, p, 0, true)
	l.convView = l.conv.y.View(b.MaxBatch, e, l.patches)
	l.dconv = b.Act(prefix+"dconv", l.conv.OutShape()...)
	l.dconvView = l.dconv.View(b.MaxBatch, e, l.patches)
	l.tokens = b.Act(prefix+"patches", l.patches, e)
	b.Record(l.tokens, "Rearrange", []int{l.patches, e}, 0)
	l.dtokens = b.Act(prefix+"dpatches", l.patches, e)
	l.clsExp = b.Act(prefix+"cls", 1, e)
	l.dclsExp = b.Act(prefix+"dcls", 1, e)
	l.zero = b.Acts.New(prefix+"zero", 1)
	l.parts = []*engine.Tensor{l.clsExp, l.tokens}
	l.dparts = []*engine.Tensor{l.dclsExp, l.dtokens}
	l.shape = []int{t, e}
	l.y = b.Act(prefix+"out", t, e)
	b.Record(l, "PatchEmbedding", l.shape, 0)
	return l
}

// SkipInputGrad stops the conv computing dx (the model's first layer).
func (l *PatchEmbedding) SkipInputGrad() { l.conv.SkipInputGrad() }

// OutShape is (tokens, e).
func (l *PatchEmbedding) OutShape() []int { return l.shape }

// Forward embeds the patches.
func (l *PatchEmbedding) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	be := ctx.B
	l.conv.Forward(ctx, x)
	be.Permute(l.tokens, l.convView, []int{0, 2, 1})
	// zero broadcasts the class token over the batch. Activations share
	// memory by lifetime (models.Plan): it is written here, every pass.
	be.Fill(l.zero, 0)
	be.Add(l.clsExp, l.Cls, l.zero)
	be.Concat(l.y, l.parts, 1)
	be.Add(l.y, l.y, l.Pos)
	return l.y
}

// Backward writes the gradients of the cls token, positions and conv.
func (l *PatchEmbedding) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	be := ctx.B
	be.SumTo(l.DPos, dy)
	be.Split(l.dparts, dy, 1)
	be.SumTo(l.DCls, l.dclsExp)
	be.Permute(l.dconvView, l.dtokens, []int{0, 2, 1})
	return l.conv.Backward(ctx, l.dconv)
}

// TokenMean is einops Reduce('b n e -> b e', 'mean'): the mean over all
// tokens (cls included, as the seed does).
type TokenMean struct {
	y, dx *engine.Tensor
	in    []int
	out   []int
}

// NewTokenMean declares the mean over the tokens of per-sample (tokens, e).
func NewTokenMean(b *Builder, name string, in []int) *TokenMean {
	l := &TokenMean{in: in, out: []int{in[1]}}
	l.y = b.Act(name+".out", in[1])
	l.dx = b.Act(name+".dx", in...)
	b.Record(l, "Reduce", l.out, 0)
	return l
}

// OutShape is (e).
func (l *TokenMean) OutShape() []int { return l.out }

// Forward averages the tokens.
func (l *TokenMean) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	ctx.B.Mean(l.y, x, 1)
	return l.y
}

// Backward spreads dy over the tokens.
func (l *TokenMean) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	ctx.B.MeanBackward(l.dx, dy, 1)
	return l.dx
}
