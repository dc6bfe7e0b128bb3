package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// kernels lists the kernel paths to test: every assembly one this CPU can
// run (AVX-512, AVX2) and always the pure-Go one.
func kernels() []isa {
	var ks []isa
	if hasAVX512 {
		ks = append(ks, isaAVX512)
	}
	if hasAsm {
		ks = append(ks, isaAVX2)
	}
	return append(ks, isaGo)
}

func kernelName(k isa) string { return k.String() }

// withKernel runs f with the dispatch forced to kernel k.
func withKernel(k isa, f func()) {
	old := useISA
	useISA = k
	defer func() { useISA = old }()
	f()
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// reference computes alpha·op(A)·op(B) + beta·C in float64 and, for the
// error bound, mag = |alpha|·Σ|a||b| + |beta|·|c|. C is read only when
// beta != 0.
func reference(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (ref, mag []float64) {
	// op(A) as m×k and op(B)ᵀ as n×k, both dense, so the sums run along
	// contiguous rows.
	opA := make([]float64, m*k)
	opBT := make([]float64, n*k)
	for i := 0; i < m; i++ {
		for p := 0; p < k; p++ {
			if transA {
				opA[i*k+p] = float64(a[p*lda+i])
			} else {
				opA[i*k+p] = float64(a[i*lda+p])
			}
		}
	}
	for j := 0; j < n; j++ {
		for p := 0; p < k; p++ {
			if transB {
				opBT[j*k+p] = float64(b[j*ldb+p])
			} else {
				opBT[j*k+p] = float64(b[p*ldb+j])
			}
		}
	}
	ref = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		ar := opA[i*k : (i+1)*k]
		for j := 0; j < n; j++ {
			br := opBT[j*k : (j+1)*k]
			var s, sa float64
			for p, av := range ar {
				prod := av * br[p]
				s += prod
				sa += math.Abs(prod)
			}
			s *= float64(alpha)
			sa *= math.Abs(float64(alpha))
			if beta != 0 {
				cv := float64(beta) * float64(c[i*ldc+j])
				s += cv
				sa += math.Abs(cv)
			}
			ref[i*n+j] = s
			mag[i*n+j] = sa
		}
	}
	return ref, mag
}

// tolerance: |got - ref| <= absTol + relTol(k)·mag, where mag is the sum of
// the magnitudes of the terms (|alpha|·Σ|a·b| + |beta·c|) and
// relTol(k) = 2·(k+2)·2⁻²⁴, the classic float32 bound for a k-term sum.
const absTol = 1e-6

func relTol(k int) float64 { return 2 * float64(k+2) * 0x1p-24 }

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra elements at the end of each stored row
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,alpha=%g,beta=%g,pad=%d", tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad)
}

// run checks Sgemm (or SgemmSerial) against the reference and returns C.
func (tc gemmCase) run(t *testing.T, r *rand.Rand, serial bool) []float32 {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := ac+tc.pad, bc+tc.pad, tc.n+tc.pad
	a := randSlice(r, max(0, (ar-1)*lda+ac))
	b := randSlice(r, max(0, (br-1)*ldb+bc))
	c := randSlice(r, max(0, (tc.m-1)*ldc+tc.n))
	if tc.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN()) // must never be read
		}
	}
	ref, mag := reference(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	orig := append([]float32(nil), c...)
	if serial {
		SgemmSerial(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	} else {
		Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	}
	rel := relTol(tc.k)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			got := float64(c[i*ldc+j])
			want := ref[i*tc.n+j]
			if d := math.Abs(got - want); !(d <= absTol+rel*mag[i*tc.n+j]) {
				t.Fatalf("%v: C[%d][%d] = %v, want %v (|diff| %g > tol %g)", tc, i, j, got, want, d, absTol+rel*mag[i*tc.n+j])
			}
		}
		// Padding between rows must be untouched.
		for j := tc.n; j < ldc && i*ldc+j < len(c); j++ {
			if math.Float32bits(c[i*ldc+j]) != math.Float32bits(orig[i*ldc+j]) {
				t.Fatalf("%v: padding C[%d][%d] modified", tc, i, j)
			}
		}
	}
	return c
}

