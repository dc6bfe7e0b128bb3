package prune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
)

func seSpec(t *testing.T) *models.Spec {
	spec, err := models.Lookup("seresnet")
	require.NoError(t, err)
	return spec
}

// TestGraphSEResNet checks the traced graph against spec 3.2: four
// residual streams, each with the bn1s that read it, and 16 block-internal
// groups with one bn2 each; the SE hidden widths have no target.
func TestGraphSEResNet(t *testing.T) {
	g, err := TraceModel(seSpec(t), nil)
	require.NoError(t, err)
	var streams, inner [][]string
	byTargets := map[string]*Group{}
	for _, grp := range g.Groups {
		if len(grp.Targets) == 0 {
			continue
		}
		require.False(t, grp.Fixed, "group %v is fixed", grp.Targets)
		byTargets[strings.Join(grp.Targets, " ")] = grp
		if strings.HasSuffix(grp.Targets[0], "bn2.weight") {
			inner = append(inner, grp.Targets)
		} else {
			streams = append(streams, grp.Targets)
		}
	}
	require.Len(t, inner, 16)
	bn1 := func(blocks ...string) []string {
		var out []string
		for _, b := range blocks {
			out = append(out, b+".bn1.weight")
		}
		sort.Strings(out)
		return out
	}
	want := [][]string{
		bn1("layer1.0", "layer1.1", "layer1.2", "layer2.0"),
		bn1("layer2.1", "layer2.2", "layer2.3", "layer3.0"),
		bn1("layer3.1", "layer3.2", "layer3.3", "layer3.4", "layer3.5", "layer4.0"),
		bn1("layer4.1", "layer4.2"),
	}
	sort.Slice(streams, func(i, j int) bool { return streams[i][0] < streams[j][0] })
	require.Equal(t, want, streams)

	has := func(grp *Group, name string, axis int) bool {
		for _, m := range grp.Members {
			if m.Name == name && m.Axis == axis {
				return true
			}
		}
		return false
	}
	s1 := byTargets[strings.Join(want[0], " ")]
	for _, m := range []Member{{"conv1.weight", 0}, {"bn1.weight", 0}, {"bn1.bias", 0}, {"layer1.0.conv2.weight", 0},
		{"layer1.2.fc2.weight", 0}, {"layer1.2.fc2.bias", 0}, {"layer1.1.fc1.weight", 1}, {"layer1.1.conv1.weight", 1},
		{"layer2.0.conv1.weight", 1}, {"layer2.0.shortcut.0.weight", 1}} {
		require.True(t, has(s1, m.Name, m.Axis), "stream 1 lacks %v", m)
	}
	s4 := byTargets[strings.Join(want[3], " ")]
	require.True(t, has(s4, "linear.weight", 1))
	require.True(t, has(s4, "layer4.0.shortcut.0.weight", 0))
	in := byTargets["layer2.1.bn2.weight"]
	require.NotNil(t, in)
	require.True(t, has(in, "layer2.1.conv1.weight", 0) && has(in, "layer2.1.conv2.weight", 1))
	// The SE hidden widths and the classes are never pruned.
	for _, grp := range g.Groups {
		for _, m := range grp.Members {
			if strings.HasSuffix(m.Name, "fc1.weight") && m.Axis == 0 {
				require.Empty(t, grp.Targets)
			}
		}
	}
}

// randomModel builds the SE-ResNet on be with random weights, gammas spread
// around zero and positive running variances.
func randomModel(t *testing.T, be engine.Backend, n int, seed uint64) *models.Model {
	m := seSpec(t).Build(n)
	require.NoError(t, m.Allocate(be, seed))
	rng := rand.New(rand.NewPCG(seed, 9))
	for _, e := range m.Builder.Entries() {
		if e.Kind == layers.Counter {
			continue
		}
		v := make([]float32, e.Value.Len())
		be.Download(v, e.Value)
		switch {
		case strings.HasSuffix(e.Name, "running_var"):
			for i := range v {
				v[i] = 0.5 + rng.Float32()
			}
		case strings.HasSuffix(e.Name, "running_mean"), strings.HasSuffix(e.Name, ".bias"):
			for i := range v {
				v[i] = 0.2 * (rng.Float32() - 0.5)
			}
		case strings.Contains(e.Name, "bn") && strings.HasSuffix(e.Name, ".weight"):
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
		}
		be.Upload(e.Value, v)
	}
	require.NoError(t, be.Sync())
	return m
}

func forward(t *testing.T, be engine.Backend, m *models.Model, x []float32) []float32 {
	n := len(x) / 784
	m.SetBatch(n)
	be.Upload(m.Input, x)
	out := m.Forward(&layers.Ctx{B: be})
	y := make([]float32, out.Len())
	be.Download(y, out)
	require.NoError(t, be.Sync())
	return y
}

