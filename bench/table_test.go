package bench

import (
	"math"
	"strings"
	"testing"
)

// Canned `go test -bench` output: two step benchmarks (one run twice),
// kernels, peaks, and lines that are not results.
const cannedGo = `goos: linux
goarch: amd64
pkg: github.com/gotrain/gotrain/bench
cpu: AMD EPYC
BenchmarkPeak/cpu/gemm512-2         	     448	   3210047 ns/op	        80.00 GFLOP/s
BenchmarkPeak/cpu/memcpy-2          	     316	   3878873 ns/op	        40.00 GB/s
BenchmarkKernel/cpu/conv3x3_64x28/fwd-2 	      18	  79296179 ns/op	        60.00 GFLOP/s
BenchmarkKernel/cpu/bn_64x28/bwd-2      	     133	   8857208 ns/op	         4.000 GB/s
BenchmarkTrainStep/cpu/baseline-2   	      45	  24000000 ns/op	  26496984 heap-B	      2000 img/s	  20820288 pool-B	   18758 B/op	      36 allocs/op
BenchmarkTrainStep/cpu/baseline-2   	      45	  24000000 ns/op	  26496984 heap-B	      3000 img/s	  20820288 pool-B	   18758 B/op	      36 allocs/op
--- SKIP: BenchmarkTrainStep/cuda
BenchmarkTrainStep/cpu/googlenet-2  	       2	 402834303 ns/op	 145547440 heap-B	       158.9 img/s	 133349312 pool-B	   82984 B/op	     712 allocs/op
BenchmarkTrainStep/cuda/googlenet   	      50	  20000000 ns/op	 1000 dev-peak-B	 3200 img/s	 133349312 pool-B
BenchmarkPeak/cpu/gemm512-2         	     448	   3210047 ns/op	        70.00 GFLOP/s
PASS
ok  	github.com/gotrain/gotrain/bench	12.3s
`

const cannedTorch = `{"framework": "pytorch", "torch": "2.5.1", "model": "baseline", "mode": "eager", "device": "cpu", "threads": 2, "batch": 64, "available": true, "steps": 13, "seconds": 3.0, "ns_per_step": 230769230.8, "img_per_sec": 1000.0, "peak_bytes": 34582528, "memory_method": "rss-hwm-growth"}
{"framework": "pytorch", "torch": "2.5.1", "model": "baseline", "mode": "compiled", "device": "cpu", "threads": 2, "batch": 64, "available": true, "steps": 20, "seconds": 3.0, "ns_per_step": 150000000, "img_per_sec": 2500.0, "peak_bytes": 50000000, "memory_method": "rss-hwm-growth"}
{"framework": "pytorch", "torch": "2.5.1", "model": "googlenet", "mode": "compiled", "device": "cpu", "threads": 2, "batch": 64, "available": false, "reason": "no"}
{"framework": "pytorch", "torch": "2.5.1", "model": "vgg", "mode": "eager", "device": "cpu", "threads": 2, "batch": 64, "available": true, "steps": 2, "seconds": 3.0, "ns_per_step": 1.5e9, "img_per_sec": 42.0, "peak_bytes": 5}`

