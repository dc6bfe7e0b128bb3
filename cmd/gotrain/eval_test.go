package main

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/train/mnist"
)

// torchBaseline is a PyTorch state_dict of the seed's baseline, trained in
// PyTorch, and PyTorch's predictions with it on the 10,000 test images
// (testdata/torch_baseline/make_fixture.py makes both).
const torchBaseline = "testdata/torch_baseline"

// predictionRow is one row of a predictions.csv.
type predictionRow struct {
	index, label, pred int
	conf               float64
}

func readPredictions(t *testing.T, path string) []predictionRow {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err, path)
	require.NotEmpty(t, recs, path)
	require.Equal(t, []string{"index", "label", "prediction", "confidence"}, recs[0], path)
	rows := make([]predictionRow, len(recs)-1)
	for i, rec := range recs[1:] {
		var r predictionRow
		var errs [4]error
		r.index, errs[0] = strconv.Atoi(rec[0])
		r.label, errs[1] = strconv.Atoi(rec[1])
		r.pred, errs[2] = strconv.Atoi(rec[2])
		r.conf, errs[3] = strconv.ParseFloat(rec[3], 64)
		for _, err := range errs {
			require.NoError(t, err, "%s line %d", path, i+2)
		}
		rows[i] = r
	}
	return rows
}

// TestEvalTorchBaseline evaluates PyTorch-trained baseline weights with the
// eval command and compares its predictions with PyTorch's.
func TestEvalTorchBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MNIST")
	}
	ctx := context.Background()
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "eval")
	require.NoError(t, mnist.Ensure(ctx, data, nil))
	code := run(ctx, []string{"eval", "-model", "baseline", "-weights", filepath.Join(torchBaseline, "baseline.safetensors"),
		"-device", "cpu", "-data", data, "-out", out})
	require.Equal(t, 0, code)

	want := readPredictions(t, filepath.Join(torchBaseline, "predictions.csv"))
	got := readPredictions(t, filepath.Join(out, "predictions.csv"))
	require.Len(t, want, 10000)
	require.Len(t, got, len(want))
	disagree, correct, maxDiff, worst := 0, 0, 0.0, -1
	for i, w := range want {
		g := got[i]
		require.Equal(t, i, w.index, "PyTorch row %d", i)
		require.Equal(t, i, g.index, "gotrain row %d", i)
		require.Equal(t, w.label, g.label, "label of image %d", i)
		if g.pred != w.pred {
			disagree++
		}
		if g.pred == g.label {
			correct++
		}
		if d := math.Abs(g.conf - w.conf); d > maxDiff {
			maxDiff, worst = d, i
		}
	}
	t.Logf("gotrain accuracy %.2f%%; %d of %d predictions differ from PyTorch's; max confidence difference %.2g (image %d)",
		100*float64(correct)/float64(len(got)), disagree, len(got), maxDiff, worst)
	require.LessOrEqual(t, disagree, len(want)/1000, "predictions must agree on at least 99.9%% of images")
	require.LessOrEqual(t, maxDiff, 2e-3, "confidence of image %d: gotrain %v, PyTorch %v", worst, got[max(worst, 0)].conf, want[max(worst, 0)].conf)

	for _, name := range []string{"confusion_matrix.png", "misclassified.png", "well_classified.png"} {
		fi, err := os.Stat(filepath.Join(out, name))
		require.NoError(t, err)
		require.NotZero(t, fi.Size(), name)
	}
}

// TestEvalBadInput checks the eval command's errors: each is one line, and
// the command fails before reading MNIST and writes nothing into -out.
func TestEvalBadInput(t *testing.T) {
	dir := t.TempDir()
	// A -data folder whose MNIST files are all empty: reaching the data
	// would fail with a message about them, not the one expected.
	data := filepath.Join(dir, "mnist")
	require.NoError(t, os.Mkdir(data, 0o755))
	for _, name := range mnist.Files() {
		require.NoError(t, os.WriteFile(filepath.Join(data, name+".gz"), nil, 0o644))
	}
	notST := filepath.Join(dir, "weights.txt")
	require.NoError(t, os.WriteFile(notST, []byte("these are not weights\n"), 0o644))
	baseline := filepath.Join(torchBaseline, "baseline.safetensors")

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing weights", []string{"-model", "baseline"}, exitUsage, "-weights"},
		{"not safetensors", []string{"-model", "baseline", "-weights", notST}, 1, notST},
		{"another model", []string{"-model", "googlenet", "-weights", baseline}, 1, `tensor "`},
		{"negative limit", []string{"-model", "baseline", "-weights", baseline, "-limit-test", "-1"}, exitUsage, "-limit-test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "eval")
			args := append([]string{"eval"}, tc.args...)
			args = append(args, "-device", "cpu", "-data", data, "-out", out)
			stderr := captureStderr(t, func() {
				require.Equal(t, tc.code, run(context.Background(), args))
			})
			require.Contains(t, stderr, tc.msg)
			require.NotContains(t, stderr, "mnist")
			require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
			_, err := os.Stat(out)
			require.ErrorIs(t, err, os.ErrNotExist, "%s must not be created", out)
		})
	}
}
