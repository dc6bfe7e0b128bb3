package engine

import (
	"fmt"
	"strings"
)

// DType is the element type of a tensor.
type DType uint8

const (
	// Float32 is IEEE-754 single precision: every activation, parameter and gradient.
	Float32 DType = iota
	// Int32 holds class labels and pooling indices.
	Int32
	// BFloat16 is bfloat16 (float32's sign, exponent and top 7 mantissa
	// bits): on a GPU at -precision bf16, the activations that only
	// convolutions read (layers.Builder.NarrowAct). The CPU engine has
	// none; host transfers convert (ToBF16, FromBF16).
	BFloat16
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	case BFloat16:
		return "bfloat16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size is the number of bytes one element takes.
func (d DType) Size() int {
	if d == BFloat16 {
		return 2
	}
	return 4
}

// Storage is one block of memory owned by a Backend: host memory for the
// CPU engine, device memory for the CUDA engine. Tensors are views into it.
type Storage interface {
	// Backend is the backend that owns the memory.
	Backend() Backend
	// Len is the number of elements.
	Len() int
	// DType is the element type.
	DType() DType
}

// Tensor is a dense, row-major (NCHW for images) view of a Storage. A tensor
// is declared first (its shape is known when a model is built) and bound to
// memory when its Pool is allocated, so that a model's parameters, gradients
// and activations each live in one allocation, reused every step.
//
// A tensor declared as batched has a leading dimension that follows the
// pool's current batch size (SetBatch), up to the size it was declared with:
// the memory is sized for the largest batch and a smaller batch (the last
// partial one, or a test batch) uses a prefix of it.
type Tensor struct {
	name  string
	shape []int
	dtype DType

	// rowsPerSample is >0 for batched tensors: shape[0] == batch*rowsPerSample.
	rowsPerSample int
	maxRows       int

	st    Storage
	off   int
	base  *Tensor   // for views: the tensor whose memory this one shares
	boff  int       // element offset inside base
	views []*Tensor // batched views of this tensor, resized with it
}

// NewTensor binds a tensor of the given shape to st at element offset off.
// Most code declares tensors through a Pool instead.
func NewTensor(name string, st Storage, off int, shape ...int) *Tensor {
	t := &Tensor{name: name, shape: append([]int(nil), shape...), dtype: st.DType(), st: st, off: off}
	if off < 0 || off+t.Len() > st.Len() {
		panic(fmt.Sprintf("engine: tensor %s %v at offset %d overflows storage of %d elements", name, shape, off, st.Len()))
	}
	return t
}

// Name is the name the tensor was declared with.
func (t *Tensor) Name() string { return t.name }

// Shape is the current shape. The slice must not be modified.
func (t *Tensor) Shape() []int { return t.shape }

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Rank is the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// DType is the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Len is the number of elements in the current shape.
func (t *Tensor) Len() int { return Numel(t.shape) }

// Storage returns the memory and element offset the tensor is bound to, or a
// nil Storage while its pool is not allocated yet.
func (t *Tensor) Storage() (Storage, int) {
	if t.base != nil {
		st, off := t.base.Storage()
		return st, off + t.boff
	}
	return t.st, t.off
}

// setDType changes the element type of t and of its batched views (the
// pool's SetDType; non-batched views made before it keep theirs, so views
// of such tensors must be made after).
func (t *Tensor) setDType(dt DType) {
	t.dtype = dt
	for _, v := range t.views {
		v.setDType(dt)
	}
}

// Batched reports whether the leading dimension follows the batch size.
func (t *Tensor) Batched() bool { return t.rowsPerSample > 0 }

// setBatch resizes the leading dimension of a batched tensor.
func (t *Tensor) setBatch(n int) {
	rows := n * t.rowsPerSample
	if rows > t.maxRows {
		panic(fmt.Sprintf("engine: tensor %s: batch %d exceeds the %d it was allocated for", t.name, n, t.maxRows/t.rowsPerSample))
	}
	t.shape[0] = rows
	for _, v := range t.views {
		v.setBatch(n)
	}
}

// View returns a tensor sharing t's memory with another shape of the same
// number of elements (reshape, flatten). A batched tensor's view is batched
// too and its leading dimension must keep the batch: for a (N,C,H,W) tensor,
// View(N, C*H*W) or View(N*C, H*W) are fine. Views are made when a model is
// built; they follow the batch size of the pool of their base.
func (t *Tensor) View(shape ...int) *Tensor {
	if Numel(shape) != t.Len() {
		panic(fmt.Sprintf("engine: view of %s %v as %v changes the element count", t.name, t.shape, shape))
	}
	v := &Tensor{name: t.name, shape: append([]int(nil), shape...), dtype: t.dtype, base: t}
	if t.rowsPerSample > 0 {
		n := t.shape[0] / t.rowsPerSample
		if shape[0]%n != 0 {
			panic(fmt.Sprintf("engine: view of batched %s %v as %v does not keep the batch dimension leading", t.name, t.shape, shape))
		}
		v.rowsPerSample = shape[0] / n
		v.maxRows = t.maxRows / t.rowsPerSample * v.rowsPerSample
		t.views = append(t.views, v)
	}
	return v
}

// Slice returns a view of rows [lo,hi) of the leading dimension of a
// non-batched tensor (a tensor's first rows, one parameter of a pool).
func (t *Tensor) Slice(lo, hi int) *Tensor {
	if t.rowsPerSample > 0 {
		panic("engine: Slice of a batched tensor " + t.name)
	}
	if lo < 0 || hi > t.shape[0] || lo > hi {
		panic(fmt.Sprintf("engine: slice [%d,%d) of %s %v", lo, hi, t.name, t.shape))
	}
	inner := Numel(t.shape[1:])
	shape := append([]int{hi - lo}, t.shape[1:]...)
	return &Tensor{name: t.name, shape: shape, dtype: t.dtype, base: t, boff: lo * inner}
}

func (t *Tensor) String() string {
	return fmt.Sprintf("%s%v:%s", t.name, t.shape, t.dtype)
}

// Numel is the product of the dimensions.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func shapeStr(ts ...*Tensor) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		if t == nil {
			b.WriteString("nil")
			continue
		}
		b.WriteString(t.String())
	}
	return b.String()
}

// Root is the tensor t is a view of, through any chain of views (t itself
// when it is not a view): the tensor a pool declared.
func (t *Tensor) Root() *Tensor {
	for t.base != nil {
		t = t.base
	}
	return t
}
