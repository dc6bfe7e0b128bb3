package engine_test

import (
	"fmt"
	"math"
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

// TestConvDensePath runs convolutions of small planes (no more pixels than
// kernel taps) through the dense path and through im2col (outputs poisoned
// first): outputs and gradients agree within float32 rounding, and the
// weight gradient of taps that only ever read padding is exactly 0.
func TestConvDensePath(t *testing.T) {
	s1p1 := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	s2p1 := engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	s1 := engine.Conv2dParams{StrideH: 1, StrideW: 1}
	cases := []struct {
		n, c, h, w, k, r, s int
		prm                 engine.Conv2dParams
		bias                bool
	}{
		{5, 24, 1, 1, 40, 3, 3, s1p1, true}, // the centre tap only
		{3, 17, 1, 1, 9, 5, 3, engine.Conv2dParams{StrideH: 2, StrideW: 1, PadH: 2, PadW: 1}, false},
		{64, 160, 1, 1, 320, 3, 3, s1p1, false},
		{7, 33, 1, 1, 65, 1, 1, s1, true}, // a fully connected layer: wb is w
		{6, 12, 1, 1, 10, 1, 1, engine.Conv2dParams{StrideH: 2, StrideW: 2}, false},
		{9, 20, 2, 2, 28, 3, 3, s1p1, true}, // every pair of pixels joined
		{4, 16, 2, 2, 8, 3, 3, s2p1, false}, // 2x2 to 1x1, 4 taps of 9
		{5, 11, 3, 3, 13, 3, 3, s1p1, true}, // 7 of 9 pairs per row joined
		{3, 10, 3, 3, 6, 3, 3, s2p1, false}, // 3x3 to 2x2
		{2, 8, 4, 4, 12, 5, 5, engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 2, PadW: 2}, true},
		{3, 6, 2, 3, 5, 3, 2, engine.Conv2dParams{StrideH: 1, StrideW: 2, PadH: 1, PadW: 0}, true},
		{0, 8, 2, 2, 8, 3, 3, s1p1, true}, // an empty batch
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dx%dx%dx%d_k%d_%dx%d_s%d", tc.n, tc.c, tc.h, tc.w, tc.k, tc.r, tc.s, tc.prm.StrideH), func(t *testing.T) {
			require.True(t, engine.DenseConv(tc.n, tc.c, tc.h, tc.w, tc.k, tc.r, tc.s, tc.prm), "the dense path should take this shape")
			p := engine.ConvOut(tc.h, tc.r, tc.prm.StrideH, tc.prm.PadH)
			q := engine.ConvOut(tc.w, tc.s, tc.prm.StrideW, tc.prm.PadW)
			be := engine.NewCPU(0)
			a := newAlloc(t, be, 7)
			x, w, dy := a.rand(tc.n, tc.c, tc.h, tc.w), a.rand(tc.k, tc.c, tc.r, tc.s), a.rand(tc.n, tc.k, p, q)
			var b, db *engine.Tensor
			if tc.bias {
				b = a.rand(tc.k)
			}
			run := func(dense bool) [][]float32 {
				defer engine.SetDensePath(dense)()
				defer engine.SetWinograd(0)()
				y, dx, dw := a.nans(tc.n, tc.k, p, q), a.nans(x.Shape()...), a.nans(w.Shape()...)
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
			// Taps that read padding for every output pixel.
			for r := 0; r < tc.r; r++ {
				for s := 0; s < tc.s; s++ {
					if tapReadsImage(r, tc.h, p, tc.prm.StrideH, tc.prm.PadH) && tapReadsImage(s, tc.w, q, tc.prm.StrideW, tc.prm.PadW) {
						continue
					}
					for j := r*tc.s + s; j < len(got[2]); j += tc.r * tc.s {
						require.Zero(t, got[2][j], "dw[%d] reads padding only", j)
					}
				}
			}
		})
	}
	// Larger planes stay on the other paths.
	require.False(t, engine.DenseConv(64, 128, 4, 4, 128, 3, 3, s1p1), "3x3 on 4x4")
	require.False(t, engine.DenseConv(64, 256, 2, 2, 1024, 1, 1, s1), "1x1 on 2x2")
	require.False(t, engine.DenseConv(64, 2048, 2, 2, 2048, 3, 3, s1p1), "wb over the bound")
}

// tapReadsImage reports whether kernel row r reads an image row (of h) for
// some output row (of p) at stride st and padding pad.
func tapReadsImage(r, h, p, st, pad int) bool {
	for o := 0; o < p; o++ {
		if i := o*st - pad + r; i >= 0 && i < h {
			return true
		}
	}
	return false
}

// convRef64 is the direct convolution in float64: y, dx and dw, each with
// the sum of the absolute values of its terms (the scale rounding errors
// are measured against).
func convRef64(x, w, b, dy []float32, n, c, h, wd, k, r, s int, prm engine.Conv2dParams) (y, ay, dx, adx, dw, adw []float64) {
	p, q := engine.ConvOut(h, r, prm.StrideH, prm.PadH), engine.ConvOut(wd, s, prm.StrideW, prm.PadW)
	y, ay = make([]float64, n*k*p*q), make([]float64, n*k*p*q)
	dx, adx = make([]float64, n*c*h*wd), make([]float64, n*c*h*wd)
	dw, adw = make([]float64, k*c*r*s), make([]float64, k*c*r*s)
	for in := 0; in < n; in++ {
		for ok := 0; ok < k; ok++ {
			for op := 0; op < p; op++ {
				for oq := 0; oq < q; oq++ {
					o := ((in*k+ok)*p+op)*q + oq
					if b != nil {
						y[o], ay[o] = float64(b[ok]), math.Abs(float64(b[ok]))
					}
					g := float64(dy[o])
					for ic := 0; ic < c; ic++ {
						for kr := 0; kr < r; kr++ {
							ih := op*prm.StrideH - prm.PadH + kr
							if ih < 0 || ih >= h {
								continue
							}
							for ks := 0; ks < s; ks++ {
								iw := oq*prm.StrideW - prm.PadW + ks
								if iw < 0 || iw >= wd {
									continue
								}
								xi := ((in*c+ic)*h+ih)*wd + iw
								wi := ((ok*c+ic)*r+kr)*s + ks
								xv, wv := float64(x[xi]), float64(w[wi])
								y[o] += xv * wv
								ay[o] += math.Abs(xv * wv)
								dx[xi] += g * wv
								adx[xi] += math.Abs(g * wv)
								dw[wi] += g * xv
								adw[wi] += math.Abs(g * xv)
							}
						}
					}
				}
			}
		}
	}
	return
}

