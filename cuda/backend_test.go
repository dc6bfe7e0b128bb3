//go:build cuda || cgo

package cuda

import (
	"strings"
	"sync"
	"testing"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/kernels"
)

var (
	testOnce sync.Once
	testB    *Backend
	testErr  error
)

// dev is the backend the tests of this package share (the GPU with the
// cuda tag, the emulator without).
func dev(t *testing.T) *Backend {
	t.Helper()
	testOnce.Do(func() { testB, testErr = Open(0) })
	if testErr != nil {
		t.Fatalf("open: %v", testErr)
	}
	if err := testB.Bind(); err != nil {
		t.Fatal(err)
	}
	testB.ClearErr()
	return testB
}

// Every GEMM and convolution variant the dispatcher can pick is in the
// embedded PTX.
func TestGemmKernelsExist(t *testing.T) {
	b := dev(t)
	var names []string
	for _, a := range gemmKernels {
		for _, c := range a {
			names = append(names, c[0], c[1])
		}
	}
	for _, p := range tcKernels {
		for _, a := range p {
			for _, c := range a {
				names = append(names, c[0], c[1])
			}
		}
	}
	for _, op := range []string{"fwd", "dgrad", "wgrad"} {
		for _, p := range []string{"tf32", "bf16"} {
			for _, tile := range []string{"l", "s"} {
				names = append(names, "conv_igemm_"+op+"_"+p+"_"+tile)
			}
		}
	}
	for _, k := range names {
		if _, ok := b.fns[k]; !ok {
			t.Errorf("kernel %s is not loaded", k)
		}
	}
	t.Logf("ok %d GEMM and convolution kernels loaded", len(names))
}

// The embedded variant table parses, and bad tables are refused with the
// line that is wrong.
func TestVariantTable(t *testing.T) {
	if len(variantTable) == 0 {
		t.Fatal("variants.tsv has no rows")
	}
	for _, c := range []struct{ text, want string }{
		{"gemm tf32 1.0", "3 fields"},
		{"conv tf32 1 l", "unknown op"},
		{"gemm fp32 1 l", "precision"},
		{"gemm tf32 x l", "fill"},
		{"gemm tf32 1 im2col", "convolution variant"},
		{"conv_fwd bf16 1 q", "unknown variant"},
	} {
		if _, err := ParseVariants(c.text); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseVariants(%q) = %v, want an error with %q", c.text, err, c.want)
		}
	}
	rows, err := ParseVariants("# c\nconv_wgrad\tbf16\t0.5\tim2col # trailing\n")
	if err != nil || len(rows) != 1 || rows[0] != (VariantRow{Op: opConvWgrad, Prec: engine.BF16, Fill: 0.5, Variant: "im2col"}) {
		t.Errorf("ParseVariants: %v %v", rows, err)
	}
	t.Logf("ok variant table: %d rows", len(variantTable))
}

// Every kernel is loaded with the parameter kinds of its PTX .param list.
func TestKernelSignatures(t *testing.T) {
	b := dev(t)
	n := 0
	for _, m := range kernels.Modules() {
		params := kernels.Params(m.PTX)
		for _, e := range kernels.Entries(m.PTX) {
			ki, ok := b.fns[e]
			if !ok {
				t.Errorf("%s is not loaded", e)
				continue
			}
			sig := b.kernels[ki].sig
			if len(sig) == 0 || strings.Contains(sig, "?") || sig != kernels.Sig(params[e]) {
				t.Errorf("%s: signature %q from PTX params %v", e, sig, params[e])
			}
			n++
		}
	}
	t.Logf("ok %d kernels with their PTX signatures", n)
}