var shapes = [][3]int{
	{1, 1, 1}, {1, 7, 3}, {3, 1, 7}, {3, 7, 1}, {4, 24, 8}, {5, 25, 9},
	{7, 17, 33}, {17, 33, 65}, {33, 65, 17}, {65, 127, 7}, {127, 3, 129},
	{8, 48, 256}, {9, 49, 257}, {13, 71, 513}, {130, 100, 40}, {2, 200, 300},
	{40, 800, 12}, {16, 72, 600}, {7, 33, 700}, {5, 10, 2100}, {10, 20, 512},
	{24, 64, 1024},
}

func TestSgemm(t *testing.T) {
	scalars := [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {-2, 0.5}, {0, 0.5}, {0, 0}}
	for _, asm := range kernels() {
		t.Run(kernelName(asm), func(t *testing.T) {
			withKernel(asm, func() {
				r := rand.New(rand.NewPCG(1, 2))
				for shi, sh := range shapes {
					if testing.Short() && sh[0]*sh[1]*sh[2] > 300_000 {
						continue
					}
					for tr := 0; tr < 4; tr++ {
						// Half of the scalar pairs per shape and flags,
						// rotating so that every pair meets every shape.
						for h := 0; h < len(scalars); h += 2 {
							si := (h + shi + tr) % len(scalars)
							s := scalars[si]
							tc := gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: sh[0], n: sh[1], k: sh[2], alpha: s[0], beta: s[1], pad: (si + tr) % 3 * 3}
							tc.run(t, r, si%2 == 1)
						}
					}
				}
			})
		})
	}
}

// TestRandomShapes checks many random small problems: shapes, flags,
// strides and scalars drawn at random.
func TestRandomShapes(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 50
	}
	for _, asm := range kernels() {
		withKernel(asm, func() {
			r := rand.New(rand.NewPCG(11, 12))
			scalars := []float32{0, 1, 0.5, -2}
			for i := 0; i < n; i++ {
				tc := gemmCase{
					transA: r.IntN(2) == 1, transB: r.IntN(2) == 1,
					m: 1 + r.IntN(70), n: 1 + r.IntN(90), k: 1 + r.IntN(300),
					alpha: scalars[1+r.IntN(3)], beta: scalars[r.IntN(4)],
					pad: r.IntN(3) * r.IntN(20),
				}
				tc.run(t, r, r.IntN(2) == 1)
			}
		})
	}
}

// TestPackingModes forces A and B to be always packed or always read in
// place (where the layout allows), covering every packing routine.
func TestPackingModes(t *testing.T) {
	oldA, oldB := directAMode, directBMode
	defer func() { directAMode, directBMode = oldA, oldB }()
	for _, mode := range [][2]int{{0, 0}, {1, 1}, {0, 1}, {1, 0}} {
		directAMode, directBMode = mode[0], mode[1]
		for _, asm := range kernels() {
			withKernel(asm, func() {
				r := rand.New(rand.NewPCG(3, uint64(mode[0]*2+mode[1])))
				for _, sh := range [][3]int{{16, 72, 72}, {9, 100, 300}, {33, 49, 20}, {8, 24, 9}, {5, 30, 7}} {
					for tr := 0; tr < 4; tr++ {
						for _, pad := range []int{0, 5} {
							gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: sh[0], n: sh[1], k: sh[2], alpha: 1.5, beta: 0.5, pad: pad}.run(t, r, false)
						}
					}
				}
			})
		}
	}
}

