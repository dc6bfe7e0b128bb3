package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
	"github.com/gotrain/gotrain/train/runfolder"
)

// longRun is a run long enough to be caught in the middle.
func longRun(out string) []string {
	return []string{"train", "-model", "baseline", "-device", "cpu", "-epochs", "40", "-batch-size", "32",
		"-limit-train", "640", "-limit-test", "32", "-data", dataDir, "-out", out}
}

// TestLockAndSignals runs a training process and, while it writes its
// folder, tries a second writer of every kind (each refused at once), then
// stops it with SIGTERM (143) or SIGINT (130): the folder holds a committed
// epoch that opens for -resume.
func TestLockAndSignals(t *testing.T) {
	gotrainBinary(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGTERM, 143}, {syscall.SIGINT, 130}} {
		t.Run(sigName(tc.sig), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			cmd, wait := startGotrain(t, nil, longRun(dir)...)
			defer cmd.Process.Kill()
			require.True(t, waitFor(60*time.Second, func() bool { return committedEpoch(t, dir) >= 1 }), "no epoch committed")
			if tc.sig == syscall.SIGTERM {
				for _, second := range []struct {
					args []string
					code int
					msg  string
				}{
					{longRun(dir), exitUsage, "already holds a run"},
					{resumeRun(dir), 1, "being written by another gotrain process"},
					{[]string{"eval", "-model", "baseline", "-weights", filepath.Join(torchBaselineAbs(t), "baseline.safetensors"), "-device", "cpu",
						"-data", dataDir, "-out", dir}, exitUsage, "already holds a run"},
				} {
					r := runGotrain(t, nil, second.args...)
					require.Equal(t, second.code, r.code, "%v: %s", second.args, r.stderr)
					oneLineErr(t, r, second.args[0])
					require.Contains(t, r.stderr, second.msg)
				}
			}
			require.NoError(t, cmd.Process.Signal(tc.sig))
			r := wait()
			require.Equal(t, tc.code, r.code, r.stderr)
			oneLineErr(t, r, "train")
			require.Contains(t, r.stderr, sigName(tc.sig))
			require.Contains(t, r.stderr, "intact: continue with -resume "+dir)
			checkClean(t, dir)
			f, err := runfolder.Open(dir)
			require.NoError(t, err)
			require.GreaterOrEqual(t, f.Committed().Epoch, 1)
			require.NoError(t, f.Close())
		})
	}
}

func torchBaselineAbs(t *testing.T) string {
	abs, err := filepath.Abs(torchBaseline)
	require.NoError(t, err)
	return abs
}

// TestDivergedRun: a learning rate that grows to overflow (StepLR with a
// gamma of 1e20) stops the run in epoch 2 with the one-line message, exit
// status 1, and epoch 1 kept.
func TestDivergedRun(t *testing.T) {
	gotrainBinary(t)
	dir := filepath.Join(t.TempDir(), "run")
	args := append(tinyRun(dir), "-optimizer", "sgd", "-lr", "0.01", "-gamma", "1e20")
	r := runGotrain(t, nil, args...)
	require.Equal(t, 1, r.code, r.stderr)
	oneLineErr(t, r, "train")
	require.Regexp(t, regexp.MustCompile(`^gotrain train: epoch 2, step [1-3]: the loss diverged \((NaN|\+Inf)\): lower the StepLR factor \(-gamma\)\n$`), r.stderr)
	require.Equal(t, 1, committedEpoch(t, dir))
	data, err := os.ReadFile(filepath.Join(dir, runfolder.MetricsJSONL))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(data), "\n"))
	require.NotContains(t, string(data), "NaN")
}

// badWeights saves spec's freshly initialised weights with v written into
// the first element of the first parameter that want selects.
func badWeights(t *testing.T, spec *models.Spec, v float32, want func(name string) bool) (path, tensor string) {
	m := spec.Build(1)
	be := engine.NewCPU(0)
	require.NoError(t, m.Allocate(be, 1))
	for _, e := range m.Builder.Entries() {
		if e.Kind == layers.Param && want(e.Name) {
			host := make([]float32, e.Value.Len())
			be.Download(host, e.Value)
			host[len(host)/2] = v
			be.Upload(e.Value, host)
			tensor = e.Name
			break
		}
	}
	require.NotEmpty(t, tensor)
	path = filepath.Join(t.TempDir(), "bad.safetensors")
	require.NoError(t, checkpoint.Save(path, be, m.Builder.Entries(), m.Meta()))
	return path, tensor
}

// TestEvalRefusesNonFiniteWeights: eval names the tensor holding a NaN or
// an infinity, exits 1 and creates nothing (before reading MNIST: -data is
// never looked at).
func TestEvalRefusesNonFiniteWeights(t *testing.T) {
	spec, err := models.Lookup("baseline")
	require.NoError(t, err)
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		path, tensor := badWeights(t, spec, v, func(string) bool { return true })
		out := filepath.Join(t.TempDir(), "eval")
		var code int
		stderr := captureStderr(t, func() {
			code = run(context.Background(), []string{"eval", "-weights", path, "-device", "cpu", "-data", "/nonexistent", "-out", out})
		})
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, `tensor "`+tensor+`" holds`)
		require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
		require.NoDirExists(t, out)
	}
}

// TestPruneRefusesNaNGammas: prune refuses weights whose gammas hold a NaN
// (it used to prune to a 1,110-parameter model and exit 0).
func TestPruneRefusesNaNGammas(t *testing.T) {
	gotrainBinary(t) // the data
	spec, err := models.Lookup("seresnet")
	require.NoError(t, err)
	path, tensor := badWeights(t, spec, float32(math.NaN()), spec.PruneTarget)
	out := filepath.Join(t.TempDir(), "prune")
	var code int
	stderr := captureStderr(t, func() {
		code = run(context.Background(), []string{"prune", "-weights", path, "-device", "cpu", "-data", dataDir,
			"-limit-test", "10", "-test-batch-size", "10", "-out", out})
	})
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, `tensor "`+tensor+`" holds NaN`)
	require.NoDirExists(t, out)
}

// smallModel is an allocated baseline on the CPU.
func smallModel(t *testing.T) (engine.Backend, *models.Model) {
	spec, err := models.Lookup("baseline")
	require.NoError(t, err)
	m := spec.Build(1)
	be := engine.NewCPU(0)
	require.NoError(t, m.Allocate(be, 1))
	return be, m
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
