package main

import (
	"context"
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
	model := fs.String("model", "baseline", "model: "+strings.Join(models.Names(), ", "))
	if err := parse(fs, args); err != nil {
		return err
	}
	spec, err := models.Lookup(*model)
	if err != nil {
		return usagef("%v", err)
	}
	models.Summarize(spec.Build(1)).Print(os.Stdout)
	return nil
}
