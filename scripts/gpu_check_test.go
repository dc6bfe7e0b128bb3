package scripts

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func needPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("gpu-check.sh reads results with python3")
	}
}

// gpuCheck runs gpu-check.sh with args and returns its stdout.
func gpuCheck(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("bash", append([]string{"gpu-check.sh"}, args...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// TestGPUCheckParsesTestEvents runs a test binary built here (package
// cuda on the emulator) as gpu-check.sh runs the GPU kit's, with
// -test.v=test2json through test2json, and reads its results back with the
// script's parser; a hand-written stream adds a failure, a skip and the
// per-kernel verdicts parity.test prints.
func TestGPUCheckParsesTestEvents(t *testing.T) {
	needPython(t)
	if testing.Short() {
		t.Skip("builds a test binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cuda.test")
	out, err := exec.Command("go", "test", "-c", "-o", bin, "../cuda").CombinedOutput()
	require.NoError(t, err, "%s", out)
	t2j := filepath.Join(dir, "test2json")
	out, err = exec.Command("go", "build", "-o", t2j, "cmd/test2json").CombinedOutput()
	require.NoError(t, err, "%s", out)
	events := filepath.Join(dir, "cuda-test.json")
	sh := bin + " -test.v=test2json -test.run 'TestGraphReplays|TestCaptureRefuses' 2>&1 | " + t2j + " -t -p cuda > " + events
	out, err = exec.Command("bash", "-c", sh).CombinedOutput()
	require.NoError(t, err, "%s", out)

	got := gpuCheck(t, "parse-tests", events)
	require.Contains(t, got, "test TestGraphReplays\tok\t(1 checks) ok graph of 5 nodes")
	require.Contains(t, got, "test TestCaptureRefuses\tok\t(4 checks) ok alloc inside a capture")
	require.NotContains(t, got, "kernels checked", "no verdict lines in a -run subset")

	ev := func(action, test, output string) string {
		b, _ := json.Marshal(map[string]string{"Action": action, "Package": "parity", "Test": test, "Output": output})
		if test == "" {
			b, _ = json.Marshal(map[string]string{"Action": action, "Package": "parity", "Output": output})
		}
		return string(b)
	}
	stream := strings.Join([]string{
		ev("run", "TestA", ""),
		ev("run", "TestA/sub", ""),
		ev("output", "TestA/sub", "    x_test.go:10: ok sub check 1\n"),
		ev("output", "TestA/sub", "    x_test.go:11: loss gpu 1 cpu 2: relative error 0.5 > 0.1\n"),
		ev("fail", "TestA/sub", ""),
		ev("fail", "TestA", ""),
		ev("run", "TestB", ""),
		ev("output", "TestB", "    x_test.go:20: gpu only: vit (a minute or more on the emulator)\n"),
		ev("skip", "TestB", ""),
		ev("output", "", "gpu ew_fill: ok (3 checks)\n"),
		ev("output", "", "gpu data_gather: FAIL (no check ran it: add one to kernels/parity)\n"),
		ev("fail", "", ""),
	}, "\n") + "\n"
	synthetic := filepath.Join(dir, "parity-test.json")
	require.NoError(t, os.WriteFile(synthetic, []byte(stream), 0o644))
	got = gpuCheck(t, "parse-tests", synthetic)
	require.Equal(t, strings.Join([]string{
		"test   TestA/sub\tFAIL\tx_test.go:11: loss gpu 1 cpu 2: relative error 0.5 > 0.1",
		"test TestA\tFAIL\tfailed",
		"test TestB\tskip\tgpu only: vit (a minute or more on the emulator)",
		"kernels checked\tFAIL\t1 without a passing check: data_gather",
	}, "\n")+"\n", got)
}

// TestGPUCheckStepRow builds a step-table row from the files a part
// writes: a graphed run's metrics, bench.test's lines and step.py's JSON.
func TestGPUCheckStepRow(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "gotrain-seresnet"), 0o755))
	write := func(name, data string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	write("gotrain-seresnet/metrics.jsonl", `{"epoch":1,"images_per_sec":16000,"device_ms_per_step":3.8,"launches_per_step":1.02}`+"\n")
	write("bench-seresnet.log", "goos: linux\nBenchmarkTrainStep/cuda/seresnet-16 \t 50\t 30000000 ns/op\t 2133 img/s\nBenchmarkTrainStep/cuda-tf32/seresnet-16 \t 50\t 19000000 ns/op\t 3294 img/s\n")
	write("torch-seresnet-eager.json", `{"available": true, "img_per_sec": 2857.4, "warmup_seconds": 1.2}`+"\n")
	write("torch-seresnet-compiled.json", `{"available": true, "img_per_sec": 11200, "warmup_seconds": 48.6}`+"\n")
	got := gpuCheck(t, "step-row", "seresnet", dir)
	// 64 images at 16000 img/s: a 4 ms step, 3.8 ms of it on the device.
	require.Equal(t, "| seresnet | 16000 | 3.80 | 1.02 | 5% | 3294 | 2133 | 2857 | 11200 | 49 | 5.60x | 1.43x |\n", got)
	write("torch-seresnet-compiled.json", `{"available": false, "reason": "time budget"}`+"\n")
	require.Contains(t, gpuCheck(t, "step-row", "seresnet", dir), "| 2857 | n/a | n/a | 5.60x | n/a |")
}

// TestGPUCheckPrecResult reads part prec's two runs back: accuracies
// within 0.3 points pass, further apart fail; the tf32 step time is
// checked against 6 ms; a missing run fails.
func TestGPUCheckPrecResult(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	write := func(p string, rows ...string) {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "prec-"+p), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "prec-"+p, "metrics.jsonl"), []byte(strings.Join(rows, "\n")+"\n"), 0o644))
	}
	require.Contains(t, gpuCheck(t, "prec-result", dir), "precision runs\tFAIL\tno metrics for tf32 and bf16")
	write("tf32", `{"epoch":1,"test_acc":0.985,"device_ms_per_step":7.5}`, `{"epoch":2,"test_acc":0.9902,"device_ms_per_step":5.5}`)
	write("bf16", `{"epoch":1,"test_acc":0.981,"device_ms_per_step":4.4}`, `{"epoch":2,"test_acc":0.9881,"device_ms_per_step":3.3}`)
	got := gpuCheck(t, "prec-result", dir)
	require.Contains(t, got, "seresnet bf16 vs tf32 accuracy\tok\tepoch 2: tf32 99.02%, bf16 98.81%, 0.21 points apart (0.3 allowed)")
	require.Contains(t, got, "seresnet tf32 step kernel time\tok\t5.50 ms")
	require.Contains(t, got, "seresnet bf16 step kernel time\tok\t3.30 ms per step, 1.67x tf32's")
	write("bf16", `{"epoch":2,"test_acc":0.9861,"device_ms_per_step":3.3}`)
	write("tf32", `{"epoch":2,"test_acc":0.9902,"device_ms_per_step":6.5}`)
	got = gpuCheck(t, "prec-result", dir)
	require.Contains(t, got, "seresnet bf16 vs tf32 accuracy\tFAIL\tepoch 2: tf32 99.02%, bf16 98.61%, 0.41 points apart")
	require.Contains(t, got, "seresnet tf32 step kernel time\tFAIL\t6.50 ms")
}
