package train

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// TestEpochOrderAndGather: each epoch's order is uploaded to the backend
// and the batch gathered there from the data set's bytes is, batch by
// batch, what the host would have built from the same seeded order
// (mnist.Set.Normalized of the shuffled indices and their labels): CPU and
// GPU runs see the same batches, and a resumed run the same order.
func TestEpochOrderAndGather(t *testing.T) {
	be := engine.NewCPU(1)
	cfg := baselineConfig(t, "")
	cfg.BatchSize = 16
	set := synthetic(100, 5)
	tr, err := NewTrainer(cfg, be, set, synthetic(10, 6))
	require.NoError(t, err)
	x, y := make([]float32, 16*mnist.Pixels), make([]int32, 16)
	for epoch := range 2 {
		tr.shuffle(epoch)
		perm := append([]int(nil), tr.perm...)
		_, err := tr.TrainEpoch(context.Background(), epoch, 0.1)
		require.NoError(t, err)
		got := engine.I32(tr.trainData.order)
		for i, k := range perm {
			require.Equal(t, int32(k), got[i], "epoch %d: order[%d] on the backend", epoch, i)
		}
		m := tr.Model()
		for lo := 0; lo < set.N; lo += 16 {
			n := min(lo+16, set.N) - lo
			m.SetBatch(n)
			be.GatherBatch(m.Input, m.Labels, tr.trainData.images, tr.trainData.labels, tr.trainData.order, tr.table, lo, nil)
			require.NoError(t, be.Err())
			set.Normalized(x, perm[lo:lo+n])
			for i, k := range perm[lo : lo+n] {
				y[i] = int32(set.Labels[k])
			}
			gx, gy := engine.F32(m.Input), engine.I32(m.Labels)
			for i := range gx {
				if math.Float32bits(gx[i]) != math.Float32bits(x[i]) {
					t.Fatalf("epoch %d, batch at %d: pixel %d gathered %g, host %g", epoch, lo, i, gx[i], x[i])
				}
			}
			require.Equal(t, y[:n], gy, "epoch %d, batch at %d: labels", epoch, lo)
		}
	}
	// The step variables after an epoch: the step counter and the batch
	// offset advanced once per step, the loss slot with them.
	v := engine.I32(tr.vars)
	require.Equal(t, int32(2*7), v[engine.VarStep])
	require.Equal(t, int32(100), v[engine.VarOffset], "7 steps cover the 100 images")
	require.Equal(t, int32(7), v[engine.VarSlot])
	require.Equal(t, int32(0), v[engine.VarFirst])
	require.Equal(t, int32(0), v[engine.VarDiverged])
	require.Len(t, tr.EpochLosses(), 7)
}

// TestEvalBatchDoesNotMatter evaluates the same trained model at the
// recipe's test batch (here 3, the trainer's model) and in large batches
// (a forward-only copy of the model): the accuracy and every prediction
// are identical, the loss equal within float32 rounding.
func TestEvalBatchDoesNotMatter(t *testing.T) {
	trainSet, testSet := synthetic(200, 1), synthetic(203, 2)
	var ref *Trainer
	var refLoss, refAcc float64
	for _, eb := range []int{0, 64, 1000} {
		cfg := baselineConfig(t, "")
		cfg.Epochs, cfg.TestBatchSize, cfg.EvalBatch = 1, 3, eb
		tr, err := NewTrainer(cfg, engine.NewCPU(0), trainSet, testSet)
		require.NoError(t, err)
		_, err = tr.TrainEpoch(context.Background(), 0, cfg.LR)
		require.NoError(t, err)
		loss, acc, err := tr.Evaluate(context.Background())
		require.NoError(t, err)
		if eb == 0 {
			require.Equal(t, 3, tr.evalBatch)
			require.Same(t, tr.model, tr.evalModel, "the recipe's test batch evaluates on the trainer's model")
			ref, refLoss, refAcc = tr, loss, acc
			continue
		}
		require.Equal(t, min(eb, testSet.N), tr.evalBatch)
		require.NotSame(t, tr.model, tr.evalModel, "a batch beyond the model's evaluates on a forward-only copy")
		require.Equal(t, refAcc, acc, "eval batch %d: accuracy", eb)
		require.InEpsilon(t, refLoss, loss, 1e-6, "eval batch %d: loss", eb)
		require.Equal(t, ref.preds.Pred, tr.preds.Pred, "eval batch %d: predictions", eb)
		for i := range ref.preds.Confidence {
			require.InDelta(t, ref.preds.Confidence[i], tr.preds.Confidence[i], 1e-6, "eval batch %d: confidence %d", eb, i)
		}
		t.Logf("ok eval batch %d: accuracy %.4f identical, loss %.9g vs %.9g at batch 3", eb, acc, loss, refLoss)
	}
	require.Greater(t, refAcc, 0.5, "the model learnt something: the comparison is not between two constant outputs")
}

