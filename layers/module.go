package layers

import "github.com/gotrain/gotrain/engine"

// Ctx carries what a pass needs besides the tensors.
type Ctx struct {
	B     engine.Backend
	Train bool   // training mode: batch statistics, dropout on
	Seed  uint64 // the run's seed (dropout masks)
	Step  uint32 // the global training step (dropout masks)
	// Vars, when set, is the step-variables tensor (engine/stepvars.go):
	// dropout reads the step from it, so a captured step draws each
	// replay's masks.
	Vars *engine.Tensor
}

// Module is a layer or a composite of layers. Its input and output tensors
// are preallocated; Forward returns the output tensor, Backward takes the
// gradient of the output and returns the gradient of the input (nil when
// the module was told its input needs none).
type Module interface {
	// Forward computes the output for input x.
	Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor
	// Backward writes the parameter gradients and returns dx.
	Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor
	// OutShape is the per-sample output shape.
	OutShape() []int
}

// InputGradSkipper is a module that can skip computing its input gradient
// (the first layer of a model).
type InputGradSkipper interface {
	SkipInputGrad()
}

// Sequential runs modules one after the other.
type Sequential struct {
	Mods []Module
	in   []int
}

// NewSequential chains mods; in is the per-sample input shape. A batch
// norm directly followed by a ReLU is fused (FuseBatchNormReLU).
func NewSequential(in []int, mods ...Module) *Sequential {
	for i := 0; i+1 < len(mods); i++ {
		if bn, ok := mods[i].(*BatchNorm); ok {
			if relu, ok := mods[i+1].(*ReLU); ok {
				FuseBatchNormReLU(bn, relu)
			}
		}
	}
	return &Sequential{Mods: mods, in: in}
}

// Forward runs every module in order.
func (s *Sequential) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	for _, m := range s.Mods {
		x = m.Forward(ctx, x)
	}
	return x
}

// Backward runs every module's backward pass in reverse order.
func (s *Sequential) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	for i := len(s.Mods) - 1; i >= 0 && dy != nil; i-- {
		dy = s.Mods[i].Backward(ctx, dy)
	}
	return dy
}

// OutShape is the last module's output shape.
func (s *Sequential) OutShape() []int {
	if len(s.Mods) == 0 {
		return s.in
	}
	return s.Mods[len(s.Mods)-1].OutShape()
}

// SkipInputGrad tells the first module that skips input gradients to do so;
// modules before it (parameter-free ones) then get no gradient at all.
func (s *Sequential) SkipInputGrad() {
	if len(s.Mods) > 0 {
		if m, ok := s.Mods[0].(InputGradSkipper); ok {
			m.SkipInputGrad()
		}
	}
}
