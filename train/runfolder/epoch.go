package runfolder

import (
	"fmt"
	"os"
	"path/filepath"
)

// An Epoch is the set of files of one epoch being written into its own
// folder, epochs/NNNN. Nothing of it counts until Commit writes
// commit.json naming it; until then the previous epoch stays the
// committed one, whatever happens to this process.
type Epoch struct {
	f     *Folder
	n     int
	rel   string
	sizes map[string]int64
}

// BeginEpoch starts epoch n (1-based), after the committed one.
func (f *Folder) BeginEpoch(n int) (*Epoch, error) {
	if f.commit != nil && n <= f.commit.Epoch {
		return nil, fmt.Errorf("run folder %s: epoch %d is already committed (up to %d)", f.dir, n, f.commit.Epoch)
	}
	e := &Epoch{f: f, n: n, rel: epochDir(n), sizes: map[string]int64{}}
	dir := filepath.Join(f.dir, e.rel)
	if err := os.RemoveAll(dir); err != nil { // a stale, uncommitted attempt
		return nil, e.fail(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, e.fail(err)
	}
	killPoint(fmt.Sprintf("begin@%d", n))
	return e, nil
}

// Save writes the epoch's file name with write, which must write path
// atomically (checkpoint.Save does).
func (e *Epoch) Save(name string, write func(path string) error) error {
	path := filepath.Join(e.f.dir, e.rel, name)
	err := injected(path)
	if err != nil {
		err = fmt.Errorf("write %s: %w", path, err)
	} else {
		err = write(path)
	}
	if err != nil {
		return e.fail(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return e.fail(err)
	}
	e.sizes[name] = fi.Size()
	killPoint(fmt.Sprintf("wrote:%s@%d", name, e.n))
	return nil
}

// WriteFile writes the epoch's file name.
func (e *Epoch) WriteFile(name string, data []byte) error {
	return e.Save(name, func(path string) error { return WriteFile(path, data) })
}

// Keep carries the committed epoch's file name into this epoch unchanged
// (best.safetensors when the epoch is not the best).
func (e *Epoch) Keep(name string) error {
	src := e.f.CommittedPath(name)
	if src == "" {
		return e.fail(fmt.Errorf("%s: no committed epoch to keep it from", name))
	}
	return e.Save(name, func(path string) error { return link(path, src) })
}

// Commit makes the epoch the committed one: its files and folder are
// flushed, commit.json is replaced (the commit point), the files are put at
// the top of the folder and older epoch folders removed.
func (e *Epoch) Commit() error {
	for _, name := range epochFiles {
		if _, ok := e.sizes[name]; !ok {
			return e.fail(fmt.Errorf("%s was not written", name))
		}
	}
	dir := filepath.Join(e.f.dir, e.rel)
	if err := syncDir(dir); err != nil {
		return e.fail(err)
	}
	if err := syncDir(filepath.Join(e.f.dir, EpochsDir)); err != nil {
		return e.fail(err)
	}
	killPoint(fmt.Sprintf("synced@%d", e.n))
	c := &Commit{Format: commitFormat, Epoch: e.n, Dir: e.rel, Files: e.sizes}
	if err := e.f.WriteJSON(CommitFile, c); err != nil {
		return e.fail(err)
	}
	killPoint(fmt.Sprintf("committed@%d", e.n))
	e.f.commit = c
	if err := e.f.publish(); err != nil {
		return err
	}
	if err := e.f.clean(); err != nil {
		return err
	}
	killPoint(fmt.Sprintf("cleaned@%d", e.n))
	return nil
}

// fail removes the uncommitted epoch's folder (freeing its space) and says
// what the folder still holds.
func (e *Epoch) fail(err error) error {
	os.RemoveAll(filepath.Join(e.f.dir, e.rel))
	return fmt.Errorf("epoch %d not saved: %w; %s", e.n, err, e.f.Intact())
}
