package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/reproduce"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

var (
	synthOnce sync.Once
	synthDir  string
	synthErr  error
)

// synthMNIST writes, once per test binary, a synthetic MNIST (the real
// counts, 60,000 and 10,000 images; each digit a bright band at its own
// rows) into a temporary folder: the reproduce tests need no network.
func synthMNIST(t *testing.T) string {
	t.Helper()
	synthOnce.Do(func() {
		synthDir, synthErr = os.MkdirTemp("", "gotrain-synth-mnist-")
		if synthErr != nil {
			return
		}
		write := func(images, labels string, n int) error {
			img := make([]byte, 16+n*mnist.Pixels)
			binary.BigEndian.PutUint32(img[0:], 0x803)
			binary.BigEndian.PutUint32(img[4:], uint32(n))
			binary.BigEndian.PutUint32(img[8:], mnist.Rows)
			binary.BigEndian.PutUint32(img[12:], mnist.Cols)
			lab := make([]byte, 8+n)
			binary.BigEndian.PutUint32(lab[0:], 0x801)
			binary.BigEndian.PutUint32(lab[4:], uint32(n))
			for i := range n {
				d := (i*7 + i/10) % 10
				lab[8+i] = byte(d)
				px := img[16+i*mnist.Pixels:]
				for r := 2 + 2*d; r < 6+2*d; r++ {
					for c := 4 + i%3; c < 24; c++ {
						px[r*mnist.Cols+c] = 255
					}
				}
			}
			if err := os.WriteFile(filepath.Join(synthDir, images), img, 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(synthDir, labels), lab, 0o644)
		}
		if synthErr = write(mnist.TrainImagesFile, mnist.TrainLabelsFile, mnist.TrainCount); synthErr == nil {
			synthErr = write(mnist.TestImagesFile, mnist.TestLabelsFile, mnist.TestCount)
		}
	})
	require.NoError(t, synthErr)
	return synthDir
}

// reproArgs is a tiny reproduction on the CPU.
func reproArgs(t *testing.T, out, models string, extra ...string) []string {
	return append([]string{"reproduce", "-models", models, "-epochs", "2", "-limit-train", "64", "-limit-test", "32",
		"-device", "cpu", "-data", synthMNIST(t), "-out", out}, extra...)
}