func TestEmptyAndScale(t *testing.T) {
	for _, asm := range kernels() {
		withKernel(asm, func() {
			// m or n zero: nothing touched, nil slices allowed.
			Sgemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
			Sgemm(false, false, 5, 0, 3, 1, make([]float32, 15), 3, nil, 1, 0, nil, 1)
			// k == 0: C = beta·C.
			c := []float32{1, 2, 3, 4}
			Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
			require.Equal(t, []float32{0.5, 1, 1.5, 2}, c)
			// alpha == 0: A and B are not read (NaN does not propagate).
			nan := float32(math.NaN())
			a := []float32{nan, nan, nan, nan}
			Sgemm(false, false, 2, 2, 2, 0, a, 2, a, 2, 2, c, 2)
			require.Equal(t, []float32{1, 2, 3, 4}, c)
			c = []float32{nan, nan, nan, nan}
			Sgemm(true, true, 2, 2, 2, 0, a, 2, a, 2, 0, c, 2)
			require.Equal(t, []float32{0, 0, 0, 0}, c)
		})
	}
}

type sgemmFunc = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func TestPanics(t *testing.T) {
	s := make([]float32, 100)
	cases := []struct {
		name string
		call func(f sgemmFunc)
		msg  string
	}{
		{"negative m", func(f sgemmFunc) { f(false, false, -1, 2, 2, 1, s, 2, s, 2, 0, s, 2) }, "gemm: negative dimension (m=-1, n=2, k=2)"},
		{"negative k", func(f sgemmFunc) { f(false, false, 1, 2, -2, 1, s, 2, s, 2, 0, s, 2) }, "gemm: negative dimension (m=1, n=2, k=-2)"},
		{"small lda", func(f sgemmFunc) { f(false, false, 2, 2, 3, 1, s, 2, s, 2, 0, s, 2) }, "gemm: lda = 2, want >= 3 (stored a is 2×3)"},
		{"small lda trans", func(f sgemmFunc) { f(true, false, 4, 2, 3, 1, s, 3, s, 2, 0, s, 2) }, "gemm: lda = 3, want >= 4 (stored a is 3×4)"},
		{"small ldb trans", func(f sgemmFunc) { f(false, true, 2, 2, 3, 1, s, 3, s, 2, 0, s, 2) }, "gemm: ldb = 2, want >= 3 (stored b is 2×3)"},
		{"small ldc", func(f sgemmFunc) { f(false, false, 2, 5, 3, 1, s, 3, s, 5, 0, s, 4) }, "gemm: ldc = 4, want >= 5 (stored c is 2×5)"},
		{"short a", func(f sgemmFunc) { f(false, false, 10, 2, 10, 1, s[:99], 10, s, 2, 0, s, 2) }, "gemm: len(a) = 99, want >= 100 (stored a is 10×10, lda = 10)"},
		{"short b", func(f sgemmFunc) { f(false, false, 2, 2, 10, 1, s, 10, s[:19], 2, 0, s, 2) }, "gemm: len(b) = 19, want >= 20 (stored b is 10×2, ldb = 2)"},
		{"short b trans", func(f sgemmFunc) { f(false, true, 2, 5, 10, 1, s, 10, s[:49], 10, 0, s, 5) }, "gemm: len(b) = 49, want >= 50 (stored b is 5×10, ldb = 10)"},
		{"short c", func(f sgemmFunc) { f(false, false, 3, 3, 1, 1, s, 1, s, 3, 0, s[:10], 4) }, "gemm: len(c) = 10, want >= 11 (stored c is 3×3, ldc = 4)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.PanicsWithValue(t, tc.msg, func() { tc.call(Sgemm) })
			require.PanicsWithValue(t, tc.msg, func() { tc.call(SgemmSerial) })
		})
	}
}

