//go:build cgo

package emu

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/kernels/emu/gentables"
)

// dev is a device buffer of n 4-byte words for a test.
func dev(t *testing.T, n int) uint64 {
	t.Helper()
	p, err := Alloc(int64(4 * n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Free(p); err != nil {
			t.Errorf("free: %v", err)
		}
	})
	return p
}

func upF(t *testing.T, v []float32) uint64 {
	p := dev(t, len(v))
	if err := CopyIn(p, unsafe.Pointer(&v[0]), int64(4*len(v))); err != nil {
		t.Fatal(err)
	}
	return p
}

func downF(t *testing.T, p uint64, n int) []float32 {
	v := make([]float32, n)
	if err := CopyOut(unsafe.Pointer(&v[0]), p, int64(4*n)); err != nil {
		t.Fatal(err)
	}
	return v
}

func downI(t *testing.T, p uint64, n int) []int32 {
	v := make([]int32, n)
	if err := CopyOut(unsafe.Pointer(&v[0]), p, int64(4*n)); err != nil {
		t.Fatal(err)
	}
	return v
}

func kernel(t *testing.T, name string) Kernel {
	t.Helper()
	k, ok := Lookup(name)
	if !ok {
		t.Fatalf("kernel %s is not registered", name)
	}
	return k
}

func launch(t *testing.T, name string, grid, block int, args ...uint64) error {
	t.Helper()
	return Launch(kernel(t, name), [3]int{grid, 1, 1}, [3]int{block, 1, 1}, 0, args, 42)
}

func f32(v float32) uint64 { return uint64(math.Float32bits(v)) }

// The generated tables must be what gen makes of the current sources.
func TestGeneratedCurrent(t *testing.T) {
	want, err := gentables.Generate("..")
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range want {
		got, err := os.ReadFile(name)
		if err != nil || string(got) != text {
			t.Errorf("kernels/emu/%s is stale: run `go generate ./kernels/emu` (make ptx does) and commit it", name)
		}
	}
	files, _ := filepath.Glob("kernels_*.cc")
	for _, f := range files {
		if _, ok := want[f]; !ok {
			t.Errorf("kernels/emu/%s has no kernels/*.ptx: delete it", f)
		}
	}
}

// Every kernel of the embedded PTX is registered, with parameters of the
// kinds its .param list declares.
func TestSignaturesMatchPTX(t *testing.T) {
	n := 0
	for _, m := range kernels.Modules() {
		params := kernels.Params(m.PTX)
		for _, e := range kernels.Entries(m.PTX) {
			k, ok := Lookup(e)
			if !ok {
				t.Errorf("%s (%s.ptx) is not emulated: run go generate ./kernels/emu", e, m.Name)
				continue
			}
			if got, want := k.Sig, kernels.Sig(params[e]); got != want {
				t.Errorf("%s: emulated parameters %q, PTX %q", e, got, want)
			}
			n++
		}
	}
	t.Logf("%d kernels: emulated signatures match the PTX", n)
}

func TestBarrier(t *testing.T) {
	const n = 256
	in := make([]float32, n)
	for i := range in {
		in[i] = float32(i)
	}
	pin := upF(t, in)
	for _, sync := range []uint64{1, 0} {
		out := dev(t, 4*n)
		// Four blocks of n threads, each reversing the same input.
		if err := Launch(kernel(t, "emutest_reverse"), [3]int{4, 1, 1}, [3]int{n, 1, 1}, 0,
			[]uint64{out, pin, uint64(n), sync}, 7); err != nil {
			t.Fatal(err)
		}
		got := downF(t, out, n)
		wrong := 0
		for i := range got {
			if got[i] != in[n-1-i] {
				wrong++
			}
		}
		if sync == 1 && wrong > 0 {
			t.Errorf("with __syncthreads: %d of %d wrong", wrong, n)
		}
		if sync == 0 && wrong == 0 {
			t.Errorf("without __syncthreads every thread still read written data: the threads did not interleave")
		}
		t.Logf("barrier %d: %d of %d elements wrong", sync, wrong, n)
	}
}

