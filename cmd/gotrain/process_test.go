package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/train/mnist"
)

// Helpers for tests that run gotrain as a real process: a binary built
// once per test run, MNIST fetched once, and a run of it with its exit
// status, stderr and signal.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string // removed by TestMain

	dataOnce sync.Once
	dataDir  string
	dataErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if synthDir != "" {
		os.RemoveAll(synthDir)
	}
	os.Exit(code)
}

// gotrainBinary builds gotrain once for the tests that run it as a process.
func gotrainBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() || raceEnabled {
		t.Skip("builds and runs gotrain as a process")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "gotrain-test-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gotrain")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New("go build: " + err.Error() + ": " + string(out))
		}
		dataDir = filepath.Join(binDir, "mnist")
		dataErr = rawMNIST(dataDir)
	})
	require.NoError(t, binErr)
	require.NoError(t, dataErr)
	return binPath
}

// procResult is how a gotrain process ended.
type procResult struct {
	code   int            // exit status; -1 when a signal ended it
	signal syscall.Signal // the signal that ended it, if one did
	stderr string
	stdout string
}

// runGotrain runs gotrain with args and extra environment variables.
func runGotrain(t *testing.T, env []string, args ...string) procResult {
	t.Helper()
	cmd := exec.Command(gotrainBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result(t, cmd, err, &stdout, &stderr)
}

func result(t *testing.T, cmd *exec.Cmd, err error, stdout, stderr *bytes.Buffer) procResult {
	t.Helper()
	r := procResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.signal = ws.Signal()
		}
	default:
		require.NoError(t, err)
	}
	return r
}

// startGotrain starts gotrain and returns a function that waits for it.
func startGotrain(t *testing.T, env []string, args ...string) (*exec.Cmd, func() procResult) {
	t.Helper()
	cmd := exec.Command(gotrainBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	return cmd, func() procResult { return result(t, cmd, cmd.Wait(), &stdout, &stderr) }
}

// oneLineErr checks a failed process printed exactly one line on stderr,
// starting "gotrain COMMAND:".
func oneLineErr(t *testing.T, r procResult, command string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	require.Len(t, lines, 1, "one line on stderr: %q", r.stderr)
	require.True(t, strings.HasPrefix(lines[0], "gotrain "+command+":") || strings.HasPrefix(lines[0], "gotrain:"),
		"starts with gotrain %s: %q", command, lines[0])
}

// waitFor polls cond every 10ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// rawMNIST fetches MNIST into dir and unzips it there (loading is then
// quicker: these tests load it a hundred times).
func rawMNIST(dir string) error {
	if err := mnist.Ensure(context.Background(), dir, nil); err != nil {
		return err
	}
	for _, name := range mnist.Files() {
		gz := filepath.Join(dir, name+".gz")
		in, err := os.Open(gz)
		if err != nil {
			return err
		}
		zr, err := gzip.NewReader(in)
		if err != nil {
			in.Close()
			return err
		}
		data, err := io.ReadAll(zr)
		in.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
		if err := os.Remove(gz); err != nil {
			return err
		}
	}
	return nil
}
