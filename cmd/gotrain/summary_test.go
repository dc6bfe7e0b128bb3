package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/models"
)

// `summary -recipe` prints each model's recipe as the JSON line
// scripts/gpu-check.sh reads.
func TestSummaryRecipe(t *testing.T) {
	for _, name := range models.Names() {
		spec, err := models.Lookup(name)
		require.NoError(t, err)
		var code int
		out := captureStdout(t, func() { code = run(context.Background(), []string{"summary", "-model", name, "-recipe"}) })
		require.Equal(t, 0, code, name)
		var got struct {
			Model, Optimizer    string
			LR, Momentum, Gamma float64
			WeightDecay         float64 `json:"weight_decay"`
			Nesterov            bool
			StepSize            int `json:"step_size"`
			Epochs              int
			BatchSize           int `json:"batch_size"`
			TestBatchSize       int `json:"test_batch_size"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &got), "%s: %q", name, out)
		r := spec.Recipe
		require.Equal(t, name, got.Model)
		require.Equal(t, r.Optimizer, got.Optimizer, name)
		require.Equal(t, r.LR, got.LR, name)
		require.Equal(t, r.Momentum, got.Momentum, name)
		require.Equal(t, r.WeightDecay, got.WeightDecay, name)
		require.Equal(t, r.Nesterov, got.Nesterov, name)
		require.Equal(t, r.StepSize, got.StepSize, name)
		require.Equal(t, r.Gamma, got.Gamma, name)
		require.Equal(t, r.Epochs, got.Epochs, name)
		require.Equal(t, r.BatchSize, got.BatchSize, name)
		require.Equal(t, r.TestBatchSize, got.TestBatchSize, name)
	}
}

// On a GPU, evaluation runs in batches of 1000, or the largest of 1000,
// 750, ... that fits beside the training model; on the CPU at the recipe's
// test batch (0).
func TestGPUEvalBatch(t *testing.T) {
	spec, err := models.Lookup("baseline")
	require.NoError(t, err)
	old := deviceFree
	t.Cleanup(func() { deviceFree = old })
	trainNeed, err := modelBytes(spec, nil, 64, true)
	require.NoError(t, err)
	at750, err := modelBytes(spec, nil, 750, false)
	require.NoError(t, err)
	for _, c := range []struct {
		device string
		free   int64
		want   int
	}{
		{"cpu", 1 << 40, 0},
		{"cuda:0", 1 << 40, 1000},
		{"cuda:0", trainNeed + at750, 750},
		{"cuda:0", trainNeed, 0},
	} {
		deviceFree = func() (int64, bool) { return c.free, true }
		require.Equal(t, c.want, gpuEvalBatch(c.device, spec, nil, 64, 2), "%s with %d bytes free", c.device, c.free)
	}
	deviceFree = nil
	require.Equal(t, 0, gpuEvalBatch("cuda:0", spec, nil, 64, 2), "no free-memory query")
}
