package models

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
)

// stateDictSpec reads testdata/state_dict/<model>.txt: the seed's PyTorch
// state_dict, one "name\t[shape]\tdtype" line per entry, in order.
func stateDictSpec(t *testing.T, model string) []string {
	f, err := os.Open(filepath.Join("testdata", "state_dict", model+".txt"))
	require.NoError(t, err)
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	require.NoError(t, sc.Err())
	return lines
}

func describe(e layers.Entry) string {
	switch e.Kind {
	case layers.Counter:
		return e.Name + "\t[]\tint64"
	default:
		dims := make([]string, len(e.Value.Shape()))
		for i, d := range e.Value.Shape() {
			dims[i] = fmt.Sprint(d)
		}
		return fmt.Sprintf("%s\t[%s]\tfloat32", e.Name, strings.Join(dims, ","))
	}
}

func TestStateDictMatchesSeed(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			spec, err := Lookup(name)
			require.NoError(t, err)
			m := spec.Build(2)
			var got []string
			for _, e := range m.Builder.Entries() {
				got = append(got, describe(e))
			}
			require.Equal(t, stateDictSpec(t, name), got)
		})
	}
}

func TestBaselineParams(t *testing.T) {
	spec, err := Lookup("baseline")
	require.NoError(t, err)
	m := spec.Build(4)
	require.Equal(t, 149418, m.NumParams())
	require.Equal(t, []int{10}, m.Root.OutShape())
}

func TestLookupUnknownListsKnown(t *testing.T) {
	_, err := Lookup("resnet-9000")
	require.ErrorContains(t, err, `unknown model "resnet-9000"`)
	require.ErrorContains(t, err, "baseline")
}

// TestForwardShapeAndFit builds each model at a small batch, checks the
// logits are (N,10) and finite, and that a few training steps on one fixed
// batch lower the loss (in training mode, dropout masks changing per step).
func TestForwardShapeAndFit(t *testing.T) {
	// Batch and steps per model: the big ones (VGG 128M params, ViT 85M,
	// SE-ResNet ~0.94 GMAC per image) take small batches and skip in
	// -short and -race runs.
	plan := map[string]struct {
		n, steps int
		big      bool
		lr       float32
	}{
		"baseline":    {8, 10, false, 0.05},
		"resnet":      {4, 3, true, 0.001},
		"lightresnet": {4, 3, true, 0.001},
		"seresnet":    {4, 3, true, 0.05},
		"vgg":         {2, 2, true, 0.05},
		// GoogLeNet at batch 4 (batch norm over 4 values per channel in
		// inception 4-5): at lr 0.05 whether the loss falls after 3 steps
		// depended on float32 rounding (it rose at 0.045 and 0.055 with
		// the same arithmetic); at 0.01 it falls (2.29 to 1.76-1.92) with
		// im2col and Winograd convolutions alike.
		"googlenet": {4, 3, false, 0.01},
		"vit":       {2, 2, true, 0.001},
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p, ok := plan[name]
			require.True(t, ok, "no test plan for model %s", name)
			if p.big && (testing.Short() || raceEnabled) {
				t.Skip("big model: skipped in -short and -race runs")
			}
			be := engine.NewCPU(0)
			spec, _ := Lookup(name)
			n := p.n
			m := spec.Build(n)
			require.NoError(t, m.Allocate(be, 1))
			x := make([]float32, n*28*28)
			for i := range x {
				x[i] = float32((i*7919)%255)/255 - 0.4
			}
			y := make([]int32, n)
			for i := range y {
				y[i] = int32(i % Classes)
			}
			m.SetBatch(n)
			be.Upload(m.Input, x)
			be.UploadInt32(m.Labels, y)
			ctx := &layers.Ctx{B: be, Train: true, Seed: 1}
			loss := func() float32 {
				m.Forward(ctx)
				m.ComputeLoss(ctx, true)
				var v [1]float32
				be.Download(v[:], m.Loss)
				return v[0]
			}
			first := loss()
			require.Equal(t, []int{n, Classes}, m.Logits.Shape())
			for s := 0; s < p.steps; s++ {
				m.Backward(ctx)
				// Plain SGD on the flat parameter pool.
				be.SGDStep(m.Builder.Params.Flat(), m.Builder.Grads.Flat(), nil, engine.SGDParams{LR: p.lr})
				ctx.Step++
				loss()
			}
			last := loss()
			require.NoError(t, be.Err())
			require.Less(t, last, first, "loss did not fall after 10 SGD steps on one batch")
			t.Logf("%s: loss %.4f -> %.4f", name, first, last)
		})
	}
}

// TestTable1 asserts the report's Table 1: params in torchsummary's
// convention and the estimated total size in MB (two decimals).
func TestTable1(t *testing.T) {
	want := map[string]struct {
		params int
		mb     string
	}{
		"baseline":    {149418, "0.70"},
		"resnet":      {46833226, "183.06"},
		"lightresnet": {23522250, "94.92"},
		"seresnet":    {21439478, "96.63"},
		"vgg":         {128825290, "496.15"},
		"googlenet":   {5603882, "22.51"},
		"vit":         {85076746, "411.63"},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			spec, err := Lookup(name)
			require.NoError(t, err)
			s := Summarize(spec.Build(1))
			require.Equal(t, w.params, s.TotalParams)
			require.Equal(t, w.mb, fmt.Sprintf("%.2f", s.TotalMB))
		})
	}
}

// TestSEResNetWidths builds a narrower SE-ResNet (as pruning leaves it):
// the same code at other widths gives the expected shapes and a forward pass.
func TestSEResNetWidths(t *testing.T) {
	spec, err := Lookup("seresnet")
	require.NoError(t, err)
	w := SEResNetWidths()
	w["stream1"] = 40
	w["layer2.1.inner"] = 100
	w["stream4"] = 500
	m, err := spec.BuildWidths(2, w)
	require.NoError(t, err)
	shapes := map[string][]int{}
	for _, e := range m.Builder.Entries() {
		if e.Value != nil {
			shapes[e.Name] = e.Value.Shape()
		}
	}
	require.Equal(t, []int{40, 1, 3, 3}, shapes["conv1.weight"])
	require.Equal(t, []int{40}, shapes["layer2.0.bn1.weight"])
	require.Equal(t, []int{100, 128, 3, 3}, shapes["layer2.1.conv1.weight"])
	require.Equal(t, []int{128, 100, 3, 3}, shapes["layer2.1.conv2.weight"])
	require.Equal(t, []int{500, 32, 1, 1}, shapes["layer4.2.fc2.weight"])
	require.Equal(t, []int{10, 500}, shapes["linear.weight"])
	be := engine.NewCPU(0)
	require.NoError(t, m.Allocate(be, 1))
	m.SetBatch(2)
	m.Forward(&layers.Ctx{B: be})
	require.NoError(t, be.Err())

	w["nope"] = 3
	_, err = spec.BuildWidths(2, w)
	require.ErrorContains(t, err, `unknown key "nope"`)
	_, err = Lookup("vgg")
	require.NoError(t, err)
	vgg, _ := Lookup("vgg")
	_, err = vgg.BuildWidths(2, Widths{"a": 1})
	require.ErrorContains(t, err, "fixed widths")
}
