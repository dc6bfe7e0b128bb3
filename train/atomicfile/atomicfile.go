// Package atomicfile replaces a file atomically: the new contents go to a
// temporary file next to it (mode 0666 less the umask, so 0644 under the
// usual 022, or the replaced file's mode), which is flushed to disk and
// renamed over the file, and the folder is flushed. A reader sees the old
// file or the new one, never a part; a failure leaves the old file and no
// temporary one. gotrain writes every file of a run folder, checkpoint and
// MNIST file this way.
package atomicfile

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// StepError is a failed step of a write: "create temporary file", "chmod
// temporary file", "write", "sync", "close" or "rename", after which the
// replaced file is untouched, or "syncdir", after which the new file is in
// place but its rename may not survive a crash.
type StepError struct {
	Path string
	Step string
	Err  error
}

func (e *StepError) Error() string {
	if e.Step == "write" {
		return "write " + e.Path + ": " + ErrText(e.Err)
	}
	return "write " + e.Path + ": " + e.Step + ": " + ErrText(e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Options are a write's test hooks.
type Options struct {
	// Fault, when set, is asked before each step ("create", "write" (each
	// write of the buffered file), "sync", "close", "rename", "syncdir") and
	// fails the step when it returns an error. A failing write writes half
	// its bytes first, as a full disk does.
	Fault func(step string) error
}

// WriteFile replaces path by data.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path by what fill writes.
func Write(path string, fill func(io.Writer) error) error {
	return WriteWith(path, fill, Options{})
}

// WriteWith is Write with test hooks.
func WriteWith(path string, fill func(io.Writer) error, opt Options) (err error) {
	fail := func(step string, err error) error { return &StepError{Path: path, Step: step, Err: err} }
	run := func(step string, fn func() error) error {
		if opt.Fault != nil {
			if err := opt.Fault(step); err != nil {
				return fail(step, err)
			}
		}
		if err := fn(); err != nil {
			return fail(step, err)
		}
		return nil
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if opt.Fault != nil {
		if err := opt.Fault("create"); err != nil {
			return fail("create temporary file", err)
		}
	}
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return fail("create temporary file", err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	if fi, err := os.Stat(path); err == nil { // keep the replaced file's mode
		if err := f.Chmod(fi.Mode().Perm()); err != nil {
			return fail("chmod temporary file", err)
		}
	}
	var w io.Writer = f
	if opt.Fault != nil {
		w = faultWriter{f, opt.Fault}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := fill(bw); err != nil {
		return fail("write", err)
	}
	if err := bw.Flush(); err != nil {
		return fail("write", err)
	}
	if err := run("sync", f.Sync); err != nil {
		return err
	}
	if err := run("close", func() error { closed = true; return f.Close() }); err != nil {
		return err
	}
	if err := run("rename", func() error { return os.Rename(tmp, path) }); err != nil {
		return err
	}
	return run("syncdir", func() error { return SyncDir(dir) })
}

type faultWriter struct {
	w     io.Writer
	fault func(string) error
}

func (f faultWriter) Write(p []byte) (int, error) {
	if err := f.fault("write"); err != nil {
		n, _ := f.w.Write(p[:len(p)/2])
		return n, err
	}
	return f.w.Write(p)
}

// tmpInfix marks the temporary files: ".NAME.tmp-RANDOM".
const tmpInfix = ".tmp-"

// TempName is a new temporary name for a file named base.
func TempName(base string) string {
	var rnd [6]byte
	rand.Read(rnd[:])
	return "." + base + tmpInfix + hex.EncodeToString(rnd[:])
}

// IsTemp reports whether name is one of the temporary files a write
// creates (left behind only by a process killed in the middle).
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tmpInfix)
}

// createTemp creates a new file next to the target, named after it, with
// the permissions the umask gives a new file.
func createTemp(dir, base string) (*os.File, string, error) {
	for try := 0; ; try++ {
		name := filepath.Join(dir, TempName(base))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil || !errors.Is(err, fs.ErrExist) || try == 100 {
			return f, name, err
		}
	}
}

// SyncDir flushes a folder's entries to disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ErrText drops the (temporary) path an *fs.PathError repeats.
func ErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
