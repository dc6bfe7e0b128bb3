package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGeluLoops checks geluRun and geluBackwardRun (the AVX2 loop where the
// CPU has it, with its Go tail) against their scalar formulas bit for bit,
// and the scalar formulas against float64 math.Erfc within 2.5e-7 relative
// (plus 1e-30 absolute: tiny results), on lengths 0 to 40 and a long run of
// x from −40 to 40, with ±0, ±Inf, NaN and subnormals planted.
func TestGeluLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	lens := []int{4096}
	for n := 0; n <= 40; n++ {
		lens = append(lens, n)
	}
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), 1e-40, -1e-40, 30, -30, 5.5, -5.5}
	for _, n := range lens {
		xs, dys := make([]float32, n), make([]float32, n)
		for i := range xs {
			xs[i] = float32(rng.Float64()*80 - 40)
			if rng.IntN(2) == 0 {
				xs[i] = float32(rng.NormFloat64() * 3)
			}
			dys[i] = float32(rng.NormFloat64())
		}
		for i, v := range specials {
			if i*3 < n {
				xs[i*3] = v
			}
		}
		y, dx := make([]float32, n), make([]float32, n)
		geluRun(y, xs)
		geluBackwardRun(dx, dys, xs)
		for i, xv := range xs {
			x := float64(xv)
			cdf := normCDF(x)
			wantY := float32(x * cdf)
			wantDX := float32(float64(dys[i]) * math.FMA(x, invSqrt2Pi*expPoly((x*x)*-0.5), cdf))
			if math.Float32bits(y[i]) != math.Float32bits(wantY) || math.Float32bits(dx[i]) != math.Float32bits(wantDX) {
				t.Fatalf("n=%d [%d] x=%g: gelu %g (scalar %g), backward %g (scalar %g)", n, i, x, y[i], wantY, dx[i], wantDX)
			}
			refCDF := 0.5 * math.Erfc(-x/math.Sqrt2)
			refPDF := invSqrt2Pi * math.Exp(-0.5*x*x)
			for _, c := range []struct {
				what      string
				got, want float64
			}{
				{"gelu", float64(y[i]), x * refCDF},
				{"gelu backward", float64(dx[i]), float64(dys[i]) * (refCDF + x*refPDF)},
			} {
				if math.IsNaN(c.want) && math.IsNaN(c.got) || c.got == c.want {
					continue
				}
				if !(math.Abs(c.got-c.want) <= 1e-30+2.5e-7*math.Abs(c.want)) {
					t.Fatalf("%s(%g) = %g, math.Erfc gives %g (relative error %.3g)", c.what, x, c.got, c.want, math.Abs(c.got-c.want)/math.Abs(c.want))
				}
			}
		}
	}
}
