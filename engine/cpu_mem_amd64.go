//go:build amd64 && !purego

package engine

import (
	"golang.org/x/sys/cpu"

	"github.com/gotrain/gotrain/engine/gemm"
)

// hasAVX2 reports whether the AVX2+FMA loops of cpu_mem_amd64.s can run.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sumShiftedAVX2(x *float32, n int, k float64) (s1, s2 float64)

//go:noescape
func affineAVX2(y, x *float32, n int, a, off float32, relu int)

//go:noescape
func dotSumsAVX2(dy, x, ym *float32, n int, mean float64) (s1, s2 float64)

//go:noescape
func lin3AVX2(dx, dy, x, ym *float32, n int, a, b, c float64)

//go:noescape
func addReluAVX2(y, a, b *float32, n int, relu int)

//go:noescape
func scaleAddAVX2(y, x, r *float32, n int, f float32, add int)

//go:noescape
func sgdAVX2(p, grad, m *float32, n int, lr, wd, mom, damp1 float32, flags int)

//go:noescape
func adadeltaAVX2(p, grad, sq, ad *float32, n int, lr, rho, eps, wd float32, decay int)

//go:noescape
func dropoutAVX2(y, x *float32, n int, q, qhi, layer, step, k0, k1 uint32, thresh, scale float32)

//go:noescape
func maxPoolRowAVX2(y *float32, idx *int32, x *float32, n, kh, kw, w, s, base int)

//go:noescape
func geluAVX2(y, x, dy *float32, n int)

//go:noescape
func expRowAVX2(y, x *float32, n int, shift, mul float64) (sum float64)

//go:noescape
func maxRowAVX2(x *float32, n int) (mx float32, nan int)

//go:noescape
func lnApplyAVX2(y, x, gamma, b *float32, n int, mean, inv float64)

//go:noescape
func lnGradSumsAVX2(dy, x, gamma *float32, n int, mean, inv float64) (sg, sgx float64)

//go:noescape
func lnGradAVX2(dx, dy, x, gamma *float32, n int, mean, inv, sg, sgx float64)

//go:noescape
func lnColSumsAVX2(sg, sb *float64, dy, x *float32, n int, mean, inv float64)

//go:noescape
func maxPoolPlanesAVX2(out *float32, oidx *int32, x *float32, hw, nout int, offs, starts *int32)

//go:noescape
func bnStatsAVX2(x *float32, sh, p1, p2 *float64, n int)

//go:noescape
func bnApplyAVX2(y, x, a, o *float32, n int, relu int)

//go:noescape
func bnGradSumsAVX2(dy, x, ym *float32, mu, p1, p2 *float64, n int)

//go:noescape
func bnLin3AVX2(dx, dy, x, ym *float32, abc *float64, n int)

// transposeAVX512 reports whether transpose16B can run: AVX-512, unless
// GOTRAIN_GEMM_ISA forces the engine down to AVX2 or Go.
var transposeAVX512 = cpu.X86.HasAVX512F && gemm.ISA() == "avx512"

//go:noescape
func transpose16B(dst *float32, ds int, src *float32, ss int, rows, cols int)
