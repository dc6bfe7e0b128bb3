package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"

	"github.com/gotrain/gotrain/train/runfolder"
)

// cancelAt cancels a context when epoch `at` starts: a run killed after
// the previous epoch.
type cancelAt struct {
	at     int
	cancel context.CancelFunc
}

func (c *cancelAt) Start(epoch, epochs, steps int) {
	if epoch == c.at {
		c.cancel()
	}
}
func (c *cancelAt) Update(step, images int, loss float32) {}
func (c *cancelAt) Done()                                 {}

func readMetricsLines(t *testing.T, dir string) []map[string]any {
	data, err := os.ReadFile(filepath.Join(dir, runfolder.MetricsJSONL))
	require.NoError(t, err)
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		delete(m, "seconds")
		delete(m, "images_per_sec")
		delete(m, "device_ms_per_step")
		delete(m, "launches_per_step")
		out = append(out, m)
	}
	return out
}

// TestResumeIsExact: a 2-epoch run killed after epoch 1 and resumed ends
// with a last.safetensors byte-identical to the uninterrupted run's, and
// the same metrics apart from the timing fields.
func TestResumeIsExact(t *testing.T) {
	trainSet, testSet := synthetic(320, 1), synthetic(100, 2)
	for _, opt := range []OptimizerConfig{{Name: "adadelta"}, {Name: "sgd", Momentum: 0.9, WeightDecay: 1e-4}} {
		t.Run(opt.Name, func(t *testing.T) {
			full, cut := t.TempDir(), t.TempDir()
			cfg := baselineConfig(t, full)
			cfg.Optimizer = opt
			cfg.LR = 0.05
			tr, err := NewTrainer(cfg, engine.NewCPU(0), trainSet, testSet)
			require.NoError(t, err)
			_, err = tr.Run(context.Background())
			require.NoError(t, err)

			ctx, cancel := context.WithCancel(context.Background())
			cfg.Folder = createFolder(t, cut)
			cfg.Progress = &cancelAt{at: 2, cancel: cancel}
			tr, err = NewTrainer(cfg, engine.NewCPU(0), trainSet, testSet)
			require.NoError(t, err)
			_, err = tr.Run(ctx)
			require.True(t, errors.Is(err, context.Canceled), "want a cancelled run, got %v", err)
			require.Len(t, readMetricsLines(t, cut), 1)

			cfg.Progress = nil
			require.NoError(t, cfg.Folder.Close())
			cfg.Folder, err = runfolder.Open(cut)
			require.NoError(t, err)
			defer cfg.Folder.Close()
			tr, err = NewTrainer(cfg, engine.NewCPU(1), trainSet, testSet)
			require.NoError(t, err)
			require.NoError(t, tr.Resume(cfg.Folder))
			res, err := tr.Run(context.Background())
			require.NoError(t, err)
			require.Len(t, res.Epochs, 2)

			for _, f := range []string{runfolder.LastWeights, runfolder.BestWeights} {
				a, err := os.ReadFile(filepath.Join(full, f))
				require.NoError(t, err)
				b, err := os.ReadFile(filepath.Join(cut, f))
				require.NoError(t, err)
				require.True(t, bytes.Equal(a, b), "%s differs after resume", f)
			}
			require.Equal(t, readMetricsLines(t, full), readMetricsLines(t, cut))
		})
	}
}

// TestRunFolder checks what a short run leaves: metrics in both formats,
// checkpoints, state, summary and four decodable, non-blank figures.
func TestRunFolder(t *testing.T) {
	dir := t.TempDir()
	tr, err := NewTrainer(baselineConfig(t, dir), engine.NewCPU(0), synthetic(200, 1), synthetic(100, 2))
	require.NoError(t, err)
	_, err = tr.Run(context.Background())
	require.NoError(t, err)
	csv, err := os.ReadFile(filepath.Join(dir, runfolder.MetricsCSV))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, strings.TrimSpace(csvHeader), lines[0])
	for _, f := range []string{runfolder.LastWeights, runfolder.BestWeights, runfolder.StateFile, runfolder.SummaryFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		require.Greater(t, st.Size(), int64(100), f)
	}
	for _, f := range []string{runfolder.LossAccPNG, runfolder.ConfusionPNG, runfolder.MisclassPNG, runfolder.WellClassPNG} {
		fh, err := os.Open(filepath.Join(dir, f))
		require.NoError(t, err)
		img, err := png.Decode(fh)
		fh.Close()
		require.NoError(t, err, f)
		b := img.Bounds()
		require.Greater(t, b.Dx(), 300, f)
		require.Greater(t, b.Dy(), 200, f)
		colours := map[uint32]bool{}
		for y := b.Min.Y; y < b.Max.Y; y += 3 {
			for x := b.Min.X; x < b.Max.X; x += 3 {
				r, g, bl, _ := img.At(x, y).RGBA()
				colours[r>>8<<16|g>>8<<8|bl>>8] = true
			}
		}
		require.Greater(t, len(colours), 3, "%s looks blank", f)
	}
	var sum RunSummary
	data, err := os.ReadFile(filepath.Join(dir, runfolder.SummaryFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &sum))
	require.Equal(t, 149418, sum.SummaryParams)
	require.Equal(t, 2, sum.Epochs)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		require.False(t, strings.Contains(e.Name(), ".tmp"), "temporary file left behind: %s", e.Name())
	}
}

func TestPredictions(t *testing.T) {
	p := newPredictions(4)
	// Logits for 4 images; labels 0, 1, 1, 2.
	out := make([]float32, 40)
	out[0*10+0] = 5 // right
	out[1*10+3] = 5 // wrong: predicts 3
	out[2*10+1] = 5 // right
	out[3*10+2] = 5 // right
	require.Equal(t, 3, p.record(0, out, []int32{0, 1, 1, 2}, false))
	cm := p.Confusion()
	require.Equal(t, 1, cm[1][3])
	require.Equal(t, 1, cm[1][1])
	well, mis := p.FirstExamples(true), p.FirstExamples(false)
	require.Equal(t, 0, well[0])
	require.Equal(t, 2, well[1])
	require.Equal(t, 1, mis[1])
	require.Equal(t, -1, mis[0])
	acc := p.PerClassAccuracy()
	require.Equal(t, 0.5, acc[1])
	// softmax confidence: e^5/(e^5+9)
	require.InDelta(t, 0.9428, p.Confidence[0], 1e-4)
	// outputs that are already probabilities keep their max
	q := newPredictions(1)
	probs := []float32{0.1, 0.6, 0.3, 0, 0, 0, 0, 0, 0, 0}
	q.record(0, probs, []int32{1}, true)
	require.Equal(t, float32(0.6), q.Confidence[0])
	var b bytes.Buffer
	require.NoError(t, p.WriteCSV(&b))
	require.True(t, strings.HasPrefix(b.String(), "index,label,prediction,confidence\n0,0,0,0.94"))
}
