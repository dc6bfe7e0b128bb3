package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the shapes that matter for the MNIST CNN at batch 64
// (whole batch as one GEMM, and per image as the CPU engine calls
// SgemmSerial), plus square shapes for peak. Run with -cpu 1,2 to compare
// thread counts.
var benchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"convFwd", false, false, 16, 36864, 72},
	{"convFwd1", false, false, 8, 43264, 9},
	{"convWGrad", false, true, 16, 72, 36864},
	{"convIGrad", true, false, 72, 36864, 16},
	{"linFwd", false, true, 64, 64, 2304},
	{"linBwdX", false, false, 64, 2304, 64},
	{"linBwdW", true, false, 64, 2304, 64},
	{"imgConvFwd", false, false, 16, 576, 72},
	{"imgConvFwd1", false, false, 8, 676, 9},
	{"imgConvWGrad", false, true, 16, 72, 576},
	{"imgConvIGrad", true, false, 72, 576, 16},
	{"sq512", false, false, 512, 512, 512},
	{"sq1024", false, false, 1024, 1024, 1024},
	{"sq512TT", true, true, 512, 512, 512},
}

func benchGemm(b *testing.B, transA, transB bool, m, n, k int, f sgemmFunc) {
	r := rand.New(rand.NewPCG(1, 2))
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	f(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func shapeName(name string, transA, transB bool, m, n, k int) string {
	t := func(x bool) string {
		if x {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s_%s%s_%dx%dx%d", name, t(transA), t(transB), m, n, k)
}

func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(shapeName(s.name, s.transA, s.transB, s.m, s.n, s.k), func(b *testing.B) {
			benchGemm(b, s.transA, s.transB, s.m, s.n, s.k, Sgemm)
		})
	}
}

func BenchmarkSgemmSerial(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(shapeName(s.name, s.transA, s.transB, s.m, s.n, s.k), func(b *testing.B) {
			benchGemm(b, s.transA, s.transB, s.m, s.n, s.k, SgemmSerial)
		})
	}
}

// BenchmarkSgemmGo measures the portable pure-Go kernel.
func BenchmarkSgemmGo(b *testing.B) {
	defer func(old isa) { useISA = old }(useISA)
	useISA = isaGo
	for _, s := range benchShapes {
		if s.m*s.n*s.k > 1<<27 {
			continue
		}
		b.Run(shapeName(s.name, s.transA, s.transB, s.m, s.n, s.k), func(b *testing.B) {
			benchGemm(b, s.transA, s.transB, s.m, s.n, s.k, SgemmSerial)
		})
	}
}

// BenchmarkSgemmAVX2 measures the AVX2/FMA kernels on a machine that would
// otherwise use AVX-512: an A/B comparison on the same machine.
func BenchmarkSgemmAVX2(b *testing.B) {
	if !hasAsm {
		b.Skip("no AVX2/FMA on this CPU")
	}
	defer func(old isa) { useISA = old }(useISA)
	useISA = isaAVX2
	for _, s := range benchShapes {
		b.Run(shapeName(s.name, s.transA, s.transB, s.m, s.n, s.k), func(b *testing.B) {
			benchGemm(b, s.transA, s.transB, s.m, s.n, s.k, Sgemm)
		})
	}
}
