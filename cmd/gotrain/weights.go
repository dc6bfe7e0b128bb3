package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// checkpointModel reads a checkpoint's metadata and returns the model it
// holds and its widths. model (a -model flag, may be empty) must agree with
// the metadata; a checkpoint without a model name (a PyTorch state_dict)
// needs it, else fallback applies (empty: an error).
func checkpointModel(path, model, fallback string) (*models.Spec, models.Widths, error) {
	meta, err := checkpoint.ReadMeta(path)
	if err != nil {
		return nil, nil, err
	}
	name := model
	if name == "" {
		name = meta["model"]
	}
	if name == "" {
		name = fallback
	}
	if name == "" {
		return nil, nil, usagef("%s does not say which model it holds: pass -model (known: %s)", path, strings.Join(models.Names(), ", "))
	}
	if meta["model"] != "" && meta["model"] != name {
		return nil, nil, fmt.Errorf("checkpoint %s holds model %q, not %q", path, meta["model"], name)
	}
	spec, err := models.Lookup(name)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	widths, err := models.WidthsFromMeta(meta)
	if err == nil {
		err = runfolder.CheckWidths(spec, widths)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return spec, widths, nil
}

// loadMNIST fetches MNIST into dir when it lacks the files (saying so on
// stderr) and loads it.
func loadMNIST(ctx context.Context, dir string) (trainSet, testSet *mnist.Set, err error) {
	if err := mnist.Ensure(ctx, dir, os.Stderr); err != nil {
		return nil, nil, err
	}
	return mnist.Load(dir)
}

// loadModel builds spec at widths for batches of at most maxBatch on be and
// loads the checkpoint's weights into it: for training, or (train false)
// for evaluation only, with no gradients and the forward pass's activations.
func loadModel(path string, spec *models.Spec, widths models.Widths, be engine.Backend, maxBatch int, train bool) (*models.Model, error) {
	m, err := spec.BuildWidths(maxBatch, widths)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	allocate := m.AllocateEval
	if train {
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
