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

// runPrune prunes a trained model by network slimming and fine-tunes it.
func runPrune(ctx context.Context, args []string) error {
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
	if err := parse(fs, args); err != nil {
		return err
	}
	if *weights == "" {
		return usagef("-weights FILE.safetensors is required (a trained %s, e.g. RUN/best.safetensors)", *model)
	}
	rcfg := runfolder.Config{Model: *model, Epochs: *epochs, BatchSize: *batch, TestBatchSize: *testBatch,
		LR: *lr, StepSize: *stepSize, Gamma: *gamma, Seed: *seed,
		Optimizer:  train.OptimizerConfig{Name: *optimizer, Momentum: *momentum, WeightDecay: *wd},
		LimitTrain: *limitTrain, LimitTest: *limitTest}
	req := runfolder.Request{Command: runfolder.Prune, Config: rcfg, Threads: *threads, Percent: *percent}
	if err := runfolder.Validate(req); err != nil {
		return err
	}
	spec, err := models.Lookup(*model)
	if err != nil {
		return usagef("%v", err)
	}
	if _, _, err := parseDevice(*device); err != nil {
		return err
	}
	_, widths, err := checkpointModel(*weights, spec.Name, "")
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("runs", fmt.Sprintf("prune-%s-%s", spec.Name, time.Now().Format("20060102-150405")))
	}
	if err := runfolder.CheckNew(dir, "-out", false); err != nil {
		return err
	}
	trainSet, testSet, err := loadMNIST(ctx, *data)
	if err != nil {
		return err
	}
	cfg := train.Config{Config: rcfg, Log: os.Stdout}
	maxBatch, flag := trainBatch(cfg, trainSet.N, testSet.N)
	if hostMemory(*device) {
		if err := fitsMemory(spec, widths, maxBatch, flag); err != nil {
			return err
		}
	}
	be, err := openDevice(*device, *threads)
	if err != nil {
		return err
	}
	if err := fitsDevice(*device, spec, widths, maxBatch, flag); err != nil {
		return err
	}
	nTest := testSet.N
	if *limitTest > 0 && *limitTest < nTest {
		nTest = *limitTest
	}
	evalBatch := min(*testBatch, nTest)
	src, err := loadModel(*weights, spec, widths, be, evalBatch, true)
	if err != nil {
		return err
	}
	_, accBefore, _, err := train.Evaluate(ctx, be, src, testSet, *limitTest, evalBatch)
	if err != nil {
		return interrupted(ctx, err, nil)
	}
	graph, err := prune.TraceModel(spec, src.Widths)
	if err != nil {
		return err
	}
	gammas, err := prune.Gammas(be, src)
	if err != nil {
		return err
	}
	plan, err := prune.NewPlan(graph, gammas, *percent)
	if err != nil {
		return err
	}
	pruned, err := prune.Apply(be, src, plan, evalBatch)
	if err != nil {
		return err
	}
	_, accPruned, _, err := train.Evaluate(ctx, be, pruned, testSet, *limitTest, evalBatch)
	if err != nil {
		return interrupted(ctx, err, nil)
	}
	before, after := models.Summarize(src), models.Summarize(pruned)
	fmt.Printf("prune %s: threshold |gamma| < %.4g (percent %g) removes %d channels: params %d -> %d (%.1f%% fewer), size %.2f -> %.2f MB; test acc %.2f%% -> %.2f%%\n",
		spec.Name, plan.Threshold, *percent, plan.Removed(), before.TotalParams, after.TotalParams,
		100*(1-float64(after.TotalParams)/float64(before.TotalParams)), before.TotalMB, after.TotalMB, 100*accBefore, 100*accPruned)

	folder, err := runfolder.Create(dir, false)
	if err != nil {
		return err
	}
	defer folder.Close()
	prunedPath := folder.Path(runfolder.PrunedWeights)
	if err := checkpoint.Save(prunedPath, be, pruned.Builder.Entries(), pruned.Meta()); err != nil {
		return err
	}
	cfg.Widths, cfg.Folder = pruned.Widths, folder
	cfg.Memory = deviceMemory // nil on the CPU: the epoch line says nothing
	if isTerminal(os.Stdout) && isTerminal(os.Stderr) {
		cfg.Progress = &barProgress{memory: deviceMemory}
	}
	rep := pruneReport{Model: spec.Name, Weights: *weights, Percent: *percent, Threshold: plan.Threshold,
		Removed: plan.Removed(), Widths: pruned.Widths, ParamsBefore: before.TotalParams, ParamsAfter: after.TotalParams,
		SizeMBBefore: before.TotalMB, SizeMBAfter: after.TotalMB, AccBefore: accBefore, AccPruned: accPruned,
		BestAcc: accPruned}
	if *epochs > 0 {
		tr, err := train.NewTrainer(cfg, be, trainSet, testSet)
		if err != nil {
			return err
		}
		if err := tr.LoadWeights(prunedPath); err != nil {
			return err
		}
		if err := writeRunConfig(folder, fs, cfg, spec, be); err != nil {
			return err
		}
		rep.Finetune = tr.Recipe()
		fmt.Printf("fine-tuning all parameters of the pruned model: %s -> %s\n", tr.Recipe(), dir)
		res, err := tr.Run(ctx)
		if err != nil {
			return interrupted(ctx, err, nil)
		}
		rep.FinetuneEpochs = res.Epochs
		for _, em := range res.Epochs {
			rep.FinetuneAcc = append(rep.FinetuneAcc, em.TestAcc)
		}
		rep.BestAcc, rep.BestEpoch = res.BestAcc, res.BestEpoch
	}
	if err := folder.WriteJSON(runfolder.PruneJSON, rep); err != nil {
		return err
	}
	if err := folder.WriteFile(runfolder.PruneMD, []byte(pruneMarkdown(rep))); err != nil {
		return err
	}
	fmt.Printf("done: %s (%s, %s)\n", dir, prunedPath, runfolder.PruneMD)
	return nil
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
