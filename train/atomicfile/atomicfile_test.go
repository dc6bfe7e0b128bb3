package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, WriteFile(path, []byte("one")))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "a new file: 0666 less the umask")
	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, WriteFile(path, []byte("two")))
	fi, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "a replaced file keeps its mode")
	require.Equal(t, []string{"f"}, names(t, dir))
}

// TestFailedStepKeepsOld fails each step in turn: before the rename the
// old file stays and no temporary file is left; a failed folder flush
// comes after the new file is in place.
func TestFailedStepKeepsOld(t *testing.T) {
	for _, step := range []string{"create", "write", "sync", "close", "rename", "syncdir"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			require.NoError(t, WriteFile(path, []byte("old")))
			err := WriteWith(path, func(w io.Writer) error {
				_, err := w.Write([]byte("new"))
				return err
			}, Options{Fault: func(s string) error {
				if s == step {
					return syscall.ENOSPC
				}
				return nil
			}})
			var se *StepError
			require.True(t, errors.As(err, &se), "%v", err)
			require.ErrorIs(t, err, syscall.ENOSPC)
			require.Contains(t, err.Error(), path)
			data, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			want := "old"
			if step == "syncdir" {
				want = "new"
			}
			require.Equal(t, want, string(data))
			require.Equal(t, []string{"f"}, names(t, dir), "no temporary file left")
		})
	}
}

func TestIsTemp(t *testing.T) {
	require.True(t, IsTemp(TempName("best.safetensors")))
	require.False(t, IsTemp("best.safetensors"))
	require.False(t, IsTemp("notes.tmp-1"))
}