func parseCanned(t *testing.T) ([]Result, []TorchResult) {
	t.Helper()
	res, err := ParseResults(strings.NewReader(cannedGo))
	if err != nil {
		t.Fatal(err)
	}
	var tr []TorchResult
	for _, l := range strings.Split(cannedTorch, "\n") {
		// step.py's line may follow other output of torch.
		r, err := ParseTorchResult([]byte("some warning from torch\n" + l + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		tr = append(tr, r)
	}
	return res, tr
}

func TestParseResult(t *testing.T) {
	r, ok := ParseResult("BenchmarkTrainStep/cpu/seresnet-2         	       2	11358322411 ns/op	         5.635 img/s	1970227008 pool-B")
	if !ok {
		t.Fatal("not parsed")
	}
	if r.Name != "BenchmarkTrainStep/cpu/seresnet" || r.Procs != 2 || r.N != 2 || r.Func() != "TrainStep" {
		t.Fatalf("got %+v", r)
	}
	if p := r.Path(); len(p) != 2 || p[0] != "cpu" || p[1] != "seresnet" {
		t.Fatalf("path %q", p)
	}
	if r.Metrics["ns/op"] != 11358322411 || r.Metrics["img/s"] != 5.635 || r.Metrics["pool-B"] != 1970227008 {
		t.Fatalf("metrics %v", r.Metrics)
	}
	// No -PROCS suffix (GOMAXPROCS=1): Procs 1, name intact.
	r, ok = ParseResult("BenchmarkTrainStep/cuda/vit 	 4	 1000 ns/op")
	if !ok || r.Name != "BenchmarkTrainStep/cuda/vit" || r.Procs != 1 {
		t.Fatalf("got %+v %v", r, ok)
	}
	for _, bad := range []string{
		"", "PASS", "goos: linux", "--- FAIL: BenchmarkTrainStep/cpu/vit",
		"BenchmarkTrainStep/cpu/vit-2", // the name alone (printed before a long benchmark's result)
		"BenchmarkX-2 	 0	 5 ns/op",    // N must be positive
		"BenchmarkX-2 	 3	 five ns/op",
		"BenchmarkX-2 	 3	 5 ns/op	 7", // unpaired value
	} {
		if _, ok := ParseResult(bad); ok {
			t.Errorf("%q parsed as a result", bad)
		}
	}
}

func TestBuildRows(t *testing.T) {
	res, tr := parseCanned(t)
	if len(res) != 9 {
		t.Fatalf("%d results, want 9", len(res))
	}
	rows := BuildRows(res, tr, []string{"baseline", "googlenet", "vgg"})
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(rows), rows)
	}
	b, g, gc := rows[0], rows[1], rows[2]
	if b.Model != "baseline" || b.Device != "cpu" || g.Model != "googlenet" || g.Device != "cpu" || gc.Device != "cuda" {
		t.Fatalf("row order: %+v", rows)
	}
	// Two runs of the baseline: the mean rate, steps summed.
	if b.Gotrain.ImgPerSec != 2500 || b.Gotrain.Steps != 90 {
		t.Fatalf("baseline gotrain %+v", b.Gotrain)
	}
	if b.Gotrain.PoolBytes != 20820288 || b.Gotrain.PeakBytes != 26496984 || b.Gotrain.MemoryMethod != "live Go heap growth" {
		t.Fatalf("baseline memory %+v", b.Gotrain)
	}
	if b.VsEager != 2.5 || b.VsCompiled != 1 {
		t.Fatalf("ratios %v %v", b.VsEager, b.VsCompiled)
	}
	// googlenet: no eager result, compiled not available: no ratios.
	if g.Eager.Ran || g.Compiled.Ran || g.VsEager != 0 || g.VsCompiled != 0 || g.Compiled.Note != "no" {
		t.Fatalf("googlenet %+v", g)
	}
	// The CUDA row takes the engine's device peak.
	if gc.Gotrain.PeakBytes != 1000 || gc.Gotrain.MemoryMethod != "engine device peak" {
		t.Fatalf("cuda %+v", gc.Gotrain)
	}
	// vgg was measured by PyTorch only: no row.
	for _, r := range rows {
		if r.Model == "vgg" {
			t.Fatal("row for a model gotrain did not measure")
		}
	}
}

func TestWriteTable(t *testing.T) {
	res, tr := parseCanned(t)
	var sb strings.Builder
	if err := WriteTable(&sb, BuildRows(res, tr, []string{"baseline", "googlenet"})); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(sb.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), sb.String())
	}
	want := [][]string{
		{"model", "device", "gotrain", "img/s", "eager", "img/s", "compiled", "img/s", "gotrain/eager", "gotrain/compiled", "gotrain", "pools", "MiB", "gotrain", "peak", "MiB", "eager", "peak", "MiB", "compiled", "peak", "MiB"},
		{"baseline", "cpu", "2500", "1000", "2500", "2.50x", "1.00x", "19.9", "25.3", "33.0", "47.7"},
		{"googlenet", "cpu", "159", "n/a", "n/a", "n/a", "n/a", "127.2", "138.8", "n/a", "n/a"},
		{"googlenet", "cuda", "3200", "n/a", "n/a", "n/a", "n/a", "127.2", "0.0", "n/a", "n/a"},
	}
	for i, l := range lines {
		if got := strings.Fields(l); strings.Join(got, " ") != strings.Join(want[i], " ") {
			t.Errorf("line %d:\n got %q\nwant %q", i, got, want[i])
		}
	}
	// Aligned: every line as long as the header, names left-aligned.
	for _, l := range lines[1:] {
		if len(l) != len(lines[0]) {
			t.Errorf("ragged table:\n%s", sb.String())
			break
		}
	}
	if i, j, k := strings.Index(lines[0], "model "), strings.Index(lines[1], "baseline "), strings.Index(lines[2], "googlenet "); i != j || j != k {
		t.Errorf("names not left-aligned:\n%s", sb.String())
	}
}

