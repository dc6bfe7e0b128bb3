package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gotrain/gotrain/cuda"
)

// TestLabTiny runs every mode at -tiny sizes on the emulator (a GPU with
// -tags cuda): every variant's check must pass, every family and numbered
// variant must print its line, and the table it writes must parse.
func TestLabTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab's smoke test: not in -short runs")
	}
	table := filepath.Join(t.TempDir(), "variants.tsv")
	var out bytes.Buffer
	err := run([]string{"-tiny", "-write", table}, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !regexp.MustCompile(`kernellab: \d+ checks ok, 0 failed`).MatchString(text) {
		t.Errorf("no verdict line with 0 failed")
	}
	for _, want := range []string{
		"peaks measured now: mma.sync TF32", "== conv", "== gemm", "== norm", "== pool", "== elementwise",
		"conv_fwd   v0 fp32 im2col+gemm", "conv_dgrad v5 bf16 igemm 128x64", "conv_wgrad v6 bf16 igemm 64x64",
		"conv_wgrad v1 tf32 im2col+gemm", "conv_fwd   v7 bf16x igemm 128x64", "conv_wgrad v8 bf16x igemm 64x64",
		"conv_fwd   v9 bf16y igemm 128x64", "conv_fwd   v10 bf16y igemm 64x64", "conv_fwd   v11 bf16xy igemm 128x64",
		"conv_fwd   v12 bf16xy igemm 64x64",
		"gemm       v4 bf16 tc 64x64", "gemm       v0 fp32 simt",
		"batchnorm_backward v0", "batchnorm_relu_train v2 ybf16", "batchnorm_relu_backward v2 ybf16", "maxpool_backward v0", "relu v0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output has no %q line", want)
		}
	}
	b, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := cuda.ParseVariants(string(b))
	if err != nil {
		t.Fatalf("the written table does not parse: %v\n%s", err, b)
	}
	if len(rows) < 8 || !strings.Contains(string(b), "-tiny") {
		t.Errorf("written table: %d rows, want at least 8 (s for every op and precision), marked -tiny:\n%s", len(rows), b)
	}
}

func TestLabBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-mode", "fft"}, `-mode "fft"`},
		{[]string{"-mode", "norm", "-write", "x.tsv"}, "-write needs the conv and gemm modes"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		err := run(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q) = %v, want an error with %q", c.args, err, c.want)
		}
	}
}
