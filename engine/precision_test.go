package engine

import (
	"strings"
	"testing"
)

func TestParsePrecision(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Precision
		auto bool
		err  string
	}{
		{"", FP32, true, ""},
		{"auto", FP32, true, ""},
		{"fp32", FP32, false, ""},
		{"tf32", TF32, false, ""},
		{"bf16", BF16, false, ""},
		{"fp16", FP32, false, `unknown precision "fp16": use fp32, tf32 or bf16`},
		{"TF32", FP32, false, "unknown precision"},
	} {
		p, auto, err := ParsePrecision(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParsePrecision(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || p != c.want || auto != c.auto {
			t.Errorf("ParsePrecision(%q) = %v, %v, %v; want %v, %v", c.in, p, auto, err, c.want, c.auto)
		}
		if !auto && p.String() != c.in {
			t.Errorf("%v.String() = %q, want %q", p, p.String(), c.in)
		}
	}
}

func TestApplyPrecisionCPU(t *testing.T) {
	cpu := NewCPU(1)
	for _, f := range []string{"", "auto", "fp32"} {
		if err := ApplyPrecision(cpu, f); err != nil {
			t.Errorf("ApplyPrecision(cpu, %q): %v", f, err)
		}
	}
	for _, f := range []string{"tf32", "bf16"} {
		err := ApplyPrecision(cpu, f)
		if err == nil || !strings.Contains(err.Error(), "the CPU engine runs fp32") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ApplyPrecision(cpu, %q) = %v, want a one-line refusal", f, err)
		}
	}
}
