package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// evalRequest is an eval command line, parsed and validated.
type evalRequest struct {
	spec                       *models.Spec
	widths                     models.Widths
	weights, device, data, dir string
	precision                  string
	n, batch, threads          int
}

// parseEval parses and validates an eval command line, creating nothing.
func parseEval(args []string) (*evalRequest, error) {
	fs := pflag.NewFlagSet("eval", pflag.ContinueOnError)
	model := fs.String("model", "", "model: "+strings.Join(models.Names(), ", ")+" (default: the checkpoint's)")
	weights := fs.String("weights", "", "weights to evaluate (.safetensors)")
	device := fs.String("device", "auto", "auto, cpu, or cuda:N")
	data := fs.String("data", mnist.DefaultDir(), "MNIST folder (fetched there when missing)")
	limitTest := fs.Int("limit-test", 0, "evaluate the first N test images only (0: all)")
	batch := fs.Int("batch-size", 250, "images per forward pass")
	out := fs.String("out", "", "folder for predictions.csv and the figures (default runs/eval-<model>-<YYYYMMDD-HHMMSS>)")
	threads := fs.Int("threads", 0, "CPU engine threads (0: all cores)")
	precision := precisionFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *weights == "" {
		return nil, usagef("-weights FILE.safetensors is required")
	}
	req := runfolder.Request{Command: runfolder.Eval, Config: runfolder.Config{TestBatchSize: *batch, LimitTest: *limitTest}, Threads: *threads}
	if err := runfolder.Validate(req); err != nil {
		return nil, err
	}
	if err := checkDevice(*device, *precision); err != nil {
		return nil, err
	}
	spec, widths, err := checkpointModel(*weights, *model, "")
	if err != nil {
		return nil, err
	}
	dir := outDir(*out, "eval-"+spec.Name)
	if err := runfolder.CheckNew(dir, "-out", false); err != nil {
		return nil, err
	}
	n := mnist.TestCount
	if *limitTest > 0 && *limitTest < n {
		n = *limitTest
	}
	return &evalRequest{spec: spec, widths: widths, weights: *weights, device: *device, data: *data, dir: dir,
		n: n, batch: min(*batch, n), threads: *threads, precision: *precision}, nil // a batch larger than the images is clamped
}

// runEval evaluates saved weights (gotrain's, or a PyTorch state_dict of the
// seed's model saved with safetensors) on the MNIST test images.
func runEval(ctx context.Context, args []string) error {
	r, err := parseEval(args)
	if err != nil {
		return err
	}
	spec, b, dir := r.spec, r.batch, r.dir
	be, err := openDevice(r.device, r.threads, r.precision)
	if err != nil {
		return err
	}
	// Evaluation allocates no training state (models.AllocateEval), and a
	// batch that does not fit is lowered: results do not depend on it.
	fit, err := fitEvalBatch(r.device, spec, r.widths, b)
	if err != nil {
		return err
	}
	if fit < b {
		fmt.Fprintf(os.Stderr, "gotrain eval: batch %d does not fit in the memory available: evaluating at batch %d (the results are the same)\n", b, fit)
		b = fit
	}
	m, err := train.LoadModel(r.weights, spec, r.widths, be, b, false)
	if err != nil {
		return err
	}
	_, testSet, err := train.LoadMNIST(ctx, r.data)
	if err != nil {
		return err
	}
	start := time.Now()
	loss, acc, preds, err := train.Evaluate(ctx, be, m, testSet, r.n, b)
	if err != nil {
		return interrupted(ctx, err, nil)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("%s: the test loss is not finite (%g): the weights overflow", r.weights, loss)
	}
	folder, err := runfolder.Create(dir, false)
	if err != nil {
		return err
	}
	defer folder.Close()
	if err := folder.Write(runfolder.PredictionsCSV, preds.WriteCSV); err != nil {
		return err
	}
	if err := train.WriteEvalFigures(dir, spec.Name, preds, testSet); err != nil {
		return err
	}
	fmt.Printf("%s on %s: %d test images, loss %.4f, accuracy %.2f%% (%.1fs); predictions and figures in %s\n",
		spec.Name, be.Name(), len(preds.Labels), loss, 100*acc, time.Since(start).Seconds(), dir)
	return nil
}
