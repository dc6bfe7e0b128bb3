package runfolder

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train/checkpoint"
)

// RunConfig is config.json: everything needed to know, and redo, a run.
type RunConfig struct {
	Command     string            `json:"command,omitempty"` // Train or Prune (older runs: empty, train)
	Flags       map[string]string `json:"flags"`
	FlagsSet    []string          `json:"flags_set"`
	Model       string            `json:"model"`
	Recipe      models.Recipe     `json:"recipe"`
	Effective   Config            `json:"effective"`
	Device      string            `json:"device"`
	Version     string            `json:"gotrain_version"`
	GoVersion   string            `json:"go_version"`
	CUDAVersion string            `json:"cuda_version,omitempty"`
	GPUDriver   string            `json:"gpu_driver,omitempty"`
	Seed        uint64            `json:"seed"`
	Started     string            `json:"started"`
}

// ReadConfig reads the config.json of dir, a run that -resume continues:
// a train run.
func ReadConfig(dir string) (*RunConfig, error) {
	rc, err := ReadRunConfig(dir)
	if err != nil {
		return nil, err
	}
	if rc.Command != "" && rc.Command != Train {
		return nil, fmt.Errorf("resume: %s holds a %s run, which cannot be resumed: run gotrain %s again with another -out", dir, rc.Command, rc.Command)
	}
	return rc, nil
}

// ReadRunConfig reads dir's config.json, whatever command wrote it.
func ReadRunConfig(dir string) (*RunConfig, error) {
	var rc RunConfig
	path := dir + "/" + ConfigFile
	err := readJSON(path, &rc)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("resume: %s has no %s: is it a gotrain run folder?", dir, ConfigFile)
	}
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	if rc.Flags == nil {
		return nil, fmt.Errorf("resume: %s: no flags recorded", path)
	}
	return &rc, nil
}

// ResumeFree are the flags a resumed run may set to other values than the
// run was started with: where it runs, and -epochs, which may be raised.
var ResumeFree = []string{"resume", "out", "data", "device", "threads", "epochs", "precision"}

// ResumeFlags compares the flags set on a -resume command line (name ->
// value as the flag prints it) with those the run was started with. A
// changed recipe flag is an *InvalidError naming each; -epochs may only be
// raised. It returns the recorded flags to apply, the ones not set now.
func (rc *RunConfig) ResumeFlags(set map[string]string) (map[string]string, error) {
	var changed []string
	for name, val := range set {
		if contains(ResumeFree, name) {
			continue
		}
		if old, ok := rc.Flags[name]; !ok || old != val {
			changed = append(changed, fmt.Sprintf("-%s %s (was %s)", name, val, was(old, ok, contains(rc.FlagsSet, name))))
		}
	}
	sort.Strings(changed)
	if len(changed) > 0 {
		return nil, invalidf("-resume: a resumed run keeps its recipe, but %s: drop them (only -epochs may be raised; -data, -device and -threads may differ)", strings.Join(changed, ", "))
	}
	if val, ok := set["epochs"]; ok && rc.Effective.Epochs > 0 {
		var n int
		if _, err := fmt.Sscan(val, &n); err == nil && n < rc.Effective.Epochs {
			return nil, invalidf("-resume: -epochs %d is fewer than the run's %d: -epochs may only be raised", n, rc.Effective.Epochs)
		}
	}
	apply := map[string]string{}
	for name, val := range rc.Flags {
		if _, ok := set[name]; ok || (contains(ResumeFree, name) && name != "epochs") {
			continue
		}
		apply[name] = val
	}
	return apply, nil
}

// was words a flag's recorded value: as set, or its default.
func was(old string, recorded, set bool) string {
	switch {
	case !recorded:
		return "not recorded"
	case !set:
		return "the default, " + old
	}
	return old
}

// ResumeWidths are the widths the committed epoch's weights were saved at
// (a fine-tuned pruned model resumes at them), checked against spec.
func (f *Folder) ResumeWidths(spec *models.Spec) (models.Widths, error) {
	last := f.CommittedPath(LastWeights)
	if last == "" {
		return nil, fmt.Errorf("resume %s: no committed epoch", f.dir)
	}
	meta, err := checkpoint.ReadMeta(last)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	w, err := models.WidthsFromMeta(meta)
	if err == nil {
		err = CheckWidths(spec, w)
	}
	if err != nil {
		return nil, fmt.Errorf("resume: %s: %w", last, err)
	}
	return w, nil
}

// RecordEpochs updates config.json when a resumed run was extended with
// -epochs, so that it keeps describing the run.
func (f *Folder) RecordEpochs(epochs int) error {
	rc, err := ReadConfig(f.dir)
	if err != nil || rc.Effective.Epochs == epochs {
		return err
	}
	rc.Effective.Epochs = epochs
	rc.Flags["epochs"] = strconv.Itoa(epochs)
	if !contains(rc.FlagsSet, "epochs") {
		rc.FlagsSet = append(rc.FlagsSet, "epochs")
	}
	return f.WriteJSON(ConfigFile, rc)
}
