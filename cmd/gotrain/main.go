// Command gotrain trains the INT305 report's models on MNIST, on the CPU or
// (in a build with -tags cuda) on an NVIDIA GPU.
//
//	gotrain [train] -model baseline -device auto -epochs 1
//
// Flags may be written with one dash or two: -device and --device both work.
//
// Every failure prints one line, "gotrain COMMAND: ...", and exits with
// status 2 for a bad command, flag or combination of flags, 1 for bad data,
// files, checkpoints, a full disk or a diverged run, 130 after SIGINT and
// 143 after SIGTERM (the run folder then holds its last complete epoch).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/gotrain/gotrain/train/runfolder"
)

// exitUsage is the status for a bad flag or flag value.
const exitUsage = 2

// usageError is a bad flag or value: one line, exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

var commands = map[string]func(ctx context.Context, args []string) error{
	"train":     runTrain,
	"summary":   runSummary,
	"eval":      runEval,
	"report":    runReport,
	"prune":     runPrune,
	"reproduce": runReproduce,
	"devices":   runDevices,
}

// signalCause is the cause of the context's cancellation by a signal.
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string { return "interrupted by " + sigName(s.sig) }

func sigName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cancel(signalCause{s}) // the step in flight finishes, the folder stays committed
		signal.Stop(sigs)      // a second signal ends the process at once
	}()
	os.Exit(run(ctx, os.Args[1:]))
}

// commandHelp is each command's line in gotrain -h.
var commandHelp = map[string]string{
	"train":     "train a model on MNIST into a run folder (the default command)",
	"summary":   "a model's layer table, and Table 1's params and size",
	"eval":      "test loss, accuracy, predictions and figures of saved weights",
	"report":    "report.md and report.html over run folders",
	"prune":     "network slimming of a trained SE-ResNet, then fine-tuning",
	"reproduce": "train every row of Table 1 into one folder, and tabulate it",
	"devices":   "the NVIDIA driver and each GPU's memory and compute capability",
}

func printUsage() {
	fmt.Println("usage: gotrain [COMMAND] [flags]   (gotrain COMMAND -h lists its flags)\n\ncommands:")
	for _, n := range commandNames() {
		fmt.Printf("  %-10s %s\n", n, commandHelp[n])
	}
}

func commandNames() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func run(ctx context.Context, args []string) int {
	cmd := "train"
	if len(args) > 0 {
		if _, ok := commands[args[0]]; ok {
			cmd, args = args[0], args[1:]
		} else if slices.Contains([]string{"help", "-h", "-help", "--help"}, args[0]) {
			printUsage()
			return 0
		} else if !strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(os.Stderr, "gotrain: unknown command %q%s (commands: %s)\n", args[0],
				didYouMean(args[0], commandNames(), `"%s"`), strings.Join(commandNames(), ", "))
			return exitUsage
		}
	}
	err := commands[cmd](ctx, args)
	var ue *usageError
	var ie *runfolder.InvalidError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue) || errors.As(err, &ie):
		fmt.Fprintf(os.Stderr, "gotrain %s: %s\n", cmd, oneLine(err.Error()))
		return exitUsage
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(os.Stderr, "gotrain %s: %s\n", cmd, oneLine(err.Error()))
		var sc signalCause
		if errors.As(context.Cause(ctx), &sc) && sc.sig == syscall.SIGTERM {
			return 143
		}
		return 130
	default:
		fmt.Fprintf(os.Stderr, "gotrain %s: %s\n", cmd, oneLine(err.Error()))
		return 1
	}
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// interrupted words a cancelled run's error: what stopped it and what the
// run folder holds.
func interrupted(ctx context.Context, err error, f *runfolder.Folder) error {
	if !errors.Is(err, context.Canceled) {
		return err
	}
	what := "interrupted"
	var sc signalCause
	if errors.As(context.Cause(ctx), &sc) {
		what = sc.Error()
	}
	if f == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s (%w); %s", what, err, f.Intact())
}
