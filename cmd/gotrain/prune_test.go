package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/prune"
	"github.com/gotrain/gotrain/train/checkpoint"
	"github.com/gotrain/gotrain/train/mnist"
)

// TestPruneEndToEnd prunes a freshly initialised SE-ResNet by 30%,
// fine-tunes it one short epoch, and checks the run folder, then that the
// pruned checkpoint works with eval and summary.
func TestPruneEndToEnd(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("SE-ResNet on the CPU and MNIST")
	}
	data, tmp := t.TempDir(), t.TempDir()
	require.NoError(t, mnist.Ensure(context.Background(), data, nil))
	spec, err := models.Lookup("seresnet")
	require.NoError(t, err)
	m := spec.Build(1)
	be := engine.NewCPU(0)
	require.NoError(t, m.Allocate(be, 1))
	// Spread the gammas (a fresh model's are all 1, which prunes nothing).
	rng := rand.New(rand.NewPCG(1, 2))
	for _, e := range m.Builder.Entries() {
		if e.Kind == layers.Param && spec.PruneTarget(e.Name) {
			v := make([]float32, e.Value.Len())
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			be.Upload(e.Value, v)
		}
	}
	weights := filepath.Join(tmp, "se.safetensors")
	require.NoError(t, checkpoint.Save(weights, be, m.Builder.Entries(), m.Meta()))

	out := filepath.Join(tmp, "pruned")
	code := run(context.Background(), []string{"prune", "-weights", weights, "-percent", "0.3", "-finetune-epochs", "1",
		"-limit-train", "32", "-limit-test", "20", "-batch-size", "16", "-test-batch-size", "10", "-device", "cpu",
		"-data", data, "-out", out})
	require.Equal(t, 0, code)
	var rep prune.Report
	b, err := os.ReadFile(filepath.Join(out, "prune.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Equal(t, 21439478, rep.ParamsBefore)
	require.Less(t, rep.ParamsAfter, rep.ParamsBefore)
	require.Positive(t, rep.Removed)
	require.Len(t, rep.FinetuneAcc, 1)
	for _, f := range []string{"pruned.safetensors", "best.safetensors", "last.safetensors", "metrics.jsonl", "loss_acc.png", "prune.md", "config.json"} {
		_, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
	}
	code = run(context.Background(), []string{"eval", "-weights", filepath.Join(out, "best.safetensors"), "-device", "cpu",
		"-limit-test", "10", "-batch-size", "10", "-data", data, "-out", filepath.Join(tmp, "eval")})
	require.Equal(t, 0, code)
	code = run(context.Background(), []string{"summary", "-weights", filepath.Join(out, "pruned.safetensors")})
	require.Equal(t, 0, code)
	stderr := captureStderr(t, func() {
		code = run(context.Background(), []string{"train", "-resume", out, "-device", "cpu", "-data", data})
	})
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "holds a prune run, which cannot be resumed")
}

func TestPruneBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"prune"}, "-weights"},
		{[]string{"prune", "-weights", "x", "-percent", "1"}, "must be in [0, 1)"},
		{[]string{"prune", "-weights", "x", "-model", "vgg"}, "no pruning-target"},
		{[]string{"-model", "baseline", "-sparsity", "1e-4"}, "no pruning-target"},
	} {
		stderr := captureStderr(t, func() {
			require.Equal(t, exitUsage, run(context.Background(), tc.args))
		})
		require.Contains(t, stderr, tc.msg)
	}
}
