package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/train/runfolder"
)

// tinyRun is a three-epoch baseline run of three steps an epoch into out.
func tinyRun(out string) []string {
	return []string{"train", "-model", "baseline", "-device", "cpu", "-epochs", "3", "-batch-size", "32",
		"-limit-train", "96", "-limit-test", "32", "-data", dataDir, "-out", out}
}

// resumeRun continues the run in dir.
func resumeRun(dir string) []string {
	return []string{"train", "-resume", dir, "-device", "cpu", "-data", dataDir}
}

var (
	refOnce sync.Once
	refDir  string
)

// reference is the folder of the uninterrupted tinyRun.
func reference(t *testing.T) string {
	gotrainBinary(t)
	refOnce.Do(func() {
		refDir = filepath.Join(binDir, "reference")
		r := runGotrain(t, nil, tinyRun(refDir)...)
		require.Equal(t, 0, r.code, r.stderr)
	})
	require.FileExists(t, filepath.Join(refDir, runfolder.LastWeights))
	return refDir
}

// finish brings the run in dir to its end as a user would: -resume while
// it has a committed epoch, else start it again; it returns the number of
// processes it took.
func finish(t *testing.T, dir string) int {
	t.Helper()
	for n := 1; n <= 5; n++ {
		args := tinyRun(dir)
		if _, err := os.Stat(filepath.Join(dir, runfolder.CommitFile)); err == nil {
			args = resumeRun(dir)
		}
		r := runGotrain(t, nil, args...)
		if r.code == 0 {
			return n
		}
		oneLineErr(t, r, "train")
		t.Logf("%v: exit %d: %s", args[1:3], r.code, strings.TrimSpace(r.stderr))
	}
	t.Fatalf("the run in %s did not finish", dir)
	return 0
}

// sameAsReference checks a finished run against the uninterrupted one:
// last and best weights byte for byte, the metrics but for their timings,
// and a clean folder.
func sameAsReference(t *testing.T, dir string) {
	t.Helper()
	ref := reference(t)
	for _, f := range []string{runfolder.LastWeights, runfolder.BestWeights} {
		want, err := os.ReadFile(filepath.Join(ref, f))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%s differs from the uninterrupted run's", f)
	}
	require.Equal(t, metricsNoTime(t, ref), metricsNoTime(t, dir))
	checkClean(t, dir)
}

func metricsNoTime(t *testing.T, dir string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, runfolder.MetricsJSONL))
	require.NoError(t, err)
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "%s: %q", dir, line)
		delete(m, "seconds")
		delete(m, "images_per_sec")
		delete(m, "device_ms_per_step")
		delete(m, "launches_per_step")
		out = append(out, m)
	}
	return out
}

// checkClean checks dir has no temporary file and one epoch folder, the
// committed one, and that every file is readable by others (0644).
func checkClean(t *testing.T, dir string) {
	t.Helper()
	var c runfolder.Commit
	data, err := os.ReadFile(filepath.Join(dir, runfolder.CommitFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &c))
	eps, err := os.ReadDir(filepath.Join(dir, runfolder.EpochsDir))
	require.NoError(t, err)
	require.Len(t, eps, 1)
	require.Equal(t, c.Dir, filepath.Join(runfolder.EpochsDir, eps[0].Name()))
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		require.NotContains(t, d.Name(), ".tmp", "temporary file left: %s", p)
		if !d.IsDir() {
			fi, err := d.Info()
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), p)
		}
		return nil
	}))
}

// TestKillAtEveryWritePoint kills gotrain (SIGKILL) at each named point of
// an epoch's commit, resumes, and checks the run ends byte for byte as the
// uninterrupted one.
func TestKillAtEveryWritePoint(t *testing.T) {
	reference(t)
	start := time.Now()
	// Every point of epoch 2 (the previous epoch committed), and in epoch 1
	// the points either side of the first commit.
	var points []string
	for _, p := range runfolder.KillPoints {
		points = append(points, p+"@2")
	}
	points = append(points, "begin@1", "wrote:state.safetensors@1", "synced@1", "committed@1", "cleaned@1")
	t.Run("points", func(t *testing.T) {
		for _, at := range points {
			epoch := int(at[len(at)-1] - '0')
			t.Run(at, func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(t.TempDir(), "run")
				r := runGotrain(t, []string{"GOTRAIN_TEST_KILL=" + at}, tinyRun(dir)...)
				require.Equal(t, syscall.SIGKILL, r.signal, "killed at %s; stderr %q", at, r.stderr)
				committed := committedEpoch(t, dir)
				require.Contains(t, []int{epoch - 1, epoch}, committed, "after a kill in epoch %d", epoch)
				if committed == 0 {
					// Nothing to resume: -resume says so and how to start again.
					r := runGotrain(t, nil, resumeRun(dir)...)
					require.Equal(t, 1, r.code)
					oneLineErr(t, r, "train")
					require.Contains(t, r.stderr, "before completing its first epoch")
					require.Contains(t, r.stderr, "-out "+dir)
				}
				finish(t, dir)
				sameAsReference(t, dir)
			})
		}
	})
	t.Logf("%d kill points in %.1fs", len(points), time.Since(start).Seconds())
}

// committedEpoch is the epoch commit.json names, 0 without one.
func committedEpoch(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, runfolder.CommitFile))
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	var c runfolder.Commit
	require.NoError(t, json.Unmarshal(data, &c), "commit.json: %q", data)
	return c.Epoch
}

// TestKillAtRandomMoments kills gotrain at random moments of a run, again
// and again, and checks the run ends byte for byte as the uninterrupted one.
func TestKillAtRandomMoments(t *testing.T) {
	ref := reference(t)
	// How long the run takes, to aim the kills inside it.
	t0 := time.Now()
	r := runGotrain(t, nil, tinyRun(filepath.Join(t.TempDir(), "timing"))...)
	require.Equal(t, 0, r.code, r.stderr)
	span := time.Since(t0)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, a run takes %v, reference %s", seed, span, ref)
	rng := rand.New(rand.NewPCG(seed, 18))
	for i := range 4 {
		dir := filepath.Join(t.TempDir(), "run")
		kills := 0
		for kills < 3 {
			args := tinyRun(dir)
			if committedEpoch(t, dir) > 0 {
				args = resumeRun(dir)
			}
			cmd, wait := startGotrain(t, nil, args...)
			time.Sleep(time.Duration(rng.Int64N(int64(span))))
			cmd.Process.Signal(syscall.SIGKILL)
			r := wait()
			if r.signal != syscall.SIGKILL {
				break // it ended first
			}
			kills++
		}
		n := finish(t, dir)
		t.Logf("run %d: %d kills, then %d process(es) to finish", i, kills, n)
		sameAsReference(t, dir)
	}
}
