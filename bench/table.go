package bench

// The bench driver's logic (bench/cmd/benchtable runs the benchmarks and
// calls these): parsing `go test -bench` lines and step.py's JSON, joining
// them into the table's rows, ratios, formatting, and the benchstat lines
// of the PyTorch side. Tested on canned input by table_test.go.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is one benchmark result line of `go test -bench` (benchstat's
// input format): BenchmarkName-PROCS N value unit [value unit]...
type Result struct {
	Name    string             // without the -PROCS suffix
	Procs   int                // the -PROCS suffix; 1 when absent
	N       int64              // iterations
	Metrics map[string]float64 // by unit: "ns/op", "img/s", "GB/s", ...
}

// Path is Name's elements after the function name: for
// BenchmarkTrainStep/cpu/baseline, ["cpu", "baseline"].
func (r Result) Path() []string {
	p := strings.Split(r.Name, "/")
	return p[1:]
}

// Func is the benchmark function's name without "Benchmark".
func (r Result) Func() string {
	f, _, _ := strings.Cut(r.Name, "/")
	return strings.TrimPrefix(f, "Benchmark")
}

var procsSuffix = regexp.MustCompile(`^(.*)-(\d+)$`)

// ParseResult parses one result line; ok is false for any other line
// (headers, PASS, logs).
func ParseResult(line string) (r Result, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Result{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n <= 0 {
		return Result{}, false
	}
	r = Result{Name: f[0], Procs: 1, N: n, Metrics: map[string]float64{}}
	if m := procsSuffix.FindStringSubmatch(f[0]); m != nil {
		r.Name = m[1]
		r.Procs, _ = strconv.Atoi(m[2])
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		r.Metrics[f[i+1]] = v
	}
	return r, true
}

// ParseResults returns the result lines of r, in order.
func ParseResults(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if res, ok := ParseResult(sc.Text()); ok {
			out = append(out, res)
		}
	}
	return out, sc.Err()
}

// TorchResult is the JSON line bench/pytorch/step.py prints.
type TorchResult struct {
	Framework    string  `json:"framework"`
	Torch        string  `json:"torch"`
	Model        string  `json:"model"`
	Mode         string  `json:"mode"` // "eager" or "compiled"
	Device       string  `json:"device"`
	Threads      int     `json:"threads"`
	Batch        int     `json:"batch"`
	Available    bool    `json:"available"`
	Reason       string  `json:"reason,omitempty"`
	Steps        int64   `json:"steps,omitempty"`
	Seconds      float64 `json:"seconds,omitempty"`
	NsPerStep    float64 `json:"ns_per_step,omitempty"`
	ImgPerSec    float64 `json:"img_per_sec,omitempty"`
	PeakBytes    int64   `json:"peak_bytes,omitempty"`
	MemoryMethod string  `json:"memory_method,omitempty"`
}

// ParseTorchResult parses step.py's output: the last line that is a JSON
// object (anything torch printed before it is ignored).
func ParseTorchResult(out []byte) (TorchResult, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var t TorchResult
		if err := json.Unmarshal([]byte(l), &t); err != nil {
			return TorchResult{}, fmt.Errorf("step.py output: %v", err)
		}
		if t.Model == "" || (t.Mode != "eager" && t.Mode != "compiled") {
			return TorchResult{}, fmt.Errorf("step.py output lacks model or mode: %s", l)
		}
		if t.Available && (t.Steps <= 0 || t.ImgPerSec <= 0) {
			return TorchResult{}, fmt.Errorf("step.py output has no timing: %s", l)
		}
		return t, nil
	}
	return TorchResult{}, fmt.Errorf("step.py printed no JSON line: %q", strings.TrimSpace(string(out)))
}

