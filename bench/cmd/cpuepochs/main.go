// Command cpuepochs is `make bench-epochs` (bench/cpu-epochs.sh): real CPU
// training against PyTorch. For each model it trains one epoch of the
// first N MNIST images with `gotrain -device cpu` (the recipe's batch size
// and optimizer) and reads the epoch's images_per_sec from metrics.jsonl
// (training only, evaluation excluded), then times N/batch PyTorch
// training steps of the same model and recipe (bench/pytorch/step.py,
// eager) on the same number of threads, and prints one table: model, N,
// gotrain img/s, PyTorch img/s and their ratio. N per model keeps each
// side near half a minute on 2 cores (about 10 minutes for all seven);
// -scale multiplies it. It refuses a PyTorch without an optimised BLAS as
// make bench does (bench.CheckTorchBLAS); -python none times gotrain alone.
//
//	go run ./bench/cmd/cpuepochs [-models baseline,googlenet] [-threads 2] [-scale 0.5]
package main

import (
	"bufio"
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
	"text/tabwriter"
	"time"

	"github.com/gotrain/gotrain/bench"
	"github.com/gotrain/gotrain/models"
)

// images is N per model: about 30 s of gotrain training on the 2-core
// development VM (img/s of bench/README.md's tables).
var images = []struct {
	model string
	n     int
}{
	{"baseline", 60000}, {"googlenet", 12800}, {"lightresnet", 6400}, {"resnet", 1920},
	{"seresnet", 1280}, {"vgg", 1600}, {"vit", 192},
}

type row struct {
	model          string
	n              int
	gotrain, torch float64 // img/s; 0: not run
	note           string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-epochs:", err)
		os.Exit(1)
	}
}

func run() error {
	known := make([]string, len(images))
	for i, m := range images {
		known[i] = m.model
	}
	modelsFlag := flag.String("models", os.Getenv("MODELS"), "comma-separated models (default: all of "+strings.Join(known, ",")+")")
	threads := flag.Int("threads", runtime.NumCPU(), "threads of both sides (gotrain -threads, step.py --threads)")
	python := flag.String("python", envOr("PYTHON", "/usr/bin/python3"), "Python with torch for step.py; none: gotrain only")
	scale := flag.Float64("scale", 1, "multiply each model's image count by this")
	keep := flag.String("out", "", "keep gotrain's run folders here (default: a temporary folder, removed)")
	flag.Parse()
	sel, err := bench.ParseModels(*modelsFlag, known)
	if err != nil {
		return err
	}
	if *threads < 1 || *scale <= 0 {
		return fmt.Errorf("-threads %d and -scale %g must be positive", *threads, *scale)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the repository root (bench/cpu-epochs.sh does)")
	}
	stepPy := filepath.Join("bench", "pytorch", "step.py")
	ti := bench.ReadTorchInfo(*python, stepPy)
	if ti != nil {
		if err := bench.CheckTorchBLAS(ti); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "bench-epochs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	out := *keep
	if out == "" {
		out = tmp
	}
	gotrain := filepath.Join(tmp, "gotrain")
	fmt.Println("building gotrain (go build ./cmd/gotrain)")
	if b, err := exec.Command("go", "build", "-o", gotrain, "./cmd/gotrain").CombinedOutput(); err != nil {
		return fmt.Errorf("building gotrain: %v\n%s", err, b)
	}
	printHeader(ti, *python, *threads)
	var rows []row
	for _, m := range images {
		if !slices.Contains(sel, m.model) {
			continue
		}
		r, err := runModel(gotrain, stepPy, *python, out, m.model, max(1, int(float64(m.n)**scale)), *threads, ti)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	fmt.Printf("\nload average at the end: %s\n\n", loadAvg())
	return writeTable(os.Stdout, rows)
}

// runModel trains model's epoch of n images with gotrain, then times the
// same number of PyTorch steps.
func runModel(gotrain, stepPy, python, out, model string, n, threads int, ti *bench.TorchInfo) (row, error) {
	spec, err := models.Lookup(model)
	if err != nil {
		return row{}, err
	}
	batch := spec.Recipe.BatchSize
	r := row{model: model, n: n}
	dir := filepath.Join(out, model)
	fmt.Printf("%s: gotrain, one epoch of %d images (load %s)\n", model, n, loadAvg())
	cmd := exec.Command(gotrain, "-device", "cpu", "-model", model, "-epochs", "1", "-limit-train", strconv.Itoa(n),
		"-limit-test", "100", "-threads", strconv.Itoa(threads), "-out", dir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("gotrain -model %s: %w", model, err)
	}
	if r.gotrain, err = epochRate(filepath.Join(dir, "metrics.jsonl")); err != nil {
		return r, err
	}
	if ti == nil {
		r.note = "no PyTorch"
		return r, nil
	}
	steps := max(1, n/batch)
	fmt.Printf("%s: PyTorch, %d steps of batch %d (load %s)\n", model, steps, batch, loadAvg())
	args, err := bench.TorchStepArgs(stepPy, model, "eager", "cpu", batch, threads)
	if err != nil {
		return r, err
	}
	args = append(args, "--steps", strconv.Itoa(steps), "--warmup", "1")
	py := exec.Command(python, args...)
	py.Stderr = os.Stderr
	b, err := py.Output()
	if err != nil {
		return r, fmt.Errorf("step.py --model %s: %w", model, err)
	}
	t, err := bench.ParseTorchResult(b)
	if err != nil {
		return r, err
	}
	r.torch = t.ImgPerSec
	return r, nil
}

// epochRate is the images_per_sec of the last epoch in metrics.jsonl.
func epochRate(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("gotrain's metrics: %w", err)
	}
	defer f.Close()
	rate := 0.0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m struct {
			ImagesPerSec float64 `json:"images_per_sec"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		rate = m.ImagesPerSec
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if rate <= 0 {
		return 0, fmt.Errorf("%s: no epoch with images_per_sec", path)
	}
	return rate, nil
}

func printHeader(ti *bench.TorchInfo, python string, threads int) {
	host, _ := os.Hostname()
	fmt.Printf("%s, %s, %d cores; %d threads a side; %s; load average %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, runtime.NumCPU(), threads, runtime.Version(), loadAvg())
	if ti != nil {
		fmt.Printf("PyTorch %s (%s), BLAS %s\n", ti.Torch, python, ti.BLAS)
	} else {
		fmt.Printf("PyTorch: none (%s): gotrain only\n", python)
	}
}

func writeTable(f *os.File, rows []row) error {
	w := tabwriter.NewWriter(f, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "model\timages\tgotrain img/s\tPyTorch img/s\tgotrain / PyTorch\t")
	for _, r := range rows {
		pt, ratio := "n/a", r.note
		if r.torch > 0 {
			pt, ratio = bench.FormatRate(r.torch), fmt.Sprintf("%.2fx", r.gotrain/r.torch)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t\n", r.model, r.n, bench.FormatRate(r.gotrain), pt, ratio)
	}
	return w.Flush()
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
