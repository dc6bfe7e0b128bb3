package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
	"github.com/gotrain/gotrain/train/figures"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// RunSummary is summary.json: what `gotrain report` tabulates.
type RunSummary struct {
	Model            string      `json:"model"`
	Device           string      `json:"device"`
	Epochs           int         `json:"epochs"`
	BestEpoch        int         `json:"best_epoch"`
	BestAcc          float64     `json:"best_test_acc"`
	LastAcc          float64     `json:"last_test_acc"`
	LastTestLoss     float64     `json:"last_test_loss"`
	PerClassAccuracy [10]float64 `json:"per_class_accuracy"`
	Seconds          float64     `json:"seconds"`
	Params           int         `json:"params"`
	SummaryParams    int         `json:"summary_params"`
	SizeMB           float64     `json:"size_mb"`
	Recipe           string      `json:"recipe"`
}

// Run trains for the configured epochs, evaluating after each. With a run
// folder it commits each epoch as a set (metrics.jsonl and metrics.csv up
// to the epoch, last.safetensors, best.safetensors and state.safetensors,
// the resume point) and at the end draws the figures of the final model
// and writes summary.json. A loss that is not finite, in training or test,
// stops the run with a *DivergedError; the folder keeps the last good epoch.
func (t *Trainer) Run(ctx context.Context) (*Result, error) {
	res := &Result{Epochs: append([]EpochMetrics(nil), t.resumed...)}
	for _, em := range res.Epochs {
		if em.TestAcc > res.BestAcc || res.BestEpoch == 0 {
			res.BestAcc, res.BestEpoch = em.TestAcc, em.Epoch
		}
	}
	folder := t.cfg.Folder
	start := time.Now()
	var evaluated bool
	for e := t.startEpoch; e < t.cfg.Epochs; e++ {
		lr := t.sched.LR(e)
		t0 := time.Now()
		trainLoss, err := t.TrainEpoch(ctx, e, lr)
		if err != nil {
			return res, err
		}
		secs := time.Since(t0).Seconds()
		testLoss, acc, err := t.Evaluate(ctx)
		if err != nil {
			return res, err
		}
		if math.IsNaN(testLoss) || math.IsInf(testLoss, 0) {
			return res, &DivergedError{Epoch: e + 1, Loss: testLoss, Flag: t.blame()}
		}
		evaluated = true
		em := EpochMetrics{Epoch: e + 1, LR: lr, TrainLoss: trainLoss, TestLoss: testLoss, TestAcc: acc,
			Seconds: secs, ImagesPerSec: float64(t.nTrain) / secs, DeviceMSPerStep: t.devMS, LaunchesPerStep: t.launchesPS}
		res.Epochs = append(res.Epochs, em)
		best := acc > res.BestAcc || res.BestEpoch == 0
		if best {
			res.BestAcc, res.BestEpoch = acc, e+1
		}
		mem := ""
		if t.cfg.Memory != nil {
			if m := t.cfg.Memory(); m != "" {
				mem = "  " + m
			}
		}
		steps := ""
		if em.LaunchesPerStep > 0 {
			steps = fmt.Sprintf("  %.3g ms/step on the device, %.3g launches/step", em.DeviceMSPerStep, em.LaunchesPerStep)
		}
		t.logf("epoch %d/%d  lr %.4g  train loss %.4f  test loss %.4f  test acc %.2f%%  %.1fs  %.0f img/s%s%s\n",
			e+1, t.cfg.Epochs, lr, trainLoss, testLoss, 100*acc, secs, em.ImagesPerSec, steps, mem)
		if folder != nil {
			if err := t.saveEpoch(folder, best, res); err != nil {
				return res, err
			}
		}
	}
	if folder != nil && len(res.Epochs) > 0 {
		if !evaluated { // resumed a finished run: evaluate the loaded model
			if _, _, err := t.Evaluate(ctx); err != nil {
				return res, err
			}
		}
		if err := t.finish(folder, res, time.Since(start).Seconds()); err != nil {
			return res, fmt.Errorf("%w; every epoch is committed: -resume %s writes the figures and summary again", err, folder.Dir())
		}
	}
	return res, nil
}

// weightsMeta is the metadata of best.safetensors and last.safetensors.
func (t *Trainer) weightsMeta(epoch int) map[string]string {
	meta := t.model.Meta()
	meta["epoch"] = strconv.Itoa(epoch)
	return meta
}

