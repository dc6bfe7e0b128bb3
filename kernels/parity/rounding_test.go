//go:build cuda || cgo

package parity

import (
	"math"

	"github.com/gotrain/gotrain/engine"
)

// roundingCPU is the reference of a GPU step at tf32 or bf16: the CPU
// engine with the operands of every tensor-core GEMM (convolutions,
// linear layers, matmuls, forward and backward) rounded as the GPU rounds
// them (TF32: cvt.rna, to nearest with ties away from zero; BF16: to
// nearest even), and at bf16 the model's narrow activations (the
// convolution outputs that only batch norms read, the fused batch norm +
// ReLU outputs that only convolutions read) rounded to bfloat16 as the GPU
// stores them. The products of rounded operands are exact in float32, so
// the GPU and this reference differ only in the order of their float32
// sums, as they do at fp32: the tensor-core steps can be held to
// tolerances near fp32's instead of the operands' unit roundoff times the
// network's condition, which for deep batch-normalised networks at small
// batches is of order one. Biases and the reductions that give db are not
// rounded (the GPU adds them in float32), nor is anything else.
type roundingCPU struct {
	*engine.CPU
	prec   engine.Precision
	narrow map[*engine.Tensor]bool // roots of the narrow activations the GPU stores in bfloat16
}

// newRoundingCPU wraps c for prec; narrow lists the CPU model's narrow
// activations (layers.Builder.NarrowActs) when the GPU model stores them
// in bfloat16, else nil.
func newRoundingCPU(c *engine.CPU, prec engine.Precision, narrow []*engine.Tensor) *roundingCPU {
	r := &roundingCPU{CPU: c, prec: prec, narrow: map[*engine.Tensor]bool{}}
	for _, t := range narrow {
		r.narrow[t.Root()] = true
	}
	return r
}

// roundTF32 is cvt.rna.tf32.f32 (kernels/emu's emu_cvt_rna_tf32): the
// low 13 mantissa bits rounded off to nearest, ties away from zero.
func roundTF32(v float32) float32 {
	u := math.Float32bits(v)
	if u&0x7f800000 == 0x7f800000 {
		return v
	}
	return math.Float32frombits((u + 0x1000) &^ 0x1fff)
}

func (r *roundingCPU) round(v float32) float32 {
	switch r.prec {
	case engine.TF32:
		return roundTF32(v)
	case engine.BF16:
		return engine.RoundBF16(v)
	}
	return v
}

// rounded is a copy of t with every element rounded to the precision.
func (r *roundingCPU) rounded(t *engine.Tensor) *engine.Tensor {
	if t == nil {
		return nil
	}
	v := make([]float32, t.Len())
	r.CPU.Download(v, t)
	for i := range v {
		v[i] = r.round(v[i])
	}
	st, err := r.CPU.Alloc(engine.Float32, len(v))
	if err != nil {
		panic(err)
	}
	u := engine.NewTensor(t.Name()+" rounded", st, 0, t.Shape()...)
	r.CPU.Upload(u, v)
	return u
}

// store rounds t in place to bfloat16 when it is a narrow activation.
func (r *roundingCPU) store(t *engine.Tensor) {
	if r.prec != engine.BF16 || !r.narrow[t.Root()] {
		return
	}
	v := make([]float32, t.Len())
	r.CPU.Download(v, t)
	for i := range v {
		v[i] = engine.RoundBF16(v[i])
	}
	r.CPU.Upload(t, v)
}

func (r *roundingCPU) Conv2d(y, x, w, b *engine.Tensor, p engine.Conv2dParams) {
	r.CPU.Conv2d(y, r.rounded(x), r.rounded(w), b, p)
	r.store(y)
}

func (r *roundingCPU) Conv2dBackward(dx, dw, db, dy, x, w *engine.Tensor, p engine.Conv2dParams) {
	if dx != nil || dw != nil {
		r.CPU.Conv2dBackward(dx, dw, nil, r.rounded(dy), r.rounded(x), r.rounded(w), p)
	}
	if db != nil {
		r.CPU.Conv2dBackward(nil, nil, db, dy, x, w, p)
	}
}

func (r *roundingCPU) Linear(y, x, w, b *engine.Tensor) {
	r.CPU.Linear(y, r.rounded(x), r.rounded(w), b)
}

func (r *roundingCPU) LinearBackward(dx, dw, db, dy, x, w *engine.Tensor) {
	if dx != nil || dw != nil {
		r.CPU.LinearBackward(dx, dw, nil, r.rounded(dy), r.rounded(x), r.rounded(w))
	}
	if db != nil {
		r.CPU.LinearBackward(nil, nil, db, dy, x, w)
	}
}

func (r *roundingCPU) MatMul(c, a, b *engine.Tensor, transA, transB bool) {
	r.CPU.MatMul(c, r.rounded(a), r.rounded(b), transA, transB)
}

func (r *roundingCPU) BatchNormReluTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *engine.Tensor, momentum, eps float32) {
	r.CPU.BatchNormReluTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta, momentum, eps)
	r.store(y)
}

func (r *roundingCPU) BatchNormReluEval(y, x, gamma, beta, runMean, runVar *engine.Tensor, eps float32) {
	r.CPU.BatchNormReluEval(y, x, gamma, beta, runMean, runVar, eps)
	r.store(y)
}

var _ engine.Backend = (*roundingCPU)(nil)
