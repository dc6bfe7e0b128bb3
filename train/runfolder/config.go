package runfolder

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/gotrain/gotrain/models"
)

// Config is a run's recipe and data limits: what config.json records as
// "effective", and what a resumed run must keep.
type Config struct {
	Model         string
	Epochs        int
	BatchSize     int
	TestBatchSize int
	LR            float64
	StepSize      int
	Gamma         float64
	Optimizer     Optimizer
	Seed          uint64
	// Widths builds the model at other channel widths (a pruned model);
	// nil: the model's own.
	Widths models.Widths `json:",omitempty"`
	// Sparsity adds Sparsity·sign(gamma) to the gradients of the model's
	// pruning-target batch norms before each update (network slimming).
	Sparsity   float64 `json:",omitempty"`
	LimitTrain int     // use the first N training images (0: all)
	LimitTest  int     // use the first N test images (0: all)
}

// Optimizer selects and configures an optimizer.
type Optimizer struct {
	Name        string // "sgd" or "adadelta"
	Momentum    float64
	Dampening   float64
	WeightDecay float64
	Nesterov    bool
	Rho, Eps    float64 // Adadelta (0: PyTorch's defaults 0.9 and 1e-6)
}

// Optimizers lists the known optimizer names.
var Optimizers = []string{"sgd", "adadelta"}

// Bounds of the sizes that have no natural clamp (batch sizes and limits
// are clamped to the data instead).
const (
	MaxEpochs  = 100_000
	MaxThreads = 1024
)

// Commands whose configuration Validate checks.
const (
	Train = "train"
	Prune = "prune"
	Eval  = "eval"
)

// Request is what a command is asked to do: its command, its
// configuration, and the settings that are not part of the recipe.
type Request struct {
	Command string // Train, Prune or Eval
	Config         // Train's recipe, Prune's fine-tuning; Eval reads TestBatchSize and LimitTest
	Threads int
	Percent float64 // Prune's |gamma| quantile
}

// flagNames names, per command, the flag that sets a field, where it is
// not the default below.
var flagNames = map[string]map[string]string{
	Prune: {"epochs": "-finetune-epochs"},
	Eval:  {"test-batch-size": "-batch-size"},
}

func (r *Request) flag(field string) string {
	if n, ok := flagNames[r.Command][field]; ok {
		return n
	}
	return "-" + field
}

// Validate checks every setting of a request once, NaN and infinities
// included, before anything is allocated or created: an *InvalidError
// naming the flag and what it allows, or an error for widths read from a
// checkpoint.
func Validate(r Request) error {
	if r.Threads < 0 || r.Threads > MaxThreads {
		return invalidf("-threads %d: must be between 0 (all cores) and %d", r.Threads, MaxThreads)
	}
	c := r.Config
	if r.TestBatchSize < 1 {
		return invalidf("%s %d: must be at least 1", r.flag("test-batch-size"), c.TestBatchSize)
	}
	if c.LimitTest < 0 {
		return invalidf("%s %d: must be 0 (all) or more", r.flag("limit-test"), c.LimitTest)
	}
	if r.Command == Eval {
		return nil
	}
	spec, err := models.Lookup(c.Model)
	if err != nil {
		return &InvalidError{err.Error()}
	}
	if r.Command == Prune {
		if !finite(r.Percent) || r.Percent < 0 || r.Percent >= 1 {
			return invalidf("-percent %g: must be in [0, 1)", r.Percent)
		}
		if spec.PruneTarget == nil {
			return invalidf("model %s has no pruning-target batch norms (prunable: seresnet)", spec.Name)
		}
	}
	o := c.Optimizer
	switch {
	case c.Epochs < 0 || c.Epochs > MaxEpochs:
		return invalidf("%s %d: must be between 0 and %d", r.flag("epochs"), c.Epochs, MaxEpochs)
	case c.BatchSize < 1:
		return invalidf("%s %d: must be at least 1", r.flag("batch-size"), c.BatchSize)
	case c.LimitTrain < 0:
		return invalidf("%s %d: must be 0 (all) or more", r.flag("limit-train"), c.LimitTrain)
	case !finite(c.LR) || c.LR <= 0 || c.LR > math.MaxFloat32:
		return invalidf("-lr %g: must be a positive number of at most %g", c.LR, math.MaxFloat32)
	case !contains(Optimizers, o.Name):
		return invalidf("unknown optimizer %q (allowed: %s)", o.Name, strings.Join(Optimizers, ", "))
	case !finite(o.Momentum) || o.Momentum < 0 || o.Momentum > 1:
		return invalidf("-momentum %g: must be in [0, 1]", o.Momentum)
	case !finite(o.WeightDecay) || o.WeightDecay < 0 || o.WeightDecay > math.MaxFloat32:
		return invalidf("-weight-decay %g: must be 0 or a positive number of at most %g", o.WeightDecay, math.MaxFloat32)
	case o.Nesterov && (o.Name != "sgd" || o.Momentum <= 0):
		return invalidf("-nesterov needs -optimizer sgd and a positive -momentum")
	case !finite(c.Gamma) || c.Gamma <= 0:
		return invalidf("-gamma %g: must be a positive number", c.Gamma)
	case c.StepSize < 1:
		return invalidf("-step-size %d: must be at least 1", c.StepSize)
	case !finite(c.Sparsity) || c.Sparsity < 0 || c.Sparsity > math.MaxFloat32:
		return invalidf("-sparsity %g: must be 0 or a positive number of at most %g", c.Sparsity, math.MaxFloat32)
	case c.Sparsity > 0 && spec.PruneTarget == nil:
		return invalidf("-sparsity: model %s has no pruning-target batch norms (seresnet has)", spec.Name)
	}
	// StepLR multiplies the rate by gamma every step-size epochs: with a
	// gamma above 1 it must stay a float32 to the last epoch.
	if c.Epochs > 0 {
		steps := float64((c.Epochs - 1) / c.StepSize)
		if math.Log(c.LR)+steps*math.Log(c.Gamma) > math.Log(math.MaxFloat32) {
			return invalidf("-gamma %g: over %d epochs the learning rate %g would exceed %g", c.Gamma, c.Epochs, c.LR, math.MaxFloat32)
		}
	}
	if c.Widths != nil {
		return CheckWidths(spec, c.Widths)
	}
	return nil
}

// CheckWidths checks widths read from a checkpoint against the model's:
// the same keys, each between 1 and the model's own width (pruning only
// narrows a model), so that absurd metadata fails before anything is built.
func CheckWidths(spec *models.Spec, w models.Widths) error {
	if w == nil {
		return nil
	}
	if spec.Widths == nil {
		return fmt.Errorf("widths: model %s has fixed widths", spec.Name)
	}
	def := spec.Widths()
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, ok := def[k]
		if !ok {
			return fmt.Errorf("widths: unknown key %q", k)
		}
		if v := w[k]; v < 1 || v > d {
			return fmt.Errorf("widths: %q is %d: must be between 1 and %s's own %d", k, v, spec.Name, d)
		}
	}
	if len(w) != len(def) {
		return fmt.Errorf("widths: %d keys, model %s has %d", len(w), spec.Name, len(def))
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