// saveEpoch commits the epoch's files as a set: until the commit, the
// folder's committed epoch stays the previous one.
func (t *Trainer) saveEpoch(folder *runfolder.Folder, best bool, res *Result) error {
	em := res.Last()
	jsonl, csv, err := metricsFiles(res.Epochs)
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	ep, err := folder.BeginEpoch(em.Epoch)
	if err != nil {
		return err
	}
	if err := ep.WriteFile(runfolder.MetricsJSONL, jsonl); err != nil {
		return err
	}
	if err := ep.WriteFile(runfolder.MetricsCSV, csv); err != nil {
		return err
	}
	entries := t.model.Builder.Entries()
	meta := t.weightsMeta(em.Epoch)
	save := func(path string) error { return checkpoint.Save(path, t.be, entries, meta) }
	if err := ep.Save(runfolder.LastWeights, save); err != nil {
		return err
	}
	if best {
		err = ep.Save(runfolder.BestWeights, save)
	} else {
		err = ep.Keep(runfolder.BestWeights)
	}
	if err != nil {
		return err
	}
	state := map[string]*engine.Tensor{}
	for _, st := range t.opt.State() {
		state[st.Name()] = st
	}
	smeta := map[string]string{
		"format": "gotrain-state", "model": t.model.Spec.Name,
		"epoch": strconv.Itoa(em.Epoch), "step": strconv.FormatUint(uint64(t.step), 10),
		"optimizer_steps": strconv.FormatInt(t.opt.Steps(), 10), "optimizer": t.opt.Name(),
		"best_epoch": strconv.Itoa(res.BestEpoch), "config": string(cfg),
	}
	if err := ep.Save(runfolder.StateFile, func(path string) error { return checkpoint.SaveTensors(path, t.be, state, smeta) }); err != nil {
		return err
	}
	return ep.Commit()
}

// Resume restores the committed epoch of an opened run folder: the last
// weights, the optimizer state, the step counter and the metrics of the
// epochs done. Run then continues with the next epoch and draws what the
// uninterrupted run would have: the shuffle is keyed by (seed, epoch) and
// dropout by (seed, step).
func (t *Trainer) Resume(folder *runfolder.Folder) error {
	dir := folder.Dir()
	c := folder.Committed()
	if c == nil {
		return fmt.Errorf("resume %s: no committed epoch", dir)
	}
	statePath, lastPath := folder.CommittedPath(runfolder.StateFile), folder.CommittedPath(runfolder.LastWeights)
	state := map[string]*engine.Tensor{}
	for _, st := range t.opt.State() {
		state[st.Name()] = st
	}
	meta, err := checkpoint.ReadMeta(statePath)
	if err != nil {
		return fmt.Errorf("resume %s: %w", dir, err)
	}
	if meta["model"] != t.model.Spec.Name {
		return fmt.Errorf("resume %s: the run trained %q, not %q", dir, meta["model"], t.model.Spec.Name)
	}
	epoch, err1 := strconv.Atoi(meta["epoch"])
	step, err2 := strconv.ParseUint(meta["step"], 10, 32)
	osteps, err3 := strconv.ParseInt(meta["optimizer_steps"], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || epoch != c.Epoch {
		return fmt.Errorf("resume %s: %s: bad epoch/step metadata (epoch %q, committed %d)", dir, statePath, meta["epoch"], c.Epoch)
	}
	wmeta, err := checkpoint.ReadMeta(lastPath)
	if err != nil {
		return fmt.Errorf("resume %s: %w", dir, err)
	}
	if wmeta["epoch"] != meta["epoch"] {
		return fmt.Errorf("resume %s: %s is from epoch %s but the state is from epoch %s", dir, lastPath, wmeta["epoch"], meta["epoch"])
	}
	done, err := readMetrics(folder.CommittedPath(runfolder.MetricsJSONL), epoch)
	if err != nil {
		return fmt.Errorf("resume %s: %w", dir, err)
	}
	if _, err := checkpoint.LoadTensors(statePath, t.be, state); err != nil {
		return fmt.Errorf("resume %s: %w", dir, err)
	}
	if _, err := checkpoint.Load(lastPath, t.be, t.model.Builder.Entries()); err != nil {
		return fmt.Errorf("resume %s: %w", dir, err)
	}
	t.startEpoch, t.step, t.resumed = epoch, uint32(step), done
	t.opt.SetSteps(osteps)
	return nil
}

// LoadWeights loads a checkpoint's weights (gotrain's, or a PyTorch
// state_dict of the same model at the same widths) before training: a
// fine-tuning run's starting point.
func (t *Trainer) LoadWeights(path string) error {
	_, err := checkpoint.Load(path, t.be, t.model.Builder.Entries())
	return err
}

// readMetrics reads the n epochs of a committed metrics.jsonl.
func readMetrics(path string, n int) ([]EpochMetrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []EpochMetrics
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < n {
		var em EpochMetrics
		if err := json.Unmarshal(sc.Bytes(), &em); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, len(out)+1, err)
		}
		if em.Epoch != len(out)+1 {
			return nil, fmt.Errorf("%s line %d: epoch %d out of order", path, len(out)+1, em.Epoch)
		}
		out = append(out, em)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) < n {
		return nil, fmt.Errorf("%s has %d epochs, the state says %d", path, len(out), n)
	}
	return out, nil
}

