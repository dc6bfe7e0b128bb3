package train

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/train/mnist"

	"github.com/gotrain/gotrain/train/runfolder"
)

// synthetic makes n images whose class is written into the image as a
// bright bar at a class-dependent row, so a CNN can learn it quickly.
func synthetic(n int, salt uint32) *mnist.Set {
	s := &mnist.Set{Images: make([]uint8, n*mnist.Pixels), Labels: make([]uint8, n), N: n}
	h := salt*2654435761 + 1
	for i := 0; i < n; i++ {
		l := (i*7 + int(salt)) % 10
		s.Labels[i] = uint8(l)
		img := s.Images[i*mnist.Pixels : (i+1)*mnist.Pixels]
		for j := range img {
			h = h*1664525 + 1013904223
			img[j] = uint8(h >> 26) // faint noise 0..63
		}
		row := 3 + 2*l
		for c := 4; c < 24; c++ {
			img[row*28+c] = 255
		}
	}
	return s
}

// baselineConfig is a short baseline run writing to a new run folder in
// out ("": none).
func baselineConfig(t *testing.T, out string) Config {
	cfg := Config{Config: runfolder.Config{Model: "baseline", Epochs: 2, BatchSize: 32, TestBatchSize: 50, LR: 0.5, StepSize: 1, Gamma: 0.7,
		Optimizer: OptimizerConfig{Name: "adadelta"}, Seed: 7}}
	if out != "" {
		cfg.Folder = createFolder(t, out)
	}
	return cfg
}

func createFolder(t *testing.T, dir string) *runfolder.Folder {
	f, err := runfolder.Create(dir, true)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func paramsOf(t *testing.T, tr *Trainer) []float32 {
	p := tr.Model().Builder.Params.Flat()
	host := make([]float32, p.Len())
	tr.be.Download(host, p)
	require.NoError(t, tr.be.Sync())
	return host
}

func TestRunLearnsAndWritesMetrics(t *testing.T) {
	out := t.TempDir()
	tr, err := NewTrainer(baselineConfig(t, out), engine.NewCPU(0), synthetic(600, 1), synthetic(200, 2))
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.Len(t, res.Epochs, 2)
	require.Greater(t, res.BestAcc, 0.9, "the synthetic task is easy")
	require.Less(t, res.Epochs[1].TrainLoss, res.Epochs[0].TrainLoss)

	f, err := os.Open(filepath.Join(out, "metrics.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var m map[string]float64
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		for _, k := range []string{"epoch", "lr", "train_loss", "test_loss", "test_acc", "seconds", "images_per_sec"} {
			require.Contains(t, m, k)
		}
		n++
		require.Equal(t, float64(n), m["epoch"])
		require.InDelta(t, 0.5*math.Pow(0.7, float64(n-1)), m["lr"], 1e-12)
	}
	require.Equal(t, 2, n)
}

// TestRunBitReproducibleAcrossThreads trains the same run on 1, 2 and 3
// threads: losses and final parameters must agree bit for bit.
func TestRunBitReproducibleAcrossThreads(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three times")
	}
	var ref []float32
	var refRes *Result
	for _, threads := range []int{1, 2, 3} {
		cfg := baselineConfig(t, "")
		cfg.Epochs = 1
		tr, err := NewTrainer(cfg, engine.NewCPU(threads), synthetic(300, 1), synthetic(100, 2))
		require.NoError(t, err)
		res, err := tr.Run(context.Background())
		require.NoError(t, err)
		p := paramsOf(t, tr)
		if ref == nil {
			ref, refRes = p, res
			continue
		}
		require.Equal(t, refRes.Epochs[0].TrainLoss, res.Epochs[0].TrainLoss, "threads %d", threads)
		require.Equal(t, refRes.Epochs[0].TestLoss, res.Epochs[0].TestLoss, "threads %d", threads)
		for i := range p {
			if math.Float32bits(p[i]) != math.Float32bits(ref[i]) {
				t.Fatalf("threads %d: parameter %d = %g, with 1 thread %g", threads, i, p[i], ref[i])
			}
		}
	}
}

func TestShuffleIsSeededPerEpoch(t *testing.T) {
	cfg := baselineConfig(t, "")
	tr, err := NewTrainer(cfg, engine.NewCPU(1), synthetic(100, 1), synthetic(10, 2))
	require.NoError(t, err)
	tr.shuffle(0)
	a := append([]int(nil), tr.perm...)
	tr.shuffle(1)
	b := append([]int(nil), tr.perm...)
	tr.shuffle(0)
	require.Equal(t, a, tr.perm, "same (seed, epoch), same order")
	require.NotEqual(t, a, b, "epochs get different orders")
	seen := make([]bool, 100)
	for _, i := range a {
		require.False(t, seen[i])
		seen[i] = true
	}
}

func TestStepLR(t *testing.T) {
	cases := []struct {
		s    StepLR
		want []float64
	}{
		{StepLR{0.1, 1, 0.7}, []float64{0.1, 0.07, 0.049, 0.0343}},
		{StepLR{0.1, 10, 0.1}, []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.01}},
		{StepLR{1, 1, 0.9}, []float64{1, 0.9, 0.81}},
	}
	for _, c := range cases {
		for e, w := range c.want {
			require.InDelta(t, w, c.s.LR(e), 1e-12, "%+v epoch %d", c.s, e)
		}
	}
}

func TestNewTrainerRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		msg  string
	}{
		{"unknown model", func(c *Config) { c.Model = "nope" }, "unknown model"},
		{"unknown optimizer", func(c *Config) { c.Optimizer.Name = "adam" }, "unknown optimizer"},
		{"zero batch", func(c *Config) { c.BatchSize = 0 }, "batch sizes must be positive"},
		{"nesterov without momentum", func(c *Config) { c.Optimizer = OptimizerConfig{Name: "sgd", Nesterov: true} }, "nesterov"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baselineConfig(t, "")
			tc.mod(&cfg)
			_, err := NewTrainer(cfg, engine.NewCPU(1), synthetic(10, 1), synthetic(10, 2))
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

// TestDropoutMasksFollowStep checks the training loop gives each step its
// own dropout key: two steps draw different masks, and a model rebuilt
// with the same seed draws the same ones.
func TestDropoutMasksFollowStep(t *testing.T) {
	ctx := &layers.Ctx{Seed: 3, Step: 5}
	k1 := engine.DropoutKey{Seed: ctx.Seed, Step: ctx.Step, Layer: 0}
	k2 := k1
	k2.Step++
	same := 0
	for i := 0; i < 1000; i++ {
		if (engine.DropoutUniform(k1, i) < 0.5) == (engine.DropoutUniform(k2, i) < 0.5) {
			same++
		}
	}
	require.InDelta(t, 500, same, 80)
}

// TestBaselineLearnsMNIST trains the baseline on the first 6,400 MNIST
// images (fetched into a temporary folder when the module cache lacks them).
func TestBaselineLearnsMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MNIST")
	}
	dir := t.TempDir()
	require.NoError(t, mnist.Ensure(context.Background(), dir, nil))
	trainSet, testSet, err := mnist.Load(dir)
	require.NoError(t, err)
	cfg := Config{Config: runfolder.Config{Model: "baseline", Epochs: 1, BatchSize: 64, TestBatchSize: 1000, LR: 0.1, StepSize: 1, Gamma: 0.7,
		Optimizer: OptimizerConfig{Name: "adadelta"}, Seed: 1, LimitTrain: 6400, LimitTest: 2000}}
	tr, err := NewTrainer(cfg, engine.NewCPU(0), trainSet, testSet)
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	t.Logf("baseline, 6400 MNIST images, 1 epoch: test acc %.4f, test loss %.4f", res.BestAcc, res.Last().TestLoss)
	require.Greater(t, res.BestAcc, 0.75)
}

func TestDivergedErrorMessage(t *testing.T) {
	e := &DivergedError{Epoch: 2, Step: 7, Loss: math.NaN(), Flag: "the learning rate (-lr)"}
	require.Equal(t, "epoch 2, step 7: the loss diverged (NaN): lower the learning rate (-lr)", e.Error())
	e = &DivergedError{Epoch: 3, Loss: math.Inf(1), Flag: "the learning rate (-lr)"}
	require.Equal(t, "epoch 3, test: the loss diverged (+Inf): lower the learning rate (-lr)", e.Error())
}

// TestDivergenceStopsPromptly: weights turned NaN make every loss NaN; the
// run stops within the first read-back window with a DivergedError naming
// step 1, and writes no epoch.
func TestDivergenceStopsPromptly(t *testing.T) {
	dir := t.TempDir()
	cfg := baselineConfig(t, dir)
	cfg.BatchSize = 8
	tr, err := NewTrainer(cfg, engine.NewCPU(0), synthetic(800, 1), synthetic(100, 2))
	require.NoError(t, err)
	w := tr.Model().Builder.Params.Flat()
	host := make([]float32, w.Len())
	tr.be.Download(host, w)
	for i := range host {
		host[i] = float32(math.NaN())
	}
	tr.be.Upload(w, host)
	_, err = tr.Run(context.Background())
	var de *DivergedError
	require.ErrorAs(t, err, &de)
	require.Equal(t, 1, de.Epoch)
	require.Equal(t, 1, de.Step)
	require.True(t, math.IsNaN(de.Loss))
	require.Equal(t, lossWindow, int(tr.step), "100 steps an epoch: it stopped after the first window")
	require.Nil(t, cfg.Folder.Committed())
	require.NoFileExists(t, filepath.Join(dir, runfolder.MetricsJSONL))
}
