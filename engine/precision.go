package engine

import "fmt"

// Precision is the arithmetic of a backend's GEMMs (convolutions, linear
// layers, matmuls). Everything else (batch-norm statistics, the loss, the
// optimizer's state, the master weights, checkpoints) stays float32 in every
// precision.
type Precision int

const (
	// FP32: float32 products and sums (the CPU engine's only precision).
	FP32 Precision = iota
	// TF32: operands rounded to TF32 (10-bit mantissa, cvt.rna) on the
	// tensor cores (mma.sync m16n8k8), float32 sums. Compute capability 8.0+.
	TF32
	// BF16: operands rounded to BF16 (7-bit mantissa, to nearest even) on
	// the tensor cores (mma.sync m16n8k16), float32 sums. Compute
	// capability 8.0+.
	BF16
)

// Precisions lists every precision by its flag name.
var Precisions = []Precision{FP32, TF32, BF16}

func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case TF32:
		return "tf32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision reads a -precision flag value: fp32, tf32, bf16, or
// "auto" / "" (returned as ok with auto true: the backend's default).
func ParsePrecision(s string) (p Precision, auto bool, err error) {
	switch s {
	case "", "auto":
		return FP32, true, nil
	case "fp32":
		return FP32, false, nil
	case "tf32":
		return TF32, false, nil
	case "bf16":
		return BF16, false, nil
	}
	return FP32, false, fmt.Errorf("unknown precision %q: use fp32, tf32 or bf16", s)
}

// PrecisionSetter is a backend whose GEMM precision can change: the CUDA
// engine. SetPrecision returns an error naming what the device lacks when
// it cannot run p.
type PrecisionSetter interface {
	SetPrecision(p Precision) error
	Precision() Precision
}

// ApplyPrecision sets a backend's precision from a -precision flag value:
// "auto" or "" keeps the backend's default (tf32 on compute capability 8.0
// and later, fp32 below and on the CPU); fp32 is accepted everywhere; tf32
// and bf16 on a backend without tensor cores (the CPU engine) are an error.
func ApplyPrecision(b Backend, flag string) error {
	p, auto, err := ParsePrecision(flag)
	if err != nil {
		return err
	}
	if auto {
		return nil
	}
	ps, ok := b.(PrecisionSetter)
	if !ok {
		if p == FP32 {
			return nil
		}
		return fmt.Errorf("-precision %s needs a GPU's tensor cores (compute capability 8.0 or later); the CPU engine runs fp32: use -precision fp32 or -device cuda:N", p)
	}
	return ps.SetPrecision(p)
}

// NarrowDType is the element type in which a backend keeps a model's
// narrow activations (layers.Builder.NarrowAct: the convolution outputs
// that only batch norms read, the batch norm + ReLU outputs that only
// convolutions read): BFloat16 on a backend running at BF16, as PyTorch's
// autocast keeps them, else Float32.
func NarrowDType(b Backend) DType {
	if ps, ok := b.(PrecisionSetter); ok && ps.Precision() == BF16 {
		return BFloat16
	}
	return Float32
}
