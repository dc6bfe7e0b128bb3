package layers

import (
	"math"
	"math/rand/v2"

	"github.com/gotrain/gotrain/engine"
)

// Conv2d is nn.Conv2d: weight (out, in, k, k) and an optional bias.
type Conv2d struct {
	W, DW, B, DB *engine.Tensor
	P            engine.Conv2dParams
	x, y, dx     *engine.Tensor
	out          []int
	skipDX       bool
}

// DefaultInit is PyTorch's default initialisation of a conv or linear layer
// with fan-in fanIn: kaiming_uniform(a=√5) for the weight, i.e.
// U(±1/√fanIn), and U(±1/√fanIn) for the bias.
func DefaultInit(fanIn int) func([]float32, *rand.Rand) {
	return Uniform(1 / math.Sqrt(float64(fanIn)))
}

// NewConv2d declares a convolution of per-sample input in (C,H,W).
func NewConv2d(b *Builder, name string, in []int, out, k, stride, pad int, bias bool) *Conv2d {
	c, h, w := in[0], in[1], in[2]
	fan := c * k * k
	l := &Conv2d{P: engine.Conv2dParams{StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}}
	winit := DefaultInit(fan)
	if b.ConvWeightInit != nil {
		winit = b.ConvWeightInit(out, c, k)
	}
	l.W, l.DW = b.Param(name+".weight", winit, out, c, k, k)
	if bias {
		l.B, l.DB = b.Param(name+".bias", DefaultInit(fan), out)
	}
	l.out = []int{out, engine.ConvOut(h, k, stride, pad), engine.ConvOut(w, k, stride, pad)}
	l.y = b.Act(name+".out", l.out...)
	l.dx = b.Act(name+".dx", in...)
	b.Record(l, "Conv2d", l.out, paramLen(l.W, l.B))
	return l
}

func paramLen(ts ...*engine.Tensor) int {
	n := 0
	for _, t := range ts {
		if t != nil {
			n += t.Len()
		}
	}
	return n
}

// StoreForBatchNorm makes a convolution's output narrow
// (Builder.NarrowAct), bfloat16 at -precision bf16: call it when only a
// batch norm reads the output (its forward and backward passes, as their
// x). The activation declared for it in Acts is then never used and gets
// no memory.
func StoreForBatchNorm(b *Builder, conv *Conv2d) {
	conv.y = b.NarrowAct(conv.y.Name(), conv.out...)
}

// SkipInputGrad stops the layer computing dx (the model's first layer).
func (l *Conv2d) SkipInputGrad() { l.skipDX = true }

// OutShape is (out, P, Q).
func (l *Conv2d) OutShape() []int { return l.out }

// Forward convolves x.
func (l *Conv2d) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	l.x = x
	ctx.B.Conv2d(l.y, x, l.W, l.B, l.P)
	return l.y
}

// Backward writes DW, DB and returns dx.
func (l *Conv2d) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	dx := l.dx
	if l.skipDX {
		dx = nil
	}
	ctx.B.Conv2dBackward(dx, l.DW, l.DB, dy, l.x, l.W, l.P)
	return dx
}

// Linear is nn.Linear over the last dimension.
type Linear struct {
	W, DW, B, DB *engine.Tensor
	x, y, dx     *engine.Tensor
	out          []int
	skipDX       bool
}

// NewLinear declares a linear layer; in is the per-sample input shape whose
// last dimension is the number of features.
func NewLinear(b *Builder, name string, in []int, out int, bias bool) *Linear {
	fan := in[len(in)-1]
	l := &Linear{}
	winit := DefaultInit(fan)
	if b.LinearWeightInit != nil {
		winit = b.LinearWeightInit(out, fan)
	}
	l.W, l.DW = b.Param(name+".weight", winit, out, fan)
	if bias {
		l.B, l.DB = b.Param(name+".bias", DefaultInit(fan), out)
	}
	l.out = append(append([]int(nil), in[:len(in)-1]...), out)
	l.y = b.Act(name+".out", l.out...)
	l.dx = b.Act(name+".dx", in...)
	b.Record(l, "Linear", l.out, paramLen(l.W, l.B))
	return l
}

// SkipInputGrad stops the layer computing dx.
func (l *Linear) SkipInputGrad() { l.skipDX = true }

// OutShape is the input shape with the last dimension replaced.
func (l *Linear) OutShape() []int { return l.out }

// Forward computes x·Wᵀ + b.
func (l *Linear) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	l.x = x
	ctx.B.Linear(l.y, x, l.W, l.B)
	return l.y
}

