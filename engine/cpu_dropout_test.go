package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDropoutLoops checks dropoutRun (the AVX2 Philox loop where the CPU
// has it, with its Go tail) against DropoutUniform element by element, bit
// for bit: lengths 0 to 80 and a few long ones, runs that start at block
// offsets other than 0 (as the engine's chunks do) and across the 2³² block
// boundary (where the vector loop must not run), with NaN, infinities and
// zeros of both signs planted in x.
func TestDropoutLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	lens := []int{1000, 1027, 8192}
	for n := 0; n <= 80; n++ {
		lens = append(lens, n)
	}
	for _, n := range lens {
		for _, qlo := range []int{0, 3, 8192, 1<<32 - 5} {
			for _, p := range []float32{0.1, 0.5, 0.9} {
				key := DropoutKey{Seed: 0x1234_5678_9abc_def0 + uint64(n), Layer: 7, Step: uint32(n * 3)}
				xs := make([]float32, n)
				for i := range xs {
					xs[i] = float32(rng.NormFloat64())
				}
				for i, v := range []float32{float32(math.NaN()), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0} {
					if i < n {
						xs[(i*7)%n] = v
					}
				}
				scale := 1 / (1 - p)
				got := make([]float32, n)
				for i := range got {
					got[i] = float32(math.NaN())
				}
				dropoutRun(got, xs, qlo, key.Layer, key.Step, uint32(key.Seed), uint32(key.Seed>>32), p, scale)
				for e := range xs {
					want := xs[e] * scale
					if DropoutUniform(key, 4*qlo+e) < p {
						want = 0
					}
					if math.Float32bits(got[e]) != math.Float32bits(want) {
						t.Fatalf("%s: [%d] got %g, want %g", fmt.Sprintf("n=%d qlo=%d p=%g", n, qlo, p), e, got[e], want)
					}
				}
			}
		}
	}
}
