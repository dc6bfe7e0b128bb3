package kernels

import (
	"strings"
	"testing"
)

// Every module must load by name on any machine: kernels are extern "C"
// (unmangled) and PTX must not carry the path-derived names nvcc gives
// anonymous namespaces (_INTERNAL_<hash of the source path>), which would
// make `make ptx-check` fail on a checkout in another folder.
func TestModules(t *testing.T) {
	mods := Modules()
	if len(mods) == 0 {
		t.Fatal("no embedded PTX")
	}
	seen := map[string]string{}
	for _, m := range mods {
		if strings.Contains(m.PTX, "_INTERNAL_") {
			t.Errorf("%s.ptx has path-dependent _INTERNAL_ names: use a named namespace, not an anonymous one", m.Name)
		}
		entries := Entries(m.PTX)
		if len(entries) == 0 {
			t.Errorf("%s.ptx defines no kernels", m.Name)
		}
		for _, e := range entries {
			if strings.HasPrefix(e, "_Z") {
				t.Errorf("%s.ptx: kernel %s is C++-mangled: declare it extern \"C\"", m.Name, e)
			}
			if prev, dup := seen[e]; dup {
				t.Errorf("kernel %s is in both %s.ptx and %s.ptx", e, prev, m.Name)
			}
			seen[e] = m.Name
		}
	}
	t.Logf("ok %d modules, %d kernels", len(mods), len(seen))
}
