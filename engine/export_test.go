package engine

// SetBatchedPQ sets the output size below which convolutions run as one
// batched GEMM, and returns a function restoring the old value (tests use
// it to run both convolution paths on the same inputs).
func SetBatchedPQ(v int) (restore func()) {
	old := batchedPQ
	batchedPQ = v
	return func() { batchedPQ = old }
}

// SetWinograd forces the Winograd F(2x2, 3x3) convolution path on (for
// every 3x3, stride-1, padding-1 shape) or off, and returns a function
// restoring the old setting.
func SetWinograd(on bool) (restore func()) {
	old := winoMode
	winoMode = winoOff
	if on {
		winoMode = winoForce
	}
	return func() { winoMode = old }
}

// UsesWinograd reports whether a convolution of this geometry takes the
// Winograd path under the current setting.
func UsesWinograd(n, c, h, w, k, r, s int, p Conv2dParams) bool {
	g := convGeom{ConvGeom{N: n, C: c, H: h, W: w, K: k, R: r, S: s, Params: p}}
	return g.winograd()
}

// SetWinogradAVX512 switches the Winograd transforms between AVX-512 and
// Go (on only where the CPU has AVX-512) and returns a restore function.
func SetWinogradAVX512(on bool) (restore func()) {
	old := winoAVX512
	winoAVX512 = on && old
	return func() { winoAVX512 = old }
}

// HasWinogradAVX512 reports whether the AVX-512 transforms can run here.
func HasWinogradAVX512() bool { return winoAVX512 }
