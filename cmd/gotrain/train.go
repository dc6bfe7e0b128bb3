package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

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
	cfg.Memory = deviceMemory // nil on the CPU: the epoch line says nothing
	if isTerminal(os.Stdout) && isTerminal(os.Stderr) {
		cfg.Progress = &barProgress{memory: deviceMemory}
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
	if _, _, err := parseDevice(*device); err != nil {
		return nil, err
	}
	if err := checkPrecision(*precision, *device); err != nil {
		return nil, err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("runs", fmt.Sprintf("%s-%s", spec.Name, time.Now().Format("20060102-150405")))
	}
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

// run trains (or resumes) the run r describes: the pipeline of the train
// command, which reproduce runs for each of its training rows.
func (r *trainRequest) run(ctx context.Context) (*train.Result, error) {
	fs, spec, cfg, dir := r.fs, r.spec, r.cfg, r.out
	trainSet, testSet, err := r.trainSet, r.testSet, error(nil)
	if trainSet == nil || testSet == nil {
		if trainSet, testSet, err = loadMNIST(ctx, r.data); err != nil {
			return nil, err
		}
	}
	var folder *runfolder.Folder
	if r.resume != "" {
		if folder, err = runfolder.Open(r.resume); err != nil {
			return nil, err
		}
		defer folder.Close()
		// A run at other widths (a fine-tuned pruned model) resumes at them.
		if cfg.Widths, err = folder.ResumeWidths(spec); err != nil {
			return nil, err
		}
	}
	batch, flag := trainBatch(cfg, trainSet.N, testSet.N)
	if hostMemory(r.device) {
		if err := fitsMemory(spec, cfg.Widths, batch, flag); err != nil {
			return nil, err
		}
	}
	be, err := openDevice(r.device, r.threads, r.precision)
	if err != nil {
		return nil, err
	}
	if err := fitsDevice(r.device, spec, cfg.Widths, batch, flag); err != nil {
		return nil, err
	}
	if folder == nil {
		if folder, err = runfolder.Create(dir, true); err != nil {
			return nil, err
		}
		defer folder.Close()
	}
	cfg.Folder = folder
	tr, err := train.NewTrainer(cfg, be, trainSet, testSet)
	if err != nil {
		return nil, err
	}
	if r.resume != "" {
		if err := tr.Resume(folder); err != nil {
			return nil, err
		}
		if err := folder.RecordEpochs(cfg.Epochs); err != nil {
			return nil, err
		}
	} else if err := writeRunConfig(folder, fs, cfg, spec, be); err != nil {
		return nil, err
	}
	verb := "training"
	if r.resume != "" {
		verb = "resuming"
	}
	fmt.Printf("gotrain: %s %s on %s: %s, %d params -> %s\n",
		verb, spec.Name, be.Name(), tr.Recipe(), tr.Model().NumParams(), dir)
	res, err := tr.Run(ctx)
	if err != nil {
		return res, interrupted(ctx, err, folder)
	}
	if len(res.Epochs) > 0 {
		last := res.Last()
		fmt.Printf("done: best test acc %.2f%% (epoch %d), last %.2f%% (epoch %d); metrics in %s\n",
			100*res.BestAcc, res.BestEpoch, 100*last.TestAcc, last.Epoch, folder.Path(runfolder.MetricsJSONL))
	}
	return res, nil
}

// trainBatch is the largest batch a run's model is built for, its batch
// sizes clamped to the data, and the flag that sets it.
func trainBatch(cfg train.Config, nTrain, nTest int) (int, string) {
	lim := func(n, l int) int {
		if l > 0 && l < n {
			return l
		}
		return n
	}
	tb, vb := min(cfg.BatchSize, lim(nTrain, cfg.LimitTrain)), min(cfg.TestBatchSize, lim(nTest, cfg.LimitTest))
	if vb > tb {
		return max(vb, 1), "-test-batch-size"
	}
	return max(tb, 1), "-batch-size"
}