func TestKernelRows(t *testing.T) {
	res, _ := parseCanned(t)
	rows, peaks := BuildKernelRows(res)
	if len(peaks) != 2 || peaks[0].Name != "gemm512" || peaks[0].Unit != UnitFLOPS || peaks[1].Name != "memcpy" || peaks[1].Unit != UnitBW {
		t.Fatalf("peaks %+v", peaks)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	c, bn := rows[0], rows[1]
	if c.Kernel != "conv3x3_64x28" || c.Pass != "fwd" || c.PeakName != "gemm512" || math.Abs(c.Fraction-0.75) > 1e-12 {
		t.Fatalf("conv %+v", c)
	}
	if bn.Kernel != "bn_64x28" || bn.Pass != "bwd" || bn.PeakName != "memcpy" || math.Abs(bn.Fraction-0.1) > 1e-12 {
		t.Fatalf("bn %+v", bn)
	}
	var sb strings.Builder
	if err := WriteKernels(&sb, rows, peaks); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{"peak cpu gemm512: 80.0 GFLOP/s", "peak cpu memcpy: 40.0 GB/s", "75% of gemm512", "10% of memcpy", "79.296"} {
		if !strings.Contains(out, want) {
			t.Errorf("kernel table lacks %q:\n%s", want, out)
		}
	}
}

func TestTorchBenchLine(t *testing.T) {
	_, tr := parseCanned(t)
	got := tr[0].BenchLine()
	want := "BenchmarkTorchEager/cpu/baseline-2\t13\t230769231 ns/op\t1000 img/s\t34582528 peak-B"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if tr[1].BenchName() != "BenchmarkTorchCompiled/cpu/baseline" {
		t.Fatal(tr[1].BenchName())
	}
	if tr[2].BenchLine() != "" {
		t.Fatal("a line for a result that did not run")
	}
	// The line reads back as a result: benchstat's format.
	r, ok := ParseResult(got)
	if !ok || r.Name != "BenchmarkTorchEager/cpu/baseline" || r.Procs != 2 || r.N != 13 || r.Metrics["img/s"] != 1000 {
		t.Fatalf("round trip %+v %v", r, ok)
	}
	for _, bad := range []string{"", "not json", `{"model": "x"}`, `{"model": "x", "mode": "eager", "available": true}`} {
		if _, err := ParseTorchResult([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseModels(t *testing.T) {
	known := []string{"baseline", "googlenet", "vgg"}
	got, err := ParseModels("googlenet, baseline,googlenet", known)
	if err != nil || strings.Join(got, ",") != "googlenet,baseline" {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := ParseModels("", known); err != nil || len(got) != 3 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := ParseModels("baseline,resnet9", known); err == nil || !strings.Contains(err.Error(), "resnet9") {
		t.Fatalf("unknown model: %v", err)
	}
	if _, err := ParseModels(" , ", known); err == nil {
		t.Fatal("empty list accepted")
	}
}

func TestTiming(t *testing.T) {
	if Benchtime("vit", "2x", "3s") != "2x" || Benchtime("baseline", "2x", "3s") != "3s" {
		t.Fatal("benchtime policy")
	}
	for bt, want := range map[string]string{"2x": "--steps 2", "3s": "--seconds 3", "500ms": "--seconds 0.5", "1m": "--seconds 60"} {
		got, err := TorchTiming(bt)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("%s: %v %v, want %s", bt, got, err, want)
		}
	}
	for _, bad := range []string{"0x", "x", "3", "-1s", "0s", "2h"} {
		if _, err := TorchTiming(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if p := StepBenchPattern("vit"); p != "^BenchmarkTrainStep$/./^vit$" {
		t.Fatal(p)
	}
}

func TestRatesFormat(t *testing.T) {
	for v, want := range map[float64]string{2344.4: "2344", 158.94: "159", 19.13: "19.1", 5.635: "5.63", 0.2711: "0.27"} {
		if got := FormatRate(v); got != want {
			t.Errorf("FormatRate(%v) = %s, want %s", v, got, want)
		}
	}
	if FormatMB(20820288) != "19.9" {
		t.Fatal(FormatMB(20820288))
	}
}

func TestOptimizedBLAS(t *testing.T) {
	for p, want := range map[string]bool{
		"/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0":                   true,
		"/usr/lib/x86_64-linux-gnu/blas/libblas.so.3":                        true,
		"/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so": false,
		"/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3":            false,
		"/usr/lib/x86_64-linux-gnu/blis-openmp/libblas.so.3":                 false,
		"/opt/conda/lib/libmkl_rt.so.2":                                      false,
		"BLAS_INFO=mkl":                                                      false,
		"":                                                                   true,
	} {
		if got := !OptimizedBLAS(p); got != want {
			t.Errorf("OptimizedBLAS(%q) = %v", p, !got)
		}
	}
}

// Both CUDA engines ("cuda" in float32, "cuda-tf32") compare with the one
// PyTorch measurement on "cuda".
func TestBuildRowsSharedTorchDevice(t *testing.T) {
	res := []Result{
		{Name: "BenchmarkTrainStep/cuda/seresnet", Procs: 16, N: 10, Metrics: map[string]float64{"img/s": 2000}},
		{Name: "BenchmarkTrainStep/cuda-tf32/seresnet", Procs: 16, N: 10, Metrics: map[string]float64{"img/s": 3000}},
	}
	tr := []TorchResult{{Model: "seresnet", Mode: "eager", Device: "cuda", Available: true, ImgPerSec: 2500, Steps: 10}}
	rows := BuildRows(res, tr, []string{"seresnet"})
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2: %+v", len(rows), rows)
	}
	for _, r := range rows {
		want := map[string]float64{"cuda": 0.8, "cuda-tf32": 1.2}[r.Device]
		if !r.Eager.Ran || math.Abs(r.VsEager-want) > 1e-9 {
			t.Errorf("%s: eager %+v, ratio %v, want %v", r.Device, r.Eager, r.VsEager, want)
		}
	}
	for engine, want := range map[string]string{"cpu": "cpu", "cuda": "cuda", "cuda-tf32": "cuda"} {
		if got := TorchDevice(engine); got != want {
			t.Errorf("TorchDevice(%q) = %q, want %q", engine, got, want)
		}
	}
}
