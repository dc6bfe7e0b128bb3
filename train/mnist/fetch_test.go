package mnist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeModule lays out a module folder holding the synthetic set gzipped
// under data/ and returns the folder and the digests of its files.
func fakeModule(t *testing.T, s synth) (string, map[string]string) {
	t.Helper()
	mod := t.TempDir()
	data := filepath.Join(mod, sourceSubdir)
	require.NoError(t, os.Mkdir(data, 0o755))
	digests := map[string]string{}
	for name, b := range s.files {
		z := gz(t, b)
		put(t, data, name+".gz", z)
		sum := sha256.Sum256(z)
		digests[name+".gz"] = hex.EncodeToString(sum[:])
	}
	return mod, digests
}

// call records one call of a fake runFunc.
type call struct {
	dir  string
	env  []string
	name string
	args []string
}

// fakeRunner returns a runFunc that records its calls and answers with
// out and err.
func fakeRunner(out []byte, err error) (runFunc, *[]call) {
	var mu sync.Mutex
	calls := &[]call{}
	return func(_ context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		*calls = append(*calls, call{dir, env, name, args})
		return out, err
	}, calls
}

func jsonDir(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"Path": SourceModule, "Version": SourceVersion, "Dir": dir})
	require.NoError(t, err)
	return b
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func gzNames(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + ".gz"
	}
	sort.Strings(out)
	return out
}

