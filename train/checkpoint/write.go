package checkpoint

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// fault, set by tests, is asked before each step of atomicWrite ("create",
// "write" (each write), "sync", "close", "rename", "syncdir") and fails the
// step when it returns an error. A failing write writes half its bytes
// first, as a full disk does.
var fault func(step string) error

func injected(step string) error {
	if fault == nil {
		return nil
	}
	return fault(step)
}

type faultWriter struct{ w io.Writer }

func (f faultWriter) Write(p []byte) (int, error) {
	if err := injected("write"); err != nil {
		n, _ := f.w.Write(p[:len(p)/2])
		return n, err
	}
	return f.w.Write(p)
}

// atomicWrite replaces path by what fill writes: into a new file in path's
// folder, flushed to disk, then renamed over path, then the folder flushed.
// On any error before the rename the temporary file is removed and path is
// untouched.
func atomicWrite(path string, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return &Error{Path: path, Reason: "the path names a folder, not a file"}
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return &Error{Path: path, Reason: "exists and is not a regular file"}
	}
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return writeErr(path, "create temporary file", err)
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
	// Keep the permissions of the file being replaced.
	if fi, err := os.Stat(path); err == nil {
		if err := f.Chmod(fi.Mode().Perm()); err != nil {
			return writeErr(path, "chmod temporary file", err)
		}
	}
	var w io.Writer = f
	if fault != nil {
		w = faultWriter{f}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := fill(bw); err != nil {
		return writeErr(path, "write", err)
	}
	if err := bw.Flush(); err != nil {
		return writeErr(path, "write", err)
	}
	if err := step("sync", f.Sync); err != nil {
		return writeErr(path, "sync", err)
	}
	if err := step("close", func() error { closed = true; return f.Close() }); err != nil {
		return writeErr(path, "close", err)
	}
	if err := step("rename", func() error { return os.Rename(tmp, path) }); err != nil {
		return writeErr(path, "rename", err)
	}
	// The new file is in place; flushing the folder makes the rename durable.
	if err := step("syncdir", func() error { return syncDir(dir) }); err != nil {
		return &Error{Path: path, Reason: "saved, but flushing its folder failed (a crash now may lose the new file): " + errText(err), Err: err}
	}
	return nil
}

// step runs fn unless the test hook fails the step first.
func step(name string, fn func() error) error {
	if err := injected(name); err != nil {
		return err
	}
	return fn()
}

// createTemp creates a new file next to the target, named after it, with
// the permissions the umask gives a new file.
func createTemp(dir, base string) (*os.File, string, error) {
	if err := injected("create"); err != nil {
		return nil, "", err
	}
	var rnd [6]byte
	for try := 0; ; try++ {
		rand.Read(rnd[:])
		name := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil || !errors.Is(err, fs.ErrExist) || try == 100 {
			return f, name, err
		}
	}
}

func syncDir(dir string) error {
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

// writeErr reports a failed save; the previous file is intact.
func writeErr(path, step string, err error) error {
	var pe *parseError
	if errors.As(err, &pe) {
		return &Error{Path: path, Tensor: pe.tensor, Reason: pe.reason + " (the previous file is unchanged)", Err: err}
	}
	return &Error{Path: path, Reason: step + ": " + errText(err) + " (the previous file is unchanged)", Err: err}
}

// errText drops the (temporary) path an *fs.PathError repeats.
func errText(err error) string {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err.Error()
	}
	return err.Error()
}
