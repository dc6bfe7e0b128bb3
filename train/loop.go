package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/mnist"
)

// Config is everything a training run needs.
type Config struct {
	Model         string
	Epochs        int
	BatchSize     int
	TestBatchSize int
	LR            float64
	StepSize      int
	Gamma         float64
	Optimizer     OptimizerConfig
	Seed          uint64
	LimitTrain    int // use the first N training images (0: all)
	LimitTest     int // use the first N test images (0: all)
	OutDir        string
	// Log receives progress lines (nil: silent).
	Log io.Writer
}

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Epoch        int     `json:"epoch"`
	LR           float64 `json:"lr"`
	TrainLoss    float64 `json:"train_loss"`
	TestLoss     float64 `json:"test_loss"`
	TestAcc      float64 `json:"test_acc"`
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_sec"`
}

// Result summarises a finished run.
type Result struct {
	Epochs    []EpochMetrics
	BestEpoch int // 1-based
	BestAcc   float64
}

// Last is the final epoch's metrics.
func (r *Result) Last() EpochMetrics { return r.Epochs[len(r.Epochs)-1] }

// Trainer holds a built model, its optimizer and the data.
type Trainer struct {
	cfg        Config
	be         engine.Backend
	model      *models.Model
	opt        Optimizer
	optState   *engine.Pool
	sched      StepLR
	trainSet   *mnist.Set
	testSet    *mnist.Set
	nTrain     int
	nTest      int
	lossSum    *engine.Tensor
	hostX      []float32
	hostY      []int32
	hostLogits []float32
	perm       []int
	step       uint32
}

// NewTrainer builds and allocates the model on be and its optimizer.
func NewTrainer(cfg Config, be engine.Backend, trainSet, testSet *mnist.Set) (*Trainer, error) {
	spec, err := models.Lookup(cfg.Model)
	if err != nil {
		return nil, err
	}
	if cfg.BatchSize < 1 || cfg.TestBatchSize < 1 || cfg.Epochs < 0 {
		return nil, fmt.Errorf("batch sizes must be positive and epochs non-negative (batch %d, test batch %d, epochs %d)", cfg.BatchSize, cfg.TestBatchSize, cfg.Epochs)
	}
	t := &Trainer{cfg: cfg, be: be, trainSet: trainSet, testSet: testSet,
		sched: StepLR{Base: cfg.LR, Step: cfg.StepSize, Gamma: cfg.Gamma}}
	t.nTrain, t.nTest = limit(trainSet.N, cfg.LimitTrain), limit(testSet.N, cfg.LimitTest)
	maxBatch := max(min(cfg.BatchSize, t.nTrain), min(cfg.TestBatchSize, t.nTest), 1)
	t.model = spec.Build(maxBatch)
	t.optState = engine.NewPool("optimizer", engine.Float32)
	t.opt, err = NewOptimizer(cfg.Optimizer, t.model.Builder, t.optState)
	if err != nil {
		return nil, err
	}
	t.lossSum = t.optState.New("loss_sum", 1)
	if err := t.model.Allocate(be, cfg.Seed); err != nil {
		return nil, err
	}
	if err := t.optState.Allocate(be); err != nil {
		return nil, fmt.Errorf("model %s: optimizer state: %w", cfg.Model, err)
	}
	t.hostX = make([]float32, maxBatch*mnist.Pixels)
	t.hostY = make([]int32, maxBatch)
	t.hostLogits = make([]float32, maxBatch*models.Classes)
	t.perm = make([]int, t.nTrain)
	return t, nil
}

func limit(n, lim int) int {
	if lim > 0 && lim < n {
		return lim
	}
	return n
}

// Model is the trainer's model.
func (t *Trainer) Model() *models.Model { return t.model }

// OptimizerName describes the optimizer in effect.
func (t *Trainer) OptimizerName() string { return t.opt.Name() }

func (t *Trainer) logf(format string, args ...any) {
	if t.cfg.Log != nil {
		fmt.Fprintf(t.cfg.Log, format, args...)
	}
}

// load uploads examples idx of set into the model's input and labels.
func (t *Trainer) load(set *mnist.Set, idx []int) {
	n := len(idx)
	t.model.SetBatch(n)
	set.Normalized(t.hostX, idx)
	for i, k := range idx {
		t.hostY[i] = int32(set.Labels[k])
	}
	t.be.Upload(t.model.Input, t.hostX[:n*mnist.Pixels])
	t.be.UploadInt32(t.model.Labels, t.hostY[:n])
}

// shuffle sets perm to the epoch's order of the training images: a
// permutation drawn from a generator keyed by (seed, epoch), so a resumed
// run sees the same order.
func (t *Trainer) shuffle(epoch int) {
	for i := range t.perm {
		t.perm[i] = i
	}
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(epoch)))
	rng.Shuffle(len(t.perm), func(i, j int) { t.perm[i], t.perm[j] = t.perm[j], t.perm[i] })
}

