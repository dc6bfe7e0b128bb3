package runfolder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/gotrain/gotrain/train/atomicfile"
)

// WriteFile replaces path by data atomically (see package atomicfile:
// mode 0644 under the usual umask, the file and its folder flushed to
// disk). On an error path is untouched and no temporary file is left.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path, atomically as WriteFile does, by what fill writes.
func Write(path string, fill func(io.Writer) error) error {
	if err := injected(path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, fill)
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

// isTemp reports whether name is a temporary file of an atomic write.
func isTemp(name string) bool { return atomicfile.IsTemp(name) }

func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

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
