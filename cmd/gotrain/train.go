package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// trainRequest is a train command line, parsed and validated.
type trainRequest struct {
	fs                        *pflag.FlagSet
	spec                      *models.Spec
	cfg                       train.Config
	device, data, out, resume string
	precision                 string
	threads                   int
	// trainSet and testSet, when set, are the loaded MNIST (reproduce
	// loads it once for every row); nil: run loads -data.
	trainSet, testSet *mnist.Set
}

// parseTrain parses and validates a train command line, creating nothing;
// with -resume it reads the run's config.json.
func parseTrain(args []string) (*trainRequest, error) {
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	model := fs.String("model", "baseline", "model to train: "+strings.Join(models.Names(), ", "))
	device := fs.String("device", "auto", "auto (the first GPU in a CUDA build, else the CPU), cpu, or cuda:N")
	epochs := fs.Int("epochs", 0, "epochs (default: the model's recipe)")
	batch := fs.Int("batch-size", 0, "training batch size (default: the recipe's)")
	testBatch := fs.Int("test-batch-size", 0, "test batch size (default: the recipe's)")
	lr := fs.Float64("lr", 0, "initial learning rate (default: the recipe's)")
	optimizer := fs.String("optimizer", "", "sgd or adadelta (default: the recipe's)")
	momentum := fs.Float64("momentum", 0, "SGD momentum (default: the recipe's)")
	wd := fs.Float64("weight-decay", 0, "weight decay (default: the recipe's)")
	nesterov := fs.Bool("nesterov", false, "Nesterov momentum (SGD)")
	gamma := fs.Float64("gamma", 0, "StepLR factor (default: the recipe's)")
	stepSize := fs.Int("step-size", 0, "StepLR period in epochs (default: the recipe's)")
	seed := fs.Uint64("seed", 1, "random seed (initialisation, shuffling, dropout)")
	data := fs.String("data", mnist.DefaultDir(), "MNIST folder (fetched there when missing)")
	out := fs.String("out", "", "run folder (default runs/<model>-<YYYYMMDD-HHMMSS>)")
	limitTrain := fs.Int("limit-train", 0, "train on the first N images only (0: all)")
	limitTest := fs.Int("limit-test", 0, "test on the first N images only (0: all)")
	threads := fs.Int("threads", 0, "CPU engine threads (0: all cores)")
	precision := precisionFlag(fs)
	sparsity := fs.Float64("sparsity", 0, "network-slimming L1 on the pruning-target BN gammas (seresnet; the report's value is 1e-4)")
	resume := fs.String("resume", "", "continue the interrupted run in folder RUN (its flags apply; -epochs may extend it)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *resume != "" {
		if fs.Changed("out") && filepath.Clean(*out) != filepath.Clean(*resume) {
			return nil, usagef("-resume %s -out %s: a resumed run writes to its own folder: drop -out", *resume, *out)
		}
		if err := applyRunFlags(fs, *resume); err != nil {
			return nil, err
		}
		*out = *resume
	}
	spec, err := models.Lookup(*model)
	if err != nil {
		return nil, usagef("%v", err)
	}
	r := spec.Recipe
	cfg := train.Config{Config: runfolder.Config{
		Model: spec.Name, Epochs: r.Epochs, BatchSize: r.BatchSize, TestBatchSize: r.TestBatchSize,
		LR: r.LR, StepSize: r.StepSize, Gamma: r.Gamma, Seed: *seed,
		Optimizer:  train.OptimizerConfig{Name: r.Optimizer, Momentum: r.Momentum, WeightDecay: r.WeightDecay, Nesterov: r.Nesterov},
		LimitTrain: *limitTrain, LimitTest: *limitTest, Sparsity: *sparsity,
	}, Log: os.Stdout}
	cfg.Memory = deviceMemory() // nil in a build without CUDA: the epoch line says nothing
	if isTerminal(os.Stdout) && isTerminal(os.Stderr) {
		cfg.Progress = &barProgress{memory: cfg.Memory}
	}
	set := func(name string, apply func()) {
		if fs.Changed(name) {
			apply()
		}
	}
	set("epochs", func() { cfg.Epochs = *epochs })
	set("batch-size", func() { cfg.BatchSize = *batch })
	set("test-batch-size", func() { cfg.TestBatchSize = *testBatch })
	set("lr", func() { cfg.LR = *lr })
	set("optimizer", func() { cfg.Optimizer.Name = *optimizer })
	set("momentum", func() { cfg.Optimizer.Momentum = *momentum })
	set("weight-decay", func() { cfg.Optimizer.WeightDecay = *wd })
	set("nesterov", func() { cfg.Optimizer.Nesterov = *nesterov })
	set("gamma", func() { cfg.Gamma = *gamma })
	set("step-size", func() { cfg.StepSize = *stepSize })
	if err := runfolder.Validate(runfolder.Request{Command: runfolder.Train, Config: cfg.Config, Threads: *threads}); err != nil {
		return nil, err
	}
	if err := checkDevice(*device, *precision); err != nil {
		return nil, err
	}
	dir := outDir(*out, spec.Name)
	if *resume == "" {
		if err := runfolder.CheckNew(dir, "-out", true); err != nil {
			return nil, err
		}
	}
	return &trainRequest{fs: fs, spec: spec, cfg: cfg, device: *device, data: *data, out: dir, resume: *resume,
		precision: *precision, threads: *threads}, nil
}

