package runfolder

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/models"
)

func listNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileIs0644UnderUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), MetricsJSONL)
	require.NoError(t, WriteFile(path, []byte("{}\n")))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
}

// TestWriteJSONRefusesNaN: a value JSON cannot hold is an error naming the
// file, and the file keeps its previous contents (never a lone newline).
func TestWriteJSONRefusesNaN(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SummaryFile)
	require.NoError(t, WriteJSON(path, map[string]float64{"loss": 1}))
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		err := WriteJSON(path, map[string]float64{"loss": v})
		require.Error(t, err)
		require.Contains(t, err.Error(), path)
		require.Contains(t, err.Error(), "unsupported value")
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.JSONEq(t, `{"loss": 1}`, string(data))
	}
	require.Equal(t, []string{SummaryFile}, listNames(t, dir), "no temporary file left")
}

// TestWriteFailureKeepsOld: a failing write (here the fill function's
// error, as a full disk gives) leaves the old file and no temporary one.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, MetricsCSV)
	require.NoError(t, WriteFile(path, []byte("old")))
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("half"))
		return syscall.ENOSPC
	})
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Contains(t, err.Error(), path)
	data, _ := os.ReadFile(path)
	require.Equal(t, "old", string(data))
	require.Equal(t, []string{MetricsCSV}, listNames(t, dir))
}

func TestCheckNew(t *testing.T) {
	root := t.TempDir()
	missing := filepath.Join(root, "missing")
	require.NoError(t, CheckNew(missing, "-out", true))
	require.NoDirExists(t, missing, "CheckNew creates nothing")
	require.NoError(t, CheckNew(root, "-out", true), "an empty folder is fine")
	require.NoError(t, os.WriteFile(filepath.Join(root, ConfigFile), []byte("{}"), 0o644))
	require.NoError(t, CheckNew(root, "-out", true), "a run that never completed an epoch may start again")
	for _, name := range []string{CommitFile, PredictionsCSV, PruneJSON} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
		err := CheckNew(dir, "-out", true)
		var ie *InvalidError
		require.True(t, errors.As(err, &ie), "%s: %v", name, err)
		require.Contains(t, err.Error(), "pass -resume "+dir)
		require.NotContains(t, CheckNew(dir, "-out", false).Error(), "-resume")
	}
	file := filepath.Join(root, ConfigFile)
	err := CheckNew(file, "-out", true)
	var ie *InvalidError
	require.True(t, errors.As(err, &ie), "a file for a folder is a bad flag: %v", err)
	require.Contains(t, err.Error(), "is a file")
}

func TestLockRefusesSecondWriter(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, true)
	require.NoError(t, err)
	_, err = Create(dir, true)
	require.ErrorContains(t, err, "being written by another gotrain process")
	require.NoError(t, f.Close())
	g, err := Create(dir, true)
	require.NoError(t, err, "the lock goes with Close")
	require.NoError(t, g.Close())
}

// writeEpoch writes and commits epoch n with files holding s.
func writeEpoch(t *testing.T, f *Folder, n int, s string, keepBest bool) {
	t.Helper()
	e, err := f.BeginEpoch(n)
	require.NoError(t, err)
	for _, name := range epochFiles {
		if name == BestWeights && keepBest {
			require.NoError(t, e.Keep(name))
			continue
		}
		require.NoError(t, e.WriteFile(name, []byte(s+" "+name)))
	}
	require.NoError(t, e.Commit())
}

func TestEpochCommitAndOpen(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, true)
	require.NoError(t, err)
	require.Nil(t, f.Committed())
	writeEpoch(t, f, 1, "one", false)
	writeEpoch(t, f, 2, "two", true)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	require.Equal(t, "two "+LastWeights, read(LastWeights))
	require.Equal(t, "one "+BestWeights, read(BestWeights), "kept from epoch 1")
	require.Equal(t, []string{"0002"}, listNames(t, filepath.Join(dir, EpochsDir)))

	// What a process killed in epoch 3 leaves: a partial epoch folder,
	// temporary files, a top-level file of the old epoch.
	e, err := f.BeginEpoch(3)
	require.NoError(t, err)
	require.NoError(t, e.WriteFile(MetricsJSONL, []byte("three")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".last.safetensors.tmp-abc"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, EpochsDir, "0002", ".state.safetensors.tmp-abc"), nil, 0o644))
	require.NoError(t, os.Remove(filepath.Join(dir, LastWeights)))
	require.NoError(t, os.WriteFile(filepath.Join(dir, LastWeights), []byte("stale"), 0o644))
	require.NoError(t, f.Close())

	f, err = Open(dir)
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, 2, f.Committed().Epoch)
	require.Equal(t, "two "+LastWeights, read(LastWeights), "put back from the committed epoch")
	require.Equal(t, []string{"0002"}, listNames(t, filepath.Join(dir, EpochsDir)))
	for _, n := range append(listNames(t, dir), listNames(t, filepath.Join(dir, EpochsDir, "0002"))...) {
		require.NotContains(t, n, ".tmp")
	}
	_, err = f.BeginEpoch(2)
	require.Error(t, err, "a committed epoch is never rewritten")
}

func TestOpenWithoutEpoch(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir)
	require.ErrorContains(t, err, "not a gotrain run folder")
	require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte("{}"), 0o644))
	_, err = Open(dir)
	require.ErrorContains(t, err, "stopped before completing its first epoch")
	require.ErrorContains(t, err, "-out "+dir)
}

func TestOpenRefusesChangedFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, true)
	require.NoError(t, err)
	writeEpoch(t, f, 1, "one", false)
	require.NoError(t, f.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, EpochsDir, "0001", StateFile), []byte("x"), 0o644))
	_, err = Open(dir)
	require.ErrorContains(t, err, "changed since")
}

func TestFailedEpochSaysWhatIsIntact(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, true)
	require.NoError(t, err)
	defer f.Close()
	writeEpoch(t, f, 1, "one", false)
	e, err := f.BeginEpoch(2)
	require.NoError(t, err)
	err = e.Save(StateFile, func(string) error { return syscall.ENOSPC })
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Contains(t, err.Error(), "epoch 2 not saved")
	require.Contains(t, err.Error(), "still holds epoch 1 intact: continue with -resume "+dir)
	require.NoDirExists(t, filepath.Join(dir, EpochsDir, "0002"))
}

func baseline() Config {
	return Config{Model: "baseline", Epochs: 14, BatchSize: 64, TestBatchSize: 1000, LR: 1, StepSize: 1, Gamma: 0.7,
		Optimizer: Optimizer{Name: "adadelta"}, Seed: 1}
}

func TestValidate(t *testing.T) {
	require.NoError(t, Validate(Request{Command: Train, Config: baseline()}))
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name string
		edit func(r *Request)
		flag string
	}{
		{"threads", func(r *Request) { r.Threads = MaxThreads + 1 }, "-threads"},
		{"threads-neg", func(r *Request) { r.Threads = -1 }, "-threads"},
		{"epochs", func(r *Request) { r.Epochs = MaxEpochs + 1 }, "-epochs"},
		{"batch", func(r *Request) { r.BatchSize = 0 }, "-batch-size"},
		{"test-batch", func(r *Request) { r.TestBatchSize = -5 }, "-test-batch-size"},
		{"lr-nan", func(r *Request) { r.LR = nan }, "-lr"},
		{"lr-inf", func(r *Request) { r.LR = inf }, "-lr"},
		{"lr-huge", func(r *Request) { r.LR = 1e39 }, "-lr"},
		{"momentum-nan", func(r *Request) { r.Optimizer.Momentum = nan }, "-momentum"},
		{"wd-inf", func(r *Request) { r.Optimizer.WeightDecay = inf }, "-weight-decay"},
		{"gamma-nan", func(r *Request) { r.Gamma = nan }, "-gamma"},
		{"gamma-grows", func(r *Request) { r.Gamma = 1e10 }, "-gamma"},
		{"sparsity-nan", func(r *Request) { r.Sparsity = nan }, "-sparsity"},
		{"sparsity-model", func(r *Request) { r.Sparsity = 1e-4 }, "-sparsity"},
		{"optimizer", func(r *Request) { r.Optimizer.Name = "adam" }, "adam"},
		{"percent-nan", func(r *Request) { r.Command, r.Model, r.Percent = Prune, "seresnet", nan }, "-percent"},
		{"prune-epochs", func(r *Request) { r.Command, r.Model, r.Epochs = Prune, "seresnet", -1 }, "-finetune-epochs"},
		{"eval-batch", func(r *Request) { r.Command, r.TestBatchSize = Eval, 0 }, "-batch-size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{Command: Train, Config: baseline()}
			tc.edit(&r)
			err := Validate(r)
			var ie *InvalidError
			require.True(t, errors.As(err, &ie), "%v", err)
			require.Contains(t, err.Error(), tc.flag)
		})
	}
}

func TestCheckWidths(t *testing.T) {
	spec, err := models.Lookup("seresnet")
	require.NoError(t, err)
	w := spec.Widths()
	require.NoError(t, CheckWidths(spec, w))
	var key string
	for k := range w {
		key = k
		break
	}
	for _, v := range []int{0, -1, w[key] + 1, math.MaxInt32} {
		bad := models.Widths{}
		for k, x := range w {
			bad[k] = x
		}
		bad[key] = v
		require.ErrorContains(t, CheckWidths(spec, bad), key)
	}
	base, err := models.Lookup("baseline")
	require.NoError(t, err)
	require.ErrorContains(t, CheckWidths(base, w), "fixed widths")
}

func TestResumeFlags(t *testing.T) {
	rc := &RunConfig{Flags: map[string]string{"lr": "0", "seed": "1", "epochs": "0", "data": "/a", "batch-size": "0"},
		FlagsSet: []string{"seed"}, Effective: baseline()}
	apply, err := rc.ResumeFlags(map[string]string{"resume": "r", "data": "/b", "epochs": "20", "seed": "1"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"lr": "0", "batch-size": "0"}, apply)

	apply, err = rc.ResumeFlags(map[string]string{"resume": "r"})
	require.NoError(t, err)
	require.Equal(t, "0", apply["epochs"], "-epochs applies when not set")

	_, err = rc.ResumeFlags(map[string]string{"resume": "r", "lr": "0.5", "seed": "2", "batch-size": "0"})
	var ie *InvalidError
	require.True(t, errors.As(err, &ie))
	require.Contains(t, err.Error(), "-lr 0.5")
	require.Contains(t, err.Error(), "-seed 2 (was 1)")
	require.NotContains(t, err.Error(), "-batch-size", "the same value is no change")

	_, err = rc.ResumeFlags(map[string]string{"epochs": "3"})
	require.ErrorContains(t, err, "may only be raised")
}
