package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
)

// TestMemoryThatCannotFit: with 4 GiB available, VGG at batch 60000 fails
// with one line naming the bytes wanted and available and a batch size
// that fits (and does: it is checked against the same estimate).
func TestMemoryThatCannotFit(t *testing.T) {
	old := availableMemory
	defer func() { availableMemory = old }()
	availableMemory = func() (int64, bool) { return 4 << 30, true }
	spec, err := models.Lookup("vgg")
	require.NoError(t, err)
	err = fitsMemory(spec, nil, 60000, "-batch-size")
	require.Error(t, err)
	m := regexp.MustCompile(`^model vgg at batch 60000 needs (\d+) bytes \(\d+ MiB\), 4294967296 bytes \(4096 MiB\) are available: use -batch-size (\d+) or less$`).FindStringSubmatch(err.Error())
	require.NotNil(t, m, err.Error())
	fit, _ := strconv.Atoi(m[2])
	require.Positive(t, fit)
	need, err := modelBytes(spec, nil, fit, true)
	require.NoError(t, err)
	require.LessOrEqual(t, need, int64(4<<30), "the suggested batch fits")
	require.NoError(t, fitsMemory(spec, nil, fit, "-batch-size"))

	availableMemory = func() (int64, bool) { return 1 << 20, true }
	require.ErrorContains(t, fitsMemory(spec, nil, 64, "-batch-size"), "even at batch 1")
}

// TestEvalBatchLowered: evaluation lowers a batch that does not fit to one
// that does (it holds no training state, so it needs far less than
// training at the same batch), and fails with one line when not even
// batch 1 fits.
func TestEvalBatchLowered(t *testing.T) {
	old := availableMemory
	defer func() { availableMemory = old }()
	spec, err := models.Lookup("vit")
	require.NoError(t, err)
	train, err := modelBytes(spec, nil, 250, true)
	require.NoError(t, err)
	eval, err := modelBytes(spec, nil, 250, false)
	require.NoError(t, err)
	require.Less(t, 4*eval, train, "evaluation needs a fraction of training's memory")
	t.Logf("vit at batch 250: training %d MiB, evaluation %d MiB", train>>20, eval>>20)

	availableMemory = func() (int64, bool) { return eval, true }
	b, err := fitEvalBatch("cpu", spec, nil, 250)
	require.NoError(t, err)
	require.Equal(t, 250, b, "a batch that fits is kept")

	one, err := modelBytes(spec, nil, 1, false)
	require.NoError(t, err)
	avail := (one + eval) / 2
	availableMemory = func() (int64, bool) { return avail, true }
	b, err = fitEvalBatch("cpu", spec, nil, 250)
	require.NoError(t, err)
	require.Less(t, b, 250)
	require.Greater(t, b, 1)
	need, err := modelBytes(spec, nil, b, false)
	require.NoError(t, err)
	require.LessOrEqual(t, need, avail, "the lowered batch fits")
	t.Logf("with %d MiB available: batch %d (%d MiB)", avail>>20, b, need>>20)

	availableMemory = func() (int64, bool) { return 1 << 20, true }
	_, err = fitEvalBatch("cpu", spec, nil, 250)
	require.ErrorContains(t, err, "even at batch 1")
}

// TestAbsurdWidths: a checkpoint whose metadata claims widths beyond the
// model's is refused with one line, status 1, by summary and eval alike,
// before anything is built.
func TestAbsurdWidths(t *testing.T) {
	spec, err := models.Lookup("seresnet")
	require.NoError(t, err)
	var key string
	for k := range spec.Widths() {
		key = k
		break
	}
	w := spec.Widths()
	w[key] = 1 << 40
	path := filepath.Join(t.TempDir(), "wide.safetensors")
	be, m := smallModel(t)
	meta := m.Meta()
	meta["model"] = "seresnet"
	meta["widths"] = mustJSON(t, w)
	require.NoError(t, checkpoint.Save(path, be, m.Builder.Entries(), meta))
	for _, args := range [][]string{
		{"summary", "-weights", path},
		{"eval", "-weights", path, "-device", "cpu", "-data", "/nonexistent", "-out", filepath.Join(t.TempDir(), "e")},
	} {
		var code int
		stderr := captureStderr(t, func() { code = run(context.Background(), args) })
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, "widths: \""+key+"\" is 1099511627776: must be between 1 and")
		require.Equal(t, 1, strings.Count(stderr, "\n"))
	}
}