func TestEnsureFetches(t *testing.T) {
	s := newSynth(smallTrain, smallTest)
	mod, digests := fakeModule(t, s)
	run, calls := fakeRunner(jsonDir(t, mod), nil)
	dir := filepath.Join(t.TempDir(), "a", "b") // does not exist yet
	var log bytes.Buffer

	require.NoError(t, fetcher{run, digests}.ensure(context.Background(), dir, &log))

	require.Len(t, *calls, 1)
	c := (*calls)[0]
	assert.Equal(t, "go", c.name)
	assert.Equal(t, []string{"mod", "download", "-json", SourceModule + "@" + SourceVersion}, c.args)
	assert.Contains(t, c.env, "GO111MODULE=on")
	assert.Contains(t, c.env, "GOWORK=off")
	assert.NotEmpty(t, c.dir)
	assert.NoDirExists(t, c.dir, "the temporary folder is removed")

	assert.Equal(t, gzNames(Files()...), listDir(t, dir), "exactly the four files, no temporary files left")
	for name := range s.files {
		got, err := os.ReadFile(filepath.Join(dir, name+".gz"))
		require.NoError(t, err)
		want, err := os.ReadFile(filepath.Join(mod, sourceSubdir, name+".gz"))
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	train, test, err := load(dir, smallTrain, smallTest)
	require.NoError(t, err)
	assert.Equal(t, smallTrain, train.N)
	assert.Equal(t, smallTest, test.N)

	line := log.String()
	assert.Equal(t, 1, strings.Count(line, "\n"), "one line: %q", line)
	assert.True(t, strings.HasSuffix(line, "\n"))
	assert.Contains(t, line, SourceModule+"@"+SourceVersion)
	assert.Contains(t, line, filepath.Join(mod, sourceSubdir))
	assert.Contains(t, line, "into "+dir)
	for _, n := range Files() {
		assert.Contains(t, line, n+".gz")
	}

	// A second call finds everything and runs nothing.
	log.Reset()
	require.NoError(t, fetcher{run, digests}.ensure(context.Background(), dir, &log))
	assert.Len(t, *calls, 1)
	assert.Empty(t, log.String())
}

func TestEnsureFetchesOnlyMissing(t *testing.T) {
	s := newSynth(smallTrain, smallTest)
	mod, digests := fakeModule(t, s)
	run, calls := fakeRunner(jsonDir(t, mod), nil)
	dir := t.TempDir()
	put(t, dir, TrainImagesFile, s.files[TrainImagesFile])            // raw
	put(t, dir, TestLabelsFile+".gz", gz(t, s.files[TestLabelsFile])) // gzipped
	var log bytes.Buffer

	require.NoError(t, fetcher{run, digests}.ensure(context.Background(), dir, &log))
	assert.Len(t, *calls, 1)
	assert.Equal(t, []string{
		TestImagesFile + ".gz", TestLabelsFile + ".gz", TrainImagesFile, TrainLabelsFile + ".gz",
	}, listDir(t, dir))
	assert.Contains(t, log.String(), "fetched "+TrainLabelsFile+".gz, "+TestImagesFile+".gz from")
	_, _, err := load(dir, smallTrain, smallTest)
	require.NoError(t, err)
}

func TestEnsureNilLog(t *testing.T) {
	s := newSynth(smallTrain, smallTest)
	mod, digests := fakeModule(t, s)
	run, _ := fakeRunner(jsonDir(t, mod), nil)
	require.NoError(t, fetcher{run, digests}.ensure(context.Background(), t.TempDir(), nil))
}

// checkManualHint asserts err is a one-line fetch error that tells which
// files to put where.
func checkManualHint(t *testing.T, err error, dir string, files []string, want string) {
	t.Helper()
	require.Error(t, err)
	msg := err.Error()
	assert.NotContains(t, msg, "\n")
	assert.True(t, strings.HasPrefix(msg, "mnist: cannot fetch MNIST into "+dir+": "), msg)
	assert.Contains(t, msg, want)
	assert.Contains(t, msg, "(put "+strings.Join(files, ", ")+", gzipped or not, into "+dir+" by hand, or point -data DIR at a folder that has them)")
}

func TestEnsureFailures(t *testing.T) {
	s := newSynth(smallTrain, smallTest)
	mod, digests := fakeModule(t, s)
	all := []string{TrainImagesFile + ".gz", TrainLabelsFile + ".gz", TestImagesFile + ".gz", TestLabelsFile + ".gz"}

	badDigests := map[string]string{}
	for k, v := range digests {
		badDigests[k] = v
	}
	badDigests[TestImagesFile+".gz"] = strings.Repeat("0", 64)

	noData := t.TempDir() // a module folder without data/

	errOut, err := json.Marshal(map[string]string{
		"Path": SourceModule, "Version": SourceVersion,
		"Error": SourceModule + "@" + SourceVersion + ": reading module: 404 Not Found\n\tserver response: gone",
	})
	require.NoError(t, err)

	cases := []struct {
		name    string
		out     []byte
		runErr  error
		digests map[string]string
		want    string
	}{
		{"go missing", nil, errors.New("the go command is not on PATH"), digests,
			"go mod download " + SourceModule + "@" + SourceVersion + ": the go command is not on PATH"},
		{"download error in JSON", errOut, errors.New("exit status 1"), digests,
			"go mod download " + SourceModule + "@" + SourceVersion + ": " + SourceModule + "@" + SourceVersion + ": reading module: 404 Not Found server response: gone"},
		{"download failed, no JSON", []byte("not json"), errors.New("exit status 1: go: something broke\nbadly"), digests,
			": exit status 1: go: something broke badly"},
		{"unreadable output", []byte("{"), nil, digests, "unreadable output"},
		{"no Dir", []byte(`{"Path":"x"}`), nil, digests, "no Dir in its output"},
		{"digest mismatch", jsonDir(t, mod), nil, badDigests,
			filepath.Join(mod, sourceSubdir, TestImagesFile+".gz") + " has SHA-256 " + digests[TestImagesFile+".gz"] + ", want " + strings.Repeat("0", 64)},
		{"files missing from module", jsonDir(t, noData), nil, digests,
			"reading the downloaded module: open " + filepath.Join(noData, sourceSubdir, TrainImagesFile+".gz")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			run, calls := fakeRunner(c.out, c.runErr)
			var log bytes.Buffer
			err := fetcher{run, c.digests}.ensure(context.Background(), dir, &log)
			checkManualHint(t, err, dir, all, c.want)
			assert.Len(t, *calls, 1)
			assert.Empty(t, listDir(t, dir), "nothing is written on failure")
			assert.Empty(t, log.String())
		})
	}
}

