//go:build cuda || cgo

package cuda

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/gotrain/gotrain/engine"
)

// The kernel variant table (variants.tsv, embedded): per op and precision,
// the variant to run as a function of how many large tiles a launch has
// per SM. The kernel lab (cmd/kernellab) measures every variant over a
// sweep of shapes and writes it; the engine only reads it, never times
// kernels at run time.

//go:embed variants.tsv
var variantsTSV string

// Ops of the variant table.
const (
	opGemm      = "gemm"
	opConvFwd   = "conv_fwd"
	opConvDgrad = "conv_dgrad"
	opConvWgrad = "conv_wgrad"
)

// VariantRow is one row of the variant table.
type VariantRow struct {
	Op      string
	Prec    engine.Precision
	Fill    float64 // applies when large tiles >= Fill × SMs
	Variant string  // "l", "s" or "im2col"
}

// ParseVariants reads a variant table (the format of variants.tsv).
func ParseVariants(text string) ([]VariantRow, error) {
	var rows []VariantRow
	for i, line := range strings.Split(text, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("variant table line %d: %d fields, want 4 (op precision fill variant)", i+1, len(f))
		}
		switch f[0] {
		case opGemm, opConvFwd, opConvDgrad, opConvWgrad:
		default:
			return nil, fmt.Errorf("variant table line %d: unknown op %q", i+1, f[0])
		}
		p, auto, err := engine.ParsePrecision(f[1])
		if err != nil || auto || p == engine.FP32 {
			return nil, fmt.Errorf("variant table line %d: precision %q: want tf32 or bf16", i+1, f[1])
		}
		fill, err := strconv.ParseFloat(f[2], 64)
		if err != nil || fill < 0 {
			return nil, fmt.Errorf("variant table line %d: fill %q is not a number >= 0", i+1, f[2])
		}
		switch f[3] {
		case "l", "s":
		case "im2col":
			if f[0] == opGemm {
				return nil, fmt.Errorf("variant table line %d: im2col is a convolution variant", i+1)
			}
		default:
			return nil, fmt.Errorf("variant table line %d: unknown variant %q (l, s or im2col)", i+1, f[3])
		}
		rows = append(rows, VariantRow{Op: f[0], Prec: p, Fill: fill, Variant: f[3]})
	}
	return rows, nil
}

var variantTable = func() []VariantRow {
	rows, err := ParseVariants(variantsTSV)
	if err != nil {
		panic("cuda: embedded variants.tsv: " + err.Error()) // TestVariantTable checks it
	}
	return rows
}()

// SetKernelVariant forces the variant of every tensor-core convolution and
// GEMM ("l", "s", or "im2col" for convolutions; "" follows the table) and
// returns the previous setting. Tests and the kernel lab use it.
func (b *Backend) SetKernelVariant(v string) string {
	old := b.convVariant
	b.convVariant = v
	return old
}

// variant picks the variant of op for a launch of largeTiles 128×64 tiles.
func (b *Backend) variant(op string, largeTiles int) string {
	if v := b.convVariant; v != "" && (v != "im2col" || op != opGemm) {
		return v
	}
	for _, r := range variantTable {
		if r.Op == op && r.Prec == b.prec && float64(largeTiles) >= r.Fill*float64(b.sms) {
			return r.Variant
		}
	}
	return "s"
}

// pickLarge reports whether a tensor-core GEMM of m×n (times batch
// products, unless they reduce into one output) takes the large tile.
func (b *Backend) pickLarge(op string, m, n, batch int, reduce bool) bool {
	t := blocks(m, 128) * blocks(n, 64)
	if !reduce {
		t *= batch
	}
	return b.variant(op, t) == "l"
}
