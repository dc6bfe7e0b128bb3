package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train"
	"github.com/gotrain/gotrain/train/runfolder"
)

// version is gotrain's version, set at build time by make build
// (-ldflags "-X main.version=$(git describe --always --dirty --tags)");
// otherwise read from git when gotrain runs inside the repository.
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

// cudaVersion is set by the CUDA build; CPU builds have none.
var cudaVersion = func() string { return "" }

// writeRunConfig writes the run folder's config.json: the flags and the
// configuration in effect.
func writeRunConfig(f *runfolder.Folder, fs *pflag.FlagSet, cfg train.Config, spec *models.Spec, be engine.Backend) error {
	rc := runfolder.RunConfig{Command: fs.Name(), Flags: map[string]string{}, Model: spec.Name, Recipe: spec.Recipe, Effective: cfg.Config,
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
	return f.WriteJSON(runfolder.ConfigFile, rc)
}

// applyRunFlags reads RUN/config.json and sets every training flag the user
// did not set on this command line as the run was started, so that -resume
// RUN continues the run as it was; a recipe flag set to another value is an
// error naming it (-epochs may be raised; -data, -device, -threads may
// differ).
func applyRunFlags(fs *pflag.FlagSet, dir string) error {
	rc, err := runfolder.ReadConfig(dir)
	if err != nil {
		return err
	}
	apply, err := rc.ResumeFlags(changedFlags(fs))
	if err != nil {
		return err
	}
	for name, val := range apply {
		f := fs.Lookup(name)
		if f == nil {
			continue // a flag of another gotrain version
		}
		if err := fs.Set(name, val); err != nil {
			return fmt.Errorf("resume: %s: flag -%s=%q: %v", filepath.Join(dir, runfolder.ConfigFile), name, val, err)
		}
		f.Changed = slices.Contains(rc.FlagsSet, name)
	}
	return nil
}