// TestConvPathsAgainstFloat64 runs a convolution of each path the CPU
// engine picks by shape (the path is checked) against the direct float64
// sum, outputs poisoned first: y, dx, dw and db within 1e-6 + eps·Σ|terms|.
func TestConvPathsAgainstFloat64(t *testing.T) {
	s1p1 := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	s2p1 := engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	s1 := engine.Conv2dParams{StrideH: 1, StrideW: 1}
	s2 := engine.Conv2dParams{StrideH: 2, StrideW: 2}
	cases := []struct {
		n, c, h, w, k, r, s int
		prm                 engine.Conv2dParams
		path                string // "" when it depends on the CPU (Winograd)
	}{
		{8, 32, 2, 2, 24, 3, 3, s1p1, "dense"},
		{8, 32, 2, 2, 24, 3, 3, s2p1, "dense"},
		{8, 32, 1, 1, 16, 3, 3, s1p1, "dense"},
		{8, 40, 1, 1, 24, 1, 1, s1, "dense"},
		{5, 6, 3, 3, 7, 3, 3, s2p1, "dense"},
		{8, 32, 2, 2, 48, 1, 1, s2, "subsampled dense"},
		{6, 16, 7, 7, 24, 1, 1, s2, "subsampled batched"},
		{3, 5, 6, 9, 7, 1, 1, engine.Conv2dParams{StrideH: 2, StrideW: 3}, "subsampled batched"},
		{2, 4, 30, 30, 6, 1, 1, s2, "subsampled per-image"},
		{5, 16, 7, 7, 12, 3, 3, s2p1, "batched"},
		{4, 16, 4, 4, 12, 3, 3, s2p1, "batched"},
		{6, 16, 4, 4, 20, 1, 1, s1, "batched"},
		{7, 22, 2, 2, 37, 1, 1, s1, "batched"}, // 16-byte planes: the AVX-512 block transposes
		{9, 6, 7, 7, 10, 1, 1, s1, "per-image"},
		{2, 1, 28, 28, 8, 7, 7, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}, "per-image"},
		{3, 64, 8, 8, 64, 3, 3, s1p1, ""},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%dx%dx%dx%d_k%d_%dx%d_s%d,%d_p%d", tc.n, tc.c, tc.h, tc.w, tc.k, tc.r, tc.s, tc.prm.StrideH, tc.prm.StrideW, tc.prm.PadH)
		t.Run(name, func(t *testing.T) {
			path := engine.ConvPath(tc.n, tc.c, tc.h, tc.w, tc.k, tc.r, tc.s, tc.prm)
			if tc.path != "" {
				require.Equal(t, tc.path, path)
			}
			be := engine.NewCPU(0)
			a := newAlloc(t, be, seedOf(name))
			p := engine.ConvOut(tc.h, tc.r, tc.prm.StrideH, tc.prm.PadH)
			q := engine.ConvOut(tc.w, tc.s, tc.prm.StrideW, tc.prm.PadW)
			x, w, b, dy := a.rand(tc.n, tc.c, tc.h, tc.w), a.rand(tc.k, tc.c, tc.r, tc.s), a.rand(tc.k), a.rand(tc.n, tc.k, p, q)
			y, ay, dx, adx, dw, adw := convRef64(engine.F32(x), engine.F32(w), engine.F32(b), engine.F32(dy), tc.n, tc.c, tc.h, tc.w, tc.k, tc.r, tc.s, tc.prm)
			gy, gdx, gdw, gdb := a.nans(tc.n, tc.k, p, q), a.nans(x.Shape()...), a.nans(w.Shape()...), a.nans(tc.k)
			be.Conv2d(gy, x, w, b, tc.prm)
			be.Conv2dBackward(gdx, gdw, gdb, dy, x, w, tc.prm)
			require.NoError(t, be.Err())
			eps := 2e-6
			if path == "winograd" {
				eps = 2e-5
			}
			worst := 0.0
			check := func(what string, got []float32, ref, scale []float64) {
				for i, r := range ref {
					e := math.Abs(float64(got[i]) - r)
					require.LessOrEqual(t, e, 1e-6+eps*scale[i], "%s %s[%d]: got %v, want %v", path, what, i, got[i], r)
					if scale[i] > 0 {
						worst = max(worst, e/scale[i])
					}
				}
			}
			check("y", engine.F32(gy), y, ay)
			check("dx", engine.F32(gdx), dx, adx)
			check("dw", engine.F32(gdw), dw, adw)
			db, adb := make([]float64, tc.k), make([]float64, tc.k)
			for i, v := range engine.F32(dy) {
				k := i / (p * q) % tc.k
				db[k] += float64(v)
				adb[k] += math.Abs(float64(v))
			}
			check("db", engine.F32(gdb), db, adb)
			t.Logf("%s: worst |got-ref|/Σ|terms| = %.2e", path, worst)
		})
	}
}
