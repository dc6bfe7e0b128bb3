package main

import (
	"context"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/prune"
	"github.com/gotrain/gotrain/reproduce"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// runReproduce trains Table 1's rows into one folder with reproduce.Run:
// each row is the train or prune command line gotrain would run for it.
func runReproduce(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("reproduce", pflag.ContinueOnError)
	list := fs.String("models", "all", "rows to train, a comma list of "+strings.Join(reproduce.RowNames(), ", ")+", or all")
	epochs := fs.Int("epochs", 0, "cap every phase (training, sparsity training, fine-tuning) at N epochs (0: the recipes)")
	out := fs.String("out", "", "reproduction folder (default runs/reproduce-<YYYYMMDD-HHMMSS>); run again into it to continue")
	device := fs.String("device", "auto", "auto (the first GPU in a CUDA build, else the CPU), cpu, or cuda:N")
	data := fs.String("data", mnist.DefaultDir(), "MNIST folder (fetched there when missing)")
	threads := fs.Int("threads", 0, "CPU engine threads (0: all cores)")
	precision := precisionFlag(fs)
	seed := fs.Uint64("seed", 1, "random seed of every row")
	limitTrain := fs.Int("limit-train", 0, "train on the first N images only (0: all)")
	limitTest := fs.Int("limit-test", 0, "test on the first N images only (0: all)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *epochs < 0 || *epochs > runfolder.MaxEpochs {
		return usagef("-epochs %d: must be between 0 and %d (0: the recipes)", *epochs, runfolder.MaxEpochs)
	}
	rows, err := selectRows(*list)
	if err != nil {
		return err
	}
	req := reproduce.Request{Rows: rows, Device: *device, Data: *data, Threads: *threads, Precision: *precision,
		Epochs: *epochs, Seed: *seed, LimitTrain: *limitTrain, LimitTest: *limitTest,
		Command: commandLine("reproduce", args), Version: gotrainVersion(), Train: reproTrain, Prune: reproPrune}
	if err := reproduce.Validate(req); err != nil {
		return err
	}
	if err := checkDevice(*device, *precision); err != nil {
		return err
	}
	req.Dir = outDir(*out, "reproduce")
	return reproduce.Run(ctx, req)
}

// reproTrain parses a training row's train command line.
func reproTrain(args []string) (reproduce.TrainRun, error) {
	req, err := parseTrain(args)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, trainSet, testSet *mnist.Set) error {
		req.trainSet, req.testSet = trainSet, testSet
		_, err := req.run(ctx)
		return err
	}, nil
}

// reproPrune parses a pruning row's prune command line.
func reproPrune(args []string) (*reproduce.PruneRun, error) {
	req, err := parsePrune(args)
	if err != nil {
		return nil, err
	}
	return &reproduce.PruneRun{Config: req.rcfg,
		Run: func(ctx context.Context, minRemoved float64, resume bool, trainSet, testSet *mnist.Set) (*prune.Report, error) {
			req.minRemoved, req.resume, req.trainSet, req.testSet = minRemoved, resume, trainSet, testSet
			return req.run(ctx)
		}}, nil
}

// selectRows parses -models: a comma list of row names or all, in table order.
func selectRows(list string) ([]reproduce.Row, error) {
	names := reproduce.RowNames()
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "all":
			for _, r := range names {
				want[r] = true
			}
		case n == "":
		default:
			if !want[n] && !contains(names, n) {
				return nil, usagef("-models: unknown row %q%s (rows: %s, or all)", n, didYouMean(n, names, `"%s"`), strings.Join(names, ", "))
			}
			want[n] = true
		}
	}
	var rows []reproduce.Row
	for _, r := range reproduce.Rows {
		if want[r.Name] {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil, usagef("-models %q: no row (rows: %s, or all)", list, strings.Join(names, ", "))
	}
	return rows, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// commandLine is args as a shell would take them back.
func commandLine(cmd string, args []string) string {
	q := []string{"gotrain", cmd}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}();&|<>!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q = append(q, a)
	}
	return strings.Join(q, " ")
}
