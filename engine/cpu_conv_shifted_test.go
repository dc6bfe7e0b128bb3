package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShiftedColsMatchRows checks the one-run im2col/col2im of stride-1
// geometries with Q == W against the row-by-row loops, bit for bit, with
// the columns of one image placed among others (ld > P·Q, col0 > 0).
func TestShiftedColsMatchRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 2))
	cases := []struct{ c, h, w, r, s, ph, pw int }{
		{3, 8, 8, 3, 3, 1, 1},
		{2, 5, 7, 3, 3, 1, 1},
		{2, 6, 4, 5, 5, 2, 2},
		{2, 6, 5, 3, 1, 1, 0},
		{2, 4, 6, 1, 3, 0, 1},
		{2, 7, 6, 3, 3, 0, 1}, // P = H-2
		{1, 3, 5, 1, 1, 2, 0}, // whole output rows of padding
		{2, 2, 2, 5, 5, 2, 2}, // kernel wider than the image
		{1, 1, 1, 3, 3, 1, 1}, // one pixel
		{2, 4, 3, 7, 3, 3, 1}, // rows that read no image row
	}
	for _, tc := range cases {
		p := Conv2dParams{StrideH: 1, StrideW: 1, PadH: tc.ph, PadW: tc.pw}
		g := convGeom{ConvGeom: ConvGeom{N: 1, C: tc.c, H: tc.h, W: tc.w, K: 1, R: tc.r, S: tc.s, Params: p}}
		g.P, g.Q = ConvOut(g.H, g.R, 1, tc.ph), ConvOut(g.W, g.S, 1, tc.pw)
		g.CRS, g.PQ = g.C*g.R*g.S, g.P*g.Q
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			require.True(t, g.shifted())
			x := make([]float32, g.C*g.H*g.W)
			for i := range x {
				x[i] = rng.Float32()*2 - 1
			}
			x[0] = float32(math.NaN())
			ld, col0 := 3*g.PQ, g.PQ
			want, got := make([]float32, g.CRS*ld), make([]float32, g.CRS*ld)
			for i := range want {
				want[i], got[i] = 7, 7 // untouched outside this image's columns
			}
			im2colRows(want, x, &g, ld, col0)
			im2colShifted(got, x, &g, ld, col0)
			requireBits(t, want, got)

			cols := make([]float32, g.CRS*ld)
			for i := range cols {
				cols[i] = rng.Float32()*2 - 1
			}
			cols[col0], cols[col0+g.PQ-1] = float32(math.Inf(1)), float32(math.NaN()) // padding reads in most cases
			dWant, dGot := make([]float32, len(x)), make([]float32, len(x))
			col2imRows(dWant, append([]float32(nil), cols...), &g, ld, col0)
			col2imShifted(dGot, cols, &g, ld, col0)
			requireBits(t, dWant, dGot)
		})
	}
}

func requireBits(t *testing.T, want, got []float32) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "element %d: %v vs %v", i, want[i], got[i])
	}
}

// BenchmarkShiftedCols times im2col and col2im of one 64-channel 32x32
// image under a 3x3 padded kernel, row by row and as shifted runs.
func BenchmarkShiftedCols(b *testing.B) {
	p := Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	g := convGeom{ConvGeom: ConvGeom{N: 1, C: 64, H: 32, W: 32, P: 32, Q: 32, K: 64, R: 3, S: 3, Params: p}}
	g.CRS, g.PQ = g.C*g.R*g.S, g.P*g.Q
	x, cols := make([]float32, g.C*g.H*g.W), make([]float32, g.CRS*g.PQ)
	for i := range x {
		x[i] = float32(i%97) - 48
	}
	run := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(cols)))
			for range b.N {
				f()
			}
		})
	}
	run("im2col/rows", func() { im2colRows(cols, x, &g, g.PQ, 0) })
	run("im2col/shifted", func() { im2colShifted(cols, x, &g, g.PQ, 0) })
	run("col2im/rows", func() { col2imRows(x, cols, &g, g.PQ, 0) })
	run("col2im/shifted", func() { col2imShifted(x, cols, &g, g.PQ, 0) })
}

