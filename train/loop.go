package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

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
	// EvalBatch is the batch evaluation runs at (0: the test batch size).
	// It changes only the speed: batch norm is in eval mode and dropout is
	// off, so each image's logits do not depend on its batch (the test
	// accuracy is identical, the loss equal within float32 rounding:
	// TestEvalBatchDoesNotMatter). Larger than the training batch, it
	// gets a forward-only copy of the model (models.AllocateEval).
	EvalBatch int `json:"-"`
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
	// DeviceMSPerStep is the device time of the epoch's training steps
	// per step, in milliseconds, and LaunchesPerStep the launches the host
	// queued per step (kernels, uploads, device copies and fills; a CUDA
	// graph's replay counts one; the loss window's reads do not). Both come from engines that launch work on a device
	// (engine.StepCounter: the CUDA engine); the CPU engine runs ops as it
	// is called and omits them (0). Like the timings, they are left out
	// of the comparisons of resumed runs.
	DeviceMSPerStep float64 `json:"device_ms_per_step,omitempty"`
	LaunchesPerStep float64 `json:"launches_per_step,omitempty"`
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

// deviceSet is a data set on the backend: its images as packed bytes
// (engine.PackBytes), its labels and an order of its examples.
type deviceSet struct {
	images, labels, order *engine.Tensor
	n                     int
}

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
	batch      int // the training batch, clamped to the data
	hostLogits []float32
	perm       []int
	preds      *Predictions
	step       uint32
	startEpoch int
	resumed    []EpochMetrics
	sparse     []layers.Entry

	// The data on the backend, the step variables and the graphs.
	table      *engine.Tensor // pixel byte -> normalised value (engine.NormTable)
	trainData  deviceSet
	testData   deviceSet
	vars       *engine.Tensor // the training step's variables
	evalVars   *engine.Tensor // the evaluation's (the batch offset)
	evalWin    *engine.Tensor // EndStep's window for evaluation (unread)
	order32    []int32
	capture    bool         // capture steps into graphs (a Capturer, GOTRAIN_GRAPHS not 0)
	warm       bool         // a full training step ran uncaptured
	stepGraph  engine.Graph // the full training step, captured
	evalModel  *models.Model
	evalBatch  int
	evalGraph  engine.Graph // a full evaluation batch of evalModel, captured
	evalWarm   bool
	losses     []float32 // the last epoch's training losses, step by step
	devMS      float64   // the last epoch's device milliseconds per step
	launchesPS float64   // the last epoch's launches per step
	evalLabels []int32
}

// graphsFromEnv reads GOTRAIN_GRAPHS: unset or 1 captures training steps
// and evaluation batches into CUDA graphs, 0 runs them uncaptured.
func graphsFromEnv() (bool, error) {
	switch v := os.Getenv("GOTRAIN_GRAPHS"); v {
	case "", "1", "on", "true":
		return true, nil
	case "0", "off", "false":
		return false, nil
	default:
		return false, fmt.Errorf("GOTRAIN_GRAPHS=%q: use 1 (CUDA graphs, the default) or 0 (launch every op)", v)
	}
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
	t.evalBatch = max(min(cfg.TestBatchSize, t.nTest), 1)
	if cfg.EvalBatch > 0 {
		t.evalBatch = max(min(cfg.EvalBatch, t.nTest), 1)
	}
	t.evalModel = t.model
	if t.evalBatch > maxBatch {
		t.evalModel, err = spec.BuildWidths(t.evalBatch, cfg.Widths)
		if err != nil {
			return nil, err
		}
		if err := t.evalModel.AllocateEval(be, cfg.Seed); err != nil {
			return nil, fmt.Errorf("evaluation at batch %d: %w", t.evalBatch, err)
		}
	}
	if t.capture, err = graphsFromEnv(); err != nil {
		return nil, err
	}
	_, isCapturer := be.(engine.Capturer)
	t.capture = t.capture && isCapturer
	if err := t.upload(); err != nil {
		return nil, fmt.Errorf("model %s: %w", cfg.Model, err)
	}
	t.hostLogits = make([]float32, t.evalBatch*models.Classes)
	t.perm = make([]int, t.nTrain)
	t.order32 = make([]int32, t.nTrain)
	t.preds = newPredictions(t.nTest)
	return t, nil
}

