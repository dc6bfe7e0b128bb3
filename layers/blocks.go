package layers

import (
	"fmt"

	"github.com/gotrain/gotrain/engine"
)

// ConvBN names one convolution of a block and the batch norm after it.
type ConvBN struct {
	Conv, BN            string // module names inside the block ("conv2", "bn2")
	Out, K, Stride, Pad int
}

type convBNLayer struct {
	conv *Conv2d
	bn   *BatchNorm
	relu *ReLU // nil for the last stage of a bottleneck
}

// Bottleneck is torchvision's residual block with the stages given: the
// standard ResNet-50 block is 1x1, 3x3 (stride), 1x1 (light resnet); the
// seed's "resnet" drops the leading 1x1 (3x3 (stride), 1x1). Each stage is
// conv (no bias), BN and ReLU, except the last, whose BN output is added to
// the shortcut (identity, or downsample: conv1x1 with stride, then BN)
// before the final ReLU.
type Bottleneck struct {
	stages  []convBNLayer
	down    *convBNLayer
	relu    *ReLU
	sum, dx *engine.Tensor
	x       *engine.Tensor
	out     []int
}

// NewBottleneck declares a block reading per-sample input in. down, when
// not nil, is the projection shortcut (named downsample.0 and downsample.1
// by torchvision). The modules are declared in the seed's order, so the
// state_dict names come out in PyTorch's order.
func NewBottleneck(b *Builder, prefix string, in []int, stages []ConvBN, down *ConvBN, eps float32) *Bottleneck {
	l := &Bottleneck{}
	shape := in
	for i, s := range stages {
		st := convBNLayer{conv: NewConv2d(b, prefix+s.Conv, shape, s.Out, s.K, s.Stride, s.Pad, false)}
		StoreForBatchNorm(b, st.conv) // every conv of a bottleneck feeds its batch norm only
		shape = st.conv.OutShape()
		st.bn = NewBatchNorm(b, prefix+s.BN, shape, eps)
		if i < len(stages)-1 {
			st.relu = NewReLU(b, prefix+s.Conv+".relu", shape)
			FuseBatchNormReLU(st.bn, st.relu)
			StoreForConvs(b, st.bn) // read by the next stage's conv only
		}
		l.stages = append(l.stages, st)
	}
	l.out = shape
	if down != nil {
		dc := NewConv2d(b, prefix+down.Conv, in, down.Out, 1, down.Stride, 0, false)
		StoreForBatchNorm(b, dc)
		l.down = &convBNLayer{conv: dc, bn: NewBatchNorm(b, prefix+down.BN, dc.OutShape(), eps)}
	}
	l.sum = b.Act(prefix+"sum", shape...)
	l.relu = NewReLU(b, prefix+"relu", shape)
	l.dx = b.Act(prefix+"dx", in...)
	b.Record(l, "Bottleneck", shape, 0)
	return l
}

// OutShape is (4·planes, H', W').
func (l *Bottleneck) OutShape() []int { return l.out }

// Forward runs the stages, adds the shortcut and applies the final ReLU.
func (l *Bottleneck) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	l.x = x
	h := x
	for _, s := range l.stages {
		h = s.bn.Forward(ctx, s.conv.Forward(ctx, h))
		if s.relu != nil {
			h = s.relu.Forward(ctx, h)
		}
	}
	id := x
	if l.down != nil {
		id = l.down.bn.Forward(ctx, l.down.conv.Forward(ctx, x))
	}
	ctx.B.AddRelu(l.sum, h, id) // the final ReLU fused into the residual add
	return l.sum
}

// Backward returns dx = d(main path) + d(shortcut).
func (l *Bottleneck) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	dsum := l.relu.dx
	ctx.B.ReluBackward(dsum, dy, l.sum) // AddRelu's gradient, for both operands
	d := dsum
	for i := len(l.stages) - 1; i >= 0; i-- {
		s := l.stages[i]
		if s.relu != nil {
			d = s.relu.Backward(ctx, d)
		}
		d = s.conv.Backward(ctx, s.bn.Backward(ctx, d))
	}
	dshort := dsum
	if l.down != nil {
		dshort = l.down.conv.Backward(ctx, l.down.bn.Backward(ctx, dsum))
	}
	ctx.B.Add(l.dx, d, dshort)
	return l.dx
}

// PreActSEBlock is the seed's SE-ResNet block (kuangliu's PreActBlock with
// squeeze-and-excitation):
//
//	pre = relu(bn1(x))
//	shortcut = conv1x1(pre) (stride; no bias, no BN) when the shape changes, else x
//	out = conv2(relu(bn2(conv1(pre))))           // no BN after conv2
//	w = sigmoid(fc2(relu(fc1(avgpool(out)))))   // fc1, fc2: 1x1 convs with bias
//	y = out·w + shortcut                         // no ReLU after the add
type PreActSEBlock struct {
	bn1, bn2       *BatchNorm
	relu1, relu2   *ReLU
	conv1, conv2   *Conv2d
	shortcut       *Conv2d
	pool           *AdaptiveAvgPool2d
	fc1, fc2       *Conv2d
	reluSE         *ReLU
	sig            *Sigmoid
	y              *engine.Tensor
	dout, dpre, dx *engine.Tensor
	// The SE op's saved tensors: plane means, fc1's ReLU output and the
	// sigmoid's scale, per sample.
	pooled, hidden, scale *engine.Tensor
	out                   *engine.Tensor
	x                     *engine.Tensor
	outShape              []int
}

