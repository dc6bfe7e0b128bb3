package bench

import (
	"flag"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train"
)

// batchFlag is the batch of the step benchmarks (make bench BATCH=n passes
// -gotrain.batch n).
var batchFlag = flag.Int("gotrain.batch", 64, "batch size of BenchmarkTrainStep")

// stepper is one model ready to take training steps on random MNIST-shaped
// batches (the speed of a step does not depend on the pixel values).
type stepper struct {
	be    engine.Backend
	m     *models.Model
	state *engine.Pool
	opt   train.Optimizer
	lr    float64
	ctx   *layers.Ctx
	x     []float32
	y     []int32
	batch int
}

func newStepper(tb testing.TB, be engine.Backend, name string, batch int) *stepper {
	tb.Helper()
	spec, err := models.Lookup(name)
	if err != nil {
		tb.Fatal(err)
	}
	m := spec.Build(batch)
	state := engine.NewPool("optimizer", engine.Float32)
	r := spec.Recipe
	opt, err := train.NewOptimizer(train.OptimizerConfig{Name: r.Optimizer, Momentum: r.Momentum, WeightDecay: r.WeightDecay, Nesterov: r.Nesterov}, m.Builder, state)
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.Allocate(be, 1); err != nil {
		tb.Fatal(err)
	}
	if err := state.Allocate(be); err != nil {
		tb.Fatal(err)
	}
	s := &stepper{be: be, m: m, state: state, opt: opt, lr: r.LR, ctx: &layers.Ctx{B: be, Train: true, Seed: 1}, batch: batch,
		x: make([]float32, batch*28*28), y: make([]int32, batch)}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range s.x {
		s.x[i] = float32(rng.NormFloat64())
	}
	for i := range s.y {
		s.y[i] = int32(rng.IntN(models.Classes))
	}
	m.SetBatch(batch)
	return s
}

// step is one training step: the batch in, forward, loss, backward, update.
func (s *stepper) step() {
	s.be.Upload(s.m.Input, s.x)
	s.be.UploadInt32(s.m.Labels, s.y)
	s.m.Forward(s.ctx)
	s.m.ComputeLoss(s.ctx, true)
	s.m.Backward(s.ctx)
	s.opt.Step(s.be, s.lr)
	s.ctx.Step++
}

// poolBytes is the memory gotrain allocates for the model and its
// training: every pool of the model's builder (parameters, gradients,
// running statistics, activations and their gradients, indices) and the
// optimizer state. Nothing else is allocated per step.
func (s *stepper) poolBytes() int64 {
	b := s.m.Builder
	n := s.state.Bytes()
	for _, p := range []*engine.Pool{b.Params, b.Grads, b.Buffers, b.Acts, b.Index} {
		n += p.Bytes()
	}
	return n
}

// liveHeap is the Go heap in use after a full collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// benchStep times training steps of model name on be: one warm-up step
// (the CPU engine sizes its scratch buffers there), then b.Loop's steps.
// Besides img/s it reports the model's memory: pool-B (the pools' bytes)
// and heap-B (the growth of the live Go heap from before the model was
// built to after the steps: the pools in CPU memory, the CPU engine's
// scratch, the layers themselves).
func benchStep(b *testing.B, be engine.Backend, name string, batch int) {
	heap0 := liveHeap()
	s := newStepper(b, be, name, batch)
	s.step()
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	for b.Loop() {
		s.step()
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "img/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		// Images per CPU-second of the whole process (every thread, the
		// garbage collector included): steadier than img/s on a shared
		// machine.
		b.ReportMetric(float64(b.N*batch)/cpu, "img/cpu-s")
	}
	b.ReportMetric(float64(s.poolBytes()), "pool-B")
	b.ReportMetric(float64(liveHeap()-heap0), "heap-B")
	if pm, ok := be.(PeakMemory); ok {
		b.ReportMetric(float64(pm.PeakMemoryBytes()), "dev-peak-B")
	}
	runtime.KeepAlive(s)
}

// openBackend opens bk or skips the benchmark.
func openBackend(b *testing.B, bk Backend) engine.Backend {
	be, err := bk.Open()
	if err != nil {
		b.Skipf("%s: %v", bk.Name, err)
	}
	return be
}

// BenchmarkTrainStep is a training step (batch 64 unless -gotrain.batch)
// of each model on each engine: BenchmarkTrainStep/<engine>/<model>.
func BenchmarkTrainStep(b *testing.B) {
	for _, bk := range Backends() {
		b.Run(bk.Name, func(b *testing.B) {
			for _, name := range models.Names() {
				b.Run(name, func(b *testing.B) { benchStep(b, openBackend(b, bk), name, *batchFlag) })
			}
		})
	}
}

// TestStepLowersLoss is a sanity check of the benchmark's step: repeated
// steps on one fixed batch fit it.
func TestStepLowersLoss(t *testing.T) {
	s := newStepper(t, engine.NewCPU(0), "baseline", 16)
	loss := func() float32 {
		var v [1]float32
		s.be.Download(v[:], s.m.Loss)
		return v[0]
	}
	s.step()
	first := loss()
	for i := 0; i < 30; i++ {
		s.step()
	}
	if err := s.be.Sync(); err != nil {
		t.Fatal(err)
	}
	if last := loss(); !(last < first*0.85) {
		t.Fatalf("loss %g -> %g after 30 steps on one batch: not learning", first, last)
	}
	if got := s.poolBytes(); got < 4*int64(s.m.NumParams())*2 {
		t.Fatalf("poolBytes %d: less than the parameters and their gradients (%d params)", got, s.m.NumParams())
	}
}
