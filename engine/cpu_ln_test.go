package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLayerNormLoops checks lnApply, lnGradSums, lnGrad and lnColSums (the
// AVX2 loops where the CPU has them, with their Go tails) against plain
// scalar loops, with and without γ and β, on lengths 0 to 40 and 768:
// element-wise results and column sums bit for bit, row sums within 1e-13
// relative (another order).
func TestLayerNormLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	lens := []int{768, 1001}
	for n := 0; n <= 40; n++ {
		lens = append(lens, n)
	}
	for _, n := range lens {
		x, dy, g, b := fill(n), fill(n), fill(n), fill(n)
		if n > 4 {
			x[4], dy[3] = float32(math.NaN()), float32(math.Inf(1))
		}
		const mean, inv, sg, sgx = 0.125, 1.75, 0.3, -0.2
		for _, aff := range []bool{false, true} {
			gs, bs := g, b
			if !aff {
				gs, bs = nil, nil
			}
			y, dx := make([]float32, n), make([]float32, n)
			lnApply(y, x, gs, bs, mean, inv)
			lnGrad(dx, dy, x, gs, mean, inv, sg, sgx)
			s1, s2 := lnGradSums(dy[:min(n, 3)], x, gs, mean, inv) // finite part
			var w1, w2 float64
			for i := range x {
				h := (float64(x[i]) - mean) * inv
				d := float64(dy[i])
				if aff {
					h = h*float64(g[i]) + float64(b[i])
					d *= float64(g[i])
				}
				if wy := float32(h); math.Float32bits(y[i]) != math.Float32bits(wy) {
					t.Fatalf("lnApply n=%d affine=%v [%d]: got %g, want %g", n, aff, i, y[i], wy)
				}
				xh := (float64(x[i]) - mean) * inv
				if wd := float32(inv * ((d - sg) - xh*sgx)); math.Float32bits(dx[i]) != math.Float32bits(wd) {
					t.Fatalf("lnGrad n=%d affine=%v [%d]: got %g, want %g", n, aff, i, dx[i], wd)
				}
				if i < min(n, 3) {
					w1 += d
					w2 += d * xh
				}
			}
			if math.Abs(s1-w1) > 1e-13*(1+math.Abs(w1)) || math.Abs(s2-w2) > 1e-13*(1+math.Abs(w2)) {
				t.Fatalf("lnGradSums n=%d: got %v %v, want %v %v", n, s1, s2, w1, w2)
			}
		}
		// Column sums: bit for bit the plain loop.
		cg, cb := make([]float64, n), make([]float64, n)
		wg, wb := make([]float64, n), make([]float64, n)
		for row := 0; row < 3; row++ {
			rx, rd := fill(n), fill(n)
			lnColSums(cg, cb, rd, rx, mean, inv)
			for i := range rd {
				wb[i] += float64(rd[i])
				wg[i] += float64(rd[i]) * (float64(rx[i]) - mean) * inv
			}
		}
		for i := range wg {
			if cg[i] != wg[i] || cb[i] != wb[i] {
				t.Fatalf("lnColSums n=%d [%d]: got %v %v, want %v %v", n, i, cg[i], cb[i], wg[i], wb[i])
			}
		}
		// Long finite sums.
		xs, ds := fill(n), fill(n)
		s1, s2 := lnGradSums(ds, xs, g, mean, inv)
		var w1, w2 float64
		for i := range xs {
			d := float64(ds[i]) * float64(g[i])
			w1 += d
			w2 += d * ((float64(xs[i]) - mean) * inv)
		}
		if math.Abs(s1-w1) > 1e-13*(1+math.Abs(w1)) || math.Abs(s2-w2) > 1e-13*(1+math.Abs(w2)) {
			t.Fatalf("lnGradSums n=%d: got %v %v, want %v %v", n, s1, s2, w1, w2)
		}
	}
}