// TestDeterminism checks that the result is bit-identical whatever
// GOMAXPROCS is, and identical between Sgemm and SgemmSerial.
func TestDeterminism(t *testing.T) {
	shapes := []gemmCase{
		{m: 200, n: 300, k: 600, alpha: 1, beta: 0},
		{m: 16, n: 72, k: 5000, transB: true, alpha: 0.5, beta: 1},
		{m: 72, n: 3000, k: 16, transA: true, alpha: 1, beta: -2},
		{m: 64, n: 64, k: 2304, transB: true, alpha: 1, beta: 0},
		{m: 130, n: 1000, k: 300, transA: true, transB: true, alpha: 1, beta: 0.5},
	}
	if testing.Short() {
		shapes = shapes[:3]
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, asm := range kernels() {
		withKernel(asm, func() {
			for _, tc := range shapes {
				r := rand.New(rand.NewPCG(7, 8))
				ar, ac := tc.m, tc.k
				if tc.transA {
					ar, ac = tc.k, tc.m
				}
				br, bc := tc.k, tc.n
				if tc.transB {
					br, bc = tc.n, tc.k
				}
				a, b, c0 := randSlice(r, ar*ac), randSlice(r, br*bc), randSlice(r, tc.m*tc.n)
				var want []float32
				for _, procs := range []int{1, 2, 3, 4, 8} {
					runtime.GOMAXPROCS(procs)
					for _, serial := range []bool{false, true} {
						c := append([]float32(nil), c0...)
						f := sgemmFunc(Sgemm)
						if serial {
							f = SgemmSerial
						}
						f(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, ac, b, bc, tc.beta, c, tc.n)
						if want == nil {
							want = c
							continue
						}
						for i := range c {
							if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %v: GOMAXPROCS=%d serial=%v: C[%d] = %v, want %v bit for bit", kernelName(asm), tc, procs, serial, i, c[i], want[i])
							}
						}
					}
				}
			}
		})
	}
}

