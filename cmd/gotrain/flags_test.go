package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// hostile are the values every numeric flag is tried with.
var hostile = []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "-1", "0", "1e300", "1e39", "1000000000", "99999999999999999999"}

// flagCase says which hostile values a flag accepts (the run then goes on);
// every other value must fail with status 2 and one line naming the flag.
type flagCase struct {
	flag  string
	valid []string
}

// TestEveryFlagHostileValues tries every numeric flag of train, prune and
// eval with NaN, infinities, negative, zero and huge values: each is either
// accepted (clamped, or a valid setting) or refused with status 2 and one
// line naming the flag, before anything is created.
func TestEveryFlagHostileValues(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	// MNIST files that fail to load: a valid train command line stops there.
	data := filepath.Join(t.TempDir(), "mnist")
	require.NoError(t, os.Mkdir(data, 0o755))
	for _, name := range mnist.Files() {
		require.NoError(t, os.WriteFile(filepath.Join(data, name+".gz"), nil, 0o644))
	}
	for _, cmd := range hostileFlagCommands() {
		for _, fc := range cmd.cases {
			for _, v := range hostile {
				t.Run(cmd.name+" -"+fc.flag+" "+v, func(t *testing.T) {
					out := filepath.Join(t.TempDir(), "out")
					args := append(append([]string{}, cmd.base...), "-"+fc.flag, v, "-out", out)
					valid := false
					for _, ok := range fc.valid {
						valid = valid || ok == v
					}
					if cmd.name == "train" && valid {
						// Stop before training: a valid command line goes on to
						// the data, which this one does not have.
						args = append(args, "-data", data)
					}
					var code int
					stderr := captureStderr(t, func() { code = run(context.Background(), args) })
					lines := strings.Split(strings.TrimSpace(stderr), "\n")
					require.Len(t, lines, 1, "one line: %q", stderr)
					require.True(t, strings.HasPrefix(lines[0], "gotrain "+cmd.name+": "), lines[0])
					if valid {
						require.NotEqual(t, exitUsage, code, "%v is valid: %s", args, stderr)
						return
					}
					require.Equal(t, exitUsage, code, stderr)
					require.Contains(t, stderr, "-"+fc.flag, "the message names the flag")
					require.NoDirExists(t, out, "nothing is created for a bad flag")
				})
			}
		}
	}
}

// hostileFlagCommands are each command's flags with their valid values: every
// other hostile value must be refused naming the flag. base is a command
// line that reaches validation.
type flagCommand struct {
	name  string
	base  []string
	cases []flagCase
}

func hostileFlagCommands() []flagCommand {
	huge := []string{"1000000000"}
	return []flagCommand{
		{"train", []string{"train", "-device", "cpu", "-epochs", "3"}, []flagCase{
			{"epochs", []string{"0"}},
			{"batch-size", huge},
			{"test-batch-size", huge},
			{"lr", []string{"1000000000", "99999999999999999999"}},
			{"momentum", []string{"0"}},
			{"weight-decay", []string{"0", "1000000000", "99999999999999999999"}},
			{"gamma", huge}, // the baseline's 0.1 times 1e9 twice is still a float32
			{"step-size", huge},
			{"seed", []string{"0", "1000000000"}},
			{"limit-train", []string{"0", "1000000000"}},
			{"limit-test", []string{"0", "1000000000"}},
			{"threads", []string{"0"}},
			{"sparsity", []string{"0"}},
		}},
		{"prune", []string{"prune", "-device", "cpu", "-weights", "/nonexistent/w.safetensors"}, []flagCase{
			{"percent", []string{"0"}},
			{"finetune-epochs", []string{"0"}},
			{"lr", []string{"1000000000", "99999999999999999999"}},
			{"momentum", []string{"0"}},
			{"weight-decay", []string{"0", "1000000000", "99999999999999999999"}},
			{"gamma", []string{"1e39", "1000000000", "99999999999999999999"}}, // applied once in 10 epochs
			{"step-size", huge},
			{"batch-size", huge},
			{"test-batch-size", huge},
			{"seed", []string{"0", "1000000000"}},
			{"limit-train", []string{"0", "1000000000"}},
			{"limit-test", []string{"0", "1000000000"}},
			{"threads", []string{"0"}},
		}},
		{"eval", []string{"eval", "-device", "cpu", "-weights", "/nonexistent/w.safetensors"}, []flagCase{
			{"batch-size", huge},
			{"limit-test", []string{"0", "1000000000"}},
			{"threads", []string{"0"}},
		}},
	}
}

// FuzzTrainFlags feeds the train command's parser and validation arbitrary
// command lines: it must never panic, and every refusal is a flag error
// (status 2) unless the command line reached the file system (-resume).
func FuzzTrainFlags(f *testing.F) {
	for _, seed := range []string{
		"-epochs 1", "-lr NaN", "-lr -Inf", "-momentum 1e309", "-epoch 1", "--epochs=3", "-batch-size=0",
		"-threads 1000000000", "-gamma 0 -step-size 0", "-seed -1", "-optimizer adam", "-nesterov",
		"-optimizer sgd -momentum 0.9 -nesterov", "-model vgg -sparsity 1e-4", "-lr 1e38 -gamma 10 -epochs 100000",
		"-limit-train 99999999999999999999", "-- -epochs", "-h", "-device cuda:x", "-resume /nonexistent -out x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := append(strings.Fields(line), "-out", filepath.Join(t.TempDir(), "out"))
		_, err := parseTrain(args)
		if err == nil || errors.Is(err, errHelp) || strings.Contains(line, "resume") {
			return
		}
		var ue *usageError
		var ie *runfolder.InvalidError
		require.True(t, errors.As(err, &ue) || errors.As(err, &ie), "%q: not a flag error: %v", line, err)
		require.NotContains(t, err.Error(), "\n")
	})
}
