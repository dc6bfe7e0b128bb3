package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/models"
)

// runSummary prints a model's torchsummary-style table and Table 1's totals.
// It declares the model's tensors but allocates none, so it is instant even
// for VGG's 128M parameters.
func runSummary(_ context.Context, args []string) error {
	fs := pflag.NewFlagSet("summary", pflag.ContinueOnError)
	model := fs.String("model", "", "model: "+strings.Join(models.Names(), ", ")+" (default baseline, or the checkpoint's)")
	weights := fs.String("weights", "", "a checkpoint whose model and widths to summarise (a pruned model)")
	recipe := fs.Bool("recipe", false, "print the model's training recipe as one JSON line instead (scripts read it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var spec *models.Spec
	var widths models.Widths
	var err error
	if *weights != "" {
		spec, widths, err = checkpointModel(*weights, *model, "")
	} else {
		name := *model
		if name == "" {
			name = "baseline"
		}
		spec, err = models.Lookup(name)
		if err != nil {
			err = usagef("%v", err)
		}
	}
	if err != nil {
		return err
	}
	if *recipe {
		return json.NewEncoder(os.Stdout).Encode(recipeJSON(spec))
	}
	m, err := spec.BuildWidths(1, widths)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", *weights, err)
	}
	models.Summarize(m).Print(os.Stdout)
	return nil
}

// recipeJSON is a model's recipe as `summary -recipe` prints it: the keys
// are bench/pytorch/step.py's flags where it has them.
func recipeJSON(spec *models.Spec) map[string]any {
	r := spec.Recipe
	return map[string]any{"model": spec.Name, "optimizer": r.Optimizer, "lr": r.LR, "momentum": r.Momentum,
		"weight_decay": r.WeightDecay, "nesterov": r.Nesterov, "step_size": r.StepSize, "gamma": r.Gamma,
		"epochs": r.Epochs, "batch_size": r.BatchSize, "test_batch_size": r.TestBatchSize}
}