// TestEvalCopyTakesTrainedState: the forward-only copy a large evaluation
// batch runs on takes the trained parameters and the batch norms' running
// statistics (a ResNet's), so its predictions are the trainer's model's.
func TestEvalCopyTakesTrainedState(t *testing.T) {
	trainSet, testSet := synthetic(16, 1), synthetic(12, 2)
	var ref []float32
	var refLoss float64
	for _, eb := range []int{0, 12} {
		cfg := Config{Config: runfolder.Config{Model: "lightresnet", Epochs: 1, BatchSize: 8, TestBatchSize: 3, LR: 1e-3,
			StepSize: 1, Gamma: 1, Optimizer: OptimizerConfig{Name: "sgd"}, Seed: 3}, EvalBatch: eb}
		tr, err := NewTrainer(cfg, engine.NewCPU(0), trainSet, testSet)
		require.NoError(t, err)
		_, err = tr.TrainEpoch(context.Background(), 0, cfg.LR)
		require.NoError(t, err)
		loss, _, err := tr.Evaluate(context.Background())
		require.NoError(t, err)
		if eb == 0 {
			ref, refLoss = append([]float32(nil), tr.preds.Confidence...), loss
			continue
		}
		require.NotSame(t, tr.model, tr.evalModel)
		require.InEpsilon(t, refLoss, loss, 1e-5, "test loss at batch 3 and on the batch-12 copy")
		for i := range ref {
			require.InDelta(t, ref[i], tr.preds.Confidence[i], 1e-5, "image %d: confidence at batch 3 and on the batch-12 copy", i)
		}
		t.Logf("ok test loss %.7g at batch 3, %.7g on the batch-12 copy; confidences %v", refLoss, loss, ref[:3])
	}
}

// countingCPU is the CPU engine posing as a device engine that counts its
// launches and times them (as the CUDA engine does), so the metrics'
// device fields can be checked without a GPU.
type countingCPU struct {
	*engine.CPU
	n       int64
	started bool
}

func (c *countingCPU) Launches() int64    { return c.n }
func (c *countingCPU) StartTiming() error { c.started = true; return nil }
func (c *countingCPU) StopTiming() (float64, error) {
	if !c.started {
		return 0, nil
	}
	c.started = false
	return 12.5, nil
}
func (c *countingCPU) GatherBatch(x, y, images, labels, order, table *engine.Tensor, offset int, vars *engine.Tensor) {
	c.n++
	c.CPU.GatherBatch(x, y, images, labels, order, table, offset, vars)
}
func (c *countingCPU) EndStep(vars, window, loss *engine.Tensor, batch int) {
	c.n++
	c.CPU.EndStep(vars, window, loss, batch)
}

// TestMetricsDeviceFields: an engine that counts launches and times the
// device gets device_ms_per_step and launches_per_step in metrics.jsonl;
// the CPU engine leaves them out (TestRunLearnsAndWritesMetrics checks a
// run folder's metrics.jsonl).
func TestMetricsDeviceFields(t *testing.T) {
	for _, c := range []struct {
		name string
		be   engine.Backend
	}{{"cpu", engine.NewCPU(0)}, {"counting", &countingCPU{CPU: engine.NewCPU(0)}}} {
		cfg := baselineConfig(t, "")
		cfg.Epochs, cfg.BatchSize = 1, 50
		tr, err := NewTrainer(cfg, c.be, synthetic(200, 1), synthetic(50, 2))
		require.NoError(t, err)
		res, err := tr.Run(context.Background())
		require.NoError(t, err)
		data, _, err := metricsFiles(res.Epochs) // what the run folder's metrics.jsonl holds
		require.NoError(t, err)
		var line map[string]any
		require.NoError(t, json.Unmarshal(data, &line))
		em := res.Epochs[0]
		if c.name == "cpu" {
			require.NotContains(t, line, "device_ms_per_step")
			require.NotContains(t, line, "launches_per_step")
			require.Zero(t, em.LaunchesPerStep)
			continue
		}
		// 4 steps: a gather and an end of step each (the counted ops).
		require.Equal(t, 2.0, em.LaunchesPerStep)
		require.Equal(t, 12.5/4, em.DeviceMSPerStep)
		require.Equal(t, 2.0, line["launches_per_step"])
		require.Equal(t, 12.5/4, line["device_ms_per_step"])
	}
}
