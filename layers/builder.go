// Package layers holds gotrain's layers: their parameters, gradients and
// activations, and their forward and backward passes, written once against
// engine.Backend. A layer never knows which device it runs on.
//
// A model is built in two phases. First its layers are constructed with a
// Builder, which declares every tensor they need (parameters, gradients,
// buffers, activations) in a handful of pools; then Allocate backs each pool
// with one allocation on a backend and Init fills the parameters. Training
// then runs with no allocation per step.
package layers

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/gotrain/gotrain/engine"
)

// Kind says what a state entry is in a checkpoint.
type Kind uint8

const (
	// Param is a trainable parameter (it has a gradient).
	Param Kind = iota
	// Buffer is state that is saved but not trained (BN running statistics).
	Buffer
	// Counter is an int64 scalar buffer (BN num_batches_tracked).
	Counter
)

// Entry is one named tensor of the model's state, in PyTorch state_dict order.
type Entry struct {
	Name  string
	Kind  Kind
	Value *engine.Tensor // Param and Buffer
	Grad  *engine.Tensor // Param only
	Count *int64         // Counter only
	// Init fills a freshly built model's value on the host.
	Init func(dst []float32, rng *rand.Rand)
}

// Builder declares a model's tensors.
type Builder struct {
	MaxBatch int
	Params   *engine.Pool // trainable parameters
	Grads    *engine.Pool // their gradients, laid out exactly as Params
	Buffers  *engine.Pool // running statistics
	Acts     *engine.Pool // activations and their gradients
	Index    *engine.Pool // int32 activations (max-pool indices)
	// Narrow holds the narrow activations (NarrowAct) once StoreNarrow
	// moved them out of Acts in bfloat16; empty at float32.
	Narrow *engine.Pool

	// ConvWeightInit, when set, initialises every Conv2d weight declared
	// after it (a model's init policy, e.g. Kaiming normal fan-out);
	// LinearWeightInit likewise for Linear weights. Unset: PyTorch's
	// defaults.
	ConvWeightInit   func(out, in, k int) func([]float32, *rand.Rand)
	LinearWeightInit func(out, in int) func([]float32, *rand.Rand)

	entries  []Entry
	rows     []Row
	dropouts uint32

	narrow       []*engine.Tensor // declared by NarrowAct, in Acts until StoreNarrow
	narrowStored bool
}

// NewBuilder starts a model for batches of at most maxBatch samples.
func NewBuilder(maxBatch int) *Builder {
	return &Builder{
		MaxBatch: maxBatch,
		Params:   engine.NewPool("params", engine.Float32),
		Grads:    engine.NewPool("grads", engine.Float32),
		Buffers:  engine.NewPool("buffers", engine.Float32),
		Acts:     engine.NewPool("activations", engine.Float32),
		Index:    engine.NewPool("indices", engine.Int32),
		Narrow:   engine.NewPool("narrow", engine.Float32),
	}
}

// Param declares a trainable parameter and its gradient.
func (b *Builder) Param(name string, init func([]float32, *rand.Rand), shape ...int) (value, grad *engine.Tensor) {
	value = b.Params.New(name, shape...)
	grad = b.Grads.New(name+".grad", shape...)
	b.entries = append(b.entries, Entry{Name: name, Kind: Param, Value: value, Grad: grad, Init: init})
	return value, grad
}

// Buffer declares saved, untrained state.
func (b *Builder) Buffer(name string, init func([]float32, *rand.Rand), shape ...int) *engine.Tensor {
	t := b.Buffers.New(name, shape...)
	b.entries = append(b.entries, Entry{Name: name, Kind: Buffer, Value: t, Init: init})
	return t
}

// Counter declares an int64 scalar buffer kept on the host.
func (b *Builder) Counter(name string, c *int64) {
	b.entries = append(b.entries, Entry{Name: name, Kind: Counter, Count: c})
}

// Act declares a batched activation of per-sample shape.
func (b *Builder) Act(name string, shape ...int) *engine.Tensor {
	return b.Acts.NewBatched(name, b.MaxBatch, shape...)
}

// NarrowAct declares a batched activation whose every writer and reader
// has a bfloat16 kernel, so that at -precision bf16 it can be stored in
// bfloat16: a convolution's output that only a batch norm reads
// (StoreForBatchNorm), a fused batch norm + ReLU's output that only
// convolutions read (StoreForConvs). It is declared in Acts; StoreNarrow
// moves it to the Narrow pool in bfloat16. Any other op handed it at bf16
// fails loudly at its first use.
func (b *Builder) NarrowAct(name string, shape ...int) *engine.Tensor {
	t := b.Act(name, shape...)
	b.narrow = append(b.narrow, t)
	return t
}

// NarrowActs lists the activations declared by NarrowAct.
func (b *Builder) NarrowActs() []*engine.Tensor { return b.narrow }

