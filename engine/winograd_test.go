package engine_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
)

// conv3x3Ref64 is the direct 3x3, stride-1, padding-1 convolution in
// float64: y, dx and dw, each with the sum of the absolute values of its
// terms (the scale float32 rounding errors are measured against).
func conv3x3Ref64(x, w, b, dy []float32, n, c, h, wd, k int) (y, ay, dx, adx, dw, adw []float64) {
	hw := h * wd
	y, ay = make([]float64, n*k*hw), make([]float64, n*k*hw)
	dx, adx = make([]float64, n*c*hw), make([]float64, n*c*hw)
	dw, adw = make([]float64, k*c*9), make([]float64, k*c*9)
	for in := 0; in < n; in++ {
		for ok := 0; ok < k; ok++ {
			for oy := 0; oy < h; oy++ {
				for ox := 0; ox < wd; ox++ {
					o := ((in*k+ok)*h+oy)*wd + ox
					if b != nil {
						y[o], ay[o] = float64(b[ok]), math.Abs(float64(b[ok]))
					}
					g := float64(dy[o])
					for ic := 0; ic < c; ic++ {
						for r := 0; r < 3; r++ {
							iy := oy - 1 + r
							if iy < 0 || iy >= h {
								continue
							}
							for s := 0; s < 3; s++ {
								ix := ox - 1 + s
								if ix < 0 || ix >= wd {
									continue
								}
								xi := ((in*c+ic)*h+iy)*wd + ix
								wi := ((ok*c+ic)*3+r)*3 + s
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

// TestWinogradShapes checks which convolutions take the Winograd path by
// default (F(4x4, 3x3), with AVX-512 or AVX2 only).
func TestWinogradShapes(t *testing.T) {
	if os.Getenv("GOTRAIN_WINOGRAD") == "0" {
		t.Skip("GOTRAIN_WINOGRAD=0 turns the path off")
	}
	same := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	cases := []struct {
		c, h, k, r int
		p          engine.Conv2dParams
		want       bool
		m          int
	}{
		{128, 14, 128, 3, same, true, 4},
		{256, 7, 256, 3, same, true, 4},
		{512, 4, 512, 3, same, true, 4},
		{64, 28, 64, 3, same, true, 4},
		{1024, 2, 1024, 3, same, true, 2}, // one F(2x2, 3x3) tile (too big for the dense path)
		{256, 2, 256, 3, same, false, 0},  // the dense path
		{32, 28, 64, 3, same, false, 0},   // too thin
		{512, 1, 512, 3, same, false, 0},  // plane too small
		{512, 3, 512, 3, same, false, 0},  // plane too small
		{128, 14, 256, 3, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, false, 0},
		{128, 14, 128, 1, engine.Conv2dParams{StrideH: 1, StrideW: 1}, false, 0},
	}
	for _, tc := range cases {
		want := 0
		if tc.want && len(engine.WinogradISAs()) > 1 {
			want = tc.m
		}
		require.Equal(t, want, engine.WinogradTile(64, tc.c, tc.h, tc.h, tc.k, tc.r, tc.r, tc.p), "%+v", tc)
	}
}

// TestWinogradAgainstFloat64 runs 3x3, stride-1, padding-1 convolutions
// (odd and even planes, several image chunks, with and without bias,
// gradients requested or not) through both Winograd algorithms and through
// im2col + GEMM, outputs poisoned first, and checks each against the
// float64 direct sum: |got - ref| <= 1e-6 + eps·Σ|terms|, eps 2e-6 for
// F(2x2, 3x3) and im2col, 2e-5 for F(4x4, 3x3). It logs each path's worst
// error relative to Σ|terms|.
func TestWinogradAgainstFloat64(t *testing.T) {
	same := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	cases := []struct {
		n, c, h, w, k int
		bias, dx, dw  bool
	}{
		{2, 16, 8, 8, 16, true, true, true},
		{3, 16, 7, 7, 24, false, true, true},
		{2, 24, 5, 9, 16, true, true, false},
		{2, 16, 4, 4, 32, false, false, true},
		{1, 17, 1, 3, 19, true, true, true},
		{45, 16, 28, 28, 16, false, true, true}, // several chunks
		{0, 16, 8, 8, 16, true, true, true},     // an empty batch
		{5, 64, 14, 14, 32, true, true, true},
		{16, 16, 1, 1, 16, false, true, true},
		{16, 16, 2, 2, 24, false, true, true},
		{16, 96, 7, 7, 128, false, true, true},
		{16, 32, 4, 4, 64, false, true, true},
		{16, 16, 3, 3, 32, false, true, true},
		{8, 24, 3, 3, 16, true, true, true},
		{2, 256, 3, 2, 257, false, true, true}, // filters gathered rotated in place
		{67, 448, 5, 5, 8, true, true, true},   // forward and input gradient as per-worker tasks
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%dx%dx%dx%d_k%d", tc.n, tc.c, tc.h, tc.w, tc.k)
		t.Run(name, func(t *testing.T) {
			be := engine.NewCPU(0)
			a := newAlloc(t, be, seedOf(name))
			x, w, dy := a.rand(tc.n, tc.c, tc.h, tc.w), a.rand(tc.k, tc.c, 3, 3), a.rand(tc.n, tc.k, tc.h, tc.w)
			var b *engine.Tensor
			var bs []float32
			if tc.bias {
				b = a.rand(tc.k)
				bs = engine.F32(b)
			}
			y, ay, dx, adx, dw, adw := conv3x3Ref64(engine.F32(x), engine.F32(w), bs, engine.F32(dy), tc.n, tc.c, tc.h, tc.w, tc.k)
			for _, path := range []struct {
				name string
				m    int
				eps  float64
			}{{"F(2x2,3x3)", 2, 2e-6}, {"F(4x4,3x3)", 4, 2e-5}, {"im2col", 0, 2e-6}} {
				restore := engine.SetWinograd(path.m)
				gy, gdx, gdw := a.nans(tc.n, tc.k, tc.h, tc.w), a.nans(x.Shape()...), a.nans(w.Shape()...)
				be.Conv2d(gy, x, w, b, same)
				var dxT, dwT *engine.Tensor
				if tc.dx {
					dxT = gdx
				}
				if tc.dw {
					dwT = gdw
				}
				be.Conv2dBackward(dxT, dwT, nil, dy, x, w, same)
				restore()
				require.NoError(t, be.Err())
				worst := 0.0
				check := func(what string, got []float32, ref, scale []float64) {
					for i, r := range ref {
						e := math.Abs(float64(got[i]) - r)
						require.LessOrEqual(t, e, 1e-6+path.eps*scale[i], "%s %s[%d]: got %v, want %v", path.name, what, i, got[i], r)
						if scale[i] > 0 {
							worst = max(worst, e/scale[i])
						}
					}
				}
				check("y", engine.F32(gy), y, ay)
				if tc.dx {
					check("dx", engine.F32(gdx), dx, adx)
				}
				if tc.dw {
					check("dw", engine.F32(gdw), dw, adw)
				}
				t.Logf("%s: worst |got-ref|/Σ|terms| = %.2e", path.name, worst)
			}
		})
	}
}

// TestWinogradTransformsISA runs both Winograd algorithms (planes of
// several sizes, odd and even, tiles crossing rows and images within a
// block of 16, filter counts with and without a partial block) with each
// assembly version of the transforms this CPU runs (AVX-512, AVX2) and
// with the Go ones: forward, input and weight gradients must be
// bit-identical.
func TestWinogradTransformsISA(t *testing.T) {
	isas := engine.WinogradISAs()[1:]
	if len(isas) == 0 {
		t.Skip("neither AVX-512 nor AVX2 on this CPU")
	}
	same := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	for _, sh := range [][5]int{{2, 16, 3, 33, 17}, {1, 16, 5, 40, 16}, {2, 17, 2, 127, 16}, {3, 16, 7, 7, 20}, {2, 16, 4, 1, 16}, {1, 17, 3, 5, 19}, {1, 256, 2, 3, 257}} {
		n, c, h, w, k := sh[0], sh[1], sh[2], sh[3], sh[4]
		name := fmt.Sprintf("%dx%dx%dx%d_k%d", n, c, h, w, k)
		for _, m := range []int{2, 4} {
			t.Run(fmt.Sprintf("F%d/%s", m, name), func(t *testing.T) {
				defer engine.SetWinograd(m)()
				be := engine.NewCPU(0)
				a := newAlloc(t, be, seedOf(name))
				x, wt, b, dy := a.rand(n, c, h, w), a.rand(k, c, 3, 3), a.rand(k), a.rand(n, k, h, w)
				run := func(isa string) [][]float32 {
					defer engine.SetWinogradISA(isa)()
					y, dx, dw := a.nans(n, k, h, w), a.nans(x.Shape()...), a.nans(wt.Shape()...)
					be.Conv2d(y, x, wt, b, same)
					be.Conv2dBackward(dx, dw, nil, dy, x, wt, same)
					require.NoError(t, be.Err())
					return [][]float32{engine.F32(y), engine.F32(dx), engine.F32(dw)}
				}
				ref := run("go")
				for _, isa := range isas {
					fast := run(isa)
					for i, what := range []string{"y", "dx", "dw"} {
						for j := range ref[i] {
							require.Equal(t, math.Float32bits(ref[i][j]), math.Float32bits(fast[i][j]), "%s[%d]: go %v, %s %v", what, j, ref[i][j], isa, fast[i][j])
						}
					}
				}
			})
		}
	}
}

// TestWinogradGenerated runs engine/winograd_gen.py (when python3 is
// installed) and checks that the committed assembly, matrices and
// declarations are its output.
func TestWinogradGenerated(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	cmd := exec.Command(py, "winograd_gen.py", dir)
	cmd.Env = append(os.Environ(), "GOFMT="+filepath.Join(runtime.GOROOT(), "bin", "gofmt"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, f := range []string{"winograd_amd64.s", "winograd_mats.go", "winograd_asm_amd64.go", "winograd_asm_other.go"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		got, err := os.ReadFile(f)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "engine/%s is not winograd_gen.py's output: run make winograd-gen", f)
	}
}
