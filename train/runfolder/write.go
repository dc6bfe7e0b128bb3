package runfolder

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile replaces path by data atomically: a new file next to it
// (mode 0666 less the umask, so 0644 under the usual 022), written,
// flushed to disk, renamed over path, and the folder flushed. On an error
// path is untouched and no temporary file is left.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path, atomically as WriteFile does, by what fill writes.
func Write(path string, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := injected(path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, tmp, err := createTemp(dir, base)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, errText(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := fill(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, errText(err))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, errText(err))
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, errText(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", path, errText(err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, errText(err))
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: flushing its folder: %w", path, errText(err))
	}
	return nil
}

// MarshalJSON encodes v as indented JSON ending in a newline. Unlike a bare
// json.Marshal whose error is dropped, a value JSON cannot hold (NaN, an
// infinity) is an error naming what holds it, never an empty file.
func MarshalJSON(what string, v any) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return append(data, '\n'), nil
}

// WriteJSON writes v to path as indented JSON, atomically.
func WriteJSON(path string, v any) error {
	data, err := MarshalJSON(path, v)
	if err != nil {
		return err
	}
	return WriteFile(path, data)
}

// tmpInfix marks the temporary files Write creates: ".NAME.tmp-RANDOM".
const tmpInfix = ".tmp-"

// createTemp creates a new file next to the target, named after it, with
// the permissions the umask gives a new file.
func createTemp(dir, base string) (*os.File, string, error) {
	var rnd [6]byte
	for try := 0; ; try++ {
		rand.Read(rnd[:])
		name := filepath.Join(dir, "."+base+tmpInfix+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil || !errors.Is(err, fs.ErrExist) || try == 100 {
			return f, name, err
		}
	}
}

// isTemp reports whether name is a temporary file of an atomic write (this
// package's, or the checkpoint writer's, of the same shape).
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tmpInfix)
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

// errText drops the temporary path an *fs.PathError would repeat.
func errText(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readJSON decodes the JSON file path into v, naming path on errors.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
