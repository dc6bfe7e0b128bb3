package engine_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
)

// TestConvPathsAgree runs each convolution through both CPU paths (per-image
// GEMMs, and one GEMM over the whole batch) on the same inputs: forward and
// backward must agree within float32 rounding, with outputs poisoned first.
func TestConvPathsAgree(t *testing.T) {
	cases := []struct {
		n, c, h, w, k, r, s int
		prm                 engine.Conv2dParams
	}{
		{5, 3, 12, 11, 4, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}},
		{3, 4, 9, 9, 6, 1, 1, engine.Conv2dParams{StrideH: 1, StrideW: 1}},
		{4, 2, 14, 14, 5, 1, 1, engine.Conv2dParams{StrideH: 2, StrideW: 2}},
		{2, 1, 16, 16, 3, 7, 7, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}},
		{17, 3, 5, 7, 8, 3, 2, engine.Conv2dParams{StrideH: 1, StrideW: 2, PadH: 1, PadW: 0}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%dx%dx%d_k%dx%d", tc.n, tc.c, tc.h, tc.w, tc.r, tc.s), func(t *testing.T) {
			be := engine.NewCPU(0)
			a := newAlloc(t, be, 11)
			p := engine.ConvOut(tc.h, tc.r, tc.prm.StrideH, tc.prm.PadH)
			q := engine.ConvOut(tc.w, tc.s, tc.prm.StrideW, tc.prm.PadW)
			x, w, b := a.rand(tc.n, tc.c, tc.h, tc.w), a.rand(tc.k, tc.c, tc.r, tc.s), a.rand(tc.k)
			dy := a.rand(tc.n, tc.k, p, q)
			run := func(pq int) [][]float32 {
				defer engine.SetBatchedPQ(pq)()
				y, dx, dw, db := a.nans(tc.n, tc.k, p, q), a.nans(x.Shape()...), a.nans(w.Shape()...), a.nans(tc.k)
				be.Conv2d(y, x, w, b, tc.prm)
				be.Conv2dBackward(dx, dw, db, dy, x, w, tc.prm)
				require.NoError(t, be.Err())
				var out [][]float32
				for _, v := range []*engine.Tensor{y, dx, dw, db} {
					out = append(out, append([]float32(nil), engine.F32(v)...))
				}
				return out
			}
			perImage, batched := run(0), run(1<<30)
			for i, name := range []string{"y", "dx", "dw", "db"} {
				for j := range perImage[i] {
					ref, got := perImage[i][j], batched[i][j]
					require.InDelta(t, ref, got, 1e-5+1e-5*abs32(ref), "%s[%d]", name, j)
				}
			}
		})
	}
}

func abs32(v float32) float64 {
	if v < 0 {
		return float64(-v)
	}
	return float64(v)
}

// TestConvCenterPath runs convolutions of 1x1 planes whose padding centres
// the kernel through the centre-tap path and through im2col (outputs
// poisoned first): outputs and gradients agree within float32 rounding,
// and the weight gradient's other taps are exactly 0.
func TestConvCenterPath(t *testing.T) {
	cases := []struct {
		n, c, k, r, s int
		prm           engine.Conv2dParams
		bias          bool
	}{
		{5, 24, 40, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, true},
		{3, 17, 9, 5, 3, engine.Conv2dParams{StrideH: 2, StrideW: 1, PadH: 2, PadW: 1}, false},
		{64, 160, 320, 3, 3, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%d_k%d_%dx%d", tc.n, tc.c, tc.k, tc.r, tc.s), func(t *testing.T) {
			be := engine.NewCPU(0)
			a := newAlloc(t, be, 7)
			x, w, dy := a.rand(tc.n, tc.c, 1, 1), a.rand(tc.k, tc.c, tc.r, tc.s), a.rand(tc.n, tc.k, 1, 1)
			var b, db *engine.Tensor
			if tc.bias {
				b = a.rand(tc.k)
			}
			run := func(center bool) [][]float32 {
				defer engine.SetCenterPath(center)()
				y, dx, dw := a.nans(tc.n, tc.k, 1, 1), a.nans(x.Shape()...), a.nans(w.Shape()...)
				if tc.bias {
					db = a.nans(tc.k)
				}
				be.Conv2d(y, x, w, b, tc.prm)
				be.Conv2dBackward(dx, dw, db, dy, x, w, tc.prm)
				require.NoError(t, be.Err())
				out := [][]float32{engine.F32(y), engine.F32(dx), engine.F32(dw)}
				if tc.bias {
					out = append(out, engine.F32(db))
				}
				for i := range out {
					out[i] = append([]float32(nil), out[i]...)
				}
				return out
			}
			ref, got := run(false), run(true)
			for i := range ref {
				for j := range ref[i] {
					require.InDelta(t, ref[i][j], got[i][j], 1e-5+1e-5*abs32(ref[i][j]), "output %d [%d]", i, j)
				}
			}
			mid := (tc.r/2)*tc.s + tc.s/2
			for j, v := range got[2] {
				if j%(tc.r*tc.s) != mid {
					require.Zero(t, v, "dw[%d] reads padding only", j)
				}
			}
		})
	}
}
