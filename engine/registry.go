package engine

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Options configure a backend being opened by name.
type Options struct {
	// Index is the device ordinal of a GPU engine ("cuda:1" is Index 1).
	Index int
	// Threads is the CPU engine's number of goroutines (0: all cores). It
	// is gotrain's one CPU-thread setting: opening "cpu" with Threads > 0
	// also sets GOMAXPROCS, which the GEMM's workers follow.
	Threads int
}

// Opener opens a registered backend.
type Opener func(Options) (Backend, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Opener{}
)

// Register makes a backend available by name to Open: the CPU engine
// registers as "cpu"; package cuda registers "cuda" from init in a build
// with the cuda tag (without it the cuda package runs on the kernels'
// CPU emulator, which tests open explicitly with cuda.Open). Registering a
// name twice panics.
func Register(name string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("engine: backend %q registered twice", name))
	}
	registry[name] = open
}

// Registered reports whether a backend of that name is registered.
func Registered(name string) bool {
	registryMu.Lock()
	defer registryMu.Unlock()
	return registry[name] != nil
}

// Names lists the registered backends: "cpu" first, then the others sorted.
func Names() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	var names []string
	for n := range registry {
		if n != "cpu" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if registry["cpu"] != nil {
		names = append([]string{"cpu"}, names...)
	}
	return names
}

// Open opens the backend registered under name.
func Open(name string, opts Options) (Backend, error) {
	registryMu.Lock()
	open := registry[name]
	registryMu.Unlock()
	if open == nil {
		return nil, fmt.Errorf("engine: no backend %q in this build (registered: %s)", name, strings.Join(Names(), ", "))
	}
	return open(opts)
}

func init() {
	Register("cpu", func(o Options) (Backend, error) {
		if o.Threads < 0 {
			return nil, fmt.Errorf("engine: cpu: %d threads: must be 0 (all cores) or more", o.Threads)
		}
		if o.Threads > 0 {
			runtime.GOMAXPROCS(o.Threads) // the GEMM's workers follow GOMAXPROCS
		}
		return NewCPU(o.Threads), nil
	})
}
