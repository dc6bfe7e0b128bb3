package layers

import (
	"math"
	"math/rand/v2"

	"github.com/gotrain/gotrain/engine"
)

// Sigmoid is an element-wise logistic function.
type Sigmoid struct {
	y, dx *engine.Tensor
	shape []int
}

// NewSigmoid declares a sigmoid over per-sample shape.
func NewSigmoid(b *Builder, name string, shape []int) *Sigmoid {
	l := &Sigmoid{y: b.Act(name+".out", shape...), dx: b.Act(name+".dx", shape...), shape: shape}
	b.Record(l, "Sigmoid", shape, 0)
	return l
}

// OutShape is the input shape.
func (l *Sigmoid) OutShape() []int { return l.shape }

// Forward applies 1/(1+e^-x).
func (l *Sigmoid) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	ctx.B.Sigmoid(l.y, x)
	return l.y
}

// Backward multiplies dy by y(1-y).
func (l *Sigmoid) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	ctx.B.SigmoidBackward(l.dx, dy, l.y)
	return l.dx
}

// GELU is nn.GELU (the exact erf form).
type GELU struct {
	x, y, dx *engine.Tensor
	shape    []int
}

// NewGELU declares a GELU over per-sample shape.
func NewGELU(b *Builder, name string, shape []int) *GELU {
	l := &GELU{y: b.Act(name+".out", shape...), dx: b.Act(name+".dx", shape...), shape: shape}
	b.Record(l, "GELU", shape, 0)
	return l
}

// OutShape is the input shape.
func (l *GELU) OutShape() []int { return l.shape }

// Forward applies GELU.
func (l *GELU) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	l.x = x
	ctx.B.Gelu(l.y, x)
	return l.y
}

// Backward applies GELU's derivative.
func (l *GELU) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	ctx.B.GeluBackward(l.dx, dy, l.x)
	return l.dx
}

// Softmax is a softmax over the last dimension.
type Softmax struct {
	y, dx *engine.Tensor
	shape []int
}

// NewSoftmax declares a softmax over per-sample shape.
func NewSoftmax(b *Builder, name string, shape []int) *Softmax {
	l := &Softmax{y: b.Act(name+".out", shape...), dx: b.Act(name+".dx", shape...), shape: shape}
	b.Record(l, "Softmax", shape, 0)
	return l
}

// OutShape is the input shape.
func (l *Softmax) OutShape() []int { return l.shape }

// Forward normalises the last dimension.
func (l *Softmax) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	ctx.B.Softmax(l.y, x)
	return l.y
}

// Backward is the softmax Jacobian applied to dy.
func (l *Softmax) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	ctx.B.SoftmaxBackward(l.dx, dy, l.y)
	return l.dx
}

// AvgPool2d is average pooling (count_include_pad).
type AvgPool2d struct {
	P     engine.Pool2dParams
	y, dx *engine.Tensor
	out   []int
}

// NewAvgPool2d declares average pooling of per-sample input (C,H,W).
func NewAvgPool2d(b *Builder, name string, in []int, p engine.Pool2dParams) *AvgPool2d {
	l := &AvgPool2d{P: p}
	l.out = []int{in[0], engine.PoolOut(in[1], p.KH, p.StrideH, p.PadH, p.CeilMode), engine.PoolOut(in[2], p.KW, p.StrideW, p.PadW, p.CeilMode)}
	l.y = b.Act(name+".out", l.out...)
	l.dx = b.Act(name+".dx", in...)
	b.Record(l, "AvgPool2d", l.out, 0)
	return l
}

// OutShape is the pooled shape.
func (l *AvgPool2d) OutShape() []int { return l.out }

// Forward averages each window.
func (l *AvgPool2d) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	ctx.B.AvgPool2d(l.y, x, l.P)
	return l.y
}

// Backward spreads dy over the windows.
func (l *AvgPool2d) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	ctx.B.AvgPool2dBackward(l.dx, dy, l.P)
	return l.dx
}

// AdaptiveAvgPool2d is nn.AdaptiveAvgPool2d to (oh, ow).
type AdaptiveAvgPool2d struct {
	y, dx *engine.Tensor
	out   []int
}

// NewAdaptiveAvgPool2d declares adaptive average pooling of per-sample input (C,H,W).
func NewAdaptiveAvgPool2d(b *Builder, name string, in []int, oh, ow int) *AdaptiveAvgPool2d {
	l := &AdaptiveAvgPool2d{out: []int{in[0], oh, ow}}
	l.y = b.Act(name+".out", l.out...)
	l.dx = b.Act(name+".dx", in...)
	b.Record(l, "AdaptiveAvgPool2d", l.out, 0)
	return l
}

// OutShape is (C, oh, ow).
func (l *AdaptiveAvgPool2d) OutShape() []int { return l.out }

// Forward averages the adaptive windows.
func (l *AdaptiveAvgPool2d) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	ctx.B.AdaptiveAvgPool2d(l.y, x)
	return l.y
}

// Backward spreads dy over the windows.
func (l *AdaptiveAvgPool2d) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	ctx.B.AdaptiveAvgPool2dBackward(l.dx, dy)
	return l.dx
}

// SetInit replaces the initialiser of the parameter or buffer t.
func (b *Builder) SetInit(t *engine.Tensor, init func([]float32, *rand.Rand)) {
	for i := range b.entries {
		if b.entries[i].Value == t {
			b.entries[i].Init = init
			return
		}
	}
	panic("layers: SetInit of an undeclared tensor " + t.Name())
}

// KaimingNormalFanOut is nn.init.kaiming_normal_(mode='fan_out',
// nonlinearity='relu') for a conv weight (out, in, k, k): N(0, 2/fanOut).
func KaimingNormalFanOut(fanOut int) func([]float32, *rand.Rand) {
	std := math.Sqrt(2 / float64(fanOut))
	return func(dst []float32, rng *rand.Rand) {
		for i := range dst {
			dst[i] = float32(rng.NormFloat64() * std)
		}
	}
}

// TruncNormal draws N(0, std²) truncated to ±2·std (scipy's truncnorm(-2, 2)).
func TruncNormal(std float64) func([]float32, *rand.Rand) {
	return func(dst []float32, rng *rand.Rand) {
		for i := range dst {
			v := rng.NormFloat64()
			for v < -2 || v > 2 {
				v = rng.NormFloat64()
			}
			dst[i] = float32(v * std)
		}
	}
}

// Normal draws N(0, 1) (torch.randn).
func Normal() func([]float32, *rand.Rand) {
	return func(dst []float32, rng *rand.Rand) {
		for i := range dst {
			dst[i] = float32(rng.NormFloat64())
		}
	}
}
