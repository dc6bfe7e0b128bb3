//go:build !amd64 || purego

package engine

// hasAVX2 is false: the portable loops of cpu_mem.go run.
const hasAVX2 = false

func sumShiftedAVX2(x *float32, n int, k float64) (s1, s2 float64) { panic("engine: no AVX2 loops") }
func affineAVX2(y, x *float32, n int, a, off float32, relu int)    { panic("engine: no AVX2 loops") }
func dotSumsAVX2(dy, x, ym *float32, n int, mean float64) (s1, s2 float64) {
	panic("engine: no AVX2 loops")
}
func lin3AVX2(dx, dy, x, ym *float32, n int, a, b, c float64)  { panic("engine: no AVX2 loops") }
func addReluAVX2(y, a, b *float32, n int, relu int)            { panic("engine: no AVX2 loops") }
func scaleAddAVX2(y, x, r *float32, n int, f float32, add int) { panic("engine: no AVX2 loops") }
func sgdAVX2(p, grad, m *float32, n int, lr, wd, mom, damp1 float32, flags int) {
	panic("engine: no AVX2 loops")
}
func adadeltaAVX2(p, grad, sq, ad *float32, n int, lr, rho, eps, wd float32, decay int) {
	panic("engine: no AVX2 loops")
}
func dropoutAVX2(y, x *float32, n int, q, qhi, layer, step, k0, k1 uint32, thresh, scale float32) {
	panic("engine: no AVX2 loops")
}
func maxPoolRowAVX2(y *float32, idx *int32, x *float32, n, kh, kw, w, s, base int) {
	panic("engine: no AVX2 loops")
}
func geluAVX2(y, x, dy *float32, n int) { panic("engine: no AVX2 loops") }
func expRowAVX2(y, x *float32, n int, shift, mul float64) (sum float64) {
	panic("engine: no AVX2 loops")
}
func maxRowAVX2(x *float32, n int) (mx float32, nan int)            { panic("engine: no AVX2 loops") }
func lnApplyAVX2(y, x, gamma, b *float32, n int, mean, inv float64) { panic("engine: no AVX2 loops") }
func lnGradSumsAVX2(dy, x, gamma *float32, n int, mean, inv float64) (sg, sgx float64) {
	panic("engine: no AVX2 loops")
}
func lnGradAVX2(dx, dy, x, gamma *float32, n int, mean, inv, sg, sgx float64) {
	panic("engine: no AVX2 loops")
}
func lnColSumsAVX2(sg, sb *float64, dy, x *float32, n int, mean, inv float64) {
	panic("engine: no AVX2 loops")
}
func maxPoolPlanesAVX2(out *float32, oidx *int32, x *float32, hw, nout int, offs, starts *int32) {
	panic("engine: no AVX2 loops")
}

func bnStatsAVX2(x *float32, sh, p1, p2 *float64, n int)            { panic("engine: no AVX2 loops") }
func bnApplyAVX2(y, x, a, o *float32, n int, relu int)              { panic("engine: no AVX2 loops") }
func bnGradSumsAVX2(dy, x, ym *float32, mu, p1, p2 *float64, n int) { panic("engine: no AVX2 loops") }
func bnLin3AVX2(dx, dy, x, ym *float32, abc *float64, n int)        { panic("engine: no AVX2 loops") }

// transposeAVX512 is false: copyBlocks moves every block.
const transposeAVX512 = false

func transpose16B(dst *float32, ds int, src *float32, ss int, rows, cols int) {
	panic("engine: no AVX-512 loops")
}