func TestEnsureFailureNamesOnlyMissing(t *testing.T) {
	s := newSynth(smallTrain, smallTest)
	dir := t.TempDir()
	s.write(t, dir)
	require.NoError(t, os.Remove(filepath.Join(dir, TrainLabelsFile)))
	run, _ := fakeRunner(nil, errors.New("the go command is not on PATH"))
	err := fetcher{run, pinnedSHA256}.ensure(context.Background(), dir, nil)
	checkManualHint(t, err, dir, []string{TrainLabelsFile + ".gz"}, "not on PATH")
}

func TestEnsureBadEntry(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, TestImagesFile+".gz"), 0o755))
	run, calls := fakeRunner(nil, nil)
	err := fetcher{run, pinnedSHA256}.ensure(context.Background(), dir, nil)
	checkOneLine(t, err, filepath.Join(dir, TestImagesFile+".gz"), "not a regular file")
	assert.Empty(t, *calls)
}

// TestExecRunNoGo checks the real runner's error when go is not on PATH.
func TestExecRunNoGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	err := Ensure(context.Background(), dir, nil)
	all := []string{TrainImagesFile + ".gz", TrainLabelsFile + ".gz", TestImagesFile + ".gz", TestLabelsFile + ".gz"}
	checkManualHint(t, err, dir, all, "the go command is not on PATH")
}

func TestExecRun(t *testing.T) {
	out, err := execRun(context.Background(), t.TempDir(), []string{"GOTRAIN_X=1"}, "sh", "-c", `echo "$GOTRAIN_X"; pwd`)
	require.NoError(t, err)
	assert.Contains(t, string(out), "1\n")

	out, err = execRun(context.Background(), t.TempDir(), nil, "sh", "-c", "echo partial; echo oops >&2; exit 3")
	require.Error(t, err)
	assert.Equal(t, "partial\n", string(out))
	assert.Equal(t, "exit status 3: oops", err.Error())
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/xdg/cache")
	assert.Equal(t, filepath.Join("/xdg/cache", "gotrain", "mnist"), DefaultDir())

	t.Setenv("HOME", "/home/someone")
	t.Setenv("XDG_CACHE_HOME", "")
	assert.Equal(t, filepath.Join("/home/someone", ".cache", "gotrain", "mnist"), DefaultDir())

	t.Setenv("XDG_CACHE_HOME", "relative/ignored")
	assert.Equal(t, filepath.Join("/home/someone", ".cache", "gotrain", "mnist"), DefaultDir())
}

func TestWriteAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	p := put(t, dir, "f", []byte("old"))
	require.NoError(t, writeAtomic(p, []byte("new")))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "new", string(b))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	assert.Equal(t, []string{"f"}, listDir(t, dir))

	assert.Error(t, writeAtomic(filepath.Join(dir, "no", "such", "f"), nil))
}

// TestFetchReal fetches the real files through the go command (using the
// user's module proxy settings) and loads them.
func TestFetchReal(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches MNIST through the go command; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "mnist")
	var log bytes.Buffer
	require.NoError(t, Ensure(ctx, dir, &log))
	t.Log(strings.TrimSpace(log.String()))
	assert.Equal(t, 1, strings.Count(log.String(), "\n"))
	assert.Equal(t, gzNames(Files()...), listDir(t, dir))

	train, test, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, TrainCount, train.N)
	assert.Equal(t, TestCount, test.N)
	assert.Len(t, train.Images, TrainCount*Pixels)
	assert.Len(t, test.Images, TestCount*Pixels)
	assert.Equal(t, []uint8{5, 0, 4, 1, 9, 2, 1, 3, 1, 4}, train.Labels[:10])
	assert.Equal(t, []uint8{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}, test.Labels[:10])

	// Label counts of the training set are well known.
	var counts [Classes]int
	for _, l := range train.Labels {
		counts[l]++
	}
	assert.Equal(t, [Classes]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, counts)

	// The normalised training pixels have about the published mean and std.
	var sum, sq float64
	var hist [256]int
	for _, p := range train.Images {
		hist[p]++
	}
	for p, n := range hist {
		v := float64(p) / 255
		sum += v * float64(n)
		sq += v * v * float64(n)
	}
	n := float64(len(train.Images))
	mean := sum / n
	std := math.Sqrt(sq/n - mean*mean)
	assert.InDelta(t, Mean, mean, 1e-4)
	assert.InDelta(t, Std, std, 1e-4)
}
