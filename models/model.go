// Package models builds the seed's models (INT305 report) from layers, with
// the seed's PyTorch state_dict names, and knows each model's training recipe.
package models

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
)

// InputShape is the per-sample MNIST input: 1×28×28.
var InputShape = []int{1, 28, 28}

// Classes is the number of MNIST classes.
const Classes = 10

// Recipe is a model's default training recipe (the seed script's).
type Recipe struct {
	Optimizer     string  // "sgd" or "adadelta"
	LR            float64 // initial learning rate
	Momentum      float64
	WeightDecay   float64
	Nesterov      bool
	StepSize      int     // StepLR step, in epochs
	Gamma         float64 // StepLR factor
	Epochs        int
	BatchSize     int
	TestBatchSize int
}

// Spec describes one registered model.
type Spec struct {
	Name    string
	Summary string
	Recipe  Recipe
	// OutputsProbabilities is set when the model's output is already a
	// softmax (the seed's VGG): a prediction's confidence is then the max
	// of the output itself, not of a second softmax.
	OutputsProbabilities bool
	// Widths, for models that can be built at other channel widths (a
	// pruned model), returns the default widths; nil for fixed models.
	Widths func() Widths
	// WidthOf names, for each width key, one parameter axis whose size is
	// that width (how a pruned model's widths are read off its tensors).
	WidthOf func(key string) (tensor string, axis int)
	// PruneTarget reports whether a parameter is the gamma of a batch norm
	// that channel pruning (and sparsity training) targets.
	PruneTarget func(name string) bool
	build       func(b *layers.Builder) layers.Module
	buildWidths func(b *layers.Builder, w Widths) (layers.Module, error)
}

// Widths are a model's per-layer channel widths by name. A checkpoint
// records them in its metadata, so that a pruned model loads as the same
// code at other widths.
type Widths map[string]int

// check reports an error unless w has exactly the keys of def, each at
// least 1.
func (w Widths) check(def Widths) error {
	for k := range def {
		v, ok := w[k]
		if !ok {
			return fmt.Errorf("widths: missing %q", k)
		}
		if v < 1 {
			return fmt.Errorf("widths: %q is %d: every width must be at least 1", k, v)
		}
	}
	for k := range w {
		if _, ok := def[k]; !ok {
			return fmt.Errorf("widths: unknown key %q", k)
		}
	}
	return nil
}

var registry = map[string]*Spec{}

func register(s *Spec) { registry[s.Name] = s }

