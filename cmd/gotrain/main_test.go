package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/train/mnist"
)

func TestLongDash(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("device", "", "")
	fs.Float64("lr", 0, "")
	fs.BoolP("help", "h", false, "")
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-device", "cpu"}, []string{"--device", "cpu"}},
		{[]string{"--device=cpu"}, []string{"--device=cpu"}},
		{[]string{"-device=cuda:0"}, []string{"--device=cuda:0"}},
		{[]string{"-lr", "-0.5"}, []string{"--lr", "-0.5"}},
		{[]string{"-h"}, []string{"-h"}},
		{[]string{"-unknown", "x"}, []string{"-unknown", "x"}},
		{[]string{"--", "-device"}, []string{"--", "-device"}},
	} {
		require.Equal(t, tc.want, longDash(fs, tc.in), "%v", tc.in)
	}
}

// TestBadFlagsExit2 checks each bad value gives status 2 and one line
// naming what is allowed.
func TestBadFlagsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-model", "nope"}, "known: baseline"},
		{[]string{"-device", "tpu"}, "allowed: auto, cpu, cuda:N"},
		{[]string{"-device", "cuda:x"}, "allowed: auto, cpu, cuda:N"},
		{[]string{"-epochs", "-1"}, "must be between 0 and"},
		{[]string{"-batch-size", "0"}, "must be at least 1"},
		{[]string{"-optimizer", "adam"}, "allowed: sgd, adadelta"},
		{[]string{"-lr", "-1"}, "must be a positive number"},
		{[]string{"-nesterov"}, "-nesterov needs"},
		{[]string{"-no-such-flag"}, "unknown"},
		{[]string{"train", "extra"}, "unexpected argument"},
		{[]string{"-precision", "fp64"}, `unknown precision "fp64"`},
		{[]string{"-precision", "tf32", "-device", "cpu"}, "the CPU engine runs fp32 only"},
		{[]string{"eval", "-weights", "x.safetensors", "-precision", "bf16", "-device", "cpu"}, "the CPU engine runs fp32 only"},
		{[]string{"prune", "-weights", "x.safetensors", "-precision", "half"}, `unknown precision "half"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stderr := captureStderr(t, func() {
				require.Equal(t, exitUsage, run(context.Background(), tc.args))
			})
			require.Contains(t, stderr, tc.msg)
			require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
		})
	}
}

func TestCUDAWithoutCUDABuild(t *testing.T) {
	if cudaBuilt() {
		t.Skip("a CUDA build")
	}
	stderr := captureStderr(t, func() {
		require.Equal(t, exitUsage, run(context.Background(), []string{"-device", "cuda:0", "-epochs", "1"}))
	})
	require.Contains(t, stderr, "built without CUDA")
	require.Contains(t, stderr, "go build -tags cuda")
}

// TestTrainEndToEnd runs the command on a slice of MNIST and checks the
// run folder.
func TestTrainEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MNIST")
	}
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "run")
	require.NoError(t, mnist.Ensure(context.Background(), data, nil))
	code := run(context.Background(), []string{"train", "--model", "baseline", "-device", "cpu", "-epochs", "1",
		"-limit-train", "640", "-limit-test", "200", "-data", data, "-out", out})
	require.Equal(t, 0, code)
	b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(b), "\n"))
	require.Contains(t, string(b), `"test_acc"`)
}

func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stderr
	os.Stderr = w
	defer func() { os.Stderr = old }()
	fn()
	w.Close()
	b := make([]byte, 1<<16)
	n, _ := r.Read(b)
	return string(b[:n])
}

// TestUsageListsEveryCommand: gotrain -h names every command with a line
// saying what it does.
func TestUsageListsEveryCommand(t *testing.T) {
	for n := range commands {
		if commandHelp[n] == "" {
			t.Errorf("command %s has no line in commandHelp (gotrain -h)", n)
		}
	}
	for n := range commandHelp {
		if commands[n] == nil {
			t.Errorf("commandHelp names %s, which is no command", n)
		}
	}
	if code := run(context.Background(), []string{"-h"}); code != 0 {
		t.Errorf("gotrain -h: status %d", code)
	}
}
