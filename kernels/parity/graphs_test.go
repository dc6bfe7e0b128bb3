//go:build cuda || cgo

package parity

import (
	"context"
	"math"
	"testing"

	"github.com/gotrain/gotrain/cuda"
	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// noiseSet is n MNIST-shaped images of random bytes with random labels.
func noiseSet(n int, seed uint32) *mnist.Set {
	s := &mnist.Set{Images: make([]uint8, n*mnist.Pixels), Labels: make([]uint8, n), N: n}
	h := seed*2654435761 + 1
	for i := range s.Images {
		h = h*1664525 + 1013904223
		s.Images[i] = uint8(h >> 24)
	}
	for i := range s.Labels {
		h = h*1664525 + 1013904223
		s.Labels[i] = uint8((h >> 16) % 10)
	}
	return s
}

// TestGraphedStepsMatchUncaptured trains every model (on the emulator, the
// models of emuModels) for two short epochs twice on the CUDA engine:
// with every step launched op by op (GOTRAIN_GRAPHS=0) and with full steps
// captured into a graph and replayed (the default: the first full step
// uncaptured, the second captured, the rest replayed; the partial batch
// uncaptured; evaluation likewise). The losses, step by step, the
// parameters after each epoch and the evaluations must be bit-identical:
// a replay runs the same kernels on the same memory, with what changes
// between steps (learning rate, step and dropout key, first-step flag,
// batch offset) read from the step variables.
func TestGraphedStepsMatchUncaptured(t *testing.T) {
	for _, name := range models.Names() {
		t.Run(name, func(t *testing.T) {
			if cuda.DriverName == "emulator" && name != "baseline" && name != "googlenet" {
				t.Skipf("gpu only: %s (a minute or more on the emulator)", name)
			}
			spec, err := models.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			// On a GPU: two epochs of 3 full steps and a partial one, and an
			// evaluation after each (the second one's full batch captured).
			// On the emulator a step of GoogLeNet or the SE-ResNet takes
			// seconds: one epoch of 3 steps of 2 images (uncaptured, captured,
			// replayed), no evaluation, for GoogLeNet (batch norms,
			// concatenations); the baseline runs the whole scenario; the
			// others, the SE-ResNet included (about a minute), on a GPU only.
			batch, nTrain, epochs, evals := 4, 14, 2, true
			if cuda.DriverName == "emulator" && name != "baseline" {
				batch, nTrain, epochs, evals = 2, 6, 1, false
			}
			steps := (nTrain + batch - 1) / batch
			cfg := train.Config{Config: runfolder.Config{Model: name, Epochs: epochs, BatchSize: batch, TestBatchSize: 1,
				LR: spec.Recipe.LR, StepSize: 1, Gamma: 0.5, Seed: 3,
				Optimizer: train.OptimizerConfig{Name: spec.Recipe.Optimizer}}}
			if cfg.Optimizer.Name == "sgd" {
				cfg.Optimizer.Momentum, cfg.Optimizer.WeightDecay = 0.9, 5e-4
			}
			if spec.PruneTarget != nil {
				cfg.Sparsity = 1e-4 // AddSign inside the graph
			}
			// Evaluation on a forward-only copy at batch 5: a full batch
			// (uncaptured after epoch 1, captured after epoch 2) and a partial one.
			if evals {
				cfg.EvalBatch = batch + 1
			}
			trainSet, testSet := noiseSet(nTrain, 1), noiseSet(batch+2, 2)
			type run struct {
				losses [][]float32
				params [][]float32
				res    *train.Result
			}
			runOnce := func(graphs string) run {
				t.Setenv("GOTRAIN_GRAPHS", graphs)
				b := gpu(t)
				tr, err := train.NewTrainer(cfg, b, trainSet, testSet)
				if err != nil {
					t.Fatal(err)
				}
				var r run
				r.res = &train.Result{}
				for e := range cfg.Epochs {
					if _, err := tr.TrainEpoch(context.Background(), e, cfg.LR*math.Pow(0.5, float64(e))); err != nil {
						t.Fatalf("GOTRAIN_GRAPHS=%s epoch %d: %v", graphs, e+1, err)
					}
					r.losses = append(r.losses, append([]float32(nil), tr.EpochLosses()...))
					p := tr.Model().Builder.Params.Flat()
					host := make([]float32, p.Len())
					b.Download(host, p)
					if err := b.Sync(); err != nil {
						t.Fatal(err)
					}
					r.params = append(r.params, host)
					if !evals {
						r.res.Epochs = append(r.res.Epochs, train.EpochMetrics{})
						continue
					}
					loss, acc, err := tr.Evaluate(context.Background())
					if err != nil {
						t.Fatalf("GOTRAIN_GRAPHS=%s evaluate: %v", graphs, err)
					}
					r.res.Epochs = append(r.res.Epochs, train.EpochMetrics{TestLoss: loss, TestAcc: acc})
				}
				return r
			}
			before := gpu(t).Launches()
			plain := runOnce("0")
			mid := gpu(t).Launches()
			graphed := runOnce("1")
			after := gpu(t).Launches()
			for e := range plain.losses {
				if len(plain.losses[e]) != steps || len(graphed.losses[e]) != steps {
					t.Fatalf("epoch %d: %d and %d step losses, want %d", e+1, len(plain.losses[e]), len(graphed.losses[e]), steps)
				}
				for s := range plain.losses[e] {
					if math.Float32bits(plain.losses[e][s]) != math.Float32bits(graphed.losses[e][s]) {
						t.Fatalf("epoch %d step %d: loss uncaptured %g, graphed %g", e+1, s+1, plain.losses[e][s], graphed.losses[e][s])
					}
				}
				for i := range plain.params[e] {
					if math.Float32bits(plain.params[e][i]) != math.Float32bits(graphed.params[e][i]) {
						t.Fatalf("epoch %d: parameter %d uncaptured %g, graphed %g", e+1, i, plain.params[e][i], graphed.params[e][i])
					}
				}
				pe, ge := plain.res.Epochs[e], graphed.res.Epochs[e]
				if pe.TestAcc != ge.TestAcc || math.Float64bits(pe.TestLoss) != math.Float64bits(ge.TestLoss) {
					t.Fatalf("epoch %d: evaluation uncaptured (%g, %g), graphed (%g, %g)", e+1, pe.TestLoss, pe.TestAcc, ge.TestLoss, ge.TestAcc)
				}
			}
			if epochs > 1 && graphed.losses[1][0] == graphed.losses[0][0] {
				t.Errorf("the first steps of both epochs have the same loss %g: the replays did not see the new order", graphed.losses[0][0])
			}
			t.Logf("ok %s: %d epochs of %d steps of %d (%d images), evaluations %v, bit-identical graphed and uncaptured; launches %d uncaptured, %d graphed (setup included)",
				name, epochs, steps, batch, nTrain, evals, mid-before, after-mid)
		})
	}
}

var _ engine.Graph = (*cuda.Graph)(nil)