// alloc backs a 1-D tensor of n elements on be.
func alloc(be engine.Backend, name string, dt engine.DType, n int) (*engine.Tensor, error) {
	st, err := be.Alloc(dt, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return engine.NewTensor(name, st, 0, n), nil
}

// upload puts the data sets on the backend once (the images as bytes), the
// normalisation table, the step variables and the test set's order (the
// identity: evaluation runs in test-set order).
func (t *Trainer) upload() error {
	be := t.be
	var err error
	if t.table, err = alloc(be, "normalisation table", engine.Float32, engine.NormTable); err != nil {
		return err
	}
	tab := make([]float32, engine.NormTable)
	for p := range tab {
		tab[p] = mnist.Normalize(uint8(p))
	}
	be.Upload(t.table, tab)
	for _, d := range []struct {
		dst  *deviceSet
		set  *mnist.Set
		n    int
		name string
	}{{&t.trainData, t.trainSet, t.nTrain, "training set"}, {&t.testData, t.testSet, t.nTest, "test set"}} {
		words := engine.PackBytes(d.set.Images[:d.n*mnist.Pixels])
		labels := make([]int32, d.n)
		for i := range labels {
			labels[i] = int32(d.set.Labels[i])
		}
		ds := deviceSet{n: d.n}
		if ds.images, err = alloc(be, d.name+" images", engine.Int32, len(words)); err != nil {
			return err
		}
		if ds.labels, err = alloc(be, d.name+" labels", engine.Int32, d.n); err != nil {
			return err
		}
		if ds.order, err = alloc(be, d.name+" order", engine.Int32, d.n); err != nil {
			return err
		}
		be.UploadInt32(ds.images, words)
		be.UploadInt32(ds.labels, labels)
		*d.dst = ds
	}
	ident := make([]int32, t.nTest)
	for i := range ident {
		ident[i] = int32(i)
	}
	be.UploadInt32(t.testData.order, ident)
	if t.vars, err = alloc(be, "step variables", engine.Int32, engine.NumStepVars); err != nil {
		return err
	}
	if t.evalVars, err = alloc(be, "evaluation variables", engine.Int32, engine.NumStepVars); err != nil {
		return err
	}
	if t.evalWin, err = alloc(be, "evaluation loss window", engine.Float32, 1); err != nil {
		return err
	}
	return be.Sync()
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
//
// The epoch's order is uploaded once, with the step variables (learning
// rate, step counter, first-step flag, batch offset); each step gathers
// its batch on the backend and ends by storing its loss in the loss window
// and advancing the variables (EndStep). On a backend that captures graphs
// (CUDA, GOTRAIN_GRAPHS unset or 1) the first full step runs uncaptured
// (it allocates scratch memory), the second is captured, and every full
// step after is one graph launch; the last, partial batch runs uncaptured.
func (t *Trainer) TrainEpoch(ctx context.Context, epoch int, lr float64) (float64, error) {
	t.shuffle(epoch)
	for i, k := range t.perm {
		t.order32[i] = int32(k)
	}
	be := t.be
	be.UploadInt32(t.trainData.order, t.order32)
	be.UploadInt32(t.vars, engine.StepVarsValues(float32(lr), t.step, t.opt.Steps() == 0, 0))
	bs := t.batch
	steps := (t.nTrain + bs - 1) / bs
	prog := t.cfg.Progress
	if prog != nil {
		prog.Start(epoch+1, t.cfg.Epochs, steps)
		defer prog.Done()
	}
	counter, counting := be.(engine.StepCounter)
	var launches0 int64
	if counting {
		if err := counter.StartTiming(); err != nil {
			return 0, fmt.Errorf("train epoch %d: %w", epoch+1, err)
		}
		launches0 = counter.Launches()
	}
	epochStep := t.step
	t.losses = t.losses[:0]
	var host [lossWindow]float32
	hostVars := make([]int32, engine.NumStepVars)
	var sum float64 // float64: a float32 sum of finite losses can overflow
	pending := 0    // steps whose loss is in the window, not yet read
	for s := 0; s < steps; s++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := t.trainStep(s*bs, min((s+1)*bs, t.nTrain)-s*bs); err != nil {
			return 0, fmt.Errorf("train epoch %d, step %d: %w", epoch+1, s+1, err)
		}
		pending++
		t.step++
		t.opt.SetSteps(t.opt.Steps() + 1)
		if pending < lossWindow && s+1 < steps {
			continue
		}
		// The window's slots 0..pending-1 hold the pending steps' losses:
		// the slot restarts at 0 each epoch and reads come every
		// lossWindow steps.
		be.Download(host[:pending], t.lossWin.Slice(0, pending))
		be.DownloadInt32(hostVars, t.vars)
		if err := be.Sync(); err != nil {
			return 0, fmt.Errorf("train epoch %d, step %d: %w", epoch+1, s+1, err)
		}
		if d := hostVars[engine.VarDiverged]; d != 0 {
			step := int(uint32(d-1) - epochStep) // 0-based, within the epoch
			v := float64(host[step%lossWindow])
			return v, &DivergedError{Epoch: epoch + 1, Step: step + 1, Loss: v, Flag: t.blame()}
		}
		for i, l := range host[:pending] {
			step := s + 1 - pending + i // 0-based
			sum += float64(l) * float64(min((step+1)*bs, t.nTrain)-step*bs)
		}
		t.losses = append(t.losses, host[:pending]...)
		if prog != nil {
			prog.Update(s+1, min((s+1)*bs, t.nTrain), host[pending-1])
		}
		pending = 0
	}
	t.devMS, t.launchesPS = 0, 0
	if counting {
		ms, err := counter.StopTiming()
		if err != nil {
			return 0, fmt.Errorf("train epoch %d: %w", epoch+1, err)
		}
		t.devMS = ms / float64(steps)
		t.launchesPS = float64(counter.Launches()-launches0) / float64(steps)
	}
	return sum / float64(t.nTrain), nil
}

// trainStep runs the training step of the n examples at offset in the
// epoch's order: a graph launch for a full batch once one is captured.
func (t *Trainer) trainStep(offset, n int) error {
	if n != t.batch || !t.capture {
		t.queueStep(offset, n)
		return nil
	}
	if t.stepGraph != nil {
		err := t.stepGraph.Launch()
		if !errors.Is(err, engine.ErrStaleGraph) {
			return err
		}
		t.stepGraph.Close() // evaluation grew a scratch buffer: capture again
		t.stepGraph = nil
	}
	if !t.warm {
		t.queueStep(offset, n)
		t.warm = true
		return nil
	}
	g, err := capture(t.be, func() { t.queueStep(offset, n) })
	if err != nil {
		return fmt.Errorf("capture the training step: %w", err)
	}
	t.stepGraph = g
	return g.Launch()
}

// capture records the ops queue issues into a graph.
func capture(be engine.Backend, queue func()) (engine.Graph, error) {
	c := be.(engine.Capturer)
	if err := c.BeginCapture(); err != nil {
		return nil, err
	}
	queue()
	return c.EndCapture()
}

// queueStep queues a training step's ops: gather the batch, forward, loss,
// backward, the sparsity subgradient, the optimizer's update and EndStep,
// every changing value read from the step variables.
func (t *Trainer) queueStep(offset, n int) {
	be, m, d := t.be, t.model, &t.trainData
	m.SetBatch(n)
	be.GatherBatch(m.Input, m.Labels, d.images, d.labels, d.order, t.table, offset, t.vars)
	lctx := &layers.Ctx{B: be, Train: true, Seed: t.cfg.Seed, Step: t.step, Vars: t.vars}
	m.Forward(lctx)
	m.ComputeLoss(lctx, true)
	m.Backward(lctx)
	for _, e := range t.sparse {
		be.AddSign(e.Grad, e.Value, float32(t.cfg.Sparsity))
	}
	t.opt.Update(be, t.vars)
	be.EndStep(t.vars, t.lossWin, m.Loss, n)
}

// EpochLosses are the last TrainEpoch's training losses, step by step.
func (t *Trainer) EpochLosses() []float32 { return t.losses }

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

// Evaluate runs the test images in eval mode, in batches of the
// evaluation batch (Config.EvalBatch), and returns the mean loss and the
// accuracy (a fraction). Each batch is gathered from the test set on the
// backend; on a backend that captures graphs, full batches after the first
// are one graph launch.
func (t *Trainer) Evaluate(ctx context.Context) (loss, acc float64, err error) {
	m, be, bs, d := t.evalModel, t.be, t.evalBatch, &t.testData
	if m != t.model {
		// The forward-only copy takes the trained parameters and running
		// statistics: two device copies.
		be.Copy(m.Builder.Params.Flat(), t.model.Builder.Params.Flat())
		if t.model.Builder.Buffers.Size() > 0 {
			be.Copy(m.Builder.Buffers.Flat(), t.model.Builder.Buffers.Flat())
		}
	}
	be.UploadInt32(t.evalVars, engine.StepVarsValues(0, 0, false, 0))
	queue := func(lo, n int) {
		m.SetBatch(n)
		be.GatherBatch(m.Input, m.Labels, d.images, d.labels, d.order, t.table, lo, t.evalVars)
		lctx := &layers.Ctx{B: be, Train: false}
		m.Forward(lctx)
		m.ComputeLoss(lctx, false)
		be.EndStep(t.evalVars, t.evalWin, m.Loss, n)
	}
	var host [1]float32
	var sum float64
	correct := 0
	for lo := 0; lo < t.nTest; lo += bs {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		n := min(lo+bs, t.nTest) - lo
		if err := t.evalStep(queue, lo, n); err != nil {
			return 0, 0, fmt.Errorf("evaluate: %w", err)
		}
		m.SetBatch(n) // a replay leaves the host's batch as it was
		be.Download(host[:], m.Loss)
		be.Download(t.hostLogits[:n*models.Classes], m.Logits)
		if err := be.Sync(); err != nil {
			return 0, 0, fmt.Errorf("evaluate: %w", err)
		}
		sum += float64(host[0]) * float64(n)
		correct += t.preds.record(lo, t.hostLogits[:n*models.Classes], t.testLabels(lo, n), m.Spec.OutputsProbabilities)
	}
	return sum / float64(t.nTest), float64(correct) / float64(t.nTest), nil
}

// testLabels are the labels of test examples lo..lo+n-1.
func (t *Trainer) testLabels(lo, n int) []int32 {
	if cap(t.evalLabels) < n {
		t.evalLabels = make([]int32, n)
	}
	y := t.evalLabels[:n]
	for i := range y {
		y[i] = int32(t.testSet.Labels[lo+i])
	}
	return y
}

// evalStep runs one evaluation batch: a graph launch for a full batch once
// one is captured (the first full batch runs uncaptured).
func (t *Trainer) evalStep(queue func(lo, n int), lo, n int) error {
	if n != t.evalBatch || !t.capture {
		queue(lo, n)
		return nil
	}
	if t.evalGraph != nil {
		err := t.evalGraph.Launch()
		if !errors.Is(err, engine.ErrStaleGraph) {
			return err
		}
		t.evalGraph.Close()
		t.evalGraph = nil
	}
	if !t.evalWarm {
		queue(lo, n)
		t.evalWarm = true
		return nil
	}
	g, err := capture(t.be, func() { queue(lo, n) })
	if err != nil {
		return fmt.Errorf("capture the evaluation batch: %w", err)
	}
	t.evalGraph = g
	return g.Launch()
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
