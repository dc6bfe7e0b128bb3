package engine

import "github.com/gotrain/gotrain/engine/gemm"

// Convolutions of 1x1 planes whose padding centres the kernel (a 3x3,
// padding 1 convolution of a 1x1 map: GoogLeNet's inception 4 and 5, the
// ResNet-50s' last stage): every kernel tap but the centre reads padding,
// so the convolution is the 1x1 convolution with the centre weights, one
// GEMM over the batch, where im2col would multiply 8 of 9 columns by zero.

// centerOff turns the path off (tests compare it with im2col).
var centerOff bool

// centerOnly reports whether only the centre tap of the kernel reads the
// image: a 1x1 input and output, odd kernel sides, padding (R-1)/2, (S-1)/2.
func (g *convGeom) centerOnly() bool {
	p := g.Params
	return !centerOff && g.H == 1 && g.W == 1 && g.P == 1 && g.Q == 1 && g.R%2 == 1 && g.S%2 == 1 &&
		p.PadH == g.R/2 && p.PadW == g.S/2 && g.R*g.S > 1
}

// centerWeights gathers w[k][c][R/2][S/2] into wc (K, C).
func (g *convGeom) centerWeights(wc, ws []float32) {
	rs, mid := g.R*g.S, (g.R/2)*g.S+g.S/2
	for i := range wc {
		wc[i] = ws[i*rs+mid]
	}
}

// conv2dCenter: y (N, K) = x (N, C) · wcᵀ + b.
func (c *CPU) conv2dCenter(ys, xs, ws, bs []float32, g *convGeom) {
	wc := c.scratchF32(g.K * g.C)
	g.centerWeights(wc, ws)
	gemm.Sgemm(false, true, g.N, g.K, g.C, 1, xs, g.C, wc, g.C, 0, ys, g.K)
	if bs != nil {
		for n := 0; n < g.N; n++ {
			row := ys[n*g.K : (n+1)*g.K]
			for k, b := range bs {
				row[k] += b
			}
		}
	}
}

// conv2dBackwardCenter: dx (N, C) = dy (N, K) · wc; the centre taps of dw
// = dyᵀ · x, every other tap 0.
func (c *CPU) conv2dBackwardCenter(dxs, dws, dys, xs, ws []float32, g *convGeom) {
	kc := g.K * g.C
	buf := c.scratchF32(2 * kc)
	wc, dwc := buf[:kc], buf[kc:]
	if dxs != nil {
		g.centerWeights(wc, ws)
		gemm.Sgemm(false, false, g.N, g.C, g.K, 1, dys, g.K, wc, g.C, 0, dxs, g.C)
	}
	if dws != nil {
		gemm.Sgemm(true, false, g.K, g.C, g.N, 1, dys, g.K, xs, g.C, 0, dwc, g.C)
		rs, mid := g.R*g.S, (g.R/2)*g.S+g.S/2
		clear(dws)
		for i, v := range dwc {
			dws[i*rs+mid] = v
		}
	}
}