// BenchName is the benchstat name of a PyTorch result:
// BenchmarkTorchEager/<device>/<model> or BenchmarkTorchCompiled/...,
// beside gotrain's BenchmarkTrainStep/<device>/<model>.
func (t TorchResult) BenchName() string {
	mode := "Eager"
	if t.Mode == "compiled" {
		mode = "Compiled"
	}
	return "BenchmarkTorch" + mode + "/" + t.Device + "/" + t.Model
}

// BenchLine is t as a benchstat result line (with -PROCS, the threads, as
// go test writes it), or "" when t did not run.
func (t TorchResult) BenchLine() string {
	if !t.Available {
		return ""
	}
	name := t.BenchName()
	if t.Threads > 0 {
		name += "-" + strconv.Itoa(t.Threads)
	}
	return fmt.Sprintf("%s\t%d\t%.0f ns/op\t%s img/s\t%d peak-B", name, t.Steps, t.NsPerStep, strconv.FormatFloat(t.ImgPerSec, 'g', 6, 64), t.PeakBytes)
}

// Side is one framework's measurement of a model on a device.
type Side struct {
	Ran       bool    `json:"ran"`            // measured (false: n/a)
	Note      string  `json:"note,omitempty"` // why not, when !Ran
	ImgPerSec float64 `json:"img_per_sec,omitempty"`
	NsPerStep float64 `json:"ns_per_step,omitempty"`
	Steps     int64   `json:"steps,omitempty"`
	// Memory, bytes. gotrain: PoolBytes (its pools) and PeakBytes (the
	// engine's device peak where it reports one, else the live Go heap's
	// growth). PyTorch: PeakBytes only (see step.py).
	PoolBytes    int64  `json:"pool_bytes,omitempty"`
	PeakBytes    int64  `json:"peak_bytes,omitempty"`
	MemoryMethod string `json:"memory_method,omitempty"`
}

// Row is one line of the table: a model on a device.
type Row struct {
	Model    string `json:"model"`
	Device   string `json:"device"`
	Gotrain  Side   `json:"gotrain"`
	Eager    Side   `json:"torch_eager"`
	Compiled Side   `json:"torch_compiled"`
	// Ratios of gotrain's img/s to PyTorch's; 0 when either is missing.
	VsEager    float64 `json:"gotrain_over_eager,omitempty"`
	VsCompiled float64 `json:"gotrain_over_compiled,omitempty"`
}

// Ratio is a/b, or 0 when either side did not run.
func Ratio(a, b Side) float64 {
	if !a.Ran || !b.Ran || a.ImgPerSec <= 0 || b.ImgPerSec <= 0 {
		return 0
	}
	return a.ImgPerSec / b.ImgPerSec
}

// gotrainSide reads a BenchmarkTrainStep result.
func gotrainSide(r Result) Side {
	s := Side{Ran: true, Steps: r.N, ImgPerSec: r.Metrics["img/s"], NsPerStep: r.Metrics["ns/op"],
		PoolBytes: int64(r.Metrics["pool-B"])}
	switch {
	case r.Metrics["dev-peak-B"] > 0:
		s.PeakBytes, s.MemoryMethod = int64(r.Metrics["dev-peak-B"]), "engine device peak"
	case r.Metrics["heap-B"] > 0:
		s.PeakBytes, s.MemoryMethod = int64(r.Metrics["heap-B"]), "live Go heap growth"
	default:
		s.PeakBytes, s.MemoryMethod = s.PoolBytes, "pools"
	}
	return s
}

func torchSide(t TorchResult) Side {
	if !t.Available {
		return Side{Note: t.Reason}
	}
	return Side{Ran: true, Steps: t.Steps, ImgPerSec: t.ImgPerSec, NsPerStep: t.NsPerStep,
		PeakBytes: t.PeakBytes, MemoryMethod: t.MemoryMethod}
}

