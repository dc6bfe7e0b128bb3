package bench

import (
	"math/rand/v2"
	"testing"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train"
)

// stepper is one model ready to take training steps on random MNIST-shaped
// batches (the speed of a step does not depend on the pixel values).
type stepper struct {
	be    engine.Backend
	m     *models.Model
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
	s := &stepper{be: be, m: m, opt: opt, lr: r.LR, ctx: &layers.Ctx{B: be, Train: true, Seed: 1}, batch: batch,
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

func benchStep(b *testing.B, be engine.Backend, name string, batch int) {
	s := newStepper(b, be, name, batch)
	for i := 0; i < 3; i++ {
		s.step()
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.step()
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "img/s")
}

// BenchmarkTrainStepCPU is a batch-64 training step of each model on the CPU engine.
func BenchmarkTrainStepCPU(b *testing.B) {
	for _, name := range models.Names() {
		b.Run(name, func(b *testing.B) { benchStep(b, engine.NewCPU(0), name, 64) })
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
}
