// Command gotrain trains the INT305 report's models on MNIST, on the CPU or
// (in a build with -tags cuda) on an NVIDIA GPU.
//
//	gotrain [train] -model baseline -device auto -epochs 1
//
// Flags may be written with one dash or two: -device and --device both work.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// exitUsage is the status for a bad flag or flag value.
const exitUsage = 2

// usageError is a bad flag or value: one line, exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

var commands = map[string]func(ctx context.Context, args []string) error{
	"train":   runTrain,
	"summary": runSummary,
	"eval":    runEval,
	"report":  runReport,
	"prune":   runPrune,
	"devices": runDevices,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	cmd := "train"
	if len(args) > 0 {
		if _, ok := commands[args[0]]; ok {
			cmd, args = args[0], args[1:]
		} else if args[0] == "help" {
			fmt.Println("usage: gotrain [train|summary|eval|report|prune|devices] [flags]   (gotrain COMMAND -help lists the flags)")
			return 0
		}
	}
	err := commands[cmd](ctx, args)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "gotrain %s: %v\n", cmd, err)
		return exitUsage
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(os.Stderr, "gotrain %s: interrupted\n", cmd)
		return 130
	default:
		fmt.Fprintf(os.Stderr, "gotrain %s: %v\n", cmd, err)
		return 1
	}
}
