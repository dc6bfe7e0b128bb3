// Command benchtable is `make bench`: it runs gotrain's step benchmarks
// (BenchmarkTrainStep/<engine>/<model>), the per-kernel benchmarks and
// their peaks (BenchmarkKernel, BenchmarkPeak) and, where PyTorch is
// installed, the same models in PyTorch timed the same way
// (bench/pytorch/step.py, eager and torch.compile), all in one run on the
// same cores, and prints one table. It writes the results as JSON and in
// benchstat's format (the raw `go test -bench` lines plus PyTorch's as
// BenchmarkTorchEager/<device>/<model> lines), so that two commits compare
// with `benchstat old.txt new.txt`.
//
//	go run ./bench/cmd/benchtable [-models baseline,googlenet] [-batch 64] [-out FILE.json]
//
// Flags default to the environment: MODELS, BATCH, THREADS, PYTHON, TAGS,
// BENCH_OUT.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gotrain/gotrain/bench"
	"github.com/gotrain/gotrain/models"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// report is the JSON file.
type report struct {
	Date      string            `json:"date"`
	Host      string            `json:"host"`
	CPU       string            `json:"cpu"`
	GOOS      string            `json:"goos"`
	GOARCH    string            `json:"goarch"`
	Go        string            `json:"go"`
	Commit    string            `json:"commit,omitempty"`
	Torch     string            `json:"torch,omitempty"`
	TorchBLAS string            `json:"torch_blas,omitempty"`
	Threads   int               `json:"threads"`
	Batch     int               `json:"batch"`
	Benchtime map[string]string `json:"benchtime"`
	Rows      []bench.Row       `json:"rows"`
	Kernels   []bench.KernelRow `json:"kernels,omitempty"`
	Peaks     []bench.Peak      `json:"peaks,omitempty"`
	Errors    []string          `json:"errors,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// options are benchtable's flags.
type options struct {
	models, python, goCmd, tags, out, statOut, big, small, kernelTime *string
	batch, threads, count                                             *int
	kernels, torch                                                    *bool
	torchTimeout                                                      *time.Duration
}

func parseFlags() options {
	var o options
	o.models = flag.String("models", env("MODELS", ""), "comma-separated models (default: all)")
	o.batch = flag.Int("batch", envInt("BATCH", 64), "batch size")
	o.threads = flag.Int("threads", envInt("THREADS", runtime.NumCPU()), "threads on both sides (GOMAXPROCS, torch.set_num_threads)")
	o.python = flag.String("python", env("PYTHON", "/usr/bin/python3"), "python with torch (none: gotrain only)")
	o.goCmd = flag.String("go", env("GO", "go"), "go command")
	o.tags = flag.String("tags", env("TAGS", ""), "build tags of the benchmarks (cuda: also the CUDA engine)")
	o.out = flag.String("out", env("BENCH_OUT", ""), "JSON results (default bench/results/<date>-<host>.json)")
	o.statOut = flag.String("benchstat", "", "benchstat-format results (default: -out with .txt)")
	o.big = flag.String("big-benchtime", "2x", "benchtime of the big models ("+strings.Join(bench.BigModels, ", ")+")")
	o.small = flag.String("small-benchtime", "3s", "benchtime of the other models")
	o.kernelTime = flag.String("kernel-benchtime", "1s", "benchtime of the kernel and peak benchmarks")
	o.count = flag.Int("count", envInt("COUNT", 1), "runs of each benchmark (benchstat wants 6 or more for confidence intervals)")
	o.kernels = flag.Bool("kernels", true, "run the per-kernel benchmarks")
	o.torch = flag.Bool("torch", true, "run the PyTorch side where torch imports")
	o.torchTimeout = flag.Duration("torch-timeout", 4*time.Minute, "longest PyTorch run of one model and mode (then n/a)")
	flag.Parse()
	return o
}

// driver is one benchtable run: its options, the benchmark binary, and
// what it has measured so far.
type driver struct {
	options
	names    []string
	root     string
	testBin  string
	stepPy   string
	ti       *bench.TorchInfo
	rep      report
	goLines  bytes.Buffer // benchstat input: config and result lines
	results  []bench.Result
	torchRes []bench.TorchResult
}

func run() error {
	d := &driver{options: parseFlags()}
	if err := d.check(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchtable-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := d.setup(tmp); err != nil {
		return err
	}
	if *d.kernels {
		d.rep.Benchtime["kernels"] = *d.kernelTime
		// The peaks before and after the kernels (the best counts), so that
		// a machine whose speed drifts is not compared with a peak
		// measured in a slower or faster moment only.
		for _, pat := range []string{"^BenchmarkPeak$", "^BenchmarkKernel$", "^BenchmarkPeak$"} {
			if err := d.runBench(pat, *d.kernelTime); err != nil {
				d.fail(err)
			}
		}
	}
	for _, m := range d.names {
		d.runModel(m)
	}
	if err := d.printTables(); err != nil {
		return err
	}
	if err := d.write(); err != nil {
		return err
	}
	if len(d.rep.Errors) > 0 {
		return fmt.Errorf("%d benchmark(s) failed", len(d.rep.Errors))
	}
	return nil
}

// check validates the options and sets the output paths.
func (d *driver) check() error {
	names, err := bench.ParseModels(*d.models, models.Names())
	if err != nil {
		return err
	}
	d.names = names
	if *d.batch < 1 || *d.threads < 1 {
		return errors.New("-batch and -threads must be positive")
	}
	for _, bt := range []string{*d.big, *d.small} {
		if _, err := bench.TorchTiming(bt); err != nil {
			return err
		}
	}
	if d.root, err = repoRoot(); err != nil {
		return err
	}
	host, _ := os.Hostname()
	now := time.Now()
	if *d.out == "" {
		*d.out = filepath.Join(d.root, "bench", "results", now.Format("2006-01-02-150405")+"-"+host+".json")
	}
	if *d.statOut == "" {
		*d.statOut = strings.TrimSuffix(*d.out, ".json") + ".txt"
	}
	d.rep = report{Date: now.Format(time.RFC3339), Host: host, CPU: cpuName(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		Threads: *d.threads, Batch: *d.batch, Benchtime: map[string]string{}}
	d.rep.Go = strings.TrimSpace(string(output(d.root, *d.goCmd, "env", "GOVERSION")))
	d.rep.Commit = strings.TrimSpace(string(output(d.root, "git", "describe", "--always", "--dirty")))
	return nil
}

// setup builds the benchmark binary into tmp and finds PyTorch.
func (d *driver) setup(tmp string) error {
	d.testBin = filepath.Join(tmp, "bench.test")
	fmt.Printf("building the benchmarks (%s test -c ./bench)\n", *d.goCmd)
	build := exec.Command(*d.goCmd, "test", "-c", "-tags", *d.tags, "-o", d.testBin, "./bench")
	build.Dir, build.Stdout, build.Stderr = d.root, os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the benchmarks: %w", err)
	}
	d.stepPy = filepath.Join(d.root, "bench", "pytorch", "step.py")
	if *d.torch {
		if d.ti = bench.ReadTorchInfo(*d.python, d.stepPy); d.ti != nil {
			d.rep.Torch, d.rep.TorchBLAS = d.ti.Torch, d.ti.BLAS
		}
	}
	fmt.Printf("machine: %s, %d cores, %s; gotrain %s on %d threads, batch %d\n", d.rep.CPU, runtime.NumCPU(), d.rep.Host, d.rep.Go, *d.threads, *d.batch)
	if ti := d.ti; ti != nil {
		fmt.Printf("pytorch %s (%s), torch.compile: %v, cuda: %v, BLAS: %s\n", ti.Torch, *d.python, ti.Compile, ti.CUDA, ti.BLAS)
		if err := bench.CheckTorchBLAS(ti); err != nil {
			return err
		}
	} else {
		fmt.Printf("pytorch: not found for %s (Debian: apt-get install python3-torch): gotrain only\n", *d.python)
	}
	return nil
}

// runBench runs the Go benchmarks matching pattern, echoing their lines
// and keeping the results and benchstat's lines.
func (d *driver) runBench(pattern, benchtime string) error {
	args := []string{"-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime, "-test.count", strconv.Itoa(*d.count), "-gotrain.batch", strconv.Itoa(*d.batch)}
	cmd := exec.Command(d.testBin, args...)
	cmd.Dir = filepath.Join(d.root, "bench")
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(*d.threads))
	cmd.Stderr = os.Stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		fmt.Println(line)
		if r, ok := bench.ParseResult(line); ok {
			d.results = append(d.results, r)
			d.goLines.WriteString(line + "\n")
		} else if isConfigLine(line) {
			d.goLines.WriteString(line + "\n")
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s -test.bench %s: %w", filepath.Base(d.testBin), pattern, err)
	}
	return nil
}

func (d *driver) fail(err error) {
	fmt.Fprintln(os.Stderr, "benchtable:", err)
	d.rep.Errors = append(d.rep.Errors, err.Error())
}

// runModel times model m's step on every engine, then in PyTorch on each
// engine's device.
func (d *driver) runModel(m string) {
	bt := bench.Benchtime(m, *d.big, *d.small)
	d.rep.Benchtime[m] = bt
	n0 := len(d.results)
	if err := d.runBench(bench.StepBenchPattern(m), bt); err != nil {
		d.fail(err)
	}
	if d.ti == nil {
		return
	}
	var devs []string
	for _, r := range d.results[n0:] {
		if p := r.Path(); r.Func() == "TrainStep" && len(p) == 2 && p[1] == m && !slices.Contains(devs, bench.TorchDevice(p[0])) {
			devs = append(devs, bench.TorchDevice(p[0]))
		}
	}
	for _, dev := range devs {
		for i := 0; i < *d.count; i++ {
			for _, mode := range []string{"eager", "compiled"} {
				if mode == "compiled" && i > 0 && !d.ti.Compile {
					continue
				}
				t, err := runTorch(*d.python, d.stepPy, m, mode, dev, bt, *d.batch, *d.threads, d.ti, *d.torchTimeout)
				if err != nil {
					d.fail(err)
					continue
				}
				d.torchRes = append(d.torchRes, t)
				if line := t.BenchLine(); line != "" {
					fmt.Println(line)
				} else {
					fmt.Printf("%s: n/a (%s)\n", t.BenchName(), t.Reason)
				}
			}
		}
	}
}

// printTables prints the step table and the kernel table.
func (d *driver) printTables() error {
	rep := &d.rep
	rep.Rows = bench.BuildRows(d.results, d.torchRes, d.names)
	rep.Kernels, rep.Peaks = bench.BuildKernelRows(d.results)
	fmt.Printf("\nTraining step, batch %d, %d threads (gotrain %s", *d.batch, *d.threads, rep.Go)
	if d.ti != nil {
		fmt.Printf(", PyTorch %s", d.ti.Torch)
	}
	fmt.Println("); img/s, and peak memory in MiB:")
	if err := bench.WriteTable(os.Stdout, rep.Rows); err != nil {
		return err
	}
	fmt.Println("gotrain pools: the model's pools and optimizer state; gotrain peak: the engine's device peak, or on the CPU the live Go heap's growth;")
	fmt.Println("PyTorch peak: on the CPU the growth of the resident set's high-water mark (VmHWM, reset before the model is built), on CUDA torch.cuda.max_memory_allocated.")
	if len(rep.Kernels) > 0 {
		fmt.Printf("\nKernels (SE-ResNet shapes, batch 64) against the peaks measured in this run:\n")
		if err := bench.WriteKernels(os.Stdout, rep.Kernels, rep.Peaks); err != nil {
			return err
		}
	}
	return nil
}

// write writes the JSON results and the benchstat file.
func (d *driver) write() error {
	if err := os.MkdirAll(filepath.Dir(*d.out), 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(d.rep, "", "  ")
	if err := os.WriteFile(*d.out, append(js, '\n'), 0o644); err != nil {
		return err
	}
	var st bytes.Buffer
	st.Write(d.goLines.Bytes())
	if len(d.torchRes) > 0 {
		fmt.Fprintf(&st, "pkg: github.com/gotrain/gotrain/bench/pytorch\ntorch: %s\n", d.ti.Torch)
		for _, t := range d.torchRes {
			if line := t.BenchLine(); line != "" {
				st.WriteString(line + "\n")
			}
		}
	}
	if err := os.WriteFile(*d.statOut, st.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nresults: %s (JSON), %s (benchstat: benchstat OLD.txt %s)\n", rel(d.root, *d.out), rel(d.root, *d.statOut), rel(d.root, *d.statOut))
	return nil
}

// runTorch runs step.py for one (model, mode, device) in its own process.
func runTorch(python, stepPy, model, mode, dev, benchtime string, batch, threads int, ti *bench.TorchInfo, timeout time.Duration) (bench.TorchResult, error) {
	na := bench.TorchResult{Framework: "pytorch", Torch: ti.Torch, Model: model, Mode: mode, Device: dev, Threads: threads, Batch: batch}
	if strings.HasPrefix(dev, "cuda") && !ti.CUDA {
		na.Reason = "this PyTorch has no CUDA device"
		return na, nil
	}
	if mode == "compiled" && !ti.Compile {
		na.Reason = "torch.compile needs PyTorch >= 2 (this is " + ti.Torch + ")"
		return na, nil
	}
	timing, err := bench.TorchTiming(benchtime)
	if err != nil {
		return na, err
	}
	args, err := bench.TorchStepArgs(stepPy, model, mode, dev, batch, threads)
	if err != nil {
		return na, err
	}
	args = append(args, timing...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if ctx.Err() == context.DeadlineExceeded {
		na.Reason = fmt.Sprintf("timed out after %v (-torch-timeout)", timeout)
		return na, nil
	}
	if err != nil {
		return na, fmt.Errorf("pytorch %s %s on %s: %w", model, mode, dev, err)
	}
	return bench.ParseTorchResult(b)
}

func isConfigLine(s string) bool {
	k, _, ok := strings.Cut(s, ": ")
	return ok && k != "" && !strings.ContainsAny(k, " \t") && strings.ToLower(k[:1]) == k[:1]
}

func output(dir, name string, args ...string) []byte {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	b, _ := cmd.Output()
	return b
}

func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("not inside the gotrain module (no go.mod above the working folder)")
		}
		d = p
	}
}

func cpuName() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
