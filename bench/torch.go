package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"

	"github.com/gotrain/gotrain/models"
)

// TorchInfo is what bench/pytorch/step.py --info prints.
type TorchInfo struct {
	Torch   string `json:"torch"`
	Compile bool   `json:"compile"`
	CUDA    bool   `json:"cuda"`
	BLAS    string `json:"blas"`
}

// ReadTorchInfo runs step.py --info with python; nil when python or its
// torch is missing.
func ReadTorchInfo(python, stepPy string) *TorchInfo {
	if python == "" || python == "none" {
		return nil
	}
	b, err := exec.Command(python, stepPy, "--info").Output()
	if err != nil {
		return nil
	}
	var info TorchInfo
	if json.Unmarshal(bytes.TrimSpace(b), &info) != nil || info.Torch == "" {
		return nil
	}
	return &info
}

// CheckTorchBLAS refuses a PyTorch whose BLAS is not an optimised one
// (OptimizedBLAS): the comparisons of make bench and make bench-epochs
// would be against an unfair anchor.
func CheckTorchBLAS(ti *TorchInfo) error {
	if OptimizedBLAS(ti.BLAS) {
		return nil
	}
	return fmt.Errorf("PyTorch's BLAS is %q, not OpenBLAS, MKL or BLIS: its matmuls would run unoptimised and make an unfair anchor; "+
		"fix: %s (Debian switches libblas.so.3 to OpenBLAS), or PYTHON=none to time gotrain alone", ti.BLAS, BLASFix)
}

// TorchStepArgs are step.py's arguments (after the interpreter) for one
// model's training step with the model's recipe (optimizer and its
// settings) at batch size batch on threads threads; timing flags (--steps,
// --seconds) are the caller's.
func TorchStepArgs(stepPy, model, mode, dev string, batch, threads int) ([]string, error) {
	spec, err := models.Lookup(model)
	if err != nil {
		return nil, err
	}
	r := spec.Recipe
	args := []string{stepPy, "--model", model, "--mode", mode, "--device", dev, "--batch", strconv.Itoa(batch),
		"--threads", strconv.Itoa(threads), "--optimizer", r.Optimizer,
		"--lr", strconv.FormatFloat(r.LR, 'g', -1, 64), "--momentum", strconv.FormatFloat(r.Momentum, 'g', -1, 64),
		"--weight-decay", strconv.FormatFloat(r.WeightDecay, 'g', -1, 64)}
	if r.Nesterov {
		args = append(args, "--nesterov")
	}
	return args, nil
}
