package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDiskFull fills the disk under a run in its second epoch: the run
// fails with one line naming the file and saying epoch 1 is intact, and,
// once space is freed, resumes to end byte for byte as the uninterrupted
// run. As root it uses a small tmpfs; elsewhere an injected ENOSPC.
func TestDiskFull(t *testing.T) {
	reference(t)
	for _, mode := range []string{"tmpfs", "injected"} {
		t.Run(mode, func(t *testing.T) {
			mnt := filepath.Join(t.TempDir(), "disk")
			require.NoError(t, os.Mkdir(mnt, 0o755))
			var env []string
			if mode == "tmpfs" {
				// Epoch 1's files take about 2.4 MB, epoch 2's as many again.
				if os.Getuid() != 0 || exec.Command("mount", "-t", "tmpfs", "-o", "size=3500k", "tmpfs", mnt).Run() != nil {
					t.Skip("needs root and tmpfs (the injected case runs instead)")
				}
				t.Cleanup(func() { exec.Command("umount", mnt).Run() })
			} else {
				env = []string{"GOTRAIN_TEST_FAIL=epochs/0002/state.safetensors"}
			}
			dir := filepath.Join(mnt, "run")
			r := runGotrain(t, env, tinyRun(dir)...)
			require.Equal(t, 1, r.code, r.stderr)
			oneLineErr(t, r, "train")
			require.Contains(t, r.stderr, "no space left on device")
			require.Contains(t, r.stderr, "epochs/0002/")
			require.Contains(t, r.stderr, "still holds epoch 1 intact: continue with -resume "+dir)
			require.Equal(t, 1, committedEpoch(t, dir))
			require.NoDirExists(t, filepath.Join(dir, "epochs", "0002"), "the failed epoch's files are removed")
			t.Log(r.stderr)
			if mode == "tmpfs" { // free space
				require.NoError(t, exec.Command("mount", "-o", "remount,size=64m", mnt).Run())
			}
			r = runGotrain(t, nil, resumeRun(dir)...)
			require.Equal(t, 0, r.code, r.stderr)
			sameAsReference(t, dir)
		})
	}
}

// TestCommitWriteFails fails the write of commit.json itself (the commit
// point): the epoch is not committed, the previous one is, and the run
// resumes from it.
func TestCommitWriteFails(t *testing.T) {
	reference(t)
	dir := filepath.Join(t.TempDir(), "run")
	r := runGotrain(t, []string{"GOTRAIN_TEST_FAIL=/commit.json"}, tinyRun(dir)...)
	require.Equal(t, 1, r.code, r.stderr)
	oneLineErr(t, r, "train")
	require.Contains(t, r.stderr, "commit.json")
	require.Contains(t, r.stderr, "no epoch was complete yet: start again with -out "+dir)
	require.Equal(t, 0, committedEpoch(t, dir))
	finish(t, dir)
	sameAsReference(t, dir)
}

// TestSummaryWriteFails fails the last write of a run (summary.json): every
// epoch is committed, and -resume writes the end of the run again.
func TestSummaryWriteFails(t *testing.T) {
	reference(t)
	dir := filepath.Join(t.TempDir(), "run")
	r := runGotrain(t, []string{"GOTRAIN_TEST_FAIL=/summary.json"}, tinyRun(dir)...)
	require.Equal(t, 1, r.code, r.stderr)
	oneLineErr(t, r, "train")
	require.Contains(t, r.stderr, "summary.json: no space left on device")
	require.Contains(t, r.stderr, "-resume "+dir+" writes the figures and summary again")
	require.Equal(t, 3, committedEpoch(t, dir))
	r = runGotrain(t, nil, resumeRun(dir)...)
	require.Equal(t, 0, r.code, r.stderr)
	require.FileExists(t, filepath.Join(dir, "summary.json"))
	sameAsReference(t, dir)
}