// A launch whose arguments do not match the kernel's PTX parameters in
// number or kind is refused with an error that names the kernel, before
// anything runs.
func TestLaunchArgumentsChecked(t *testing.T) {
	b := dev(t)
	st, err := b.Alloc(engine.Float32, 16)
	if err != nil {
		t.Fatal(err)
	}
	x := engine.NewTensor("x", st, 0, 16)
	cases := []struct {
		name string
		args []arg
		want string
	}{
		// ew_fill(float* y, float v, int n)
		{"swapped value and count", []arg{ptr(x), i32(16), f32(1)}, "argument 1 is a 32-bit integer, its parameter a float32"},
		{"pointer as count", []arg{ptr(x), f32(1), ptr(x)}, "argument 2 is a pointer"},
		{"one too few", []arg{ptr(x), f32(1)}, "takes 3 parameters (pfi), launched with 2"},
		{"one too many", []arg{ptr(x), f32(1), i32(16), i32(0)}, "launched with 4"},
	}
	for _, c := range cases {
		b.ClearErr()
		b.launch("fill", "ew_fill", d1(1), d1(32), 0, c.args...)
		if err := b.Err(); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "ew_fill") {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		} else {
			t.Logf("ok %s: %v", c.name, err)
		}
	}
	b.ClearErr()
	b.launch("fill", "ew_fill", d1(1), d1(32), 0, ptr(x), f32(2), i32(16))
	v := make([]float32, 16)
	b.Download(v, x)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := range v {
		if v[i] != 2 {
			t.Fatalf("a correct launch after refused ones: element %d is %g", i, v[i])
		}
	}
}

// SetPrecision: fp32, tf32 and bf16 where the device has tensor cores (the
// emulator says compute capability 8.0), named in Name; below 8.0 tf32 and
// bf16 are refused with one line and the precision stays.
func TestSetPrecision(t *testing.T) {
	b := dev(t)
	defer b.SetPrecision(engine.FP32)
	for _, c := range []struct {
		p    engine.Precision
		name string
	}{{engine.FP32, ""}, {engine.TF32, " (TF32)"}, {engine.BF16, " (BF16)"}} {
		if err := b.SetPrecision(c.p); err != nil {
			t.Fatalf("SetPrecision(%v): %v", c.p, err)
		}
		if b.Precision() != c.p || !strings.HasSuffix(b.Name(), c.name) || b.TF32() != (c.p == engine.TF32) {
			t.Errorf("after SetPrecision(%v): Precision %v, Name %q, TF32 %v", c.p, b.Precision(), b.Name(), b.TF32())
		}
	}
	old := b.cc
	defer func() { b.cc = old }()
	b.cc = [2]int{7, 5}
	b.SetPrecision(engine.FP32)
	for _, p := range []engine.Precision{engine.TF32, engine.BF16} {
		err := b.SetPrecision(p)
		if err == nil || !strings.Contains(err.Error(), "needs compute capability 8.0") || b.Precision() != engine.FP32 {
			t.Errorf("SetPrecision(%v) on 7.5: %v (precision %v)", p, err, b.Precision())
		}
	}
	if err := engine.ApplyPrecision(b, "auto"); err != nil || b.Precision() != engine.FP32 {
		t.Errorf("ApplyPrecision(auto) changed the precision: %v %v", err, b.Precision())
	}
}

// fastDiv's constants divide exactly: every divisor up to 4096 and the
// convolutions' (P·Q up to 784·... and products) against n/d on dividends
// near 0, near multiples of d, and up to 2^31-1.
func TestFastDiv(t *testing.T) {
	div := func(n, d int) int {
		mul, shr := fastDiv(d)
		if d == 1 {
			return n
		}
		return int((uint64(uint32(n))*uint64(mul))>>32) >> shr
	}
	ds := []int{1 << 20, 12544, 50176, 1<<31 - 1, 3 * 3 * 512}
	for d := 1; d <= 4096; d++ {
		ds = append(ds, d)
	}
	checks := 0
	for _, d := range ds {
		for _, n := range []int{0, 1, d - 1, d, d + 1, 2*d - 1, 7 * d, 1<<31 - 1, 1<<31 - 2, 1 << 30, 123456789} {
			if n < 0 || n > 1<<31-1 {
				continue
			}
			if got := div(n, d); got != n/d {
				t.Fatalf("fastDiv(%d): %d / %d = %d, want %d", d, n, d, got, n/d)
			}
			checks++
		}
	}
	t.Logf("ok fastDiv: %d quotients exact", checks)
}
