package engine

// SetBatchedPQ sets the output size below which convolutions run as one
// batched GEMM, and returns a function restoring the old value (tests use
// it to run both convolution paths on the same inputs).
func SetBatchedPQ(v int) (restore func()) {
	old, oldDirect := batchedPQ, batchedDirectPQ
	batchedPQ, batchedDirectPQ = v, v
	return func() { batchedPQ, batchedDirectPQ = old, oldDirect }
}

// SetWinograd forces Winograd F(m×m, 3×3) (m = 2 or 4) on for every 3x3,
// stride-1, padding-1 convolution, or (m = 0) the Winograd path off, and
// returns a function restoring the old setting.
func SetWinograd(m int) (restore func()) {
	oldMode, oldAlg := winoMode, winoForced
	switch m {
	case 0:
		winoMode, winoForced = winoOff, nil
	case 2:
		winoMode, winoForced = winoForce, wino2
	case 4:
		winoMode, winoForced = winoForce, wino4
	default:
		panic("SetWinograd: m must be 0, 2 or 4")
	}
	return func() { winoMode, winoForced = oldMode, oldAlg }
}

// WinogradTile is the output tile size m of the Winograd algorithm a
// convolution of this geometry runs as under the current setting (0: not
// Winograd).
func WinogradTile(n, c, h, w, k, r, s int, p Conv2dParams) int {
	g := testGeom(n, c, h, w, k, r, s, p)
	if al := g.winograd(); al != nil && !(g.dense() && winoMode != winoForce) {
		return al.m
	}
	return 0
}

func testGeom(n, c, h, w, k, r, s int, p Conv2dParams) convGeom {
	g := convGeom{ConvGeom: ConvGeom{N: n, C: c, H: h, W: w, K: k, R: r, S: s, Params: p}}
	g.P, g.Q = ConvOut(h, r, p.StrideH, p.PadH), ConvOut(w, s, p.StrideW, p.PadW)
	g.CRS, g.PQ = c*r*s, g.P*g.Q
	g.Direct = r == 1 && s == 1 && p == Conv2dParams{StrideH: 1, StrideW: 1}
	return g
}

// ConvPath names the path a convolution of this geometry takes on a CPU
// engine with Winograd on: "dense", "winograd", "batched" or "per-image",
// after "subsampled " for strided 1x1 convolutions.
func ConvPath(n, c, h, w, k, r, s int, p Conv2dParams) string {
	g := testGeom(n, c, h, w, k, r, s, p)
	prefix := ""
	if g.subsampled() {
		g, prefix = g.subGeom(), "subsampled "
	}
	switch {
	case g.dense() && winoMode != winoForce:
		return prefix + "dense"
	case g.winograd() != nil:
		return prefix + "winograd"
	case g.batched():
		return prefix + "batched"
	}
	return prefix + "per-image"
}

// SetWinogradISA picks the Winograd transforms: "avx512", "avx2" or "go"
// (one the CPU lacks panics), and returns a restore function.
func SetWinogradISA(isa string) (restore func()) {
	o512, o2 := winoAVX512, winoAVX2
	switch {
	case isa == "avx512" && o512:
		winoAVX2 = false
	case isa == "avx2" && o2:
		winoAVX512 = false
	case isa == "go":
		winoAVX512, winoAVX2 = false, false
	default:
		panic("SetWinogradISA: " + isa + " not available")
	}
	return func() { winoAVX512, winoAVX2 = o512, o2 }
}

// WinogradISAs are the Winograd transforms this CPU can run, Go included.
func WinogradISAs() []string {
	isas := []string{"go"}
	if winoAVX2 {
		isas = append(isas, "avx2")
	}
	if winoAVX512 {
		isas = append(isas, "avx512")
	}
	return isas
}

// HasWinogradAVX512 reports whether the AVX-512 transforms can run here.
func HasWinogradAVX512() bool { return winoAVX512 }

// SetDensePath turns the dense path of small planes on or off and returns
// a restore function.
func SetDensePath(on bool) (restore func()) {
	old := denseOff
	denseOff = !on
	return func() { denseOff = old }
}

// DenseConv reports whether a convolution of this geometry runs as one
// dense GEMM.
func DenseConv(n, c, h, w, k, r, s int, p Conv2dParams) bool {
	g := testGeom(n, c, h, w, k, r, s, p)
	return g.dense()
}

// SetBNSmallPlane sets the plane size below which batch norms take the
// channel-block path and returns a restore function.
func SetBNSmallPlane(v int) (restore func()) {
	old := bnSmallPlane
	bnSmallPlane = v
	return func() { bnSmallPlane = old }
}
