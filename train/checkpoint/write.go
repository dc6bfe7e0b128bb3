package checkpoint

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/gotrain/gotrain/train/atomicfile"
)

// fault, set by tests, is asked before each step of atomicWrite ("create",
// "write" (each write), "sync", "close", "rename", "syncdir") and fails the
// step when it returns an error. A failing write writes half its bytes
// first, as a full disk does.
var fault func(step string) error

// atomicWrite replaces path by what fill writes, with the atomic writer
// every gotrain file goes through: into a new file in path's folder,
// flushed to disk, then renamed over path, then the folder flushed. On any
// error before the rename the temporary file is removed and path is
// untouched.
func atomicWrite(path string, fill func(io.Writer) error) error {
	if _, base := filepath.Split(path); base == "" {
		return &Error{Path: path, Reason: "the path names a folder, not a file"}
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return &Error{Path: path, Reason: "exists and is not a regular file"}
	}
	err := atomicfile.WriteWith(path, fill, atomicfile.Options{Fault: fault})
	var se *atomicfile.StepError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Step == "syncdir":
		return &Error{Path: path, Reason: "saved, but flushing its folder failed (a crash now may lose the new file): " + atomicfile.ErrText(se.Err), Err: se.Err}
	case errors.As(err, &se):
		return writeErr(path, se.Step, se.Err)
	}
	return writeErr(path, "write", err)
}

// writeErr reports a failed save; the previous file is intact.
func writeErr(path, step string, err error) error {
	var pe *parseError
	if errors.As(err, &pe) {
		return &Error{Path: path, Tensor: pe.tensor, Reason: pe.reason + " (the previous file is unchanged)", Err: err}
	}
	return &Error{Path: path, Reason: step + ": " + atomicfile.ErrText(err) + " (the previous file is unchanged)", Err: err}
}