func runTrain(ctx context.Context, args []string) error {
	r, err := parseTrain(args)
	if err != nil {
		return err
	}
	_, err = r.run(ctx)
	return err
}

// run trains (or resumes) the run r describes with train.Run: the
// pipeline of the train command, which reproduce runs for each of its
// training rows.
func (r *trainRequest) run(ctx context.Context) (*train.Result, error) {
	return train.Run(ctx, train.Request{
		Spec: r.spec, Config: r.cfg, Data: r.data, TrainSet: r.trainSet, TestSet: r.testSet,
		Out: r.out, Resume: r.resume != "",
		Open: openFit(r.device, r.threads, r.precision, r.spec),
		EvalBatch: func(widths models.Widths, trainBatch, testBatch int) int {
			return gpuEvalBatch(r.device, r.spec, widths, trainBatch, testBatch)
		},
		WriteConfig: func(f *runfolder.Folder, cfg train.Config, be engine.Backend) error {
			return writeRunConfig(f, r.fs, cfg, r.spec, be)
		},
		Interrupted: func(err error, f *runfolder.Folder) error { return interrupted(ctx, err, f) },
	})
}

// openFit opens -device at -precision for a model of spec, failing with one line when
// it cannot fit at its widths and batch: in the host's memory before
// opening the CPU engine, in the GPU's free memory after opening it.
func openFit(device string, threads int, precision string, spec *models.Spec) func(models.Widths, int, string) (engine.Backend, error) {
	return func(widths models.Widths, batch int, flag string) (engine.Backend, error) {
		if hostMemory(device) {
			if err := fitsMemory(spec, widths, batch, flag); err != nil {
				return nil, err
			}
		}
		be, err := openDevice(device, threads, precision)
		if err != nil {
			return nil, err
		}
		if err := fitsDevice(device, spec, widths, batch, flag); err != nil {
			return nil, err
		}
		return be, nil
	}
}

// fastEvalBatch is the batch a GPU evaluates in (or the largest that fits
// beside the training model), whatever the recipe's test batch: batch norm
// is in eval mode and dropout off, so the results do not depend on it
// (train.Config.EvalBatch).
const fastEvalBatch = 1000

// gpuEvalBatch is the evaluation batch of a run on device: 0 (the test
// batch) on the CPU, else the largest of fastEvalBatch, 3/4 of it, ...
// whose forward-only model fits in the GPU's free memory beside the
// training model of batch trainBatch.
func gpuEvalBatch(device string, spec *models.Spec, widths models.Widths, trainBatch, testBatch int) int {
	if hostMemory(device) || deviceFree == nil {
		return 0
	}
	free, ok := deviceFree()
	need, err := modelBytes(spec, widths, trainBatch, true)
	if !ok || err != nil {
		return 0
	}
	for b := fastEvalBatch; b > max(testBatch, trainBatch); b = b * 3 / 4 {
		if e, err := modelBytes(spec, widths, b, false); err == nil && need+e <= free {
			return b
		}
	}
	return 0
}