// StoreNarrow fixes the element type of the narrow activations (NarrowAct),
// once, before the pools are allocated: engine.Float32 leaves them in Acts
// (planned with the other activations, as if they were not narrow);
// engine.BFloat16 moves them to the Narrow pool in bfloat16 (planned on
// their own). A second call must ask for the same type.
func (b *Builder) StoreNarrow(dt engine.DType) error {
	if b.narrowStored {
		if got := b.narrowDType(); got != dt {
			return fmt.Errorf("narrow activations already stored as %s, not %s", got, dt)
		}
		return nil
	}
	if dt != engine.Float32 {
		if err := b.Acts.Move(b.narrow, b.Narrow); err != nil {
			return fmt.Errorf("store narrow activations: %w", err)
		}
		if err := b.Narrow.SetDType(dt); err != nil {
			return fmt.Errorf("store narrow activations: %w", err)
		}
	}
	b.narrowStored = true
	return nil
}

// narrowDType is the element type StoreNarrow gave the narrow activations.
func (b *Builder) narrowDType() engine.DType {
	if len(b.Narrow.Tensors()) == 0 {
		return engine.Float32
	}
	return b.Narrow.DType()
}

// NarrowStored reports whether StoreNarrow fixed their type.
func (b *Builder) NarrowStored() bool { return b.narrowStored }

// IndexAct declares a batched int32 activation.
func (b *Builder) IndexAct(name string, shape ...int) *engine.Tensor {
	return b.Index.NewBatched(name, b.MaxBatch, shape...)
}

// DropoutIndex numbers the model's dropout layers: part of each mask's key.
func (b *Builder) DropoutIndex() uint32 {
	b.dropouts++
	return b.dropouts - 1
}

// Entries lists the model's state in declaration (state_dict) order.
func (b *Builder) Entries() []Entry { return b.entries }

// Pools lists every pool of the model.
func (b *Builder) Pools() []*engine.Pool {
	return []*engine.Pool{b.Params, b.Grads, b.Buffers, b.Acts, b.Index, b.Narrow}
}

// Allocate backs every pool with its single allocation on be.
func (b *Builder) Allocate(be engine.Backend) error {
	for _, p := range b.Pools() {
		if err := p.Allocate(be); err != nil {
			return fmt.Errorf("allocate model (batch %d): %w", b.MaxBatch, err)
		}
	}
	return nil
}

// SetBatch sets the batch size of every activation.
func (b *Builder) SetBatch(n int) {
	b.Acts.SetBatch(n)
	b.Index.SetBatch(n)
	b.Narrow.SetBatch(n)
}

// Init fills every parameter and buffer from its initialiser. Each tensor
// draws from its own generator, keyed by the seed and the tensor's name, so
// a layer's initial values do not depend on the layers declared before it.
func (b *Builder) Init(be engine.Backend, seed uint64) error {
	for _, e := range b.entries {
		if e.Kind == Counter {
			*e.Count = 0
			continue
		}
		host := make([]float32, e.Value.Len())
		if e.Init != nil {
			h := fnv.New64a()
			h.Write([]byte(e.Name))
			e.Init(host, rand.New(rand.NewPCG(seed, h.Sum64())))
		}
		be.Upload(e.Value, host)
	}
	if err := be.Sync(); err != nil {
		return fmt.Errorf("initialise parameters: %w", err)
	}
	return nil
}

// Uniform returns an initialiser drawing from U(-bound, bound).
func Uniform(bound float64) func([]float32, *rand.Rand) {
	return func(dst []float32, rng *rand.Rand) {
		for i := range dst {
			dst[i] = float32((rng.Float64()*2 - 1) * bound)
		}
	}
}

// Const returns an initialiser filling v.
func Const(v float32) func([]float32, *rand.Rand) {
	return func(dst []float32, _ *rand.Rand) {
		for i := range dst {
			dst[i] = v
		}
	}
}

// Row is one line of a model summary: a module whose forward hook
// torchsummary (sksq96) would see, in the order its forward pass finishes.
type Row struct {
	Owner  any
	Class  string // PyTorch class name: Conv2d, BatchNorm2d, ReLU, ...
	Out    []int  // per-sample output shape
	Params int    // elements of the module's own weight and bias
}

// Record adds a summary row for owner. Composite layers record themselves
// after their children, as forward hooks fire.
func (b *Builder) Record(owner any, class string, out []int, params int) {
	b.rows = append(b.rows, Row{Owner: owner, Class: class, Out: append([]int(nil), out...), Params: params})
}

// Functional marks a layer as a functional call in the seed (F.relu,
// F.max_pool2d, torch.flatten): no module, so no summary row.
func (b *Builder) Functional(owners ...any) {
	for _, owner := range owners {
		k := 0
		for _, r := range b.rows {
			if r.Owner != owner {
				b.rows[k] = r
				k++
			}
		}
		b.rows = b.rows[:k]
	}
}

// Rows lists the summary rows in order.
func (b *Builder) Rows() []Row { return b.rows }
