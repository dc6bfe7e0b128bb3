package runfolder

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gotrain/gotrain/train/atomicfile"
)

// A Folder is a run folder open for writing: locked (flock) until Close,
// so that a second process cannot write it at the same time.
type Folder struct {
	dir    string
	lock   *os.File
	commit *Commit // the committed epoch; nil before the first
}

// Commit is commit.json: the committed epoch and its files, written
// atomically after every one of them is on disk.
type Commit struct {
	Format string           `json:"format"`
	Epoch  int              `json:"epoch"`
	Dir    string           `json:"dir"`   // relative to the run folder: epochs/NNNN
	Files  map[string]int64 `json:"files"` // name -> size in bytes
}

const commitFormat = "gotrain-run/1"

// InvalidError is a bad flag, value or combination of flags: a command
// prints it and exits with status 2.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalidf(format string, args ...any) error { return &InvalidError{fmt.Sprintf(format, args...)} }

// Holds reports the first file of a run (or an evaluation, or a pruning
// run) in dir, or "" when dir is missing, empty, or holds none (a run that
// stopped before its first epoch holds only config.json: it may start
// again). It creates nothing.
func Holds(dir string) (string, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", invalidf("%s is a file, not a folder", dir)
	}
	for _, name := range runFiles {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return name, nil
		}
	}
	return "", nil
}

// CheckNew checks, creating nothing, that dir may receive a new run (of
// command cmd): missing, empty, or holding no run. flag names the flag
// that chose dir, for the message.
func CheckNew(dir, flag string, resumable bool) error {
	held, err := Holds(dir)
	var ie *InvalidError
	if errors.As(err, &ie) {
		return invalidf("%s %s: %s", flag, dir, ie.Msg)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, dir, err)
	}
	if held == "" {
		return nil
	}
	if resumable {
		return invalidf("%s %s already holds a run (%s): pass -resume %s to continue it, or choose another %s", flag, dir, held, dir, flag)
	}
	return invalidf("%s %s already holds a run (%s): choose another %s", flag, dir, held, flag)
}

