package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// Request is one training run as `gotrain train` parses it from its flags
// (and reproduce builds it for each of its training rows), validated.
type Request struct {
	Spec   *models.Spec
	Config Config
	// Data is the MNIST folder, used when TrainSet or TestSet is nil
	// (reproduce loads MNIST once for every row).
	Data              string
	TrainSet, TestSet *mnist.Set
	// Out is the run folder: created, or with Resume opened and continued.
	Out    string
	Resume bool
	// Open opens the engine to train on, failing with one line when the
	// model at widths for batches of batch cannot fit there (flag names
	// the batch-size flag that sets batch).
	Open func(widths models.Widths, batch int, flag string) (engine.Backend, error)
	// EvalBatch, when set, picks Config.EvalBatch once the engine is open
	// (the model's widths, its training batch and the recipe's test batch):
	// a GPU evaluates in large batches (results do not depend on it).
	EvalBatch func(widths models.Widths, trainBatch, testBatch int) int
	// WriteConfig writes a new run's config.json (the command's flags).
	WriteConfig func(f *runfolder.Folder, cfg Config, be engine.Backend) error
	// Interrupted, when set, words the error of a run a cancelled context
	// stopped (what stopped it, what the folder holds).
	Interrupted func(err error, f *runfolder.Folder) error
	// Stdout gets the run's first and last lines (nil: os.Stdout).
	Stdout io.Writer
}

// Run trains (or resumes) the run r describes: the train command's
// pipeline.
func Run(ctx context.Context, r Request) (*Result, error) {
	spec, cfg, dir, out := r.Spec, r.Config, r.Out, r.Stdout
	if out == nil {
		out = os.Stdout
	}
	trainSet, testSet, err := r.TrainSet, r.TestSet, error(nil)
	if trainSet == nil || testSet == nil {
		if trainSet, testSet, err = LoadMNIST(ctx, r.Data); err != nil {
			return nil, err
		}
	}
	var folder *runfolder.Folder
	if r.Resume {
		if folder, err = runfolder.Open(dir); err != nil {
			return nil, err
		}
		defer folder.Close()
		// A run at other widths (a fine-tuned pruned model) resumes at them.
		if cfg.Widths, err = folder.ResumeWidths(spec); err != nil {
			return nil, err
		}
	}
	batch, flag := MaxBatch(cfg, trainSet.N, testSet.N)
	be, err := r.Open(cfg.Widths, batch, flag)
	if err != nil {
		return nil, err
	}
	if r.EvalBatch != nil {
		cfg.EvalBatch = r.EvalBatch(cfg.Widths, batch, cfg.TestBatchSize)
	}
	if folder == nil {
		if folder, err = runfolder.Create(dir, true); err != nil {
			return nil, err
		}
		defer folder.Close()
	}
	cfg.Folder = folder
	tr, err := NewTrainer(cfg, be, trainSet, testSet)
	if err != nil {
		return nil, err
	}
	if r.Resume {
		if err := tr.Resume(folder); err != nil {
			return nil, err
		}
		if err := folder.RecordEpochs(cfg.Epochs); err != nil {
			return nil, err
		}
	} else if err := r.WriteConfig(folder, cfg, be); err != nil {
		return nil, err
	}
	verb := "training"
	if r.Resume {
		verb = "resuming"
	}
	fmt.Fprintf(out, "gotrain: %s %s on %s: %s, %d params -> %s\n",
		verb, spec.Name, be.Name(), tr.Recipe(), tr.Model().NumParams(), dir)
	res, err := tr.Run(ctx)
	if err != nil {
		if r.Interrupted != nil {
			err = r.Interrupted(err, folder)
		}
		return res, err
	}
	if len(res.Epochs) > 0 {
		last := res.Last()
		fmt.Fprintf(out, "done: best test acc %.2f%% (epoch %d), last %.2f%% (epoch %d); metrics in %s\n",
			100*res.BestAcc, res.BestEpoch, 100*last.TestAcc, last.Epoch, folder.Path(runfolder.MetricsJSONL))
	}
	return res, nil
}

// MaxBatch is the largest batch a run's model is built for, its batch
// sizes clamped to the data, and the flag that sets it.
func MaxBatch(cfg Config, nTrain, nTest int) (int, string) {
	lim := func(n, l int) int {
		if l > 0 && l < n {
			return l
		}
		return n
	}
	tb, vb := min(cfg.BatchSize, lim(nTrain, cfg.LimitTrain)), min(cfg.TestBatchSize, lim(nTest, cfg.LimitTest))
	if vb > tb {
		return max(vb, 1), "-test-batch-size"
	}
	return max(tb, 1), "-batch-size"
}

// LoadMNIST fetches MNIST into dir when it lacks the files (saying so on
// stderr) and loads it.
func LoadMNIST(ctx context.Context, dir string) (trainSet, testSet *mnist.Set, err error) {
	if err := mnist.Ensure(ctx, dir, os.Stderr); err != nil {
		return nil, nil, err
	}
	return mnist.Load(dir)
}

// LoadModel builds spec at widths for batches of at most maxBatch on be and
// loads the checkpoint's weights into it: for training, or (training
// false) for evaluation only, with no gradients and the forward pass's
// activations. Weights holding a NaN or an infinity are refused.
func LoadModel(path string, spec *models.Spec, widths models.Widths, be engine.Backend, maxBatch int, training bool) (*models.Model, error) {
	m, err := spec.BuildWidths(maxBatch, widths)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	allocate := m.AllocateEval
	if training {
		allocate = m.Allocate
	}
	if err := allocate(be, 1); err != nil {
		return nil, err
	}
	if _, err := checkpoint.Load(path, be, m.Builder.Entries()); err != nil {
		return nil, err
	}
	if err := checkFinite(be, m.Builder.Entries()); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w: these weights cannot be used (a diverged run's?)", path, err)
	}
	return m, nil
}

// checkFinite returns an error naming the first tensor of entries holding
// a NaN or an infinity, read back a chunk at a time.
func checkFinite(be engine.Backend, entries []layers.Entry) error {
	const chunk = 1 << 20
	buf := make([]float32, 0, chunk)
	for _, e := range entries {
		if e.Value == nil || e.Value.DType() != engine.Float32 {
			continue
		}
		n := e.Value.Len()
		flat := e.Value.View(n)
		for lo := 0; lo < n; lo += chunk {
			hi := min(lo+chunk, n)
			buf = buf[:hi-lo]
			be.Download(buf, flat.Slice(lo, hi))
			if err := be.Sync(); err != nil {
				return err
			}
			for i, v := range buf {
				if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
					return fmt.Errorf("tensor %q holds %v at index %d", e.Name, v, lo+i)
				}
			}
		}
	}
	return nil
}
