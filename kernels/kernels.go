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

// Param is one .param of a PTX kernel: its PTX type (u64, u32, s32, f32,
// f64, ...).
type Param struct {
	Type string
}

// Params returns each kernel's parameter list, by kernel name, from the
// .entry declarations of a PTX module.
func Params(ptx string) map[string][]Param {
	out := map[string][]Param{}
	lines := strings.Split(ptx, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, ".visible .entry ") && !strings.HasPrefix(line, ".entry ") {
			continue
		}
		name := line[strings.Index(line, ".entry ")+len(".entry "):]
		if j := strings.IndexAny(name, "( "); j >= 0 {
			name = name[:j]
		}
		ps := []Param{}
		// Parameters follow, one per line, until the closing parenthesis.
		for i++; i < len(lines); i++ {
			l := strings.TrimSpace(lines[i])
			if strings.HasPrefix(l, ".param ") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					ps = append(ps, Param{Type: strings.TrimPrefix(f[1], ".")})
				}
			}
			if strings.HasPrefix(l, ")") || strings.HasPrefix(l, "{") {
				break
			}
		}
		out[name] = ps
	}
	return out
}

// Sig is a parameter list as one letter per parameter, the emulator's and
// the CUDA engine's argument kinds: p for 64-bit (u64/s64/b64: pointers and
// 64-bit integers; the engine passes only pointers there), i for 32-bit
// integers, f for f32, d for f64, ? for anything else.
func Sig(ps []Param) string {
	b := make([]byte, len(ps))
	for i, p := range ps {
		switch p.Type {
		case "u64", "s64", "b64":
			b[i] = 'p'
		case "u32", "s32", "b32":
			b[i] = 'i'
		case "f32":
			b[i] = 'f'
		case "f64":
			b[i] = 'd'
		default:
			b[i] = '?'
		}
	}
	return string(b)
}