// TestPrunedEqualsMasked: the pruned model computes exactly what the
// unpruned one computes with the removed channels masked, for random
// weights and several thresholds.
func TestPrunedEqualsMasked(t *testing.T) {
	if testing.Short() {
		t.Skip("SE-ResNet forward passes")
	}
	be := engine.NewCPU(0)
	const n = 2
	src := randomModel(t, be, n, 3)
	g, err := TraceModel(src.Spec, nil)
	require.NoError(t, err)
	gammas, err := Gammas(be, src)
	require.NoError(t, err)
	x := make([]float32, n*784)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, pct := range []float64{0.04, 0.3, 0.7} {
		t.Run(fmt.Sprint(pct), func(t *testing.T) {
			plan, err := NewPlan(g, gammas, pct)
			require.NoError(t, err)
			require.Positive(t, plan.Removed())
			pruned, err := Apply(be, src, plan, n)
			require.NoError(t, err)
			require.Less(t, pruned.NumParams(), src.NumParams())

			masked := seSpec(t).Build(n)
			require.NoError(t, masked.Allocate(be, 1))
			old := map[string]layers.Entry{}
			for _, e := range src.Builder.Entries() {
				old[e.Name] = e
			}
			for _, e := range masked.Builder.Entries() {
				if e.Kind == layers.Counter {
					continue
				}
				v := make([]float32, e.Value.Len())
				be.Download(v, old[e.Name].Value)
				fill := float32(0)
				if strings.HasSuffix(e.Name, "running_var") {
					fill = 1
				}
				plan.Mask(e.Name, e.Value.Shape(), v, fill)
				be.Upload(e.Value, v)
			}
			want := forward(t, be, masked, x)
			got := forward(t, be, pruned, x)
			var worst float64
			for i := range want {
				d := math.Abs(float64(got[i] - want[i]))
				worst = max(worst, d/(1e-3+math.Abs(float64(want[i]))))
				require.InDelta(t, want[i], got[i], 1e-4+1e-4*math.Abs(float64(want[i])), "logit %d", i)
			}
			t.Logf("percent %g: threshold %.4f, %d channels removed, params %d -> %d, max rel diff %.2g",
				pct, plan.Threshold, plan.Removed(), src.NumParams(), pruned.NumParams(), worst)
		})
	}
}

// TestExtremePercents: 0 removes nothing; 0.99 leaves every layer at least
// one channel and a working model; 1 is refused.
func TestExtremePercents(t *testing.T) {
	if testing.Short() {
		t.Skip("SE-ResNet forward passes")
	}
	be := engine.NewCPU(0)
	src := randomModel(t, be, 1, 4)
	g, err := TraceModel(src.Spec, nil)
	require.NoError(t, err)
	gammas, err := Gammas(be, src)
	require.NoError(t, err)

	plan, err := NewPlan(g, gammas, 0)
	require.NoError(t, err)
	require.Zero(t, plan.Removed())

	// Equal gammas (a fresh model's 1s) tie at the threshold: none goes.
	ones := map[string][]float32{}
	for k, v := range gammas {
		ones[k] = make([]float32, len(v))
		for i := range ones[k] {
			ones[k][i] = 1
		}
	}
	plan, err = NewPlan(g, ones, 0.5)
	require.NoError(t, err)
	require.Zero(t, plan.Removed())
	w, err := plan.Widths(src.Spec)
	require.NoError(t, err)
	require.Equal(t, models.SEResNetWidths(), w)

	plan, err = NewPlan(g, gammas, 0.99)
	require.NoError(t, err)
	w, err = plan.Widths(src.Spec)
	require.NoError(t, err)
	for k, v := range w {
		require.GreaterOrEqual(t, v, 1, k)
	}
	pruned, err := Apply(be, src, plan, 1)
	require.NoError(t, err)
	y := forward(t, be, pruned, make([]float32, 784))
	require.Len(t, y, 10)

	_, err = NewPlan(g, gammas, 1)
	require.ErrorContains(t, err, "outside [0, 1)")
}

// TestPrunedCheckpointRoundTrip saves a pruned model with its widths in the
// metadata and loads it into a model rebuilt from those widths.
func TestPrunedCheckpointRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("SE-ResNet forward passes")
	}
	be := engine.NewCPU(0)
	src := randomModel(t, be, 1, 6)
	g, err := TraceModel(src.Spec, nil)
	require.NoError(t, err)
	gammas, err := Gammas(be, src)
	require.NoError(t, err)
	plan, err := NewPlan(g, gammas, 0.5)
	require.NoError(t, err)
	pruned, err := Apply(be, src, plan, 1)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "pruned.safetensors")
	require.NoError(t, checkpoint.Save(path, be, pruned.Builder.Entries(), pruned.Meta()))

	meta, err := checkpoint.ReadMeta(path)
	require.NoError(t, err)
	w, err := models.WidthsFromMeta(meta)
	require.NoError(t, err)
	back, err := src.Spec.BuildWidths(1, w)
	require.NoError(t, err)
	require.NoError(t, back.Allocate(be, 99))
	_, err = checkpoint.Load(path, be, back.Builder.Entries())
	require.NoError(t, err)
	x := make([]float32, 784)
	for i := range x {
		x[i] = float32(i%17) / 17
	}
	require.Equal(t, forward(t, be, pruned, x), forward(t, be, back, x))

	// The unpruned model refuses the pruned checkpoint, naming a tensor.
	_, err = checkpoint.Load(path, be, src.Builder.Entries())
	require.ErrorContains(t, err, "tensor")
}

// TestTraceRefusesUnmodelledOps: a forward pass that runs an op the tracer
// does not model fails the trace, naming the op, instead of running it
// with no channel coupling recorded.
func TestTraceRefusesUnmodelledOps(t *testing.T) {
	build := func(maxBatch int) (*layers.Builder, func(ctx *layers.Ctx), error) {
		b := layers.NewBuilder(maxBatch)
		x := b.Act("x", maxBatch, 3, 4, 4)
		y := b.Act("y", maxBatch, 3, 4, 4)
		return b, func(ctx *layers.Ctx) {
			ctx.B.Relu(y, x)            // modelled
			ctx.B.SumTo(y, x)           // not modelled
			ctx.B.ReluBackward(x, y, y) // not modelled either: the first is named
		}, nil
	}
	_, err := Trace(build, func(string) bool { return false })
	require.Error(t, err)
	require.Contains(t, err.Error(), "SumTo is not modelled by the channel tracer")
}
