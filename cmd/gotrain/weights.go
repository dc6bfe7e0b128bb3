package main

import (
	"fmt"
	"strings"

	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
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