// Backward writes DW, DB and returns dx.
func (l *Linear) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	dx := l.dx
	if l.skipDX {
		dx = nil
	}
	ctx.B.LinearBackward(dx, l.DW, l.DB, dy, l.x, l.W)
	return dx
}

// MaxPool2d is F.max_pool2d.
type MaxPool2d struct {
	P          engine.Pool2dParams
	y, idx, dx *engine.Tensor
	out        []int
}

// NewMaxPool2d declares max pooling of per-sample input in (C,H,W).
func NewMaxPool2d(b *Builder, name string, in []int, p engine.Pool2dParams) *MaxPool2d {
	l := &MaxPool2d{P: p}
	l.out = []int{in[0], engine.PoolOut(in[1], p.KH, p.StrideH, p.PadH, p.CeilMode), engine.PoolOut(in[2], p.KW, p.StrideW, p.PadW, p.CeilMode)}
	l.y = b.Act(name+".out", l.out...)
	l.idx = b.IndexAct(name+".argmax", l.out...)
	l.dx = b.Act(name+".dx", in...)
	b.Record(l, "MaxPool2d", l.out, 0)
	return l
}

// Square is a k×k window with stride s and padding p.
func Square(k, s, p int) engine.Pool2dParams {
	return engine.Pool2dParams{KH: k, KW: k, StrideH: s, StrideW: s, PadH: p, PadW: p}
}

// OutShape is the pooled shape.
func (l *MaxPool2d) OutShape() []int { return l.out }

// Forward pools and remembers each maximum's position.
func (l *MaxPool2d) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	ctx.B.MaxPool2d(l.y, l.idx, x, l.P)
	return l.y
}

// Backward routes dy to the maxima.
func (l *MaxPool2d) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	ctx.B.MaxPool2dBackward(l.dx, dy, l.idx)
	return l.dx
}

// Dropout is nn.Dropout with gotrain's counter-based masks: the mask of
// element i at training step s is a pure function of (seed, s, layer, i).
type Dropout struct {
	// Prob is the drop probability. Set it before the model is allocated:
	// p = 0 runs no op (the identity), and the memory plan (models.Plan)
	// follows the ops a step runs.
	Prob     float32
	identity bool
	layer    uint32
	y, dx    *engine.Tensor
	shape    []int
}

// NewDropout declares dropout with probability p over per-sample shape.
func NewDropout(b *Builder, name string, shape []int, p float32) *Dropout {
	l := &Dropout{Prob: p, layer: b.DropoutIndex(), y: b.Act(name+".out", shape...), dx: b.Act(name+".dx", shape...), shape: shape}
	b.Record(l, "Dropout", shape, 0)
	return l
}

// OutShape is the input shape.
func (l *Dropout) OutShape() []int { return l.shape }

func (l *Dropout) key(ctx *Ctx) engine.DropoutKey {
	return engine.DropoutKey{Seed: ctx.Seed, Step: ctx.Step, Layer: l.layer, Vars: ctx.Vars}
}

// Forward drops elements in training mode; in eval mode, or with p = 0,
// it is the identity and returns x itself.
func (l *Dropout) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	l.identity = !ctx.Train || l.Prob == 0
	if l.identity {
		return x
	}
	ctx.B.Dropout(l.y, x, l.Prob, l.key(ctx))
	return l.y
}

// Backward applies the forward pass's mask to dy.
func (l *Dropout) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	if l.identity {
		return dy
	}
	ctx.B.DropoutBackward(l.dx, dy, l.Prob, l.key(ctx))
	return l.dx
}

// Flatten views (C,H,W) as C·H·W features; no copy.
type Flatten struct {
	in, out    []int
	src, yv    *engine.Tensor // the input seen, and its (N, features) view
	dySrc, dxv *engine.Tensor // the gradient seen, and its (N, C, H, W) view
}

// NewFlatten flattens per-sample shape in (nn.Flatten; torch.flatten is
// the same layer marked Functional).
func NewFlatten(b *Builder, in []int) *Flatten {
	l := &Flatten{in: in, out: []int{engine.Numel(in)}}
	b.Record(l, "Flatten", l.out, 0)
	return l
}

// OutShape is the flattened size.
func (l *Flatten) OutShape() []int { return l.out }

// Forward returns a (N, features) view of x. The view is made once per
// input tensor (at the first step) and reused.
func (l *Flatten) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	if x != l.src {
		l.src = x
		l.yv = x.View(x.Dim(0), l.out[0])
	}
	return l.yv
}

// Backward returns dy viewed with the input's shape.
func (l *Flatten) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	if dy != l.dySrc {
		l.dySrc = dy
		l.dxv = dy.View(append([]int{dy.Dim(0)}, l.in...)...)
	}
	return l.dxv
}
