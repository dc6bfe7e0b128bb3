package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
)

// runSummary prints a model's torchsummary-style table and Table 1's totals.
// It declares the model's tensors but allocates none, so it is instant even
// for VGG's 128M parameters.
func runSummary(_ context.Context, args []string) error {
	fs := pflag.NewFlagSet("summary", pflag.ContinueOnError)
	model := fs.String("model", "", "model: "+strings.Join(models.Names(), ", ")+" (default baseline, or the checkpoint's)")
	weights := fs.String("weights", "", "a checkpoint whose model and widths to summarise (a pruned model)")
	if err := parse(fs, args); err != nil {
		return err
	}
	name := *model
	var widths models.Widths
	if *weights != "" {
		meta, err := checkpoint.ReadMeta(*weights)
		if err != nil {
			return err
		}
		if name == "" {
			name = meta["model"]
		}
		if widths, err = models.WidthsFromMeta(meta); err != nil {
			return fmt.Errorf("checkpoint %s: %w", *weights, err)
		}
	}
	if name == "" {
		name = "baseline"
	}
	spec, err := models.Lookup(name)
	if err != nil {
		return usagef("%v", err)
	}
	m, err := spec.BuildWidths(1, widths)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", *weights, err)
	}
	models.Summarize(m).Print(os.Stdout)
	return nil
}
