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
	"github.com/gotrain/gotrain/prune"
	"github.com/gotrain/gotrain/train"
	"github.com/gotrain/gotrain/train/checkpoint"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// pruneReport is prune.json: the pruning run's numbers.
type pruneReport struct {
	Model          string               `json:"model"`
	Weights        string               `json:"weights"`
	Percent        float64              `json:"percent"`
	Threshold      float64              `json:"threshold"`
	Removed        int                  `json:"channels_removed"`
	Widths         models.Widths        `json:"widths"`
	ParamsBefore   int                  `json:"params_before"`
	ParamsAfter    int                  `json:"params_after"`
	SizeMBBefore   float64              `json:"size_mb_before"`
	SizeMBAfter    float64              `json:"size_mb_after"`
	AccBefore      float64              `json:"test_acc_before"`
	AccPruned      float64              `json:"test_acc_pruned"`
	FinetuneAcc    []float64            `json:"test_acc_finetune"`
	BestAcc        float64              `json:"best_test_acc"`
	BestEpoch      int                  `json:"best_epoch"`
	Finetune       string               `json:"finetune_recipe"`
	FinetuneEpochs []train.EpochMetrics `json:"finetune_epochs"`
}

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
	if _, _, err := parseDevice(*device); err != nil {
		return nil, err
	}
	if err := checkPrecision(*precision, *device); err != nil {
		return nil, err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("runs", fmt.Sprintf("prune-%s-%s", spec.Name, time.Now().Format("20060102-150405")))
	}
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

// run is the prune command's pipeline (reproduce runs it for its pruning
// rows): network slimming of the checkpoint, then fine-tuning into a run
// folder. It returns prune.json's numbers.
func (r *pruneRequest) run(ctx context.Context) (*pruneReport, error) {
	spec, dir, rcfg := r.spec, r.out, r.rcfg
	_, widths, err := checkpointModel(r.weights, spec.Name, "")
	if err != nil {
		return nil, err
	}
	if !r.resume {
		if err := runfolder.CheckNew(dir, "-out", false); err != nil {
			return nil, err
		}
	}
	trainSet, testSet := r.trainSet, r.testSet
	if trainSet == nil || testSet == nil {
		if trainSet, testSet, err = loadMNIST(ctx, r.data); err != nil {
			return nil, err
		}
	}
	cfg := train.Config{Config: rcfg, Log: os.Stdout}
	maxBatch, flag := trainBatch(cfg, trainSet.N, testSet.N)
	if hostMemory(r.device) {
		if err := fitsMemory(spec, widths, maxBatch, flag); err != nil {
			return nil, err
		}
	}
	be, err := openDevice(r.device, r.threads, r.precision)
	if err != nil {
		return nil, err
	}
	if err := fitsDevice(r.device, spec, widths, maxBatch, flag); err != nil {
		return nil, err
	}
	nTest := testSet.N
	if rcfg.LimitTest > 0 && rcfg.LimitTest < nTest {
		nTest = rcfg.LimitTest
	}
	evalBatch := min(rcfg.TestBatchSize, nTest)
	src, err := loadModel(r.weights, spec, widths, be, evalBatch, true)
	if err != nil {
		return nil, err
	}
	_, accBefore, _, err := train.Evaluate(ctx, be, src, testSet, rcfg.LimitTest, evalBatch)
	if err != nil {
		return nil, interrupted(ctx, err, nil)
	}
	graph, err := prune.TraceModel(spec, src.Widths)
	if err != nil {
		return nil, err
	}
	gammas, err := prune.Gammas(be, src)
	if err != nil {
		return nil, err
	}
	before := models.Summarize(src)
	percent := r.percent
	if r.minRemoved > 0 {
		if percent, err = percentRemoving(spec, graph, gammas, before.TotalParams, r.minRemoved); err != nil {
			return nil, err
		}
	}
	plan, err := prune.NewPlan(graph, gammas, percent)
	if err != nil {
		return nil, err
	}
	pruned, err := prune.Apply(be, src, plan, evalBatch)
	if err != nil {
		return nil, err
	}
	_, accPruned, _, err := train.Evaluate(ctx, be, pruned, testSet, rcfg.LimitTest, evalBatch)
	if err != nil {
		return nil, interrupted(ctx, err, nil)
	}
	after := models.Summarize(pruned)
	fmt.Printf("prune %s: threshold |gamma| < %.4g (percent %g) removes %d channels: params %d -> %d (%.1f%% fewer), size %.2f -> %.2f MB; test acc %.2f%% -> %.2f%%\n",
		spec.Name, plan.Threshold, percent, plan.Removed(), before.TotalParams, after.TotalParams,
		100*(1-float64(after.TotalParams)/float64(before.TotalParams)), before.TotalMB, after.TotalMB, 100*accBefore, 100*accPruned)

	var folder *runfolder.Folder
	if r.resume {
		if folder, err = runfolder.Open(dir); err != nil {
			return nil, err
		}
	} else if folder, err = runfolder.Create(dir, false); err != nil {
		return nil, err
	}
	defer folder.Close()
	prunedPath := folder.Path(runfolder.PrunedWeights)
	if r.resume {
		if _, saved, err := checkpointModel(prunedPath, spec.Name, ""); err != nil {
			return nil, err
		} else if !sameWidths(saved, pruned.Widths) {
			return nil, fmt.Errorf("%s: its widths are not those pruning %s at percent %g gives now: the source weights changed; remove %s to prune again", prunedPath, r.weights, percent, dir)
		}
	} else if err := checkpoint.Save(prunedPath, be, pruned.Builder.Entries(), pruned.Meta()); err != nil {
		return nil, err
	}
	cfg.Widths, cfg.Folder = pruned.Widths, folder
	cfg.Memory = deviceMemory // nil on the CPU: the epoch line says nothing
	if isTerminal(os.Stdout) && isTerminal(os.Stderr) {
		cfg.Progress = &barProgress{memory: deviceMemory}
	}
	rep := pruneReport{Model: spec.Name, Weights: r.weights, Percent: percent, Threshold: plan.Threshold,
		Removed: plan.Removed(), Widths: pruned.Widths, ParamsBefore: before.TotalParams, ParamsAfter: after.TotalParams,
		SizeMBBefore: before.TotalMB, SizeMBAfter: after.TotalMB, AccBefore: accBefore, AccPruned: accPruned,
		BestAcc: accPruned}
	if rcfg.Epochs > 0 {
		tr, err := train.NewTrainer(cfg, be, trainSet, testSet)
		if err != nil {
			return nil, err
		}
		if r.resume {
			err = tr.Resume(folder)
		} else if err = tr.LoadWeights(prunedPath); err == nil {
			err = writeRunConfig(folder, r.fs, cfg, spec, be)
		}
		if err != nil {
			return nil, err
		}
		rep.Finetune = tr.Recipe()
		verb := "fine-tuning"
		if r.resume {
			verb = "resuming the fine-tuning of"
		}
		fmt.Printf("%s all parameters of the pruned model: %s -> %s\n", verb, tr.Recipe(), dir)
		res, err := tr.Run(ctx)
		if err != nil {
			return nil, interrupted(ctx, err, nil)
		}
		rep.FinetuneEpochs = res.Epochs
		for _, em := range res.Epochs {
			rep.FinetuneAcc = append(rep.FinetuneAcc, em.TestAcc)
		}
		rep.BestAcc, rep.BestEpoch = res.BestAcc, res.BestEpoch
	}
	if err := folder.WriteJSON(runfolder.PruneJSON, rep); err != nil {
		return nil, err
	}
	if err := folder.WriteFile(runfolder.PruneMD, []byte(pruneMarkdown(rep))); err != nil {
		return nil, err
	}
	fmt.Printf("done: %s (%s, %s)\n", dir, prunedPath, runfolder.PruneMD)
	return &rep, nil
}

