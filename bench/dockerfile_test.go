package bench

// Checks of the repository's Dockerfile (docker build cannot run in CI):
// the stages and their base images, that every RUN is `make <target>` for
// a target of the Makefile that CI runs (a prerequisite of image-steps),
// and the runtime stage's user, volume, working folder and entrypoint.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instr is one Dockerfile instruction.
type instr struct {
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string // the rest, continuation lines joined
	Line int
}

// stage is one FROM and its instructions.
type stage struct {
	Image, Name string
	Instrs      []instr
}

// parseDockerfile splits a Dockerfile into stages; ARG defaults declared
// before the first FROM are substituted into FROM lines.
func parseDockerfile(src string) (stages []stage, err error) {
	var cur strings.Builder
	start := 0
	var ins []instr
	for i, raw := range strings.Split(src, "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // comment lines inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		ins = append(ins, instr{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
		cur.Reset()
	}
	globals := map[string]string{}
	for _, in := range ins {
		switch {
		case in.Cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.Args, "=")
			globals[k] = strings.Trim(v, `"`)
		case in.Cmd == "FROM":
			f := strings.Fields(os.Expand(in.Args, func(k string) string { return globals[k] }))
			var s stage
			for _, w := range f {
				if !strings.HasPrefix(w, "--") {
					s.Image = w
					break
				}
			}
			if n := len(f); n >= 3 && strings.EqualFold(f[n-2], "AS") {
				s.Name = f[n-1]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			// syntax directives and the like before the first FROM
		default:
			stages[len(stages)-1].Instrs = append(stages[len(stages)-1].Instrs, in)
		}
	}
	return stages, nil
}

// words is an instruction's arguments: its JSON array (exec form) or its
// whitespace-separated words (shell form).
func (in instr) words() []string {
	if strings.HasPrefix(in.Args, "[") {
		var w []string
		if json.Unmarshal([]byte(in.Args), &w) == nil {
			return w
		}
	}
	return strings.Fields(in.Args)
}