// TestConcurrentCalls runs several parallel Sgemm calls at once.
func TestConcurrentCalls(t *testing.T) {
	tc := gemmCase{m: 100, n: 200, k: 150, alpha: 1, beta: 0}
	r := rand.New(rand.NewPCG(9, 9))
	a, b := randSlice(r, tc.m*tc.k), randSlice(r, tc.k*tc.n)
	want := make([]float32, tc.m*tc.n)
	SgemmSerial(false, false, tc.m, tc.n, tc.k, 1, a, tc.k, b, tc.n, 0, want, tc.n)
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			c := make([]float32, tc.m*tc.n)
			for it := 0; it < 5; it++ {
				Sgemm(false, false, tc.m, tc.n, tc.k, 1, a, tc.k, b, tc.n, 0, c, tc.n)
				for i := range c {
					if c[i] != want[i] {
						errs <- fmt.Errorf("goroutine %d: C[%d] = %v, want %v", g, i, c[i], want[i])
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		require.NoError(t, <-errs)
	}
}

func TestAllocs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(max(2, runtime.NumCPU()))
	r := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []gemmCase{
		{m: 64, n: 2304, k: 64},                // broadcast kernel, B in place
		{m: 100, n: 300, k: 700, transA: true}, // packed A and B
		{m: 64, n: 32, k: 2304, transB: true},  // dot kernel
		{m: 16, n: 72, k: 3000, transB: true},  // broadcast kernel, Bᵀ packed
	} {
		lda, ldb := tc.k, tc.n
		if tc.transA {
			lda = tc.m
		}
		if tc.transB {
			ldb = tc.k
		}
		a, b, c := randSlice(r, tc.m*tc.k), randSlice(r, tc.k*tc.n), make([]float32, tc.m*tc.n)
		for _, serial := range []bool{false, true} {
			f := Sgemm
			if serial {
				f = SgemmSerial
			}
			allocs := testing.AllocsPerRun(20, func() {
				f(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a, lda, b, ldb, 0.5, c, tc.n)
			})
			require.Zero(t, allocs, "%v serial=%v", tc, serial)
		}
	}
}

// TestISAAgreement runs the same problems on every kernel this CPU can run
// and checks each against the float64 reference, and the kernels against
// each other: each error is at most absTol + relTol(k)·mag (the float32
// bound for a k-term sum), so two kernels differ by at most twice that.
// It logs the largest error seen per kernel in units of 2⁻²⁴·mag, the
// measured "within float32 rounding" (about 1-5 units at these shapes,
// against a bound of 2(k+2)).
func TestISAAgreement(t *testing.T) {
	cases := []gemmCase{
		{m: 64, n: 784, k: 576, alpha: 1},               // conv forward, 3×3 over 64 channels
		{m: 576, n: 784, k: 64, transA: true, alpha: 1}, // conv input gradient
		{m: 64, n: 576, k: 784, transB: true, alpha: 1}, // conv weight gradient
		{m: 37, n: 101, k: 300, alpha: 0.5, beta: -1},   // ragged edges
		{m: 64, n: 30, k: 2304, transB: true, alpha: 1}, // dot kernel
		{m: 130, n: 70, k: 513, transA: true, transB: true, alpha: 1, beta: 0.5},
	}
	for _, tc := range cases {
		r := rand.New(rand.NewPCG(21, 22))
		ar, ac := tc.m, tc.k
		if tc.transA {
			ar, ac = tc.k, tc.m
		}
		br, bc := tc.k, tc.n
		if tc.transB {
			br, bc = tc.n, tc.k
		}
		a, b, c0 := randSlice(r, ar*ac), randSlice(r, br*bc), randSlice(r, tc.m*tc.n)
		ref, mag := reference(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, ac, b, bc, tc.beta, c0, tc.n)
		var results [][]float32
		for _, k := range kernels() {
			c := append([]float32(nil), c0...)
			withKernel(k, func() {
				Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, ac, b, bc, tc.beta, c, tc.n)
			})
			worst := 0.0
			for i := range c {
				d := math.Abs(float64(c[i]) - ref[i])
				if d > absTol+relTol(tc.k)*mag[i] {
					t.Fatalf("%s %v: C[%d] = %v, want %v (|diff| %g)", k, tc, i, c[i], ref[i], d)
				}
				worst = max(worst, d/(mag[i]*0x1p-24))
			}
			t.Logf("%-6s %v: max |C-ref| = %.2f·2⁻²⁴·mag (bound %d)", k, tc, worst, 2*(tc.k+2))
			results = append(results, c)
		}
		// The AVX-512 and AVX2 kernels do the same FMAs in the same order
		// (same k blocks, one FMA per k step, then alpha and beta), so
		// they agree bit for bit.
		if hasAVX512 && hasAsm {
			for i := range results[0] {
				if math.Float32bits(results[0][i]) != math.Float32bits(results[1][i]) {
					t.Fatalf("%v: avx512 C[%d] = %v, avx2 %v: want bit-identical", tc, i, results[0][i], results[1][i])
				}
			}
		}
		for ki := 1; ki < len(results); ki++ {
			for i := range results[0] {
				d := math.Abs(float64(results[ki][i]) - float64(results[0][i]))
				if d > 2*(absTol+relTol(tc.k)*mag[i]) {
					t.Fatalf("%v: %s and %s differ by %g at C[%d]", tc, kernels()[0], kernels()[ki], d, i)
				}
			}
		}
	}
}

func TestEnvISA(t *testing.T) {
	for _, tc := range []struct {
		v          string
		best, want isa
	}{
		{"", isaAVX512, isaAVX512},
		{"avx2", isaAVX512, isaAVX2},
		{"go", isaAVX512, isaGo},
		{"avx512", isaAVX2, isaAVX2}, // not supported: ignored
		{"sse", isaAVX2, isaAVX2},
	} {
		require.Equal(t, tc.want, envISA(tc.v, tc.best), "GOTRAIN_GEMM_ISA=%q best %v", tc.v, tc.best)
	}
}
