package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
	"github.com/gotrain/gotrain/train/mnist"
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
// loads the checkpoint's weights into it.
func loadModel(path string, spec *models.Spec, widths models.Widths, be engine.Backend, maxBatch int) (*models.Model, error) {
	m, err := spec.BuildWidths(maxBatch, widths)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := m.Allocate(be, 1); err != nil {
		return nil, err
	}
	if _, err := checkpoint.Load(path, be, m.Builder.Entries()); err != nil {
		return nil, err
	}
	return m, nil
}