// Create makes dir (and its parents) and opens it, locked, for a new run
// (resumable: one that -resume may continue). A folder that holds a run is
// refused (see CheckNew); leftovers of a run that stopped before its first
// epoch are removed.
func Create(dir string, resumable bool) (*Folder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	f, err := lock(dir)
	if err != nil {
		return nil, err
	}
	if err := CheckNew(dir, "-out", resumable); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.clean(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Open opens, locked, the run in dir to continue it: it checks that
// commit.json names a complete set of files, removes what an interrupted
// epoch left (temporary files, an uncommitted epoch folder) and puts the
// committed epoch's files back at the top of the folder.
func Open(dir string) (*Folder, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("resume: %s is a file, not a run folder", dir)
	}
	f, err := lock(dir)
	if err != nil {
		return nil, err
	}
	if err := f.readCommit(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.clean(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.publish(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// lock opens dir and takes an exclusive flock on it, failing at once when
// another process holds it.
func lock(dir string) (*Folder, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("run folder %s is being written by another gotrain process: wait for it to end, or choose another -out", dir)
		}
		return nil, fmt.Errorf("run folder %s: lock: %w", dir, err)
	}
	return &Folder{dir: dir, lock: d}, nil
}

// Close releases the folder's lock.
func (f *Folder) Close() error {
	if f == nil || f.lock == nil {
		return nil
	}
	err := f.lock.Close()
	f.lock = nil
	return err
}

// Dir is the folder's path.
func (f *Folder) Dir() string { return f.dir }

// Path is the path of the file name at the top of the folder.
func (f *Folder) Path(name string) string { return filepath.Join(f.dir, name) }

// Committed is the committed epoch, nil before the first.
func (f *Folder) Committed() *Commit { return f.commit }

// CommittedPath is the path of the committed epoch's file name (as Open
// checked it), "" before the first epoch.
func (f *Folder) CommittedPath(name string) string {
	if f.commit == nil {
		return ""
	}
	return filepath.Join(f.dir, f.commit.Dir, name)
}

// WriteFile writes the file name at the top of the folder, atomically.
func (f *Folder) WriteFile(name string, data []byte) error { return WriteFile(f.Path(name), data) }

// WriteJSON writes v as the JSON file name at the top of the folder.
func (f *Folder) WriteJSON(name string, v any) error { return WriteJSON(f.Path(name), v) }

// Write writes the file name at the top of the folder with fill, atomically.
func (f *Folder) Write(name string, fill func(io.Writer) error) error {
	return Write(f.Path(name), fill)
}

// Intact says what the folder holds after a failed epoch.
func (f *Folder) Intact() string {
	if f.commit == nil {
		return fmt.Sprintf("no epoch was complete yet: start again with -out %s", f.dir)
	}
	return fmt.Sprintf("%s still holds epoch %d intact: continue with -resume %s", f.dir, f.commit.Epoch, f.dir)
}

func (f *Folder) readCommit() error {
	var c Commit
	path := f.Path(CommitFile)
	err := readJSON(path, &c)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(f.Path(StateFile)); serr == nil {
			return fmt.Errorf("resume: %s has no %s: it was written by an older gotrain; resume it with that version, or start again in another folder", f.dir, CommitFile)
		}
		if _, serr := os.Stat(f.Path(ConfigFile)); serr != nil {
			return fmt.Errorf("resume: %s is not a gotrain run folder (no %s)", f.dir, ConfigFile)
		}
		return fmt.Errorf("resume: the run in %s stopped before completing its first epoch, so there is nothing to resume: start it again with -out %s and the same flags", f.dir, f.dir)
	}
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if c.Format != commitFormat || c.Epoch < 1 || c.Dir != epochDir(c.Epoch) {
		return fmt.Errorf("resume: %s: not a %s commit of a valid epoch (format %q, epoch %d, dir %q)", path, commitFormat, c.Format, c.Epoch, c.Dir)
	}
	for _, name := range epochFiles {
		want, ok := c.Files[name]
		if !ok {
			return fmt.Errorf("resume: %s does not name %s", path, name)
		}
		p := filepath.Join(f.dir, c.Dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("resume: epoch %d: %w", c.Epoch, err)
		}
		if fi.Size() != want {
			return fmt.Errorf("resume: epoch %d: %s has %d bytes, %s says %d: the folder was changed since", c.Epoch, p, fi.Size(), CommitFile, want)
		}
	}
	f.commit = &c
	return nil
}

func epochDir(n int) string { return filepath.Join(EpochsDir, fmt.Sprintf("%04d", n)) }

// clean removes temporary files and every epoch folder but the committed one.
func (f *Folder) clean() error {
	if err := removeTemps(f.dir); err != nil {
		return err
	}
	ents, err := os.ReadDir(f.Path(EpochsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	for _, e := range ents {
		rel := filepath.Join(EpochsDir, e.Name())
		if f.commit != nil && rel == f.commit.Dir {
			if err := removeTemps(filepath.Join(f.dir, rel)); err != nil {
				return err
			}
			continue
		}
		if err := os.RemoveAll(filepath.Join(f.dir, rel)); err != nil {
			return fmt.Errorf("run folder: removing an uncommitted epoch: %w", err)
		}
	}
	return nil
}

func removeTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	for _, e := range ents {
		if isTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("run folder: removing a stale temporary file: %w", err)
			}
		}
	}
	return nil
}

// publish puts the committed epoch's files at the top of the folder, each
// replaced atomically by a link to (or, where links fail, a copy of) the
// committed file.
func (f *Folder) publish() error {
	if f.commit == nil {
		return nil
	}
	for _, name := range epochFiles {
		if err := replaceWith(f.Path(name), f.CommittedPath(name)); err != nil {
			return fmt.Errorf("epoch %d is committed, but %s could not be updated: %w (-resume %s repairs it)", f.commit.Epoch, f.Path(name), err, f.dir)
		}
		killPoint(fmt.Sprintf("published:%s@%d", name, f.commit.Epoch))
	}
	return syncDir(f.dir)
}

// replaceWith atomically replaces dst by a hard link to src, or by a copy.
func replaceWith(dst, src string) error {
	if sameFile(dst, src) {
		return nil // rename(2) of a link over itself would do nothing
	}
	dir, base := filepath.Split(dst)
	tmp, err := linkTemp(dir, base, src)
	if err == nil {
		if err = os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
		}
		return err
	}
	return copyFile(dst, src)
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func linkTemp(dir, base, src string) (string, error) {
	tmp := filepath.Join(dir, atomicfile.TempName(base))
	if err := os.Link(src, tmp); err != nil {
		return "", err
	}
	return tmp, nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return Write(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// link makes dst a hard link to src, or a copy where links fail.
func link(dst, src string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyFile(dst, src)
}
