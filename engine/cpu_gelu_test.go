package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGeluLoops checks geluRun and geluBackwardRun (the AVX2 loop where the
// CPU has it, with its Go tail) against their scalar formulas bit for bit,
// and the scalar formulas against float64 math.Erfc within 2.5e-7 relative
// (plus 1e-30 absolute: tiny results), on lengths 0 to 40 and long runs of
// x from −40 to 40 (odd lengths: |x| < 1.4 only, where every vector skips
// erfc), with ±0, ±Inf, NaN and subnormals planted.
func TestGeluLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	lens := []int{4096, 4097}
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
			if n%2 == 1 { // |x| < √2 only: every vector skips erfc
				xs[i] = float32(rng.Float64()*2.8 - 1.4)
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

// TestExpRow checks expRow (the AVX2 loop where the CPU has it, with its Go
// tail) against expPoly element by element, bit for bit, its sum within
// 1e-14 relative (another order), and expPoly against math.Exp within 1e-11
// relative, on lengths 0 to 40 and 1000, with −Inf, NaN and large
// negatives planted.
func TestExpRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	lens := []int{1000}
	for n := 0; n <= 40; n++ {
		lens = append(lens, n)
	}
	for _, n := range lens {
		xs := make([]float32, n)
		for i := range xs {
			xs[i] = float32(rng.NormFloat64() * 30)
		}
		for i, v := range []float32{float32(math.Inf(-1)), -800, -705, -685, -680, 20} {
			if 5*i < n {
				xs[5*i] = v
			}
		}
		const shift, mul = 20.5, 0.125
		ys := make([]float32, n)
		sum := expRow(ys, xs, shift, mul)
		if sum2 := expRow(nil, xs, shift, 0); sum2 != sum {
			t.Fatalf("n=%d: sum %v without outputs, %v with", n, sum2, sum)
		}
		var want float64
		for i, x := range xs {
			e := expPoly(float64(x) - shift)
			want += e
			if w := float32(e * mul); math.Float32bits(ys[i]) != math.Float32bits(w) {
				t.Fatalf("n=%d [%d] x=%g: got %g, want %g", n, i, x, ys[i], w)
			}
			if ref := math.Exp(float64(x) - shift); !(math.Abs(e-ref) <= 1e-11*ref) && !(ref < 1e-307 && e == 0) {
				t.Fatalf("expPoly(%g) = %g, math.Exp %g", float64(x)-shift, e, ref)
			}
		}
		if !(math.Abs(sum-want) <= 1e-14*want) {
			t.Fatalf("n=%d: sum %v, want %v", n, sum, want)
		}
	}
	if e := expPoly(math.NaN()); !math.IsNaN(e) {
		t.Fatalf("expPoly(NaN) = %g", e)
	}
}

// TestMaxRow checks maxRow (the AVX2 loop where the CPU has it, with its Go
// tail) against a plain scan on lengths 0 to 40 and 1000, with NaNs, −Inf
// and rows of NaNs only.
func TestMaxRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for n := 0; n <= 1000; n += 1 + n/40*40 {
		for _, nans := range []int{0, 1, 3, n} {
			xs := make([]float32, n)
			for i := range xs {
				xs[i] = float32(rng.NormFloat64())
			}
			for j := 0; j < nans && n > 0; j++ {
				xs[rng.IntN(n)] = float32(math.NaN())
			}
			if n > 2 {
				xs[2] = float32(math.Inf(-1))
			}
			want, wantNaN := float32(math.Inf(-1)), false
			for _, v := range xs {
				if v > want {
					want = v
				}
				wantNaN = wantNaN || v != v
			}
			if got, gotNaN := maxRow(xs); got != want || gotNaN != wantNaN {
				t.Fatalf("n=%d nans=%d: got %g %v, want %g %v", n, nans, got, gotNaN, want, wantNaN)
			}
		}
	}
}