func TestShuffles(t *testing.T) {
	const threads, grid = 64, 2
	val := func(b, tid int) int { return 1000*(tid>>5) + 10*(tid&31) + b }
	cases := []struct {
		name             string
		kind, arg, width int
		want             func(b, tid int) int
	}{
		{"shfl +3", 1, 3, 32, func(b, t int) int { return val(b, t&^31|(t+3)&31) }},
		{"shfl +3 width 8", 1, 3, 8, func(b, t int) int { return val(b, t&^7|(t+3)&7) }},
		{"up 2", 2, 2, 32, func(b, t int) int {
			if t&31 >= 2 {
				return val(b, t-2)
			}
			return val(b, t)
		}},
		{"down 5 width 16", 3, 5, 16, func(b, t int) int {
			if t&15+5 < 16 {
				return val(b, t+5)
			}
			return val(b, t)
		}},
		{"xor 9", 4, 9, 32, func(b, t int) int { return val(b, t^9) }},
		{"xor 4 width 4", 4, 4, 4, func(b, t int) int {
			// An earlier group's lane is read; a later group's gives the own value.
			if t^4 >= t&^3+4 {
				return val(b, t)
			}
			return val(b, t^4)
		}},
		{"ballot", 5, 0, 32, func(b, t int) int {
			r := 0
			for l := 0; l < 32; l++ {
				if (val(b, t&^31|l)/10)&1 == 1 {
					r |= 1 << l
				}
			}
			return int(int32(uint32(r)))
		}},
		{"match_any", 6, 0, 32, func(b, t int) int { return 0xf << (t & 31 &^ 3) }},
	}
	for _, c := range cases {
		out := dev(t, threads*grid)
		if err := launch(t, "emutest_shfl", grid, threads, out, uint64(c.kind), uint64(c.arg), uint64(c.width)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := downI(t, out, threads*grid)
		for b := 0; b < grid; b++ {
			for tid := 0; tid < threads; tid++ {
				if w := int32(c.want(b, tid)); got[b*threads+tid] != w {
					t.Fatalf("%s: block %d thread %d: got %d, want %d", c.name, b, tid, got[b*threads+tid], w)
				}
			}
		}
		t.Logf("ok %s", c.name)
	}
	out := dev(t, 64)
	if err := launch(t, "emutest_shfl_double", 1, 32, out); err != nil {
		t.Fatal(err)
	}
	d := make([]float64, 32)
	if err := CopyOut(unsafe.Pointer(&d[0]), out, 256); err != nil {
		t.Fatal(err)
	}
	for l := range d {
		if want := 0.5 + float64(l^1)*1e10; d[l] != want {
			t.Fatalf("double shuffle lane %d: %g, want %g", l, d[l], want)
		}
	}
}

// tf32 is cvt.rna.tf32.f32 by its definition: the nearest value with a
// 10-bit mantissa, ties away from zero.
func tf32(x float32) float32 {
	if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
		return x
	}
	u := math.Float32bits(x)
	sign, mag := u&0x80000000, u&0x7fffffff
	lo := mag &^ 0x1fff
	hi := lo + 0x2000
	lo64, hi64 := float64(math.Float32frombits(lo)), float64(math.Float32frombits(hi))
	if hi == 0x7f800000 {
		hi64 = math.Ldexp(1, 128) // the first value past the largest: rounds to infinity
	}
	ax := math.Abs(float64(x))
	if hi64-ax <= ax-lo64 {
		return math.Float32frombits(sign | hi)
	}
	return math.Float32frombits(sign | lo)
}

func TestTF32Rounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []float32{0, 1, -1, 1 + 1.0/2048, 1 + 3.0/2048, -(1 + 1.0/2048), math.MaxFloat32, float32(math.Inf(-1)), 1e-40}
	for i := 0; i < 2000; i++ {
		vals = append(vals, math.Float32frombits(rng.Uint32()&0x7f7fffff|rng.Uint32()&0x80000000))
	}
	for i, v := range vals {
		got := tf32Emu(v)
		if want := tf32(v); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("value %d: cvt.rna.tf32(%g) = %g, want %g", i, v, got, want)
		}
	}
}

func randMat(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func TestMmaTF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	A, B, C := randMat(rng, 16*8), randMat(rng, 8*8), randMat(rng, 16*8)
	D := dev(t, 16*8)
	if err := launch(t, "emutest_mma_tf32", 1, 32, D, upF(t, A), upF(t, B), upF(t, C)); err != nil {
		t.Fatal(err)
	}
	got := downF(t, D, 16*8)
	for i := 0; i < 16; i++ {
		for j := 0; j < 8; j++ {
			s := float64(C[i*8+j])
			for k := 0; k < 8; k++ {
				s += float64(tf32(A[i*8+k])) * float64(tf32(B[k*8+j]))
			}
			if got[i*8+j] != float32(s) {
				t.Fatalf("D[%d][%d] = %g, want %g", i, j, got[i*8+j], float32(s))
			}
		}
	}
}

func bf16(x float32) uint16 { return uint16(math.Float32bits(x) >> 16) }

func TestMmaBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	Af, Bf, C := randMat(rng, 16*16), randMat(rng, 16*8), randMat(rng, 16*8)
	A, B := make([]uint16, len(Af)), make([]uint16, len(Bf))
	for i := range Af {
		A[i] = bf16(Af[i])
	}
	for i := range Bf {
		B[i] = bf16(Bf[i])
	}
	pa, pb := dev(t, len(A)/2), dev(t, len(B)/2)
	if err := CopyIn(pa, unsafe.Pointer(&A[0]), int64(2*len(A))); err != nil {
		t.Fatal(err)
	}
	if err := CopyIn(pb, unsafe.Pointer(&B[0]), int64(2*len(B))); err != nil {
		t.Fatal(err)
	}
	D := dev(t, 16*8)
	if err := launch(t, "emutest_mma_bf16", 1, 32, D, pa, pb, upF(t, C)); err != nil {
		t.Fatal(err)
	}
	got := downF(t, D, 16*8)
	f := func(h uint16) float64 { return float64(math.Float32frombits(uint32(h) << 16)) }
	for i := 0; i < 16; i++ {
		for j := 0; j < 8; j++ {
			s := float64(C[i*8+j])
			for k := 0; k < 16; k++ {
				s += f(A[i*16+k]) * f(B[k*8+j])
			}
			if got[i*8+j] != float32(s) {
				t.Fatalf("D[%d][%d] = %g, want %g", i, j, got[i*8+j], float32(s))
			}
		}
	}
}

func TestLdmatrix(t *testing.T) {
	M := make([]uint16, 4*64)
	for i := range M {
		M[i] = uint16(i*7 + 3)
	}
	pm := dev(t, len(M)/2)
	if err := CopyIn(pm, unsafe.Pointer(&M[0]), int64(2*len(M))); err != nil {
		t.Fatal(err)
	}
	for _, trans := range []uint64{0, 1} {
		out := dev(t, 128)
		if err := launch(t, "emutest_ldmatrix", 1, 32, out, pm, trans); err != nil {
			t.Fatal(err)
		}
		got := downI(t, out, 128)
		for l := 0; l < 32; l++ {
			for i := 0; i < 4; i++ {
				r, c := l/4, 2*(l%4)
				el := func(h int) uint32 {
					if trans == 1 {
						return uint32(M[i*64+(c+h)*8+r])
					}
					return uint32(M[i*64+r*8+c+h])
				}
				if want := el(0) | el(1)<<16; uint32(got[4*l+i]) != want {
					t.Fatalf("trans %d lane %d reg %d: %#x, want %#x", trans, l, i, uint32(got[4*l+i]), want)
				}
			}
		}
	}
}

func TestCpAsync(t *testing.T) {
	in := make([]float32, 128)
	for i := range in {
		in[i] = float32(i + 1)
	}
	pin := upF(t, in)
	for _, wait := range []uint64{1, 0} {
		out := dev(t, 128)
		if err := launch(t, "emutest_cp_async", 1, 32, out, pin, 8, wait); err != nil {
			t.Fatal(err)
		}
		got := downF(t, out, 128)
		for i, g := range got {
			want := in[i]
			if i >= 126 {
				want = 0 // beyond src-size: zero-filled
			}
			if wait == 0 {
				if !math.IsNaN(float64(g)) {
					t.Fatalf("without cp.async.wait_group element %d landed (%g)", i, g)
				}
			} else if g != want {
				t.Fatalf("element %d: %g, want %g", i, g, want)
			}
		}
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		mode    int
		threads int
		want    string
	}{
		{1, 64, "deadlock"},
		{2, 64, "while lanes"},
		{3, 64, "exited"},
		{4, 64, "__trap at block (0,0,0) thread (7,0,0)"},
		{5, 64, "not in the mask"},
	}
	for _, c := range cases {
		out := dev(t, 64)
		err := launch(t, "emutest_fault", 1, c.threads, out, uint64(c.mode), 64)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fault %d: error %v, want one containing %q", c.mode, err, c.want)
			continue
		}
		t.Logf("ok fault %d: %v", c.mode, err)
	}
	// A write one past the end of an allocation.
	out := dev(t, 63)
	err := launch(t, "emutest_fault", 1, 64, out, 6, 63)
	if err == nil || !strings.Contains(err.Error(), "past its end") {
		t.Errorf("write past the end: error %v", err)
	} else {
		t.Logf("ok write past the end: %v", err)
	}
	// Repair the red zone so the cleanup's Free passes.
	if err := Memset32(out+63*4-4, 0, 1); err != nil {
		t.Fatal(err)
	}
	repairRedzone(out, 63*4)
	// A pointer parameter that is in no allocation, and a wrong count.
	if err := launch(t, "emutest_fault", 1, 32, 0x10, 6, 1); err == nil || !strings.Contains(err.Error(), "in no allocation") {
		t.Errorf("bad pointer: error %v", err)
	}
	if err := launch(t, "emutest_fault", 1, 32, out, 6); err == nil || !strings.Contains(err.Error(), "launched with 2") {
		t.Errorf("argument count: error %v", err)
	}
	if err := Launch(kernel(t, "emutest_fault"), [3]int{1, 1, 1}, [3]int{2048, 1, 1}, 0, []uint64{out, 0, 0}, 1); err == nil {
		t.Errorf("a block of 2048 threads launched")
	}
	// The emulator keeps working after failed launches.
	TestShuffles(t)
}
