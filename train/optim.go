// Package train runs training: batches from MNIST, the loop, optimizers,
// learning-rate schedules and per-epoch metrics.
package train

import (
	"fmt"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/train/runfolder"
)

// Optimizer updates a model's parameters from their gradients, all in one
// op over the parameter pool, with its state on the same device.
type Optimizer interface {
	// Step applies one update with learning rate lr.
	Step(be engine.Backend, lr float64)
	// Update queues one update reading the learning rate and first-step
	// flag from the step variables vars (engine/stepvars.go), as a
	// captured training step does; it does not count the step (SetSteps).
	Update(be engine.Backend, vars *engine.Tensor)
	// Name describes the optimizer and its settings.
	Name() string
	// State lists the optimizer's state tensors (saved for resume).
	State() []*engine.Tensor
	// Steps is the number of updates made (SGD's first step differs).
	Steps() int64
	// SetSteps restores Steps when a run resumes.
	SetSteps(n int64)
}

// OptimizerConfig selects and configures an optimizer.
type OptimizerConfig = runfolder.Optimizer

// Optimizers lists the known optimizer names.
var Optimizers = runfolder.Optimizers

// NewOptimizer declares the optimizer's state in pool state for model b's
// parameters; state must then be allocated on the model's backend.
func NewOptimizer(cfg OptimizerConfig, b *layers.Builder, state *engine.Pool) (Optimizer, error) {
	n := b.Params.Size()
	switch cfg.Name {
	case "sgd":
		if cfg.Nesterov && (cfg.Momentum <= 0 || cfg.Dampening != 0) {
			return nil, fmt.Errorf("sgd: nesterov momentum requires a momentum and zero dampening")
		}
		o := &sgd{cfg: cfg, params: b.Params, grads: b.Grads}
		if cfg.Momentum != 0 {
			o.mom = state.New("momentum_buffer", n)
		}
		return o, nil
	case "adadelta":
		if cfg.Rho == 0 {
			cfg.Rho = 0.9
		}
		if cfg.Eps == 0 {
			cfg.Eps = 1e-6
		}
		return &adadelta{cfg: cfg, params: b.Params, grads: b.Grads,
			sq: state.New("square_avg", n), acc: state.New("acc_delta", n)}, nil
	}
	return nil, fmt.Errorf("unknown optimizer %q (known: sgd, adadelta)", cfg.Name)
}

type sgd struct {
	cfg           OptimizerConfig
	params, grads *engine.Pool
	mom           *engine.Tensor
	steps         int64
}

func (o *sgd) Name() string {
	s := fmt.Sprintf("SGD(momentum=%g, weight_decay=%g", o.cfg.Momentum, o.cfg.WeightDecay)
	if o.cfg.Nesterov {
		s += ", nesterov"
	}
	return s + ")"
}

func (o *sgd) State() []*engine.Tensor {
	if o.mom == nil {
		return nil
	}
	return []*engine.Tensor{o.mom}
}

func (o *sgd) Steps() int64     { return o.steps }
func (o *sgd) SetSteps(n int64) { o.steps = n }

func (o *sgd) Step(be engine.Backend, lr float64) {
	be.SGDStep(o.params.Flat(), o.grads.Flat(), o.mom, engine.SGDParams{
		LR: float32(lr), Momentum: float32(o.cfg.Momentum), Dampening: float32(o.cfg.Dampening),
		WeightDecay: float32(o.cfg.WeightDecay), Nesterov: o.cfg.Nesterov, First: o.steps == 0,
	})
	o.steps++
}

func (o *sgd) Update(be engine.Backend, vars *engine.Tensor) {
	be.SGDStep(o.params.Flat(), o.grads.Flat(), o.mom, engine.SGDParams{
		Momentum: float32(o.cfg.Momentum), Dampening: float32(o.cfg.Dampening),
		WeightDecay: float32(o.cfg.WeightDecay), Nesterov: o.cfg.Nesterov, Vars: vars,
	})
}

type adadelta struct {
	cfg           OptimizerConfig
	params, grads *engine.Pool
	sq, acc       *engine.Tensor
	steps         int64
}

func (o *adadelta) Steps() int64     { return o.steps }
func (o *adadelta) SetSteps(n int64) { o.steps = n }

func (o *adadelta) Name() string {
	return fmt.Sprintf("Adadelta(rho=%g, eps=%g, weight_decay=%g)", o.cfg.Rho, o.cfg.Eps, o.cfg.WeightDecay)
}

func (o *adadelta) State() []*engine.Tensor { return []*engine.Tensor{o.sq, o.acc} }

func (o *adadelta) Step(be engine.Backend, lr float64) {
	be.AdadeltaStep(o.params.Flat(), o.grads.Flat(), o.sq, o.acc, engine.AdadeltaParams{
		LR: float32(lr), Rho: float32(o.cfg.Rho), Eps: float32(o.cfg.Eps), WeightDecay: float32(o.cfg.WeightDecay),
	})
	o.steps++
}

func (o *adadelta) Update(be engine.Backend, vars *engine.Tensor) {
	be.AdadeltaStep(o.params.Flat(), o.grads.Flat(), o.sq, o.acc, engine.AdadeltaParams{
		Rho: float32(o.cfg.Rho), Eps: float32(o.cfg.Eps), WeightDecay: float32(o.cfg.WeightDecay), Vars: vars,
	})
}

// StepLR is torch.optim.lr_scheduler.StepLR stepped once per epoch: the
// learning rate of epoch e (counted from 0) is base·gamma^⌊e/step⌋.
type StepLR struct {
	Base  float64
	Step  int
	Gamma float64
}

// LR returns the learning rate of epoch e (0-based).
func (s StepLR) LR(e int) float64 {
	if s.Step <= 0 {
		return s.Base
	}
	// Repeated multiplication, as PyTorch's chainable form does.
	lr := s.Base
	for i := 1; i <= e; i++ {
		if i%s.Step == 0 {
			lr *= s.Gamma
		}
	}
	return lr
}
