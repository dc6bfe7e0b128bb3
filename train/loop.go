package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// Config is everything a training run needs: the recipe (validated by
// runfolder.Validate), the run folder and where to report.
type Config struct {
	runfolder.Config
	// Folder, when set, receives the run's files (nil: none are written).
	Folder *runfolder.Folder `json:"-"`
	// Log receives a line per epoch (nil: silent).
	Log io.Writer `json:"-"`
	// Progress, when set, is told of each training step (a progress bar).
	Progress Progress `json:"-"`
	// Memory, when set, describes the device memory in use; the epoch
	// line ends with it (the CUDA engine's).
	Memory func() string `json:"-"`
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

// Progress follows an epoch's training steps (a progress bar on a terminal).
type Progress interface {
	// Start begins epoch (1-based) of epochs, with steps steps.
	Start(epoch, epochs, steps int)
	// Update reports that step steps are done, images images seen, and the
	// last step's loss.
	Update(step, images int, loss float32)
	// Done ends the epoch.
	Done()
}

// lossWindow is how often (in steps) the training loss is read back: each
// step copies its loss into a window on the device, and every lossWindow
// steps one download brings the window to the host, where it is summed in
// float64, checked for NaN and infinities, and shown by Progress. A host
// round trip per lossWindow steps, none in between.
const lossWindow = 10

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
	lossWin    *engine.Tensor
	lossSlots  []*engine.Tensor
	batch      int // the training batch, clamped to the data
	hostX      []float32
	hostY      []int32
	hostLogits []float32
	perm       []int
	preds      *Predictions
	step       uint32
	startEpoch int
	resumed    []EpochMetrics
	sparse     []layers.Entry
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
	t.batch = max(min(cfg.BatchSize, t.nTrain), 1)
	maxBatch := max(t.batch, min(cfg.TestBatchSize, t.nTest), 1)
	t.model, err = spec.BuildWidths(maxBatch, cfg.Widths)
	if err != nil {
		return nil, err
	}
	if cfg.Sparsity < 0 {
		return nil, fmt.Errorf("sparsity %g: must be 0 or more", cfg.Sparsity)
	}
	if cfg.Sparsity > 0 {
		if spec.PruneTarget == nil {
			return nil, fmt.Errorf("sparsity training needs pruning-target batch norms; model %s has none (seresnet has)", spec.Name)
		}
		for _, e := range t.model.Builder.Entries() {
			if e.Kind == layers.Param && spec.PruneTarget(e.Name) {
				t.sparse = append(t.sparse, e)
			}
		}
	}
	t.optState = engine.NewPool("optimizer", engine.Float32)
	t.opt, err = NewOptimizer(cfg.Optimizer, t.model.Builder, t.optState)
	if err != nil {
		return nil, err
	}
	t.lossWin = t.optState.New("loss_window", lossWindow)
	if err := t.model.Allocate(be, cfg.Seed); err != nil {
		return nil, err
	}
	if err := t.optState.Allocate(be); err != nil {
		return nil, fmt.Errorf("model %s: optimizer state: %w", cfg.Model, err)
	}
	for i := range lossWindow {
		t.lossSlots = append(t.lossSlots, t.lossWin.Slice(i, i+1))
	}
	t.hostX = make([]float32, maxBatch*mnist.Pixels)
	t.hostY = make([]int32, maxBatch)
	t.hostLogits = make([]float32, maxBatch*models.Classes)
	t.perm = make([]int, t.nTrain)
	t.preds = newPredictions(t.nTest)
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
// A loss that is not finite stops it within lossWindow steps with a
// *DivergedError.
func (t *Trainer) TrainEpoch(ctx context.Context, epoch int, lr float64) (float64, error) {
	t.shuffle(epoch)
	be, m := t.be, t.model
	lctx := &layers.Ctx{B: be, Train: true, Seed: t.cfg.Seed}
	bs := t.batch
	steps := (t.nTrain + bs - 1) / bs
	prog := t.cfg.Progress
	if prog != nil {
		prog.Start(epoch+1, t.cfg.Epochs, steps)
		defer prog.Done()
	}
	var host [lossWindow]float32
	var sum float64 // float64: a float32 sum of finite losses can overflow
	pending := 0    // steps whose loss is in the window, not yet read
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
		for _, e := range t.sparse {
			be.AddSign(e.Grad, e.Value, float32(t.cfg.Sparsity))
		}
		t.opt.Step(be, lr)
		be.Copy(t.lossSlots[pending], m.Loss)
		pending++
		t.step++
		if pending < lossWindow && s+1 < steps {
			continue
		}
		be.Download(host[:pending], t.lossWin.Slice(0, pending))
		if err := be.Sync(); err != nil {
			return 0, fmt.Errorf("train epoch %d, step %d: %w", epoch+1, s+1, err)
		}
		for i, l := range host[:pending] {
			step := s + 1 - pending + i // 0-based
			if v := float64(l); math.IsNaN(v) || math.IsInf(v, 0) {
				return v, &DivergedError{Epoch: epoch + 1, Step: step + 1, Loss: v, Flag: t.blame()}
			}
			sum += float64(l) * float64(min((step+1)*bs, t.nTrain)-step*bs)
		}
		if prog != nil {
			prog.Update(s+1, min((s+1)*bs, t.nTrain), host[pending-1])
		}
		pending = 0
	}
	return sum / float64(t.nTrain), nil
}

