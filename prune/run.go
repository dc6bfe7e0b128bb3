package prune

import (
	"context"
	"fmt"
	"strings"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train"
	"github.com/gotrain/gotrain/train/checkpoint"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// Report is json: the pruning run's numbers.
type Report struct {
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

// Request is one pruning run as `gotrain prune` parses it from its flags
// (and reproduce builds it for its pruning rows), validated.
type Request struct {
	Spec *models.Spec
	// Weights is the trained checkpoint to prune; Widths its widths.
	Weights string
	Widths  models.Widths
	// Percent is the global |gamma| quantile below which channels go.
	Percent float64
	// MinRemoved, when positive, replaces Percent by the smallest percent
	// (in steps of 1%) whose plan removes at least this fraction of the
	// model's parameters (reproduce's slim-seresnet).
	MinRemoved float64
	// Config is the fine-tuning's (its Log, Memory and Progress included).
	Config train.Config
	// Data is the MNIST folder, used when TrainSet or TestSet is nil.
	Data              string
	TrainSet, TestSet *mnist.Set
	// Out is the run folder. With Resume, the fine-tuning committed there
	// continues: the pruning is done again (it is deterministic) and must
	// give the widths of its pruned.safetensors.
	Out    string
	Resume bool
	// Open, WriteConfig and Interrupted are train.Request's.
	Open        func(widths models.Widths, batch int, flag string) (engine.Backend, error)
	WriteConfig func(f *runfolder.Folder, cfg train.Config, be engine.Backend) error
	Interrupted func(err error, f *runfolder.Folder) error
}

// Run is the prune command's pipeline: network slimming of the checkpoint
// (evaluated before and after), then fine-tuning of all parameters into a
// run folder, which gets pruned.safetensors, json and md. It
// returns json's numbers.
func Run(ctx context.Context, r Request) (*Report, error) {
	spec, dir, rcfg, widths := r.Spec, r.Out, r.Config.Config, r.Widths
	interrupted := func(err error, f *runfolder.Folder) error {
		if r.Interrupted != nil {
			return r.Interrupted(err, f)
		}
		return err
	}
	var err error
	if !r.Resume {
		if err := runfolder.CheckNew(dir, "-out", false); err != nil {
			return nil, err
		}
	}
	trainSet, testSet := r.TrainSet, r.TestSet
	if trainSet == nil || testSet == nil {
		if trainSet, testSet, err = train.LoadMNIST(ctx, r.Data); err != nil {
			return nil, err
		}
	}
	cfg := r.Config
	maxBatch, flag := train.MaxBatch(cfg, trainSet.N, testSet.N)
	be, err := r.Open(widths, maxBatch, flag)
	if err != nil {
		return nil, err
	}
	nTest := testSet.N
	if rcfg.LimitTest > 0 && rcfg.LimitTest < nTest {
		nTest = rcfg.LimitTest
	}
	evalBatch := min(rcfg.TestBatchSize, nTest)
	src, err := train.LoadModel(r.Weights, spec, widths, be, evalBatch, true)
	if err != nil {
		return nil, err
	}
	_, accBefore, _, err := train.Evaluate(ctx, be, src, testSet, rcfg.LimitTest, evalBatch)
	if err != nil {
		return nil, interrupted(err, nil)
	}
	graph, err := TraceModel(spec, src.Widths)
	if err != nil {
		return nil, err
	}
	gammas, err := Gammas(be, src)
	if err != nil {
		return nil, err
	}
	before := models.Summarize(src)
	percent := r.Percent
	if r.MinRemoved > 0 {
		if percent, err = percentRemoving(spec, graph, gammas, before.TotalParams, r.MinRemoved); err != nil {
			return nil, err
		}
	}
	plan, err := NewPlan(graph, gammas, percent)
	if err != nil {
		return nil, err
	}
	pruned, err := Apply(be, src, plan, evalBatch)
	if err != nil {
		return nil, err
	}
	_, accPruned, _, err := train.Evaluate(ctx, be, pruned, testSet, rcfg.LimitTest, evalBatch)
	if err != nil {
		return nil, interrupted(err, nil)
	}
	after := models.Summarize(pruned)
	fmt.Printf("prune %s: threshold |gamma| < %.4g (percent %g) removes %d channels: params %d -> %d (%.1f%% fewer), size %.2f -> %.2f MB; test acc %.2f%% -> %.2f%%\n",
		spec.Name, plan.Threshold, percent, plan.Removed(), before.TotalParams, after.TotalParams,
		100*(1-float64(after.TotalParams)/float64(before.TotalParams)), before.TotalMB, after.TotalMB, 100*accBefore, 100*accPruned)

	var folder *runfolder.Folder
	if r.Resume {
		if folder, err = runfolder.Open(dir); err != nil {
			return nil, err
		}
	} else if folder, err = runfolder.Create(dir, false); err != nil {
		return nil, err
	}
	defer folder.Close()
	prunedPath := folder.Path(runfolder.PrunedWeights)
	if r.Resume {
		if saved, err := checkpointWidths(prunedPath, spec); err != nil {
			return nil, err
		} else if !sameWidths(saved, pruned.Widths) {
			return nil, fmt.Errorf("%s: its widths are not those pruning %s at percent %g gives now: the source weights changed; remove %s to prune again", prunedPath, r.Weights, percent, dir)
		}
	} else if err := checkpoint.Save(prunedPath, be, pruned.Builder.Entries(), pruned.Meta()); err != nil {
		return nil, err
	}
	cfg.Widths, cfg.Folder = pruned.Widths, folder
	rep := Report{Model: spec.Name, Weights: r.Weights, Percent: percent, Threshold: plan.Threshold,
		Removed: plan.Removed(), Widths: pruned.Widths, ParamsBefore: before.TotalParams, ParamsAfter: after.TotalParams,
		SizeMBBefore: before.TotalMB, SizeMBAfter: after.TotalMB, AccBefore: accBefore, AccPruned: accPruned,
		BestAcc: accPruned}
	if rcfg.Epochs > 0 {
		tr, err := train.NewTrainer(cfg, be, trainSet, testSet)
		if err != nil {
			return nil, err
		}
		if r.Resume {
			err = tr.Resume(folder)
		} else if err = tr.LoadWeights(prunedPath); err == nil {
			err = r.WriteConfig(folder, cfg, be)
		}
		if err != nil {
			return nil, err
		}
		rep.Finetune = tr.Recipe()
		verb := "fine-tuning"
		if r.Resume {
			verb = "resuming the fine-tuning of"
		}
		fmt.Printf("%s all parameters of the pruned model: %s -> %s\n", verb, tr.Recipe(), dir)
		res, err := tr.Run(ctx)
		if err != nil {
			return nil, interrupted(err, nil)
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
	if err := folder.WriteFile(runfolder.PruneMD, []byte(markdown(rep))); err != nil {
		return nil, err
	}
	fmt.Printf("done: %s (%s, %s)\n", dir, prunedPath, runfolder.PruneMD)
	return &rep, nil
}

// percentRemoving is the smallest percent, in steps of 1%, whose plan
// leaves at most (1-frac) of the model's params (params, as torchsummary
// counts them). The plans are computed on widths only: nothing is
// allocated.
func percentRemoving(spec *models.Spec, graph *Graph, gammas map[string][]float32, params int, frac float64) (float64, error) {
	for i := 1; i < 100; i++ {
		p := float64(i) / 100
		plan, err := NewPlan(graph, gammas, p)
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

func markdown(r Report) string {
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

// checkpointWidths reads the widths a checkpoint of spec's model was saved
// at.
func checkpointWidths(path string, spec *models.Spec) (models.Widths, error) {
	meta, err := checkpoint.ReadMeta(path)
	if err != nil {
		return nil, err
	}
	widths, err := models.WidthsFromMeta(meta)
	if err == nil {
		err = runfolder.CheckWidths(spec, widths)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return widths, nil
}