// TestTableCols checks im2col and col2im through the offset table against
// the row-by-row versions, bit for bit, on strided and unpadded geometries
// (the ones the table path takes): columns of one image among others, NaN
// and Inf in entries that read padding.
func TestTableCols(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct{ c, h, w, r, s, sh, sw, ph, pw int }{
		{3, 7, 7, 3, 3, 2, 2, 1, 1}, // the light ResNet's 7x7 to 4x4
		{4, 4, 4, 3, 3, 2, 2, 1, 1},
		{2, 28, 28, 7, 7, 2, 2, 3, 3}, // the stem
		{3, 9, 13, 4, 4, 4, 4, 0, 0},
		{2, 8, 6, 3, 2, 2, 1, 1, 0},
		{2, 5, 5, 3, 3, 1, 1, 0, 0}, // stride 1, Q < W
		{1, 3, 3, 5, 5, 3, 3, 2, 2}, // kernel wider than the image
	}
	be := NewCPU(1)
	for _, tc := range cases {
		p := Conv2dParams{StrideH: tc.sh, StrideW: tc.sw, PadH: tc.ph, PadW: tc.pw}
		g := convGeom{ConvGeom: ConvGeom{N: 1, C: tc.c, H: tc.h, W: tc.w, K: 1, R: tc.r, S: tc.s, Params: p}}
		g.P, g.Q = ConvOut(g.H, g.R, tc.sh, tc.ph), ConvOut(g.W, g.S, tc.sw, tc.pw)
		g.CRS, g.PQ = g.C*g.R*g.S, g.P*g.Q
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			be.colTable(&g)
			require.NotNil(t, g.tab, "the table path should take this geometry")
			x := make([]float32, g.C*g.H*g.W)
			for i := range x {
				x[i] = rng.Float32()*2 - 1
			}
			ld, col0 := 3*g.PQ, g.PQ
			want, got := make([]float32, g.CRS*ld), make([]float32, g.CRS*ld)
			for i := range want {
				want[i], got[i] = 7, 7 // untouched outside this image's columns
			}
			im2colRows(want, x, &g, ld, col0)
			im2colTable(got, x, &g, ld, col0, 1, 0, g.C)
			requireBits(t, want, got)

			cols := make([]float32, g.CRS*ld)
			for i := range cols {
				cols[i] = rng.Float32()*2 - 1
			}
			for i := range got[col0 : col0+g.PQ] {
				if g.tab[i] == int32(g.H*g.W) {
					cols[col0+i] = float32(math.NaN()) // reads padding: must not reach dx
				}
			}
			dWant, dGot := make([]float32, len(x)), make([]float32, len(x))
			for i := range dGot {
				dGot[i] = float32(math.Inf(1)) // overwritten
			}
			col2imRows(dWant, cols, &g, ld, col0)
			col2imTable(dGot, cols, &g, ld, col0, 1, 0, g.C)
			requireBits(t, dWant, dGot)
		})
	}
}

// TestTransposeBlocks4 checks transposeBlocks4 (the AVX-512 tiles and the
// edges) against a plain loop on shapes with and without partial tiles,
// strides wider than the rows, and everything outside the blocks left as
// it was.
func TestTransposeBlocks4(t *testing.T) {
	if !transposeAVX512 {
		t.Skip("no AVX-512 here: the layout changes use copyBlocks only")
	}
	for _, sh := range [][2]int{{4, 4}, {16, 64}, {5, 7}, {3, 9}, {8, 3}, {1, 1}, {17, 33}} {
		rows, cols := sh[0], sh[1]
		ss, ds := 4*cols+8, 4*rows+12
		src := make([]float32, rows*ss)
		for i := range src {
			src[i] = float32(i)
		}
		got, want := make([]float32, cols*ds), make([]float32, cols*ds)
		for i := range got {
			got[i], want[i] = -1, -1
		}
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				copy(want[j*ds+4*i:j*ds+4*i+4], src[i*ss+4*j:i*ss+4*j+4])
			}
		}
		transposeBlocks4(got, ds, src, ss, rows, cols)
		requireBits(t, want, got)
	}
}
