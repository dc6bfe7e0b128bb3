package layers

import (
	"math"
	"math/rand/v2"

	"github.com/gotrain/gotrain/engine"
)

// Elementwise is a parameter-free layer applied element by element (or
// row by row, for softmax): ReLU, Sigmoid, GELU and Softmax are its kinds.
type Elementwise struct {
	class    string
	fwd      func(be engine.Backend, y, x *engine.Tensor)
	bwd      func(be engine.Backend, dx, dy, x, y *engine.Tensor)
	x, y, dx *engine.Tensor
	shape    []int
	// fused: the op before this one applies it (FuseBatchNormReLU), so
	// Forward and Backward pass their input through.
	fused bool
}

func newElementwise(b *Builder, name, class string, shape []int,
	fwd func(be engine.Backend, y, x *engine.Tensor), bwd func(be engine.Backend, dx, dy, x, y *engine.Tensor)) *Elementwise {
	l := &Elementwise{class: class, fwd: fwd, bwd: bwd, shape: shape,
		y: b.Act(name+".out", shape...), dx: b.Act(name+".dx", shape...)}
	b.Record(l, class, shape, 0)
	return l
}

// OutShape is the input shape.
func (l *Elementwise) OutShape() []int { return l.shape }

// Forward computes y = f(x).
func (l *Elementwise) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	if l.fused {
		return x
	}
	l.x = x
	l.fwd(ctx.B, l.y, x)
	return l.y
}

// Backward applies f's derivative to dy.
func (l *Elementwise) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	if l.fused {
		return dy
	}
	l.bwd(ctx.B, l.dx, dy, l.x, l.y)
	return l.dx
}

// ReLU, Sigmoid, GELU and Softmax are Elementwise layers.
type (
	ReLU    = Elementwise
	Sigmoid = Elementwise
	GELU    = Elementwise
	Softmax = Elementwise
)

// NewReLU declares max(x, 0) over per-sample shape; its backward pass
// needs only its output.
func NewReLU(b *Builder, name string, shape []int) *ReLU {
	return newElementwise(b, name, "ReLU", shape,
		func(be engine.Backend, y, x *engine.Tensor) { be.Relu(y, x) },
		func(be engine.Backend, dx, dy, _, y *engine.Tensor) { be.ReluBackward(dx, dy, y) })
}

// NewSigmoid declares 1/(1+e^-x) over per-sample shape.
func NewSigmoid(b *Builder, name string, shape []int) *Sigmoid {
	return newElementwise(b, name, "Sigmoid", shape,
		func(be engine.Backend, y, x *engine.Tensor) { be.Sigmoid(y, x) },
		func(be engine.Backend, dx, dy, _, y *engine.Tensor) { be.SigmoidBackward(dx, dy, y) })
}

// NewGELU declares nn.GELU (the exact erf form) over per-sample shape.
func NewGELU(b *Builder, name string, shape []int) *GELU {
	return newElementwise(b, name, "GELU", shape,
		func(be engine.Backend, y, x *engine.Tensor) { be.Gelu(y, x) },
		func(be engine.Backend, dx, dy, x, _ *engine.Tensor) { be.GeluBackward(dx, dy, x) })
}

// NewSoftmax declares a softmax over the last dimension of per-sample shape.
func NewSoftmax(b *Builder, name string, shape []int) *Softmax {
	return newElementwise(b, name, "Softmax", shape,
		func(be engine.Backend, y, x *engine.Tensor) { be.Softmax(y, x) },
		func(be engine.Backend, dx, dy, _, y *engine.Tensor) { be.SoftmaxBackward(dx, dy, y) })
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
