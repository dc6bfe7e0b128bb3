//go:build cuda || cgo

package parity

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/gotrain/gotrain/cuda"
	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/kernels"
)

// The parity tests run every op on the GPU and on the CPU engine from the
// same inputs, with the GPU's outputs poisoned (NaN) first so an element a
// kernel forgets to write fails, and compare within tol + |ref|·eps.
//
// "The GPU" is the CUDA engine: on a GPU when built with the cuda tag, and
// on the CPU emulator of package kernels/emu otherwise (make test). Every
// check that passes counts for each kernel launched since the previous
// check; TestMain prints a line per kernel of the embedded PTX with its
// count and fails when a kernel was never checked.

// emuBudget is the largest case, in multiply-adds, that a parity test runs
// on the emulator; larger ones (the models' real sizes) run on a GPU only.
// The emulator runs kernels about a thousand times slower than a GPU; the
// small cases still take every code path (tile sizes, split reductions,
// grid-stride loops, both convolution layouts).
const emuBudget = 1e8

var (
	coverMu  sync.Mutex
	coverage = map[string]int{}
)

// covered credits every kernel launched since the last call with one check
// (ok) or forgets them (a failed check).
func covered(b *cuda.Backend, ok bool) {
	launched := b.TakeLaunched()
	if !ok {
		return
	}
	coverMu.Lock()
	defer coverMu.Unlock()
	for k := range launched {
		coverage[k]++
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	// The per-kernel verdict needs the whole suite: not with -run or -short.
	if f := flag.Lookup("test.run"); code == 0 && (f == nil || f.Value.String() == "") && !testing.Short() {
		code = kernelVerdicts()
	}
	os.Exit(code)
}

// kernelVerdicts prints one line per kernel of the embedded PTX and
// returns 1 when a kernel had no passing check.
func kernelVerdicts() int {
	where := "gpu"
	if cuda.DriverName == "emulator" {
		where = "emulated"
	}
	code := 0
	for _, m := range kernels.Modules() {
		for _, k := range kernels.Entries(m.PTX) {
			if n := coverage[k]; n > 0 {
				fmt.Printf("%s %s: ok (%d checks)\n", where, k, n)
			} else {
				fmt.Printf("%s %s: FAIL (no check ran it: add one to kernels/parity)\n", where, k)
				code = 1
			}
		}
	}
	return code
}

// tooBig reports whether a case of macs multiply-adds is beyond the
// emulator's budget, logging that it runs on a GPU only.
func (e *env) tooBig(what string, macs float64) bool {
	if cuda.DriverName != "emulator" || macs <= emuBudget {
		return false
	}
	e.t.Logf("gpu only: %s (%.3g multiply-adds)", what, macs)
	return true
}

var (
	gpuOnce sync.Once
	gpuB    *cuda.Backend
	gpuErr  error
)

// gpu returns the shared GPU backend, bound to the calling test's thread.
func gpu(t testing.TB) *cuda.Backend {
	t.Helper()
	gpuOnce.Do(func() {
		ord := 0
		if s := os.Getenv("GOTRAIN_TEST_DEVICE"); s != "" {
			fmt.Sscan(s, &ord)
		}
		gpuB, gpuErr = cuda.Open(ord)
	})
	if gpuErr != nil {
		t.Fatalf("open GPU: %v", gpuErr)
	}
	if err := gpuB.Bind(); err != nil {
		t.Fatal(err)
	}
	gpuB.ClearErr()
	gpuB.SetTF32(false) // tests ask for TF32 explicitly
	return gpuB
}

// env holds a GPU and a CPU backend and makes paired tensors on both.
type env struct {
	t   testing.TB
	g   *cuda.Backend
	c   *engine.CPU
	rng *rand.Rand
}

func newEnv(t testing.TB, seed uint64) *env {
	t.Helper()
	// The CPU reference keeps its convolutions on im2col + GEMM, the
	// rounding closest to the GPU kernels' direct sums (its Winograd
	// convolutions are checked against float64 in engine).
	c := engine.NewCPU(0)
	c.SetWinograd(false)
	return &env{t: t, g: gpu(t), c: c, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// pair is one tensor on each backend.
type pair struct {
	g, c *engine.Tensor
}

func (e *env) alloc(name string, dt engine.DType, shape ...int) pair {
	e.t.Helper()
	n := engine.Numel(shape)
	gs, err := e.g.Alloc(dt, n)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	cs, err := e.c.Alloc(dt, n)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	return pair{engine.NewTensor(name, gs, 0, shape...), engine.NewTensor(name, cs, 0, shape...)}
}

// zeros is a float32 pair of zeros.
func (e *env) zeros(name string, shape ...int) pair { return e.alloc(name, engine.Float32, shape...) }

// rand is a pair holding the same uniform values in [-scale, scale).
func (e *env) rand(name string, scale float32, shape ...int) pair {
	p := e.zeros(name, shape...)
	v := make([]float32, engine.Numel(shape))
	for i := range v {
		v[i] = (2*e.rng.Float32() - 1) * scale
	}
	e.set(p, v)
	return p
}

// randPos is a pair holding the same uniform values in [lo, hi).
func (e *env) randRange(name string, lo, hi float32, shape ...int) pair {
	p := e.zeros(name, shape...)
	v := make([]float32, engine.Numel(shape))
	for i := range v {
		v[i] = lo + (hi-lo)*e.rng.Float32()
	}
	e.set(p, v)
	return p
}

// labels is an int32 pair of values in [0, classes).
func (e *env) labels(name string, classes int, shape ...int) pair {
	p := e.alloc(name, engine.Int32, shape...)
	v := make([]int32, engine.Numel(shape))
	for i := range v {
		v[i] = int32(e.rng.IntN(classes))
	}
	e.g.UploadInt32(p.g, v)
	e.c.UploadInt32(p.c, v)
	return p
}

func (e *env) set(p pair, v []float32) {
	e.g.Upload(p.g, v)
	e.c.Upload(p.c, v)
}

// out is an output pair: NaN on the GPU, zero on the CPU.
func (e *env) out(name string, shape ...int) pair {
	p := e.zeros(name, shape...)
	e.poison(p.g)
	return p
}

// outInt is an int32 output pair: -7 on the GPU.
func (e *env) outInt(name string, shape ...int) pair {
	p := e.alloc(name, engine.Int32, shape...)
	v := make([]int32, p.g.Len())
	for i := range v {
		v[i] = -7
	}
	e.g.UploadInt32(p.g, v)
	return p
}

// poison fills a GPU float tensor with NaN.
func (e *env) poison(t *engine.Tensor) {
	v := make([]float32, t.Len())
	for i := range v {
		v[i] = float32(math.NaN())
	}
	e.g.Upload(t, v)
}

func (e *env) sync() {
	e.t.Helper()
	if err := e.g.Sync(); err != nil {
		e.t.Fatalf("gpu: %v", err)
	}
	if err := e.c.Err(); err != nil {
		e.t.Fatalf("cpu: %v", err)
	}
}

// host downloads both sides of a float pair.
func (e *env) host(p pair) (g, c []float32) {
	e.t.Helper()
	e.sync()
	g, c = make([]float32, p.g.Len()), make([]float32, p.c.Len())
	e.g.Download(g, p.g)
	e.c.Download(c, p.c)
	e.sync()
	return g, c
}

// check compares the GPU result with the CPU reference: every element must
// satisfy |gpu - cpu| <= tol + |cpu|·eps (NaN never does). It logs the worst
// element as a one-line verdict.
func (e *env) check(what string, p pair, tol, eps float64) {
	e.t.Helper()
	g, c := e.host(p)
	worst, wi, bad := 0.0, -1, 0
	for i := range g {
		d := math.Abs(float64(g[i]) - float64(c[i]))
		lim := tol + math.Abs(float64(c[i]))*eps
		r := d / lim
		if math.IsNaN(d) || math.IsInf(d, 0) {
			r = math.Inf(1)
		}
		if r > 1 {
			bad++
		}
		if r > worst || wi < 0 {
			worst, wi = r, i
		}
	}
	if len(g) == 0 {
		return
	}
	covered(e.g, bad == 0)
	if bad > 0 {
		e.t.Errorf("%s %v: %d of %d elements out of tolerance; worst [%d] gpu %g cpu %g (tol %g eps %g)",
			what, p.c.Shape(), bad, len(g), wi, g[wi], c[wi], tol, eps)
		return
	}
	e.t.Logf("ok %s %v: worst element at %.2f of its tolerance (tol %g eps %g)", what, p.c.Shape(), worst, tol, eps)
}

// checkInt compares int32 outputs exactly.
func (e *env) checkInt(what string, p pair) {
	e.t.Helper()
	e.sync()
	g, c := make([]int32, p.g.Len()), make([]int32, p.c.Len())
	e.g.DownloadInt32(g, p.g)
	e.c.DownloadInt32(c, p.c)
	e.sync()
	for i := range g {
		if g[i] != c[i] {
			covered(e.g, false)
			e.t.Errorf("%s %v: element %d gpu %d cpu %d", what, p.c.Shape(), i, g[i], c[i])
			return
		}
	}
	covered(e.g, len(g) > 0)
	e.t.Logf("ok %s %v: %d int32 elements equal", what, p.c.Shape(), len(g))
}

// sameError checks that an op just run on both engines recorded an error on
// each, with the same text, and clears them.
func (e *env) sameError(what string) {
	e.t.Helper()
	ge, ce := e.g.Err(), e.c.Err()
	switch {
	case ge == nil || ce == nil:
		e.t.Errorf("%s: gpu error %v, cpu error %v", what, ge, ce)
	case ge.Error() != ce.Error():
		e.t.Errorf("%s: gpu error %q, cpu error %q", what, ge, ce)
	default:
		e.t.Logf("ok %s: %v", what, ge)
	}
	e.g.ClearErr()
	e.c.ClearErr()
}
