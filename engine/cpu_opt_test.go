package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestOptimizerLoops checks sgdRun and adadeltaRun (the AVX2 loops where
// the CPU has them, with their Go tails) against their scalar functions
// bit for bit, for every flag combination, on lengths 0 to 40 and a few
// long ones, with zeros of both signs, a subnormal, an infinity and a NaN
// planted. TestSGDStep and TestAdadeltaStep check the scalar functions
// against float64 references.
func TestOptimizerLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	fill := func(n int, pos bool) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
			if pos {
				s[i] = float32(math.Abs(float64(s[i])))
			}
			switch rng.IntN(12) {
			case 0:
				s[i] = 0
			case 1:
				if !pos {
					s[i] = float32(math.Copysign(0, -1))
				}
			}
		}
		if n > 9 {
			s[3], s[5], s[9] = 1e-40, float32(math.NaN()), float32(math.Inf(1))
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
	lens := []int{1000, 1003, 4099}
	for n := 0; n <= 40; n++ {
		lens = append(lens, n)
	}
	var sgds []SGDParams
	for f := 0; f < 16; f++ {
		p := SGDParams{LR: 0.05, Dampening: 0.1, First: f&4 != 0, Nesterov: f&8 != 0}
		if f&1 != 0 {
			p.WeightDecay = 5e-4
		}
		if f&2 != 0 {
			p.Momentum = 0.9
		}
		sgds = append(sgds, p)
	}
	for _, n := range lens {
		for _, p := range sgds {
			what := fmt.Sprintf("sgd %+v", p)
			ps, gs, ms := fill(n, false), fill(n, false), fill(n, false)
			wp, wm := append([]float32(nil), ps...), append([]float32(nil), ms...)
			if p.Momentum == 0 {
				ms, wm = nil, nil
			}
			sgdRun(ps, gs, ms, p)
			for i := range wp {
				sgdOne(wp, gs, wm, i, p)
			}
			same(what+" params", n, ps, wp)
			same(what+" momentum", n, ms, wm)
		}
		for _, wd := range []float32{0, 0.01} {
			p := AdadeltaParams{LR: 1, Rho: 0.9, Eps: 1e-6, WeightDecay: wd}
			what := fmt.Sprintf("adadelta %+v", p)
			ps, gs, sq, ad := fill(n, false), fill(n, false), fill(n, true), fill(n, true)
			wp, wsq, wad := append([]float32(nil), ps...), append([]float32(nil), sq...), append([]float32(nil), ad...)
			adadeltaRun(ps, gs, sq, ad, p)
			for i := range wp {
				adadeltaOne(wp, gs, wsq, wad, i, p)
			}
			same(what+" params", n, ps, wp)
			same(what+" square_avg", n, sq, wsq)
			same(what+" acc_delta", n, ad, wad)
		}
	}
}
