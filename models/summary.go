package models

import (
	"fmt"
	"io"
	"strings"
)

// Summary is a model's torchsummary-style table and totals, computed the way
// the seed's torchsummary (sksq96, pip 1.5.1) computed Table 1: one row per
// module forward hook, params counting each module's weight and bias only.
type Summary struct {
	Model string
	Rows  []SummaryRow
	// TotalParams is torchsummary's "Total params": weights and biases of
	// hooked modules (the report's Table 1 convention).
	TotalParams int
	// AllParams counts every trainable tensor (ViT's cls token and position
	// table included).
	AllParams int
	// Sizes in MB (2^20 bytes), as torchsummary estimates them.
	InputMB, ForwardBackwardMB, ParamsMB, TotalMB float64
}

// SummaryRow is one line of the table.
type SummaryRow struct {
	Layer  string // "Conv2d-1"
	Output []int  // per-sample output shape
	Params int
}

// Summarize builds the summary of a built (not necessarily allocated) model.
func Summarize(m *Model) *Summary {
	s := &Summary{Model: m.Spec.Name}
	outputs := 0
	for i, r := range m.Builder.Rows() {
		s.Rows = append(s.Rows, SummaryRow{Layer: fmt.Sprintf("%s-%d", r.Class, i+1), Output: r.Out, Params: r.Params})
		s.TotalParams += r.Params
		n := 1
		for _, d := range r.Out {
			n *= d
		}
		outputs += n
	}
	s.AllParams = m.NumParams()
	const mb = 1 << 20
	in := 1
	for _, d := range InputShape {
		in *= d
	}
	s.InputMB = float64(in) * 4 / mb
	s.ForwardBackwardMB = 2 * float64(outputs) * 4 / mb
	s.ParamsMB = float64(s.TotalParams) * 4 / mb
	s.TotalMB = s.InputMB + s.ForwardBackwardMB + s.ParamsMB
	return s
}

func shapeString(out []int) string {
	parts := []string{"-1"}
	for _, d := range out {
		parts = append(parts, fmt.Sprint(d))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Commas formats n with thousands separators, as torchsummary does.
func Commas(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Print writes the table in torchsummary's layout.
func (s *Summary) Print(w io.Writer) {
	line := strings.Repeat("-", 64)
	fmt.Fprintln(w, line)
	fmt.Fprintf(w, "%20s  %25s %15s\n", "Layer (type)", "Output Shape", "Param #")
	fmt.Fprintln(w, strings.Repeat("=", 64))
	for _, r := range s.Rows {
		fmt.Fprintf(w, "%20s  %25s %15s\n", r.Layer, shapeString(r.Output), Commas(r.Params))
	}
	fmt.Fprintln(w, strings.Repeat("=", 64))
	fmt.Fprintf(w, "Total params: %s\n", Commas(s.TotalParams))
	fmt.Fprintf(w, "Trainable params: %s\n", Commas(s.TotalParams))
	fmt.Fprintf(w, "Non-trainable params: 0\n")
	if s.AllParams != s.TotalParams {
		fmt.Fprintf(w, "All parameters (incl. tensors not named weight or bias): %s\n", Commas(s.AllParams))
	}
	fmt.Fprintln(w, line)
	fmt.Fprintf(w, "Input size (MB): %.2f\n", s.InputMB)
	fmt.Fprintf(w, "Forward/backward pass size (MB): %.2f\n", s.ForwardBackwardMB)
	fmt.Fprintf(w, "Params size (MB): %.2f\n", s.ParamsMB)
	fmt.Fprintf(w, "Estimated Total Size (MB): %.2f\n", s.TotalMB)
	fmt.Fprintln(w, line)
}
