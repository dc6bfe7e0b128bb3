package main

import (
	"context"
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
	m, err := spec.BuildWidths(1, widths)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", *weights, err)
	}
	models.Summarize(m).Print(os.Stdout)
	return nil
}
