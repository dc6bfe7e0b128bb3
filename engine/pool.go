package engine

import "fmt"

// align is the element alignment of every tensor in a pool (64 bytes), so
// that device kernels can use vector loads on any tensor.
const align = 16

// Pool declares tensors and then backs them all with a single allocation:
// one pool for parameters, one for their gradients, one for activations, as
// llm.c does. Nothing is allocated per training step.
type Pool struct {
	name    string
	dtype   DType
	tensors []*Tensor
	size    int // elements, including alignment padding
	st      Storage
	batch   int
}

// NewPool returns an empty pool of the given element type.
func NewPool(name string, dt DType) *Pool { return &Pool{name: name, dtype: dt} }

// Name is the pool's name ("params", "grads", "activations", ...).
func (p *Pool) Name() string { return p.name }

// New declares a tensor of a fixed shape.
func (p *Pool) New(name string, shape ...int) *Tensor {
	return p.declare(name, 0, shape)
}

// NewBatched declares a tensor of shape (maxBatch, shape...) whose leading
// dimension follows SetBatch: an (N,C,H,W) activation is
// NewBatched(name, maxN, C, H, W).
func (p *Pool) NewBatched(name string, maxBatch int, shape ...int) *Tensor {
	full := append([]int{maxBatch}, shape...)
	return p.declare(name, 1, full)
}

// NewBatchedRows declares a batched tensor with rowsPerSample leading rows
// per sample: shape (maxBatch*rowsPerSample, shape...).
func (p *Pool) NewBatchedRows(name string, maxBatch, rowsPerSample int, shape ...int) *Tensor {
	full := append([]int{maxBatch * rowsPerSample}, shape...)
	return p.declare(name, rowsPerSample, full)
}

func (p *Pool) declare(name string, rowsPerSample int, shape []int) *Tensor {
	if p.st != nil {
		panic(fmt.Sprintf("engine: pool %s is already allocated; cannot declare %s", p.name, name))
	}
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("engine: tensor %s has a negative dimension %v", name, shape))
		}
	}
	t := &Tensor{name: name, shape: append([]int(nil), shape...), dtype: p.dtype, off: p.size}
	if rowsPerSample > 0 {
		t.rowsPerSample = rowsPerSample
		t.maxRows = shape[0]
		if p.batch == 0 || shape[0]/rowsPerSample > p.batch {
			p.batch = shape[0] / rowsPerSample
		}
	}
	n := Numel(shape)
	p.size += (n + align - 1) / align * align
	p.tensors = append(p.tensors, t)
	return t
}

// DType is the element type of the pool's tensors.
func (p *Pool) DType() DType { return p.dtype }

// SetDType changes the element type of an unallocated pool and of every
// tensor declared in it, with their views: a model is built once and its
// narrow activations (layers.Builder.NarrowAct) become BFloat16 when the
// backend that allocates it runs at -precision bf16. Only between
// Float32 and BFloat16: the values mean the same numbers in both.
func (p *Pool) SetDType(dt DType) error {
	if p.st != nil {
		return fmt.Errorf("pool %s: set dtype %s: already allocated", p.name, dt)
	}
	if !floating(p.dtype) || !floating(dt) {
		return fmt.Errorf("pool %s: cannot change dtype %s to %s", p.name, p.dtype, dt)
	}
	p.dtype = dt
	for _, t := range p.tensors {
		t.setDType(dt)
	}
	return nil
}

// Move moves tensors ts, declared in p, to pool to (after to's own): the
// tensors left in p keep their order, packed again. Neither pool may be
// allocated, and both must hold one element type. A model's narrow
// activations move to a bfloat16 pool this way when it is allocated at
// -precision bf16; at float32 they stay where they were declared.
func (p *Pool) Move(ts []*Tensor, to *Pool) error {
	if p.st != nil || to.st != nil {
		return fmt.Errorf("pool %s: move tensors to pool %s: already allocated", p.name, to.name)
	}
	if p.dtype != to.dtype {
		return fmt.Errorf("pool %s (%s): move tensors to pool %s of %s", p.name, p.dtype, to.name, to.dtype)
	}
	moving := make(map[*Tensor]bool, len(ts))
	for _, t := range ts {
		moving[t] = true
	}
	found := 0
	for _, t := range p.tensors {
		if moving[t] {
			found++
		}
	}
	if found != len(moving) {
		return fmt.Errorf("pool %s: move %d tensors to pool %s: %d are not declared in %s", p.name, len(moving), to.name, len(moving)-found, p.name)
	}
	kept := p.tensors[:0:0]
	p.size = 0
	for _, t := range p.tensors {
		dst := p
		if moving[t] {
			dst = to
		} else {
			kept = append(kept, t)
		}
		t.off = dst.size
		dst.size += (declared(t) + align - 1) / align * align
		if dst == to {
			to.tensors = append(to.tensors, t)
			if t.rowsPerSample > 0 {
				to.batch = max(to.batch, t.maxRows/t.rowsPerSample)
			}
		}
	}
	p.tensors = kept
	return nil
}

func floating(dt DType) bool { return dt == Float32 || dt == BFloat16 }

// Tensors lists the declared tensors in declaration order.
func (p *Pool) Tensors() []*Tensor { return p.tensors }

// Size is the number of elements the pool allocates (padding included).
func (p *Pool) Size() int { return p.size }

// Bytes is the size of the pool's allocation in bytes.
func (p *Pool) Bytes() int64 { return int64(p.size) * int64(p.dtype.Size()) }

// Allocate makes the pool's single allocation on b, zero-filled, and binds
// every declared tensor to it.
func (p *Pool) Allocate(b Backend) error {
	if p.st != nil {
		return fmt.Errorf("pool %s: already allocated", p.name)
	}
	st, err := b.Alloc(p.dtype, p.size)
	if err != nil {
		return fmt.Errorf("pool %s: %w", p.name, err)
	}
	p.st = st
	for _, t := range p.tensors {
		t.st = st
	}
	return nil
}

// Allocated reports whether Allocate succeeded.
func (p *Pool) Allocated() bool { return p.st != nil }

// Flat is a 1-D view of the whole allocation, padding included: optimizer
// updates run over all parameters in one launch. The updates are
// element-wise, so padding never reaches a tensor's elements: padding
// starts zero, but a pool planned with others (PlanArena: the gradients
// with the activations) may hold stale values there.
func (p *Pool) Flat() *Tensor {
	if p.st == nil {
		panic("engine: Flat of unallocated pool " + p.name)
	}
	return &Tensor{name: p.name, shape: []int{p.size}, dtype: p.dtype, st: p.st}
}

// SetBatch resizes every batched tensor of the pool to n samples.
func (p *Pool) SetBatch(n int) {
	if n <= 0 {
		panic(fmt.Sprintf("engine: pool %s: batch %d", p.name, n))
	}
	for _, t := range p.tensors {
		if t.rowsPerSample > 0 {
			t.setBatch(n)
		}
	}
}

// MaxBatch is the largest batch a batched tensor of the pool was declared for.
func (p *Pool) MaxBatch() int { return p.batch }