// merge folds another run of the same benchmark into s (-count > 1): the
// mean of the rates and times, the sum of the steps, the largest memory.
func merge(s *Side, n *int, t Side) {
	if !t.Ran {
		if *n == 0 {
			*s = t
		}
		return
	}
	if *n == 0 || !s.Ran {
		*s, *n = t, 1
		return
	}
	k := float64(*n)
	s.ImgPerSec = (s.ImgPerSec*k + t.ImgPerSec) / (k + 1)
	s.NsPerStep = (s.NsPerStep*k + t.NsPerStep) / (k + 1)
	s.Steps += t.Steps
	s.PoolBytes, s.PeakBytes = max(s.PoolBytes, t.PoolBytes), max(s.PeakBytes, t.PeakBytes)
	*n++
}

// TorchDevice is the PyTorch device an engine's rows compare with: the
// engine's name up to a "-" (the engines "cuda" and "cuda-tf32" both
// compare with PyTorch on "cuda").
func TorchDevice(engine string) string {
	if i := strings.IndexByte(engine, '-'); i >= 0 {
		return engine[:i]
	}
	return engine
}

// BuildRows joins gotrain's BenchmarkTrainStep results and PyTorch's
// results into rows, one per (device, model) that gotrain measured, in the
// order of models (then any other model, sorted), devices in order of
// appearance. Repeated results of a benchmark (-count) are averaged.
func BuildRows(results []Result, torch []TorchResult, models []string) []Row {
	type key struct{ dev, model string }
	type acc struct {
		row        Row
		ng, ne, nc int
	}
	rows := map[key]*acc{}
	var devs []string
	for _, r := range results {
		p := r.Path()
		if r.Func() != "TrainStep" || len(p) != 2 {
			continue
		}
		k := key{p[0], p[1]}
		if rows[k] == nil {
			rows[k] = &acc{row: Row{Model: k.model, Device: k.dev, Eager: Side{Note: "not run"}, Compiled: Side{Note: "not run"}}}
			if !contains(devs, k.dev) {
				devs = append(devs, k.dev)
			}
		}
		a := rows[k]
		merge(&a.row.Gotrain, &a.ng, gotrainSide(r))
	}
	for _, t := range torch {
		for k, a := range rows {
			if k.model != t.Model || TorchDevice(k.dev) != t.Device {
				continue
			}
			if t.Mode == "compiled" {
				merge(&a.row.Compiled, &a.nc, torchSide(t))
			} else {
				merge(&a.row.Eager, &a.ne, torchSide(t))
			}
		}
	}
	rank := func(m string) int {
		for i, n := range models {
			if n == m {
				return i
			}
		}
		return len(models)
	}
	var out []Row
	for _, d := range devs {
		var ms []string
		for k := range rows {
			if k.dev == d {
				ms = append(ms, k.model)
			}
		}
		sort.Slice(ms, func(i, j int) bool {
			ri, rj := rank(ms[i]), rank(ms[j])
			if ri != rj {
				return ri < rj
			}
			return ms[i] < ms[j]
		})
		for _, m := range ms {
			r := rows[key{d, m}].row
			r.VsEager, r.VsCompiled = Ratio(r.Gotrain, r.Eager), Ratio(r.Gotrain, r.Compiled)
			out = append(out, r)
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// FormatRate prints an img/s or GFLOP/s figure with about 4 significant
// digits.
func FormatRate(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// FormatMB prints bytes in MiB.
func FormatMB(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64)
}

const na = "n/a"

func rate(s Side) string {
	if !s.Ran {
		return na
	}
	return FormatRate(s.ImgPerSec)
}

func ratio(v float64) string {
	if v == 0 {
		return na
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "x"
}

func mem(s Side, b int64) string {
	if !s.Ran {
		return na
	}
	return FormatMB(b)
}

// WriteTable writes the rows as one aligned table: speeds, gotrain's speed
// over PyTorch's, and each side's memory in MiB.
func WriteTable(w io.Writer, rows []Row) error {
	// Right-aligned numbers; the names padded so that they read left-aligned.
	mw, dw := len("model"), len("device")
	for _, r := range rows {
		mw, dw = max(mw, len(r.Model)), max(dw, len(r.Device))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\t%-*s\tgotrain img/s\teager img/s\tcompiled img/s\tgotrain/eager\tgotrain/compiled\tgotrain pools MiB\tgotrain peak MiB\teager peak MiB\tcompiled peak MiB\t\n", mw, "model", dw, "device")
	for _, r := range rows {
		fmt.Fprintf(tw, "%-*s\t%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", mw, r.Model, dw, r.Device,
			rate(r.Gotrain), rate(r.Eager), rate(r.Compiled), ratio(r.VsEager), ratio(r.VsCompiled),
			mem(r.Gotrain, r.Gotrain.PoolBytes), mem(r.Gotrain, r.Gotrain.PeakBytes),
			mem(r.Eager, r.Eager.PeakBytes), mem(r.Compiled, r.Compiled.PeakBytes))
	}
	return tw.Flush()
}

// Units of the per-kernel benchmarks and the peaks they are compared with.
const (
	UnitFLOPS = "GFLOP/s"
	UnitBW    = "GB/s"
)

// KernelRow is one per-kernel result beside the device's measured peak in
// the same unit (BenchmarkPeak/<device>/gemm512 for GFLOP/s,
// BenchmarkPeak/<device>/memcpy for GB/s).
type KernelRow struct {
	Device   string  `json:"device"`
	Kernel   string  `json:"kernel"`
	Pass     string  `json:"pass"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	NsPerOp  float64 `json:"ns_per_op"`
	Peak     float64 `json:"peak,omitempty"`
	PeakName string  `json:"peak_name,omitempty"`
	// Fraction is Value/Peak (0: no peak measured).
	Fraction float64 `json:"fraction_of_peak,omitempty"`
}

// Peak is a reference measurement of a device.
type Peak struct {
	Device string  `json:"device"`
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
}

// BuildKernelRows reads BenchmarkKernel/<device>/<kernel>/<pass> and
// BenchmarkPeak/<device>/<name> results; a peak measured several times
// counts with its best value.
func BuildKernelRows(results []Result) ([]KernelRow, []Peak) {
	var peaks []Peak
	for _, r := range results {
		p := r.Path()
		if r.Func() != "Peak" || len(p) != 2 {
			continue
		}
	next:
		for _, u := range []string{UnitFLOPS, UnitBW} {
			v, ok := r.Metrics[u]
			if !ok {
				continue
			}
			// Measured more than once (before and after the kernels, or
			// -count): the best.
			for i := range peaks {
				if pk := &peaks[i]; pk.Device == p[0] && pk.Name == p[1] && pk.Unit == u {
					pk.Value = max(pk.Value, v)
					continue next
				}
			}
			peaks = append(peaks, Peak{Device: p[0], Name: p[1], Value: v, Unit: u})
		}
	}
	var rows []KernelRow
	for _, r := range results {
		p := r.Path()
		if r.Func() != "Kernel" || len(p) != 3 {
			continue
		}
		for _, u := range []string{UnitFLOPS, UnitBW} {
			v, ok := r.Metrics[u]
			if !ok {
				continue
			}
			k := KernelRow{Device: p[0], Kernel: p[1], Pass: p[2], Value: v, Unit: u, NsPerOp: r.Metrics["ns/op"]}
			for _, pk := range peaks {
				if pk.Device == k.Device && pk.Unit == u && pk.Value > 0 {
					k.Peak, k.PeakName, k.Fraction = pk.Value, pk.Name, v/pk.Value
				}
			}
			rows = append(rows, k)
		}
	}
	return rows, peaks
}

// WriteKernels writes the peaks and the per-kernel table.
func WriteKernels(w io.Writer, rows []KernelRow, peaks []Peak) error {
	for _, p := range peaks {
		if _, err := fmt.Fprintf(w, "peak %s %s: %s %s\n", p.Device, p.Name, FormatRate(p.Value), p.Unit); err != nil {
			return err
		}
	}
	kw := len("kernel")
	for _, k := range rows {
		kw = max(kw, len(k.Kernel))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tpass\tdevice\tms/op\tachieved\tunit\t%% of peak\t\n", kw, "kernel")
	for _, k := range rows {
		frac := na
		if k.Peak > 0 {
			frac = strconv.FormatFloat(100*k.Fraction, 'f', 0, 64) + "% of " + k.PeakName
		}
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", kw, k.Kernel, k.Pass, k.Device,
			strconv.FormatFloat(k.NsPerOp/1e6, 'f', 3, 64), FormatRate(k.Value), k.Unit, frac)
	}
	return tw.Flush()
}

// ParseModels checks a comma-separated model list (MODELS=baseline,vgg)
// against the known names; empty selects all of them.
func ParseModels(s string, known []string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return append([]string(nil), known...), nil
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if !contains(known, m) {
			return nil, fmt.Errorf("unknown model %q (known: %s)", m, strings.Join(known, ", "))
		}
		if !contains(out, m) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no model in %q", s)
	}
	return out, nil
}

// BigModels are the models whose CPU step takes seconds at batch 64 on 2
// cores (SE-ResNet ~10 s, ViT ~35 s): they are timed for a fixed number of
// steps instead of a duration.
var BigModels = []string{"resnet", "seresnet", "vgg", "vit"}

// Benchtime is model's -benchtime: steps for the big models, a duration
// for the others. big and small are the two settings ("2x", "3s").
func Benchtime(model, big, small string) string {
	if contains(BigModels, model) {
		return big
	}
	return small
}

// TorchTiming turns a -benchtime value into step.py's flags, so that
// PyTorch is timed the way the Go benchmark is: "2x" is --steps 2, "3s"
// --seconds 3.
func TorchTiming(benchtime string) ([]string, error) {
	if n, ok := strings.CutSuffix(benchtime, "x"); ok {
		if v, err := strconv.Atoi(n); err == nil && v > 0 {
			return []string{"--steps", n}, nil
		}
		return nil, fmt.Errorf("benchtime %q: want Nx with N > 0 or a duration", benchtime)
	}
	d, err := parseDuration(benchtime)
	if err != nil {
		return nil, fmt.Errorf("benchtime %q: %v", benchtime, err)
	}
	return []string{"--seconds", strconv.FormatFloat(d, 'g', -1, 64)}, nil
}

// parseDuration parses a Go duration into seconds (> 0).
func parseDuration(s string) (float64, error) {
	re := regexp.MustCompile(`^(\d+(?:\.\d+)?)(ms|s|m)$`)
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("not a duration like 500ms, 3s or 1m")
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	switch m[2] {
	case "ms":
		v /= 1000
	case "m":
		v *= 60
	}
	if v <= 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("must be positive")
	}
	return v, nil
}

// OptimizedBLAS reports whether a BLAS library (step.py --info: the path
// of the library torch loaded, or "BLAS_INFO=..." from its build
// configuration when it links one statically) is an optimised one:
// OpenBLAS, MKL or BLIS. Debian's reference (netlib) BLAS,
// .../blas/libblas.so.3, is single-threaded and unoptimised: PyTorch's
// Linear layers on it are several times slower than they should be, which
// makes it an unfair anchor.
func OptimizedBLAS(lib string) bool {
	l := strings.ToLower(lib)
	for _, k := range []string{"openblas", "mkl", "blis"} {
		if strings.Contains(l, k) {
			return true
		}
	}
	return false
}

// BLASFix is the command that gives Debian's PyTorch an optimised BLAS.
const BLASFix = "apt-get install libopenblas0-pthread"

// StepBenchPattern is the -bench pattern of model's step benchmark on
// every engine.
func StepBenchPattern(model string) string {
	return "^BenchmarkTrainStep$/./^" + regexp.QuoteMeta(model) + "$"
}
