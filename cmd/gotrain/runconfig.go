package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train"
)

// version is gotrain's version, set at build time with
// -ldflags "-X main.version=$(git describe --always --dirty)" (make build);
// otherwise read from git when run inside the repository.
var version = ""

func gotrainVersion() string {
	if version != "" {
		return version
	}
	out, err := exec.Command("git", "describe", "--always", "--dirty", "--tags").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// cudaVersion and deviceMemory are set by the CUDA build; CPU builds have none.
var (
	cudaVersion  = func() string { return "" }
	deviceMemory func() string
)

// runConfig is config.json: everything needed to know, and redo, a run.
type runConfig struct {
	Flags       map[string]string `json:"flags"`
	FlagsSet    []string          `json:"flags_set"`
	Model       string            `json:"model"`
	Recipe      models.Recipe     `json:"recipe"`
	Effective   train.Config      `json:"effective"`
	Device      string            `json:"device"`
	Version     string            `json:"gotrain_version"`
	GoVersion   string            `json:"go_version"`
	CUDAVersion string            `json:"cuda_version,omitempty"`
	GPUDriver   string            `json:"gpu_driver,omitempty"`
	Seed        uint64            `json:"seed"`
	Started     string            `json:"started"`
}

func writeRunConfig(fs *pflag.FlagSet, cfg train.Config, spec *models.Spec, be engine.Backend) error {
	rc := runConfig{Flags: map[string]string{}, Model: spec.Name, Recipe: spec.Recipe, Effective: cfg,
		Device: be.Name(), Version: gotrainVersion(), GoVersion: runtime.Version(), CUDAVersion: cudaVersion(),
		Seed: cfg.Seed, Started: time.Now().Format(time.RFC3339)}
	if strings.HasPrefix(rc.Device, "cuda") {
		rc.GPUDriver = gpuDriver()
	}
	fs.VisitAll(func(f *pflag.Flag) {
		rc.Flags[f.Name] = f.Value.String()
		if f.Changed {
			rc.FlagsSet = append(rc.FlagsSet, f.Name)
		}
	})
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	data, _ := json.MarshalIndent(rc, "", "  ")
	path := filepath.Join(cfg.OutDir, "config.json")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	return nil
}

// applyRunFlags sets, from RUN/config.json, every training flag the user
// did not set on this command line, so that -resume RUN continues the run
// as it was started (-epochs may be raised to extend it).
func applyRunFlags(fs *pflag.FlagSet, dir string) error {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("resume: %w (is %s a gotrain run folder?)", err, dir)
	}
	var rc runConfig
	if err := json.Unmarshal(data, &rc); err != nil {
		return fmt.Errorf("resume: %s: %v", path, err)
	}
	for name, val := range rc.Flags {
		f := fs.Lookup(name)
		if f == nil || f.Changed || name == "resume" || name == "out" || name == "device" || name == "threads" || name == "data" {
			continue
		}
		if err := fs.Set(name, val); err != nil {
			return fmt.Errorf("resume: %s: flag -%s=%q: %v", path, name, val, err)
		}
		f.Changed = contains(rc.FlagsSet, name)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