// Names lists the registered models, sorted.
func Names() []string {
	var n []string
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Lookup returns the named model's spec, or an error listing the known ones.
func Lookup(name string) (*Spec, error) {
	s, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// Model is a built model: its layers, tensors and the input they read.
type Model struct {
	Spec    *Spec
	Widths  Widths // nil for fixed-width models
	Builder *layers.Builder
	Root    layers.Module
	// Input is the (N,1,28,28) batch the model reads; Labels its int32 labels.
	Input, Labels *engine.Tensor
	// Logits is where the forward pass leaves its (N,10) output.
	Logits *engine.Tensor
	// DLogits receives the loss gradient; Loss the 1-element mean loss.
	DLogits, Loss *engine.Tensor
}

// Build declares the model's tensors for batches of at most maxBatch, at
// its default widths. Allocate must follow before use.
func (s *Spec) Build(maxBatch int) *Model {
	m, err := s.BuildWidths(maxBatch, nil)
	if err != nil {
		panic(err) // the default widths always build
	}
	return m
}

// BuildWidths builds the model at the given widths (nil: the defaults).
func (s *Spec) BuildWidths(maxBatch int, w Widths) (*Model, error) {
	b := layers.NewBuilder(maxBatch)
	m := &Model{Spec: s, Builder: b}
	m.Input = b.Act("input", InputShape...)
	m.Labels = b.IndexAct("labels")
	switch {
	case s.buildWidths != nil:
		if w == nil {
			w = s.Widths()
		}
		root, err := s.buildWidths(b, w)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", s.Name, err)
		}
		m.Root, m.Widths = root, w
	case w != nil:
		return nil, fmt.Errorf("model %s has fixed widths", s.Name)
	default:
		m.Root = s.build(b)
	}
	if sk, ok := m.Root.(layers.InputGradSkipper); ok {
		sk.SkipInputGrad()
	}
	m.DLogits = b.Act("dlogits", Classes)
	m.Loss = b.Acts.New("loss", 1)
	return m, nil
}

// Allocate backs the model with memory on be for training (and the
// evaluation passes between epochs) and initialises the parameters from
// seed. Activations and their gradients share memory where their lifetimes
// in a training step or an evaluation pass do not overlap (Plan).
func (m *Model) Allocate(be engine.Backend, seed uint64) error {
	return m.allocate(be, seed, true)
}

// AllocateEval backs the model for evaluation only: no gradients, and the
// activations of the forward pass only, sharing memory by their lifetimes.
// Backward must not run on such a model.
func (m *Model) AllocateEval(be engine.Backend, seed uint64) error {
	return m.allocate(be, seed, false)
}

func (m *Model) allocate(be engine.Backend, seed uint64, train bool) error {
	b := m.Builder
	// The narrow activations in bfloat16 at -precision bf16, unless
	// SetNarrowDType chose.
	if !b.NarrowStored() {
		if err := b.StoreNarrow(engine.NarrowDType(be)); err != nil {
			return fmt.Errorf("model %s: %w", m.Spec.Name, err)
		}
	}
	plan, narrow, err := m.plans(train)
	if err != nil {
		return fmt.Errorf("model %s: %w", m.Spec.Name, err)
	}
	for _, p := range b.Pools() {
		var err error
		switch {
		case p == b.Acts:
			err = p.AllocatePlanned(be, plan)
		case p == b.Narrow:
			err = p.AllocatePlanned(be, narrow)
		case p == b.Grads && (!train || plan.Fixed() == p):
			continue // none for evaluation, or in the activations' allocation
		default:
			err = p.Allocate(be)
		}
		if err != nil {
			return fmt.Errorf("model %s: allocate (batch %d): %w", m.Spec.Name, b.MaxBatch, err)
		}
	}
	if err := b.Init(be, seed); err != nil {
		return fmt.Errorf("model %s: %w", m.Spec.Name, err)
	}
	return nil
}

// SetNarrowDType fixes the element type of the model's narrow
// activations (layers.Builder.NarrowAct) before Allocate, which otherwise
// picks it from the backend (engine.NarrowDType): engine.Float32 keeps
// them float32 even at -precision bf16 (tests compare the two).
// Allocating on a backend that cannot hold the type fails.
func (m *Model) SetNarrowDType(dt engine.DType) error {
	if err := m.Builder.StoreNarrow(dt); err != nil {
		return fmt.Errorf("model %s: %w", m.Spec.Name, err)
	}
	return nil
}

// SetBatch sets the number of samples of the next passes.
func (m *Model) SetBatch(n int) { m.Builder.SetBatch(n) }

// Forward runs the model on Input and returns the logits tensor.
func (m *Model) Forward(ctx *layers.Ctx) *engine.Tensor {
	m.Logits = m.Root.Forward(ctx, m.Input)
	return m.Logits
}

// Loss computes the mean cross-entropy of the last forward pass into Loss
// and, when grad is set, its gradient into DLogits.
func (m *Model) ComputeLoss(ctx *layers.Ctx, grad bool) {
	var d *engine.Tensor
	if grad {
		d = m.DLogits
	}
	ctx.B.CrossEntropy(m.Loss, d, m.Logits, m.Labels)
}

// Backward back-propagates DLogits, writing every parameter gradient.
func (m *Model) Backward(ctx *layers.Ctx) {
	m.Root.Backward(ctx, m.DLogits)
}

// NumParams is the number of trainable scalars.
func (m *Model) NumParams() int {
	n := 0
	for _, e := range m.Builder.Entries() {
		if e.Kind == layers.Param {
			n += e.Value.Len()
		}
	}
	return n
}

// Meta is the safetensors metadata gotrain writes with a model's weights:
// the format, the model's name and, for a model built at other widths, its
// widths as JSON.
func (m *Model) Meta() map[string]string {
	meta := map[string]string{"format": "gotrain", "model": m.Spec.Name}
	if m.Widths != nil {
		w, _ := json.Marshal(m.Widths)
		meta["widths"] = string(w)
	}
	return meta
}

// WidthsFromMeta parses a checkpoint's "widths" metadata; nil when absent
// (a fixed-width model, or a PyTorch state_dict of the unpruned model).
func WidthsFromMeta(meta map[string]string) (Widths, error) {
	s, ok := meta["widths"]
	if !ok || s == "" {
		return nil, nil
	}
	var w Widths
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return nil, fmt.Errorf("metadata widths: %v", err)
	}
	return w, nil
}
