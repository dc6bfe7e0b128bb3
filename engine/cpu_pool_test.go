package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPoolLoops checks MaxPool2d (the AVX2 row loop where the CPU has
// it, scalar windows elsewhere) against a plain scan of every window in
// PyTorch's order, value and index bit for bit: planes from 1×1 to 37×37,
// windows 1-5 (square and one column narrower), strides 1-3, padding up to
// half the window, both ceil modes,
// with ties (values on a coarse grid), NaNs and −Inf planted, 11 planes
// (narrow outputs run 8 planes at a time, then one by one).
func TestMaxPoolLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	be := NewCPU(2)
	checked := 0
	for _, hw := range [][2]int{{1, 1}, {3, 7}, {8, 8}, {12, 12}, {13, 29}, {24, 24}, {28, 28}, {37, 33}} {
		for k := 1; k <= 5; k++ {
			for s := 1; s <= 3; s++ {
				for pad := 0; pad <= k/2; pad++ {
					for _, kw := range []int{k, max(1, k-1)} {
						ceil := kw%2 == 0
						h, w := hw[0], hw[1]
						p := Pool2dParams{KH: k, KW: kw, StrideH: s, StrideW: s, PadH: pad, PadW: min(pad, kw/2), CeilMode: ceil}
						oh, ow := PoolOut(h, p.KH, s, p.PadH, ceil), PoolOut(w, p.KW, s, p.PadW, ceil)
						if oh < 1 || ow < 1 {
							continue
						}
						const planes = 11 // 8 at a time for narrow outputs, and 3 more
						xs := make([]float32, planes*h*w)
						for i := range xs {
							xs[i] = float32(rng.IntN(9)-4) / 4 // ties
							switch rng.IntN(40) {
							case 0:
								xs[i] = float32(math.NaN())
							case 1:
								xs[i] = float32(math.Inf(-1))
							}
						}
						if h*w >= 16 { // a plane of −Inf: every window's first element
							for i := 0; i < h*w; i++ {
								xs[i] = float32(math.Inf(-1))
							}
						}
						x, y, idx := mustTensor(t, be, xs, planes, 1, h, w), mustTensor(t, be, nil, planes, 1, oh, ow), mustInt32(t, be, planes, 1, oh, ow)
						F32(y)[0] = 42
						be.MaxPool2d(y, idx, x, p)
						if err := be.Err(); err != nil {
							t.Fatal(err)
						}
						ys, is := F32(y), I32(idx)
						for pl := 0; pl < planes; pl++ {
							in := xs[pl*h*w : (pl+1)*h*w]
							for i := 0; i < oh; i++ {
								for j := 0; j < ow; j++ {
									h0, w0 := i*s-p.PadH, j*s-p.PadW
									h1, w1 := min(h0+p.KH, h), min(w0+p.KW, w)
									h0, w0 = max(h0, 0), max(w0, 0)
									best, bi := float32(math.Inf(-1)), h0*w+w0
								scan:
									for a := h0; a < h1; a++ {
										for b := w0; b < w1; b++ {
											if v := in[a*w+b]; v > best || v != v {
												best, bi = v, a*w+b
												if v != v {
													break scan
												}
											}
										}
									}
									o := (pl*oh+i)*ow + j
									if math.Float32bits(ys[o]) != math.Float32bits(best) || is[o] != int32(bi) {
										t.Fatalf("%s: plane %d out (%d,%d): got %g at %d, want %g at %d",
											fmt.Sprintf("%dx%d %+v", h, w, p), pl, i, j, ys[o], is[o], best, bi)
									}
								}
							}
						}
						checked++
					}
				}
			}
		}
	}
	t.Logf("ok: %d max-pool geometries", checked)
}

func mustTensor(t *testing.T, be *CPU, vals []float32, shape ...int) *Tensor {
	t.Helper()
	st, err := be.Alloc(Float32, Numel(shape))
	if err != nil {
		t.Fatal(err)
	}
	x := NewTensor("x", st, 0, shape...)
	copy(F32(x), vals)
	return x
}

func mustInt32(t *testing.T, be *CPU, shape ...int) *Tensor {
	t.Helper()
	st, err := be.Alloc(Int32, Numel(shape))
	if err != nil {
		t.Fatal(err)
	}
	return NewTensor("idx", st, 0, shape...)
}
