package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMemLoops checks the memory-bound runs of cpu_mem.go (the AVX2 loops
// where the CPU has them, with their Go tails) against plain scalar loops
// on every length from 0 to 40 and a few long ones, with zeros of both
// signs, a subnormal and NaNs planted: element-wise results bit for bit, float64 sums
// within 1e-12 relative (they are summed in another order).
func TestMemLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	nan := float32(math.NaN())
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
			switch rng.IntN(12) {
			case 0:
				s[i] = 0
			case 1:
				s[i] = float32(math.Copysign(0, -1))
			}
		}
		if n > 5 {
			s[5] = nan
		}
		if n > 3 {
			s[3] = float32(1e-40) // subnormal
		}
		return s
	}
	same := func(what string, n int, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s n=%d [%d]: got %g (%#x), want %g (%#x)", what, n, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	close := func(what string, n int, got, want float64) {
		t.Helper()
		if math.IsNaN(want) && math.IsNaN(got) {
			return
		}
		if !(math.Abs(got-want) <= 1e-12*(1+math.Abs(want))) {
			t.Fatalf("%s n=%d: got %v, want %v", what, n, got, want)
		}
	}
	lens := []int{1000, 1003, 4096}
	for n := 0; n <= 40; n++ {
		lens = append(lens, n)
	}
	for _, n := range lens {
		x, y, d := fill(n), fill(n), fill(n)
		// affine with and without relu; add; add relu.
		for _, relu := range []bool{false, true} {
			got, want := make([]float32, n), make([]float32, n)
			affine(got, x, 1.5, -0.25, relu)
			for i, v := range x {
				want[i] = v*1.5 + -0.25
				if relu && !(want[i] > 0) {
					want[i] = 0
				}
			}
			same("affine", n, got, want)
			addRelu(got, x, y)
			if !relu {
				addRun(got, x, y)
			}
			for i := range x {
				want[i] = x[i] + y[i]
				if relu && !(want[i] > 0) {
					want[i] = 0
				}
			}
			same("add/addRelu", n, got, want)
			// scale, and scale then add (two roundings), also in place.
			f := float32(-0.7)
			if relu {
				f = 1.25
			}
			scaleRun(got, x, f)
			for i, v := range x {
				want[i] = v * f
			}
			same("scale", n, got, want)
			copy(got, y)
			scaleAdd(got, x, got, f)
			for i, v := range x {
				want[i] = float32(v*f) + y[i]
			}
			same("scaleAdd", n, got, want)
			reluRun(got, x)
			for i, v := range x {
				want[i] = v
				if !(v > 0) {
					want[i] = 0
				}
			}
			same("relu", n, got, want)
		}
		// Sums (without the NaN).
		if n > 5 {
			x[5], d[5] = 0.5, -0.5
		}
		var w1, w2, m1, m2, k1, k2 float64
		for i, v := range x {
			e := float64(v) - 0.3
			w1 += e
			w2 += e * e
			m1 += float64(d[i])
			m2 += float64(d[i]) * (float64(v) - 0.1)
			if y[i] > 0 {
				k1 += float64(d[i])
				k2 += float64(d[i]) * (float64(v) - 0.1)
			}
		}
		s1, s2 := sumShifted(x, 0.3)
		close("sumShifted s1", n, s1, w1)
		close("sumShifted s2", n, s2, w2)
		s1, s2 = dotSums(d, x, 0.1)
		close("dotSums s1", n, s1, m1)
		close("dotSums s2", n, s2, m2)
		s1, s2 = dotSumsMasked(d, x, y, 0.1)
		close("dotSumsMasked s1", n, s1, k1)
		close("dotSumsMasked s2", n, s2, k2)
		// lin3, masked and not, and in place.
		for _, mask := range [][]float32{nil, y} {
			got, want := make([]float32, n), make([]float32, n)
			lin3(got, d, x, mask, 0.7, -1.3, 0.01)
			for i := range d {
				dd := d[i]
				if mask != nil && !(mask[i] > 0) {
					dd = 0
				}
				want[i] = float32(0.7*float64(dd) + -1.3*float64(x[i]) + 0.01)
			}
			same("lin3", n, got, want)
			in := append([]float32(nil), d...)
			lin3(in, in, x, mask, 0.7, -1.3, 0.01)
			same("lin3 in place", n, in, want)
		}
	}
	t.Logf("memory-bound loops (AVX2: %v) match the scalar loops on %d lengths", hasAVX2, len(lens))
}
