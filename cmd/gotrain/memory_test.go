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
	need, err := modelBytes(spec, nil, fit)
	require.NoError(t, err)
	require.LessOrEqual(t, need, int64(4<<30), "the suggested batch fits")
	require.NoError(t, fitsMemory(spec, nil, fit, "-batch-size"))

	availableMemory = func() (int64, bool) { return 1 << 20, true }
	require.ErrorContains(t, fitsMemory(spec, nil, 64, "-batch-size"), "even at batch 1")
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