// TrainEpoch runs one epoch (0-based) and returns the mean training loss.
func (t *Trainer) TrainEpoch(ctx context.Context, epoch int, lr float64) (float64, error) {
	t.shuffle(epoch)
	be, m := t.be, t.model
	lctx := &layers.Ctx{B: be, Train: true, Seed: t.cfg.Seed}
	be.Fill(t.lossSum, 0)
	bs := t.cfg.BatchSize
	steps := (t.nTrain + bs - 1) / bs
	logEvery := max(steps/10, 1)
	var host [1]float32
	for s := 0; s < steps; s++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		idx := t.perm[s*bs : min((s+1)*bs, t.nTrain)]
		t.load(t.trainSet, idx)
		lctx.Step = t.step
		m.Forward(lctx)
		m.ComputeLoss(lctx, true)
		m.Backward(lctx)
		t.opt.Step(be, lr)
		be.Axpy(t.lossSum, float32(len(idx)), m.Loss)
		t.step++
		if (s+1)%logEvery == 0 && s+1 < steps {
			be.Download(host[:], m.Loss)
			if err := be.Sync(); err != nil {
				return 0, fmt.Errorf("train step %d: %w", s, err)
			}
			t.logf("  epoch %d [%5d/%d] loss %.4f\n", epoch+1, (s+1)*bs, t.nTrain, host[0])
		}
	}
	be.Download(host[:], t.lossSum)
	if err := be.Sync(); err != nil {
		return 0, fmt.Errorf("train epoch %d: %w", epoch+1, err)
	}
	loss := float64(host[0]) / float64(t.nTrain)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("train epoch %d: the loss diverged (%g): lower the learning rate (-lr)", epoch+1, loss)
	}
	return loss, nil
}

// Evaluate runs the test images in eval mode and returns the mean loss and
// the accuracy (a fraction).
func (t *Trainer) Evaluate(ctx context.Context) (loss, acc float64, err error) {
	be, m := t.be, t.model
	lctx := &layers.Ctx{B: be, Train: false, Seed: t.cfg.Seed}
	bs := t.cfg.TestBatchSize
	idx := make([]int, 0, bs)
	var host [1]float32
	var sum float64
	correct := 0
	for lo := 0; lo < t.nTest; lo += bs {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		idx = idx[:0]
		for i := lo; i < min(lo+bs, t.nTest); i++ {
			idx = append(idx, i)
		}
		n := len(idx)
		t.load(t.testSet, idx)
		logits := m.Forward(lctx)
		m.ComputeLoss(lctx, false)
		be.Download(host[:], m.Loss)
		be.Download(t.hostLogits[:n*models.Classes], logits)
		if err := be.Sync(); err != nil {
			return 0, 0, fmt.Errorf("evaluate: %w", err)
		}
		sum += float64(host[0]) * float64(n)
		for i := 0; i < n; i++ {
			if argmax(t.hostLogits[i*models.Classes:(i+1)*models.Classes]) == int(t.hostY[i]) {
				correct++
			}
		}
	}
	return sum / float64(t.nTest), float64(correct) / float64(t.nTest), nil
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// Run trains for the configured epochs, evaluating after each, appending
// to metrics.jsonl in the output folder when one is set.
func (t *Trainer) Run(ctx context.Context) (*Result, error) {
	var metrics *os.File
	if t.cfg.OutDir != "" {
		if err := os.MkdirAll(t.cfg.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("run folder: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(t.cfg.OutDir, "metrics.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("run folder: %w", err)
		}
		defer f.Close()
		metrics = f
	}
	res := &Result{}
	for e := 0; e < t.cfg.Epochs; e++ {
		lr := t.sched.LR(e)
		start := time.Now()
		trainLoss, err := t.TrainEpoch(ctx, e, lr)
		if err != nil {
			return res, err
		}
		secs := time.Since(start).Seconds()
		testLoss, acc, err := t.Evaluate(ctx)
		if err != nil {
			return res, err
		}
		em := EpochMetrics{Epoch: e + 1, LR: lr, TrainLoss: trainLoss, TestLoss: testLoss, TestAcc: acc,
			Seconds: secs, ImagesPerSec: float64(t.nTrain) / secs}
		res.Epochs = append(res.Epochs, em)
		if acc > res.BestAcc || res.BestEpoch == 0 {
			res.BestAcc, res.BestEpoch = acc, e+1
		}
		t.logf("epoch %d/%d  lr %.4g  train loss %.4f  test loss %.4f  test acc %.2f%%  %.1fs  %.0f img/s\n",
			e+1, t.cfg.Epochs, lr, trainLoss, testLoss, 100*acc, secs, em.ImagesPerSec)
		if metrics != nil {
			line, _ := json.Marshal(em)
			if _, err := metrics.Write(append(line, '\n')); err != nil {
				return res, fmt.Errorf("write metrics: %w", err)
			}
			if err := metrics.Sync(); err != nil {
				return res, fmt.Errorf("write metrics: %w", err)
			}
		}
	}
	return res, nil
}