// NewPreActSEBlock declares a block reading per-sample input in (C,H,W):
// conv1 maps C to inner channels, conv2 inner to out, the SE squeezes out
// to hidden and back; shortcut selects the 1x1 projection (the seed has one
// where stride ≠ 1 or C ≠ planes: each stage's first block but layer1's).
// Unpruned, inner = out = planes and hidden = planes/16; a pruned model
// passes its own widths.
func NewPreActSEBlock(b *Builder, prefix string, in []int, inner, out, hidden, stride int, shortcut bool) *PreActSEBlock {
	l := &PreActSEBlock{}
	l.bn1 = NewBatchNorm(b, prefix+"bn1", in, 1e-5)
	l.relu1 = NewReLU(b, prefix+"relu1", in)
	l.conv1 = NewConv2d(b, prefix+"conv1", in, inner, 3, stride, 1, false)
	StoreForBatchNorm(b, l.conv1) // read by bn2 only (conv2's output goes to the SE op)
	mid := l.conv1.OutShape()
	l.bn2 = NewBatchNorm(b, prefix+"bn2", mid, 1e-5)
	l.relu2 = NewReLU(b, prefix+"relu2", mid)
	FuseBatchNormReLU(l.bn1, l.relu1)
	FuseBatchNormReLU(l.bn2, l.relu2)
	// pre feeds conv1 and the shortcut conv (or nothing: the identity
	// shortcut adds x, not pre); relu2's output feeds conv2.
	StoreForConvs(b, l.bn1)
	StoreForConvs(b, l.bn2)
	l.conv2 = NewConv2d(b, prefix+"conv2", mid, out, 3, 1, 1, false)
	if shortcut {
		l.shortcut = NewConv2d(b, prefix+"shortcut.0", in, out, 1, stride, 0, false)
	} else if stride != 1 || in[0] != out {
		panic(fmt.Sprintf("layers: block %s: identity shortcut from %v to %v", prefix, in, l.conv2.OutShape()))
	}
	l.outShape = l.conv2.OutShape()
	l.pool = NewAdaptiveAvgPool2d(b, prefix+"squeeze", l.outShape, 1, 1)
	l.fc1 = NewConv2d(b, prefix+"fc1", l.pool.OutShape(), hidden, 1, 1, 0, true)
	l.reluSE = NewReLU(b, prefix+"fc1.relu", l.fc1.OutShape())
	l.fc2 = NewConv2d(b, prefix+"fc2", l.fc1.OutShape(), out, 1, 1, 0, true)
	l.sig = NewSigmoid(b, prefix+"fc2.sigmoid", l.fc2.OutShape())
	b.Functional(l.relu1, l.relu2, l.pool, l.reluSE, l.sig) // F.relu, F.avg_pool2d, F.sigmoid
	// The squeeze, fc1, ReLU, fc2, sigmoid, scale and residual add run as one
	// engine op (SqueezeExcite) on fc1's and fc2's parameters; the modules
	// stay declared for their names, parameters and summary rows.
	l.pooled = b.Act(prefix+"se.pooled", out)
	l.hidden = b.Act(prefix+"se.hidden", hidden)
	l.scale = b.Act(prefix+"se.scale", out)
	l.y = b.Act(prefix+"out", l.outShape...)
	l.dout = b.Act(prefix+"dout", l.outShape...)
	l.dpre = b.Act(prefix+"dpre", in...)
	l.dx = b.Act(prefix+"dx", in...)
	b.Record(l, "PreActBlock", l.outShape, 0)
	return l
}

// OutShape is (planes, H/stride, W/stride).
func (l *PreActSEBlock) OutShape() []int { return l.outShape }

// Forward computes the block.
func (l *PreActSEBlock) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	l.x = x
	pre := l.relu1.Forward(ctx, l.bn1.Forward(ctx, x))
	short := x
	if l.shortcut != nil {
		short = l.shortcut.Forward(ctx, pre)
	}
	h := l.conv1.Forward(ctx, pre)
	l.out = l.conv2.Forward(ctx, l.relu2.Forward(ctx, l.bn2.Forward(ctx, h)))
	ctx.B.SqueezeExcite(l.y, l.pooled, l.hidden, l.scale, l.out, short, l.fc1.W, l.fc1.B, l.fc2.W, l.fc2.B)
	return l.y
}

// Backward returns dx through both paths.
func (l *PreActSEBlock) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	// y = out·w + shortcut: the shortcut's gradient is dy.
	ctx.B.SqueezeExciteBackward(l.dout, l.fc1.DW, l.fc1.DB, l.fc2.DW, l.fc2.DB, dy, l.out, l.fc1.W, l.fc2.W,
		l.pooled, l.hidden, l.scale)
	d := l.conv2.Backward(ctx, l.dout)
	d = l.bn2.Backward(ctx, l.relu2.Backward(ctx, d))
	dpreMain := l.conv1.Backward(ctx, d)
	if l.shortcut != nil {
		dpreShort := l.shortcut.Backward(ctx, dy)
		ctx.B.Add(l.dpre, dpreMain, dpreShort)
		return l.bn1.Backward(ctx, l.relu1.Backward(ctx, l.dpre))
	}
	dxMain := l.bn1.Backward(ctx, l.relu1.Backward(ctx, dpreMain))
	ctx.B.Add(l.dx, dxMain, dy)
	return l.dx
}