func (s stage) all(cmd string) []instr {
	var out []instr
	for _, in := range s.Instrs {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// copyFlags splits COPY's --flags from its sources and destination.
func copyFlags(in instr) (flags map[string]string, paths []string) {
	flags = map[string]string{}
	for _, w := range in.words() {
		if strings.HasPrefix(w, "--") {
			k, v, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
			flags[k] = v
		} else {
			paths = append(paths, w)
		}
	}
	return flags, paths
}

// makeRules maps each explicit rule of a Makefile to its prerequisites.
func makeRules(src string) map[string][]string {
	rule := regexp.MustCompile(`^([A-Za-z0-9_./%-]+(?:[ \t]+[A-Za-z0-9_./%-]+)*)[ \t]*::?([^=].*)?$`)
	rules := map[string][]string{}
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "#") {
			continue
		}
		m := rule.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pre, _, _ := strings.Cut(m[2], "#")
		for _, t := range strings.Fields(m[1]) {
			rules[t] = append(rules[t], strings.Fields(pre)...)
		}
	}
	return rules
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ciTarget is the Makefile target CI runs to cover the Dockerfile's steps.
const ciTarget = "image-steps"

func TestDockerfile(t *testing.T) {
	stages, err := parseDockerfile(readRepoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := readRepoFile(t, "Makefile")
	rules := makeRules(mk)
	if len(stages) < 2 {
		t.Fatalf("%d stages: want a build stage and a runtime stage", len(stages))
	}

	// Base images: a CUDA 12.x devel image for the build, the runtime image
	// of the same CUDA version and OS for the run.
	cudaImage := regexp.MustCompile(`^nvidia/cuda:(12\.\d+\.\d+)-(devel|runtime)-(ubuntu\d+\.\d+)$`)
	build, run := stages[0], stages[len(stages)-1]
	for _, s := range stages {
		if s.Name == "build" {
			build = s
		}
	}
	bm := cudaImage.FindStringSubmatch(build.Image)
	if bm == nil || bm[2] != "devel" {
		t.Fatalf("build stage FROM %s: want nvidia/cuda:12.x.y-devel-ubuntuNN.NN", build.Image)
	}
	if want := "nvidia/cuda:" + bm[1] + "-runtime-" + bm[3]; run.Image != want {
		t.Errorf("runtime stage FROM %s: want %s (the build's CUDA version and OS)", run.Image, want)
	}
	if run.Name == build.Name && build.Name != "" {
		t.Errorf("the runtime stage is the build stage")
	}

	// Go from the official image, at go.mod's version.
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	if goVer == nil {
		t.Fatal("go.mod has no go line")
	}
	goCopied := false
	for _, in := range build.all("COPY") {
		flags, paths := copyFlags(in)
		if flags["from"] == "golang:"+goVer[1] && len(paths) == 2 && paths[0] == "/usr/local/go" {
			goCopied = true
		}
	}
	if !goCopied {
		t.Errorf("build stage: no COPY --from=golang:%s /usr/local/go", goVer[1])
	}

	// Every RUN is `make TARGET [VAR=value...]`, TARGET a rule that
	// `make image-steps` (what CI runs) makes.
	ci := map[string]bool{}
	for _, p := range rules[ciTarget] {
		ci[p] = true
	}
	if len(ci) == 0 {
		t.Fatalf("Makefile has no %s target with prerequisites", ciTarget)
	}
	assign := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=[^;&|<>$` + "`" + `]*$`)
	var runs [][]string
	for _, s := range stages {
		for _, in := range s.all("RUN") {
			w := in.words()
			var targets, vars []string
			ok := len(w) >= 2 && w[0] == "make"
			for _, a := range w[min(1, len(w)):] {
				switch {
				case assign.MatchString(a):
					vars = append(vars, a)
				case regexp.MustCompile(`^[A-Za-z0-9_.-]+$`).MatchString(a) && !strings.HasPrefix(a, "-"):
					targets = append(targets, a)
				default:
					ok = false
				}
			}
			if !ok || len(targets) != 1 {
				t.Errorf("line %d: RUN %s: want exactly `make <target> [VAR=value...]`", in.Line, in.Args)
				continue
			}
			if _, found := rules[targets[0]]; !found {
				t.Errorf("line %d: RUN %s: no target %q in the Makefile", in.Line, in.Args, targets[0])
			} else if !ci[targets[0]] {
				t.Errorf("line %d: RUN %s: %q is not a prerequisite of %s, which CI runs", in.Line, in.Args, targets[0], ciTarget)
			}
			runs = append(runs, append(targets, vars...))
		}
	}
	if len(runs) == 0 {
		t.Error("no RUN step: the image would not build gotrain")
	}
	if len(run.all("RUN")) > 0 {
		t.Error("the runtime stage has RUN steps: it has no make or source; do the work in the build stage")
	}

	// The runtime stage: non-root user, /runs volume, runs landing there,
	// MNIST where gotrain looks by default, the gotrain entrypoint.
	users := run.all("USER")
	if len(users) == 0 {
		t.Error("runtime stage: no USER (it would run as root)")
	} else {
		u := strings.Fields(users[len(users)-1].Args)[0]
		name, _, _ := strings.Cut(u, ":")
		if name == "root" || name == "0" || name == "" {
			t.Errorf("runtime stage: USER %s is root", u)
		}
	}
	volume := false
	for _, in := range run.all("VOLUME") {
		for _, v := range in.words() {
			if path.Clean(v) == "/runs" {
				volume = true
			}
		}
	}
	if !volume {
		t.Error("runtime stage: no VOLUME /runs")
	}
	workdir := "/"
	for _, in := range run.all("WORKDIR") {
		if path.IsAbs(in.Args) {
			workdir = in.Args
		} else {
			workdir = path.Join(workdir, in.Args)
		}
	}
	// gotrain's default run folder is runs/<model>-<time> (cmd/gotrain).
	if got := path.Join(workdir, "runs"); got != "/runs" {
		t.Errorf("runtime stage: WORKDIR %s: runs would land in %s, not on the /runs volume", workdir, got)
	}
	copied := map[string]instr{}
	for _, in := range run.all("COPY") {
		flags, paths := copyFlags(in)
		if len(paths) == 2 {
			copied[path.Clean(paths[1])] = in
			if paths[1] == "/runs" && flags["chown"] == "" {
				t.Errorf("line %d: /runs is copied without --chown: the user could not write to it", in.Line)
			}
		}
	}
	if _, ok := copied["/runs"]; !ok {
		t.Error("runtime stage: /runs is not created (COPY --chown=USER an empty folder there)")
	}
	ep := run.all("ENTRYPOINT")
	if len(ep) != 1 || !strings.HasPrefix(ep[0].Args, "[") {
		t.Fatal("runtime stage: want one ENTRYPOINT in exec form")
	}
	epw := ep[0].words()
	if len(epw) == 0 || path.Base(epw[0]) != "gotrain" {
		t.Errorf("ENTRYPOINT %s: want gotrain", ep[0].Args)
	} else if _, ok := copied[epw[0]]; !ok {
		t.Errorf("ENTRYPOINT %s: nothing is copied to %s", ep[0].Args, epw[0])
	}
	cache := ""
	for _, in := range run.all("ENV") {
		if m := regexp.MustCompile(`XDG_CACHE_HOME=(\S+)`).FindStringSubmatch(in.Args); m != nil {
			cache = m[1]
		}
	}
	if _, ok := copied[path.Join(cache, "gotrain", "mnist")]; cache == "" || !ok {
		t.Errorf("runtime stage: MNIST is not at $XDG_CACHE_HOME/gotrain/mnist (XDG_CACHE_HOME=%q), where gotrain looks", cache)
	}

	// The RUN steps are valid make invocations (a dry run).
	if _, err := exec.LookPath("make"); err != nil {
		t.Log("make not found: dry run skipped")
		return
	}
	for _, r := range runs {
		args := append([]string{"-n", "-C", ".."}, r...)
		if out, err := exec.Command("make", args...).CombinedOutput(); err != nil {
			t.Errorf("make %s: %v\n%s", strings.Join(r, " "), err, out)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	src := `# syntax=docker/dockerfile:1
ARG CUDA=12.4.1
FROM nvidia/cuda:${CUDA}-devel-ubuntu22.04 AS build
RUN make a \
    X=1
# comment
COPY --from=golang:1.26 /usr/local/go /usr/local/go
FROM --platform=linux/amd64 nvidia/cuda:${CUDA}-runtime-ubuntu22.04
VOLUME ["/runs"]
ENTRYPOINT ["/usr/local/bin/gotrain", "-device", "cuda:0"]
`
	st, err := parseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Image != "nvidia/cuda:12.4.1-devel-ubuntu22.04" || st[0].Name != "build" ||
		st[1].Image != "nvidia/cuda:12.4.1-runtime-ubuntu22.04" || st[1].Name != "" {
		t.Fatalf("stages %+v", st)
	}
	r := st[0].all("RUN")
	if len(r) != 1 || strings.Join(r[0].words(), " ") != "make a X=1" || r[0].Line != 4 {
		t.Fatalf("RUN %+v", r)
	}
	if w := st[1].all("ENTRYPOINT")[0].words(); len(w) != 3 || w[2] != "cuda:0" {
		t.Fatalf("ENTRYPOINT %q", w)
	}
	rules := makeRules("X ?= 1\nY := a:b\na b: c d # note\n\tcmd: not a rule\nc:\n.PHONY: a\n")
	if got := strings.Join(rules["a"], ","); got != "c,d" {
		t.Fatalf("rules[a] = %q (%v)", got, rules)
	}
	if _, ok := rules["c"]; !ok {
		t.Fatal("rule c missing")
	}
	for _, bad := range []string{"X", "Y", "cmd"} {
		if _, ok := rules[bad]; ok {
			t.Errorf("%q parsed as a rule", bad)
		}
	}
}
