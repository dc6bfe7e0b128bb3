package layers

import "github.com/gotrain/gotrain/engine"

// BasicConv2d is torchvision GoogLeNet's conv (no bias), BN (eps 0.001),
// then F.relu.
type BasicConv2d struct {
	conv *Conv2d
	bn   *BatchNorm
	relu *ReLU
}

// NewBasicConv2d declares a BasicConv2d with a square kernel.
func NewBasicConv2d(b *Builder, prefix string, in []int, out, k, stride, pad int) *BasicConv2d {
	l := &BasicConv2d{conv: NewConv2d(b, prefix+"conv", in, out, k, stride, pad, false)}
	StoreForBatchNorm(b, l.conv)
	l.bn = NewBatchNorm(b, prefix+"bn", l.conv.OutShape(), 1e-3)
	l.relu = NewReLU(b, prefix+"relu", l.conv.OutShape())
	FuseBatchNormReLU(l.bn, l.relu)
	b.Functional(l.relu)
	b.Record(l, "BasicConv2d", l.conv.OutShape(), 0)
	return l
}

// OutShape is the conv's output shape.
func (l *BasicConv2d) OutShape() []int { return l.conv.OutShape() }

// Forward is relu(bn(conv(x))).
func (l *BasicConv2d) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	return l.relu.Forward(ctx, l.bn.Forward(ctx, l.conv.Forward(ctx, x)))
}

// Backward back-propagates through relu, bn and conv.
func (l *BasicConv2d) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	return l.conv.Backward(ctx, l.bn.Backward(ctx, l.relu.Backward(ctx, dy)))
}

// SkipInputGrad stops the conv computing dx (GoogLeNet's first layer).
func (l *BasicConv2d) SkipInputGrad() { l.conv.SkipInputGrad() }

// Inception is torchvision's Inception block with the seed's channel counts.
// Its third branch uses a 3x3 conv where the paper has a 5x5: torchvision's
// known bug, kept so that the parameter count matches the report.
//
//	branch1: 1x1
//	branch2: 1x1 → 3x3
//	branch3: 1x1 → 3x3 (the "5x5")
//	branch4: max pool 3/1/1 (ceil) → 1x1
//
// The outputs are concatenated along the channels.
type Inception struct {
	branches  [4][]Module
	outs      []*engine.Tensor
	douts     []*engine.Tensor
	y, dy, dx *engine.Tensor
	out       []int
}

// NewInception declares an Inception block reading per-sample input in.
func NewInception(b *Builder, prefix string, in []int, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj int) *Inception {
	l := &Inception{}
	b1 := NewBasicConv2d(b, prefix+"branch1.", in, ch1x1, 1, 1, 0)
	b2a := NewBasicConv2d(b, prefix+"branch2.0.", in, ch3x3red, 1, 1, 0)
	b2b := NewBasicConv2d(b, prefix+"branch2.1.", b2a.OutShape(), ch3x3, 3, 1, 1)
	b3a := NewBasicConv2d(b, prefix+"branch3.0.", in, ch5x5red, 1, 1, 0)
	b3b := NewBasicConv2d(b, prefix+"branch3.1.", b3a.OutShape(), ch5x5, 3, 1, 1)
	pool := NewMaxPool2d(b, prefix+"branch4.0", in, engine.Pool2dParams{KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, CeilMode: true})
	b4 := NewBasicConv2d(b, prefix+"branch4.1.", pool.OutShape(), poolProj, 1, 1, 0)
	// The 1x1 reductions feed their branch's 3x3 conv only.
	StoreForConvs(b, b2a.bn)
	StoreForConvs(b, b3a.bn)
	l.branches = [4][]Module{{b1}, {b2a, b2b}, {b3a, b3b}, {pool, b4}}
	h, w := in[1], in[2]
	l.out = []int{ch1x1 + ch3x3 + ch5x5 + poolProj, h, w}
	l.outs = make([]*engine.Tensor, 4)
	l.douts = make([]*engine.Tensor, 4)
	for i, c := range []int{ch1x1, ch3x3, ch5x5, poolProj} {
		l.douts[i] = b.Act(prefix+"dbranch", c, h, w)
	}
	l.y = b.Act(prefix+"out", l.out...)
	l.dx = b.Act(prefix+"dx", in...)
	b.Record(l, "Inception", l.out, 0)
	return l
}

// OutShape is (ch1x1+ch3x3+ch5x5+poolProj, H, W).
func (l *Inception) OutShape() []int { return l.out }

// Forward runs the four branches and concatenates them.
func (l *Inception) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	for i, br := range l.branches {
		h := x
		for _, m := range br {
			h = m.Forward(ctx, h)
		}
		l.outs[i] = h
	}
	ctx.B.Concat(l.y, l.outs, 1)
	return l.y
}

// Backward splits dy and sums the branches' input gradients.
func (l *Inception) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	ctx.B.Split(l.douts, dy, 1)
	for i, br := range l.branches {
		d := l.douts[i]
		for j := len(br) - 1; j >= 0; j-- {
			d = br[j].Backward(ctx, d)
		}
		if i == 0 {
			ctx.B.Copy(l.dx, d)
		} else {
			ctx.B.Axpy(l.dx, 1, d)
		}
	}
	return l.dx
}
