// Package kernels holds gotrain's hand-written CUDA C kernels, one .cu file
// per op family, and the PTX that `make ptx` compiles from them (for
// compute_80, with the pinned CUDA 11.8 toolkit; newer drivers JIT it for
// the GPU at hand). The PTX is committed and embedded here, so building
// gotrain never needs nvcc. Each kernel's comment gives its layout, launch
// shape and the CPU engine op it matches.
package kernels

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.ptx
var ptx embed.FS

// Module is one compiled op family.
type Module struct {
	Name string // the .cu file's base name
	PTX  string
}

// Modules returns every embedded PTX module, sorted by name.
func Modules() []Module {
	names, err := fs.Glob(ptx, "*.ptx")
	if err != nil {
		panic(err) // the pattern is constant
	}
	sort.Strings(names)
	mods := make([]Module, 0, len(names))
	for _, n := range names {
		b, err := ptx.ReadFile(n)
		if err != nil {
			panic(err) // embedded files are always readable
		}
		mods = append(mods, Module{Name: strings.TrimSuffix(n, ".ptx"), PTX: string(b)})
	}
	return mods
}

// Entries lists the kernel names a PTX module defines (its .entry lines).
func Entries(ptx string) []string {
	var out []string
	for _, line := range strings.Split(ptx, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, ".visible .entry ") && !strings.HasPrefix(line, ".entry ") {
			continue
		}
		name := line[strings.Index(line, ".entry ")+len(".entry "):]
		if i := strings.IndexAny(name, "( "); i >= 0 {
			name = name[:i]
		}
		out = append(out, name)
	}
	return out
}