func readTable1(t *testing.T, dir string) reproduce.Table1 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "table1.json"))
	require.NoError(t, err)
	var tab reproduce.Table1
	require.NoError(t, json.Unmarshal(b, &tab))
	// The fields the issue asks for, by their JSON names.
	var raw struct {
		Rows []map[string]any `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(b, &raw))
	for _, r := range raw.Rows {
		for _, k := range []string{"row", "model", "params", "size_mb", "report_acc", "best_acc", "best_epoch", "last_acc", "epochs", "seconds", "device", "run"} {
			require.Contains(t, r, k)
		}
	}
	require.Contains(t, string(b), `"command"`)
	require.Contains(t, string(b), `"gotrain"`)
	return tab
}

// TestReproduceRowsSkipAndMismatch trains two rows at tiny scale, checks
// the tables, runs the command again (both rows skipped, in seconds, with
// other threads), and refuses other settings naming the flag.
func TestReproduceRowsSkipAndMismatch(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two rows")
	}
	out := filepath.Join(t.TempDir(), "repro")
	stdout := captureStdout(t, func() {
		require.Equal(t, 0, run(context.Background(), reproArgs(t, out, "googlenet,baseline")))
	})
	require.Contains(t, stdout, "reproduce: row 1/2: training baseline, 2 epochs")
	require.Contains(t, stdout, "reproduce: row 2/2: googlenet done")
	tab := readTable1(t, out)
	require.Contains(t, tab.Command, "gotrain reproduce -models googlenet,baseline")
	require.Len(t, tab.Rows, 2)
	b := tab.Rows[0]
	require.Equal(t, "baseline", b.Row) // table order, not -models order
	require.Equal(t, "googlenet", tab.Rows[1].Row)
	require.Equal(t, 149418, b.Params)
	require.InDelta(t, 0.70, b.SizeMB, 0.005)
	require.Equal(t, 0.9761, *b.ReportAcc)
	require.Equal(t, 2, b.Epochs)
	require.Equal(t, 30, b.RecipeEpochs)
	require.Equal(t, "baseline", b.Run)
	require.Contains(t, b.Device, "cpu")
	require.Positive(t, b.Seconds)
	require.GreaterOrEqual(t, b.BestAcc, 0.0)
	require.LessOrEqual(t, b.BestAcc, 1.0)
	require.Equal(t, []string{"2 of 30 epochs", "trained on 64 of 60,000 images", "tested on 32 of 10,000 images"}, b.Deviations)
	md, err := os.ReadFile(filepath.Join(out, "table1.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "| baseline | 97.61% |")
	require.Contains(t, string(md), "2 of 30 epochs; trained on 64 of 60,000 images")
	html, err := os.ReadFile(filepath.Join(out, "table1.html"))
	require.NoError(t, err)
	for _, f := range []string{"baseline/loss_acc.png", "baseline/confusion_matrix.png", "googlenet/loss_acc.png", "googlenet/confusion_matrix.png"} {
		require.Contains(t, string(html), `<img src="`+f+`"`)
		require.FileExists(t, filepath.Join(out, f))
	}

	// Again, with other threads: both rows are skipped, nothing rewritten.
	metrics := filepath.Join(out, "baseline", runfolder.MetricsJSONL)
	before, err := os.Stat(metrics)
	require.NoError(t, err)
	start := time.Now()
	stdout = captureStdout(t, func() {
		require.Equal(t, 0, run(context.Background(), reproArgs(t, out, "baseline,googlenet", "-threads", "1")))
	})
	require.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, 2, strings.Count(stdout, "already done"), stdout)
	after, err := os.Stat(metrics)
	require.NoError(t, err)
	require.Equal(t, before.ModTime(), after.ModTime())
	require.Len(t, readTable1(t, out).Rows, 2)

	// Another recipe, seed or limit: status 2, one line naming the flag.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{reproArgs(t, out, "baseline", "-epochs", "3"), "-epochs 3: the reproduction in " + out + " was started with -epochs 2"},
		{reproArgs(t, out, "baseline", "-seed", "7"), "-seed 7: the reproduction"},
		{reproArgs(t, out, "baseline", "-limit-test", "0"), "-limit-test 0 (the default): the reproduction"},
	} {
		stderr := captureStderr(t, func() { require.Equal(t, exitUsage, run(context.Background(), tc.args)) })
		require.Contains(t, stderr, tc.msg)
		require.True(t, strings.HasPrefix(stderr, "gotrain reproduce: "), stderr)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
	}
	// A row folder itself is checked too (here with reproduce.json gone).
	require.NoError(t, os.Remove(filepath.Join(out, reproduce.StateFile)))
	stderr := captureStderr(t, func() {
		require.Equal(t, exitUsage, run(context.Background(), reproArgs(t, out, "baseline", "-limit-train", "32")))
	})
	require.Contains(t, stderr, "baseline ("+filepath.Join(out, "baseline")+") was run with -limit-train 64, this command asks for -limit-train 32")
}

// TestReproduceResume interrupts a row after its first committed epoch
// and runs the command again: the row continues from that epoch and ends
// as an uninterrupted reproduction does.
func TestReproduceResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a row three times")
	}
	args := func(out string) []string {
		a := reproArgs(t, out, "baseline")
		for i := range a {
			if a[i] == "-epochs" {
				a[i+1] = "3"
			}
			if a[i] == "-limit-train" {
				a[i+1] = "3000"
			}
		}
		return a
	}
	tmp := t.TempDir()
	ref, out := filepath.Join(tmp, "ref"), filepath.Join(tmp, "repro")
	captureStdout(t, func() { require.Equal(t, 0, run(context.Background(), args(ref))) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if c, _ := readCommit(filepath.Join(out, "baseline")); c != nil {
				cancel()
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var code int
	stderr := captureStderr(t, func() { captureStdout(t, func() { code = run(ctx, args(out)) }) })
	require.Equal(t, 130, code, stderr)
	require.Contains(t, stderr, "the same gotrain reproduce command (-out "+out+") continues it")
	c, err := readCommit(filepath.Join(out, "baseline"))
	require.NoError(t, err)
	require.Less(t, c.Epoch, 3, "interrupted before the end")

	stdout := captureStdout(t, func() { require.Equal(t, 0, run(context.Background(), args(out))) })
	require.Contains(t, stdout, "resuming after epoch")
	require.Equal(t, metricsNoTimeAt(t, filepath.Join(ref, "baseline")), metricsNoTimeAt(t, filepath.Join(out, "baseline")))
	tab := readTable1(t, out)
	require.Len(t, tab.Rows, 1)
	require.Equal(t, 3, tab.Rows[0].Epochs)
}

// metricsNoTimeAt is a run's metrics.jsonl without its timings.
func metricsNoTimeAt(t *testing.T, dir string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, runfolder.MetricsJSONL))
	require.NoError(t, err)
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		delete(m, "seconds")
		delete(m, "images_per_sec")
		delete(m, "device_ms_per_step")
		delete(m, "launches_per_step")
		out = append(out, m)
	}
	return out
}

// TestReproducePruningRows runs both pruning rows at the smallest scale:
// one sparsity-trained SE-ResNet shared by both, the report's 4% and
// slim-seresnet's percent removing at least half the parameters.
func TestReproducePruningRows(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("SE-ResNet on the CPU")
	}
	out := filepath.Join(t.TempDir(), "repro")
	a := []string{"reproduce", "-models", "slim-seresnet,pruned-seresnet", "-epochs", "1", "-limit-train", "16", "-limit-test", "8",
		"-device", "cpu", "-data", synthMNIST(t), "-out", out}
	stdout := captureStdout(t, func() { require.Equal(t, 0, run(context.Background(), a)) })
	require.Equal(t, 1, strings.Count(stdout, "training seresnet-sparsity"), stdout)
	require.Contains(t, stdout, "seresnet-sparsity already done")
	tab := readTable1(t, out)
	require.Len(t, tab.Rows, 2)
	p, s := tab.Rows[0], tab.Rows[1]
	require.Equal(t, "pruned-seresnet", p.Row)
	require.Equal(t, 0.04, *p.Percent)
	require.Equal(t, 0.9762, *p.ReportAcc)
	require.Equal(t, "slim-seresnet", s.Row)
	require.Nil(t, s.ReportAcc)
	require.LessOrEqual(t, float64(s.Params), 0.5*float64(s.ParamsBefore))
	require.Equal(t, 21439478, s.ParamsBefore)
	require.Equal(t, "seresnet-sparsity", s.SparsityRun)
	require.Contains(t, s.Deviations, "sparsity training 1 of 30 epochs")
	require.Contains(t, s.Deviations, "1 of 10 fine-tuning epochs")
	b, err := os.ReadFile(filepath.Join(out, "table1.json"))
	require.NoError(t, err)
	require.Contains(t, string(b), `"report_acc": null`)
	// Finished: skipped, the SE-ResNet too.
	stdout = captureStdout(t, func() { require.Equal(t, 0, run(context.Background(), a)) })
	require.Equal(t, 4, strings.Count(stdout, "already done"), stdout)
}

func TestReproduceBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"reproduce", "-models", "resnt"}, `unknown row "resnt" (did you mean "resnet"?)`},
		{[]string{"reproduce", "-models", ","}, "no row"},
		{[]string{"reproduce", "-epochs", "-1"}, "-epochs -1: must be between 0 and"},
		{[]string{"reproduce", "-limit-train", "-5"}, "-limit-train -5"},
		{[]string{"reproduce", "-threads", "5000"}, "-threads 5000"},
		{[]string{"reproduce", "-device", "tpu"}, "allowed: auto, cpu, cuda:N"},
		{[]string{"reproduce", "-precision", "fp16"}, `unknown precision "fp16": use fp32, tf32 or bf16`},
		{[]string{"reproduce", "-precision", "bf16", "-device", "cpu"}, "the CPU engine runs fp32 only"},
	} {
		args := append(tc.args, "-out", filepath.Join(t.TempDir(), "never")) // were a flag let through
		stderr := captureStderr(t, func() { require.Equal(t, exitUsage, run(context.Background(), args)) })
		require.Contains(t, stderr, tc.msg)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
	}
	// A run folder is not a reproduction folder.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, runfolder.MetricsJSONL), nil, 0o644))
	stderr := captureStderr(t, func() {
		require.Equal(t, exitUsage, run(context.Background(), []string{"reproduce", "-out", dir, "-device", "cpu"}))
	})
	require.Contains(t, stderr, "holds a run folder")
}

// readCommit reads a run folder's commit.json (nil when it has none).
func readCommit(dir string) (*runfolder.Commit, error) {
	b, err := os.ReadFile(filepath.Join(dir, runfolder.CommitFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c runfolder.Commit
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}
