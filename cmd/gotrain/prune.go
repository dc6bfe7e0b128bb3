package main

import (
	"context"
	"os"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/prune"
	"github.com/gotrain/gotrain/train"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// pruneRequest is a prune command line, parsed and validated.
type pruneRequest struct {
	fs                         *pflag.FlagSet
	spec                       *models.Spec
	widths                     models.Widths // the source checkpoint's
	rcfg                       runfolder.Config
	weights, device, data, out string
	percent                    float64
	precision                  string
	threads                    int
	// minRemoved, when positive, replaces percent by the smallest percent
	// (in steps of 1%) whose plan removes at least this fraction of the
	// model's parameters (reproduce's slim-seresnet).
	minRemoved float64
	// resume continues the fine-tuning committed in out: the pruning is
	// done again (it is deterministic) and must give the widths of out's
	// pruned.safetensors; the fine-tuning resumes from its last epoch.
	resume bool
	// trainSet and testSet, when set, are the loaded MNIST; nil: -data.
	trainSet, testSet *mnist.Set
}

// parsePrune parses and validates a prune command line, creating nothing.
func parsePrune(args []string) (*pruneRequest, error) {
	fs := pflag.NewFlagSet("prune", pflag.ContinueOnError)
	model := fs.String("model", "seresnet", "model to prune (only seresnet has pruning targets)")
	weights := fs.String("weights", "", "trained weights (RUN/best.safetensors)")
	percent := fs.Float64("percent", 0.04, "global |gamma| quantile below which channels go (the report: 0.04)")
	epochs := fs.Int("finetune-epochs", 10, "fine-tuning epochs (all parameters, a fresh optimizer)")
	optimizer := fs.String("optimizer", "sgd", "fine-tuning optimizer: sgd or adadelta")
	lr := fs.Float64("lr", 0.01, "fine-tuning learning rate")
	momentum := fs.Float64("momentum", 0, "SGD momentum")
	wd := fs.Float64("weight-decay", 0, "weight decay")
	gamma := fs.Float64("gamma", 0.1, "StepLR factor")
	stepSize := fs.Int("step-size", 5, "StepLR period in epochs")
	batch := fs.Int("batch-size", 64, "fine-tuning batch size")
	testBatch := fs.Int("test-batch-size", 100, "test batch size")
	seed := fs.Uint64("seed", 1, "random seed (shuffling)")
	device := fs.String("device", "auto", "auto, cpu, or cuda:N")
	data := fs.String("data", mnist.DefaultDir(), "MNIST folder (fetched there when missing)")
	out := fs.String("out", "", "run folder (default runs/prune-<model>-<YYYYMMDD-HHMMSS>)")
	limitTrain := fs.Int("limit-train", 0, "fine-tune on the first N training images only (0: all)")
	limitTest := fs.Int("limit-test", 0, "test on the first N test images only (0: all)")
	threads := fs.Int("threads", 0, "CPU engine threads (0: all cores)")
	precision := precisionFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *weights == "" {
		return nil, usagef("-weights FILE.safetensors is required (a trained %s, e.g. RUN/best.safetensors)", *model)
	}
	rcfg := runfolder.Config{Model: *model, Epochs: *epochs, BatchSize: *batch, TestBatchSize: *testBatch,
		LR: *lr, StepSize: *stepSize, Gamma: *gamma, Seed: *seed,
		Optimizer:  train.OptimizerConfig{Name: *optimizer, Momentum: *momentum, WeightDecay: *wd},
		LimitTrain: *limitTrain, LimitTest: *limitTest}
	req := runfolder.Request{Command: runfolder.Prune, Config: rcfg, Threads: *threads, Percent: *percent}
	if err := runfolder.Validate(req); err != nil {
		return nil, err
	}
	spec, err := models.Lookup(*model)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if err := checkDevice(*device, *precision); err != nil {
		return nil, err
	}
	dir := outDir(*out, "prune-"+spec.Name)
	return &pruneRequest{fs: fs, spec: spec, rcfg: rcfg, weights: *weights, device: *device, data: *data, out: dir,
		percent: *percent, precision: *precision, threads: *threads}, nil
}

// runPrune prunes a trained model by network slimming and fine-tunes it.
func runPrune(ctx context.Context, args []string) error {
	r, err := parsePrune(args)
	if err != nil {
		return err
	}
	_, err = r.run(ctx)
	return err
}

// run is the prune command's pipeline, prune.Run (reproduce runs it for
// its pruning rows): network slimming of the checkpoint, then fine-tuning
// into a run folder. It returns prune.json's numbers.
func (r *pruneRequest) run(ctx context.Context) (*prune.Report, error) {
	_, widths, err := checkpointModel(r.weights, r.spec.Name, "")
	if err != nil {
		return nil, err
	}
	cfg := train.Config{Config: r.rcfg, Log: os.Stdout}
	cfg.Memory = deviceMemory() // nil in a build without CUDA: the epoch line says nothing
	if isTerminal(os.Stdout) && isTerminal(os.Stderr) {
		cfg.Progress = &barProgress{memory: cfg.Memory}
	}
	return prune.Run(ctx, prune.Request{
		Spec: r.spec, Widths: widths, Weights: r.weights, Config: cfg,
		Percent: r.percent, MinRemoved: r.minRemoved, Resume: r.resume,
		Data: r.data, TrainSet: r.trainSet, TestSet: r.testSet, Out: r.out,
		Open: openFit(r.device, r.threads, r.precision, r.spec),
		WriteConfig: func(f *runfolder.Folder, cfg train.Config, be engine.Backend) error {
			return writeRunConfig(f, r.fs, cfg, r.spec, be)
		},
		Interrupted: func(err error, f *runfolder.Folder) error { return interrupted(ctx, err, f) },
	})
}
