package models

import (
	"math"
	"testing"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
)

// For every model, the training and evaluation plans of its activations:
// no two activations live at the same time share memory, and the planned
// bytes are at most 10% above the activations live at the busiest op (no
// placement can do better than that). The evaluation plan places no
// gradient.
func TestPlans(t *testing.T) {
	for _, name := range Names() {
		spec, _ := Lookup(name)
		for _, train := range []bool{true, false} {
			m := spec.Build(64)
			pl, err := m.Plan(train)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := pl.Check(); err != nil {
				t.Errorf("%s train=%v: %v", name, train, err)
			}
			if pl.Bytes() > pl.PeakBytes()+pl.PeakBytes()/10 {
				t.Errorf("%s train=%v: planned %d bytes, more than 10%% above the %d live at the busiest op", name, train, pl.Bytes(), pl.PeakBytes())
			}
			if !train {
				if pl.Placed(m.DLogits) {
					t.Errorf("%s: the evaluation plan places dlogits", name)
				}
			}
			for _, x := range []*engine.Tensor{m.Input, m.Logits, m.Loss} {
				if !pl.Placed(x) {
					t.Errorf("%s train=%v: %s not placed", name, train, x)
				}
			}
			all, err := m.MemoryBytes(train)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%-11s batch 64 %-5s activations (with the gradients when they share) %7.1f MiB planned (busiest op %7.1f, unplanned %7.1f); model %7.1f MiB",
				name, map[bool]string{true: "train", false: "eval"}[train], mib(pl.Bytes()), mib(pl.PeakBytes()), mib(pl.NaiveBytes()), mib(all))
		}
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// With the activations' memory (and the gradients', when they share it)
// poisoned (NaN) after Allocate, a training
// step and an evaluation pass give the same loss, gradients and logits, bit
// for bit, as a model whose every activation has memory of its own (zero
// at the start): no op reads an activation before the step writes it, and
// no two activations live at once share memory.
func TestPlannedStepMatchesUnplanned(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			// VGG, the ResNet and the ViT take 20-80 s each here; the
			// PyTorch comparisons (torch_test.go) run them planned.
			if !poisonModels[name] || ((testing.Short() || raceEnabled) && isBig(name)) {
				t.Skip("checked against PyTorch with planned memory in TestTorchModels")
			}
			const n = 2
			spec, _ := Lookup(name)
			be := engine.NewCPU(0)
			planned, plain := spec.Build(n), spec.Build(n)
			if err := planned.Allocate(be, 7); err != nil {
				t.Fatal(err)
			}
			if err := plain.Builder.Allocate(be); err != nil { // no plan
				t.Fatal(err)
			}
			if err := plain.Builder.Init(be, 7); err != nil {
				t.Fatal(err)
			}
			be.Fill(planned.Builder.Acts.Flat(), float32(math.NaN()))
			x := make([]float32, planned.Input.Len())
			for i := range x {
				x[i] = float32(math.Sin(float64(i)))
			}
			y := []int32{3, 7}
			var losses, logits [2][]float32
			var grads [2][]float32
			for i, m := range []*Model{planned, plain} {
				m.SetBatch(n)
				be.Upload(m.Input, x)
				be.UploadInt32(m.Labels, y)
				ctx := &layers.Ctx{B: be, Train: true, Seed: 1}
				m.Forward(ctx)
				m.ComputeLoss(ctx, true)
				m.Backward(ctx)
				losses[i] = download(be, m.Loss)
				grads[i] = grads[i][:0]
				for _, e := range m.Builder.Entries() {
					if e.Kind == layers.Param {
						grads[i] = append(grads[i], download(be, e.Grad)...)
					}
				}
				ctx.Train = false
				m.Forward(ctx)
				logits[i] = download(be, m.Logits)
			}
			if err := be.Err(); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what string
				a, b []float32
			}{{"loss", losses[0], losses[1]}, {"gradients", grads[0], grads[1]}, {"eval logits", logits[0], logits[1]}} {
				for i := range c.a {
					if math.Float32bits(c.a[i]) != math.Float32bits(c.b[i]) {
						t.Fatalf("%s[%d]: planned %g, unplanned %g", c.what, i, c.a[i], c.b[i])
					}
				}
			}
			t.Logf("%s: loss %g, %d gradients and the eval logits bit-identical with planned memory", name, losses[0][0], len(grads[0]))
		})
	}
}

func download(be engine.Backend, t *engine.Tensor) []float32 {
	v := make([]float32, t.Len())
	be.Download(v, t)
	return v
}

func isBig(name string) bool { return torchModelTols[name].big }

// poisonModels are the models TestPlannedStepMatchesUnplanned runs.
var poisonModels = map[string]bool{"baseline": true, "googlenet": true, "lightresnet": true, "seresnet": true}

// The narrow activations (a convolution's output that only a batch norm
// reads, a fused batch norm + ReLU's output that only convolutions read):
// at float32 they stay with the activations, planned as before they were
// narrow; stored in bfloat16 (a GPU at -precision bf16) they move to a
// pool of their own at half the bytes, and the model takes less memory.
// A second StoreNarrow must agree with the first.
func TestNarrowStorage(t *testing.T) {
	for _, name := range []string{"googlenet", "lightresnet", "resnet", "seresnet", "vgg"} {
		spec, _ := Lookup(name)
		m := spec.Build(64)
		narrow := len(m.Builder.NarrowActs())
		if narrow == 0 {
			t.Fatalf("%s declares no narrow activations", name)
		}
		f32, err := m.MemoryBytes(true)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetNarrowDType(engine.Float32); err != nil {
			t.Fatal(err)
		}
		if n := len(m.Builder.Narrow.Tensors()); n != 0 {
			t.Errorf("%s: %d narrow activations left the activations at float32", name, n)
		}
		if again, _ := m.MemoryBytes(true); again != f32 {
			t.Errorf("%s: %d bytes after StoreNarrow(float32), %d before", name, again, f32)
		}
		if err := m.SetNarrowDType(engine.BFloat16); err == nil {
			t.Errorf("%s: narrow activations stored as float32, then as bfloat16", name)
		}
		m = spec.Build(64)
		if err := m.SetNarrowDType(engine.BFloat16); err != nil {
			t.Fatal(err)
		}
		if got := len(m.Builder.Narrow.Tensors()); got != narrow || m.Builder.Narrow.DType() != engine.BFloat16 {
			t.Fatalf("%s: narrow pool %s with %d tensors, want %d bfloat16 ones", name, m.Builder.Narrow.DType(), got, narrow)
		}
		_, pl, err := m.plans(true)
		if err != nil {
			t.Fatal(err)
		}
		if err := pl.Check(); err != nil {
			t.Errorf("%s: narrow plan: %v", name, err)
		}
		bf16, err := m.MemoryBytes(true)
		if err != nil {
			t.Fatal(err)
		}
		if bf16 >= f32 {
			t.Errorf("%s: %d bytes with bfloat16 narrow activations, %d with float32", name, bf16, f32)
		}
		t.Logf("%-11s batch 64 train: %6.1f MiB, %6.1f MiB with its %d narrow activations in bfloat16 (%.1f MiB planned)",
			name, mib(f32), mib(bf16), narrow, mib(pl.Bytes()))
	}
	for _, name := range []string{"baseline", "vit"} {
		spec, _ := Lookup(name)
		if n := len(spec.Build(2).Builder.NarrowActs()); n != 0 {
			t.Errorf("%s declares %d narrow activations (it has no batch norm)", name, n)
		}
	}
}