// DivergedError is a loss that is not finite: the run stops, keeping its
// last committed epoch.
type DivergedError struct {
	Epoch int     // 1-based
	Step  int     // 1-based, within the epoch; 0: the test loss
	Loss  float64 // NaN or an infinity
	Flag  string  // the flag to lower, as "the learning rate (-lr)"
}

func (e *DivergedError) Error() string {
	where := fmt.Sprintf("step %d", e.Step)
	if e.Step == 0 {
		where = "test"
	}
	return fmt.Sprintf("epoch %d, %s: the loss diverged (%s): lower %s", e.Epoch, where, lossName(e.Loss), e.Flag)
}

func lossName(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return "NaN"
}

// blame names the flag most likely at fault for a diverged loss.
func (t *Trainer) blame() string {
	o := t.cfg.Optimizer
	switch {
	case o.WeightDecay*t.cfg.LR >= 1:
		return "the weight decay (-weight-decay)"
	case t.cfg.Sparsity*t.cfg.LR >= 1:
		return "the sparsity (-sparsity)"
	case o.Momentum >= 1:
		return "the momentum (-momentum)"
	case t.cfg.Gamma > 1:
		return "the StepLR factor (-gamma)"
	}
	return "the learning rate (-lr)"
}

// Evaluate runs the test images in eval mode and returns the mean loss and
// the accuracy (a fraction).
func (t *Trainer) Evaluate(ctx context.Context) (loss, acc float64, err error) {
	return evaluate(ctx, &evalBuffers{x: t.hostX, y: t.hostY, out: t.hostLogits, preds: t.preds},
		t.be, t.model, t.testSet, t.nTest, t.cfg.TestBatchSize)
}

// evalBuffers are the host buffers an evaluation reuses.
type evalBuffers struct {
	x     []float32
	y     []int32
	out   []float32
	preds *Predictions
}

// Evaluate runs model m (allocated on be, built for batches of at least
// batch) in eval mode on the first n images of set, batch by batch in
// test-set order, and returns the mean loss, the accuracy and the
// predictions.
func Evaluate(ctx context.Context, be engine.Backend, m *models.Model, set *mnist.Set, n, batch int) (loss, acc float64, preds *Predictions, err error) {
	n = limit(set.N, n)
	batch = min(batch, n)
	buf := &evalBuffers{x: make([]float32, batch*mnist.Pixels), y: make([]int32, batch),
		out: make([]float32, batch*models.Classes), preds: newPredictions(n)}
	loss, acc, err = evaluate(ctx, buf, be, m, set, n, batch)
	return loss, acc, buf.preds, err
}

func evaluate(ctx context.Context, buf *evalBuffers, be engine.Backend, m *models.Model, set *mnist.Set, nTest, bs int) (loss, acc float64, err error) {
	lctx := &layers.Ctx{B: be, Train: false}
	idx := make([]int, 0, bs)
	var host [1]float32
	var sum float64
	correct := 0
	for lo := 0; lo < nTest; lo += bs {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		idx = idx[:0]
		for i := lo; i < min(lo+bs, nTest); i++ {
			idx = append(idx, i)
		}
		n := len(idx)
		m.SetBatch(n)
		set.Normalized(buf.x, idx)
		for i, k := range idx {
			buf.y[i] = int32(set.Labels[k])
		}
		be.Upload(m.Input, buf.x[:n*mnist.Pixels])
		be.UploadInt32(m.Labels, buf.y[:n])
		logits := m.Forward(lctx)
		m.ComputeLoss(lctx, false)
		be.Download(host[:], m.Loss)
		be.Download(buf.out[:n*models.Classes], logits)
		if err := be.Sync(); err != nil {
			return 0, 0, fmt.Errorf("evaluate: %w", err)
		}
		sum += float64(host[0]) * float64(n)
		correct += buf.preds.record(lo, buf.out[:n*models.Classes], buf.y[:n], m.Spec.OutputsProbabilities)
	}
	return sum / float64(nTest), float64(correct) / float64(nTest), nil
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