var csvHeader = "epoch,lr,train_loss,test_loss,test_acc,seconds,images_per_sec\n"

func csvLine(em EpochMetrics) string {
	return fmt.Sprintf("%d,%g,%g,%g,%g,%g,%g\n", em.Epoch, em.LR, em.TrainLoss, em.TestLoss, em.TestAcc, em.Seconds, em.ImagesPerSec)
}

// metricsFiles are metrics.jsonl and metrics.csv holding exactly ems. A
// value JSON cannot hold (NaN) is an error, never a blank line.
func metricsFiles(ems []EpochMetrics) (jsonl, csv []byte, err error) {
	var j, c bytes.Buffer
	c.WriteString(csvHeader)
	for _, em := range ems {
		line, err := json.Marshal(em)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: epoch %d: %w", runfolder.MetricsJSONL, em.Epoch, err)
		}
		j.Write(append(line, '\n'))
		c.WriteString(csvLine(em))
	}
	return j.Bytes(), c.Bytes(), nil
}

// finish draws the final model's figures and writes summary.json.
func (t *Trainer) finish(folder *runfolder.Folder, res *Result, secs float64) error {
	dir, name := folder.Dir(), t.model.Spec.Name
	eps := make([]figures.Epoch, len(res.Epochs))
	for i, em := range res.Epochs {
		eps[i] = figures.Epoch{Epoch: em.Epoch, TrainLoss: em.TrainLoss, TestLoss: em.TestLoss, TestAcc: em.TestAcc}
	}
	if err := figures.LossAcc(folder.Path(runfolder.LossAccPNG), name, eps); err != nil {
		return err
	}
	if err := WriteEvalFigures(dir, name, t.preds, t.testSet); err != nil {
		return err
	}
	var total float64
	for _, em := range res.Epochs {
		total += em.Seconds
	}
	sum := models.Summarize(t.model)
	last := res.Last()
	rs := RunSummary{Model: name, Device: t.be.Name(), Epochs: len(res.Epochs), BestEpoch: res.BestEpoch,
		BestAcc: res.BestAcc, LastAcc: last.TestAcc, LastTestLoss: last.TestLoss,
		PerClassAccuracy: t.preds.PerClassAccuracy(), Seconds: total, Params: t.model.NumParams(),
		SummaryParams: sum.TotalParams, SizeMB: sum.TotalMB, Recipe: t.Recipe()}
	for i, v := range rs.PerClassAccuracy {
		if math.IsNaN(v) {
			rs.PerClassAccuracy[i] = -1
		}
	}
	return folder.WriteJSON(runfolder.SummaryFile, rs)
}

// Recipe describes the training recipe in effect, in one line.
func (t *Trainer) Recipe() string {
	c := t.cfg
	return fmt.Sprintf("%s lr %g, StepLR(step %d, gamma %g), %d epochs, batch %d, test batch %d, seed %d",
		t.opt.Name(), c.LR, c.StepSize, c.Gamma, c.Epochs, c.BatchSize, c.TestBatchSize, c.Seed)
}

// WriteEvalFigures draws the confusion matrix and the misclassified and
// well-classified example grids of preds into dir.
func WriteEvalFigures(dir, model string, preds *Predictions, test *mnist.Set) error {
	if err := figures.Confusion(filepath.Join(dir, runfolder.ConfusionPNG), model, preds.Confusion()); err != nil {
		return err
	}
	for _, g := range []struct {
		correct bool
		file    string
		title   string
		none    string
	}{
		{false, runfolder.MisclassPNG, "misclassified: " + model, "no misclassified image"},
		{true, runfolder.WellClassPNG, "well classified: " + model, "no correctly classified image"},
	} {
		var panels [10]figures.Panel
		for c, i := range preds.FirstExamples(g.correct) {
			if i < 0 {
				panels[c] = figures.Panel{Empty: g.none}
				continue
			}
			panels[c] = figures.Panel{Image: test.Image(i), Prediction: int(preds.Pred[i]), Confidence: float64(preds.Confidence[i])}
		}
		if err := figures.Examples(filepath.Join(dir, g.file), g.title, panels); err != nil {
			return err
		}
	}
	return nil
}