// percentRemoving is the smallest percent, in steps of 1%, whose plan
// leaves at most (1-frac) of the model's params (params, as torchsummary
// counts them). The plans are computed on widths only: nothing is
// allocated.
func percentRemoving(spec *models.Spec, graph *prune.Graph, gammas map[string][]float32, params int, frac float64) (float64, error) {
	for i := 1; i < 100; i++ {
		p := float64(i) / 100
		plan, err := prune.NewPlan(graph, gammas, p)
		if err != nil {
			return 0, err
		}
		w, err := plan.Widths(spec)
		if err != nil {
			return 0, err
		}
		m, err := spec.BuildWidths(1, w)
		if err != nil {
			return 0, err
		}
		if float64(models.Summarize(m).TotalParams) <= (1-frac)*float64(params) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("prune: no percent below 100%% removes %.0f%% of %s's parameters", 100*frac, spec.Name)
}

func sameWidths(a, b models.Widths) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func pruneMarkdown(r pruneReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Pruning %s\n\n", r.Model)
	fmt.Fprintf(&b, "Network slimming of %s: global threshold |gamma| < %.4g (the %g quantile of the pruning-target BN gammas), %d channels removed.\n\n",
		r.Weights, r.Threshold, r.Percent, r.Removed)
	b.WriteString("| | params | estimated size (MB) | test accuracy |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| before | %s | %.2f | %.2f%% |\n", models.Commas(r.ParamsBefore), r.SizeMBBefore, 100*r.AccBefore)
	fmt.Fprintf(&b, "| pruned | %s | %.2f | %.2f%% |\n", models.Commas(r.ParamsAfter), r.SizeMBAfter, 100*r.AccPruned)
	if len(r.FinetuneAcc) > 0 {
		fmt.Fprintf(&b, "| fine-tuned (best, epoch %d) | %s | %.2f | %.2f%% |\n", r.BestEpoch, models.Commas(r.ParamsAfter), r.SizeMBAfter, 100*r.BestAcc)
		fmt.Fprintf(&b, "\nFine-tuning: %s.\n\n| epoch | test accuracy |\n|---|---|\n", r.Finetune)
		for i, a := range r.FinetuneAcc {
			fmt.Fprintf(&b, "| %d | %.2f%% |\n", i+1, 100*a)
		}
	}
	fmt.Fprintf(&b, "\nTable 1 row: | pruning-%s | %.2f%% | %s | %.2f |\n", r.Model, 100*r.BestAcc, models.Commas(r.ParamsAfter), r.SizeMBAfter)
	return b.String()
}
