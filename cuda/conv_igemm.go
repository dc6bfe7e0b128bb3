//go:build cuda || cgo

package cuda

import (
	"math/bits"

	"github.com/gotrain/gotrain/engine"
)

// The implicit-GEMM convolutions of kernels/conv_igemm.cu: TF32 or BF16
// tensor cores, no column buffers. Conv2d and Conv2dBackward take this
// path when the precision is tf32 or bf16 and the variant table (or
// SetKernelVariant) does not say im2col; fp32 convolutions run im2col and
// the float32 GEMM. An input x stored as BFloat16 (allowed at bf16 only)
// always runs the bf16x kernels (forward and weight gradient), whatever
// the table says: im2col and the GEMMs read float32 only. Likewise a
// forward output y stored as BFloat16 (bf16 only) always runs the bf16y
// (x float32) or bf16xy (x BFloat16) forward, which rounds y as it stores
// it; Conv2dBackward never reads y.

// useIGemm reports whether op runs as an implicit GEMM at this precision
// for a launch of largeTiles 128×64 tiles, and with which tile.
func (b *Backend) useIGemm(op string, largeTiles int) (ok, large bool) {
	if b.prec == engine.FP32 {
		return false, false
	}
	v := b.variant(op, largeTiles)
	return v != "im2col", v == "l"
}

// igemmFor is useIGemm, except that a BFloat16 input or output (bf16)
// always takes the implicit GEMM: the table's tile, or the small one where
// the table says im2col.
func (b *Backend) igemmFor(op string, largeTiles int, bf16 bool) (ok, large bool) {
	if bf16 {
		return true, b.variant(op, largeTiles) == "l"
	}
	return b.useIGemm(op, largeTiles)
}

func (b *Backend) precName() string {
	if b.prec == engine.BF16 {
		return "bf16"
	}
	return "tf32"
}

func tileName(large bool) string {
	if large {
		return "l"
	}
	return "s"
}

// shapeArgs are the kernels' CONV_SHAPE_PARAMS: the sizes, then the
// FastDiv constants of R·S, S, the strides, Q and P·Q.
func (g *convGeom) shapeArgs() []arg {
	p := g.Params
	args := []arg{i32(g.N), i32(g.C), i32(g.H), i32(g.W), i32(g.K), i32(g.R), i32(g.S), i32(g.P), i32(g.Q),
		i32(p.StrideH), i32(p.StrideW), i32(p.PadH), i32(p.PadW)}
	for _, d := range []int{g.R * g.S, g.S, p.StrideH, p.StrideW, g.Q, g.PQ} {
		mul, shr := fastDiv(d)
		args = append(args, u32(mul), u32(shr))
	}
	return args
}

// fastDiv returns the multiplier and shift with which kernels/igemm.cuh's
// FastDiv divides n in [0, 2^31) by d >= 1: n/d = umulhi(n, mul) >> shr
// (d = 1: n itself). With l = ceil(log2 d), mul = ceil(2^(31+l) / d) and
// shr = l - 1 (CUTLASS's FastDivmod).
func fastDiv(d int) (mul, shr uint32) {
	if d <= 1 {
		return 0, 0
	}
	l := bits.Len32(uint32(d - 1)) // ceil(log2 d)
	p := 31 + l
	return uint32((uint64(1)<<p + uint64(d) - 1) / uint64(d)), uint32(p - 32)
}

// aligned16 reports whether a device address allows 16-byte copies.
func aligned16(p devptr) bool { return p%16 == 0 }

// inputPrec is the precision part of the name of a kernel that reads the
// convolution input x: precName, or bf16x when x is BFloat16.
func (b *Backend) inputPrec(x *engine.Tensor) string {
	if x.DType() == engine.BFloat16 {
		return "bf16x"
	}
	return b.precName()
}

// fwdPrec is the precision part of the name of the forward kernel: inputPrec,
// or bf16y (x float32) or bf16xy (x BFloat16) when y is BFloat16.
func (b *Backend) fwdPrec(y, x *engine.Tensor) string {
	if y.DType() != engine.BFloat16 {
		return b.inputPrec(x)
	}
	if x.DType() == engine.BFloat16 {
		return "bf16xy"
	}
	return "bf16y"
}

// igemmFwd launches y = conv(x, w) + bias: GEMM M = K, N = N·P·Q, Kr = C·R·S.
func (b *Backend) igemmFwd(op string, y, x, w, bias *engine.Tensor, g *convGeom, large bool) {
	bm, bn, threads := tcTile(large)
	vecA := b2i(g.CRS%4 == 0 && aligned16(addr(w)))
	args := append([]arg{ptr(y), ptr(x), ptr(w), ptr(bias)}, g.shapeArgs()...)
	args = append(args, i32(vecA))
	b.launch(op, "conv_igemm_fwd_"+b.fwdPrec(y, x)+"_"+tileName(large), dim3{blocks(g.N*g.PQ, bn), blocks(g.K, bm), 1},
		d1(threads), 0, args...)
}

// igemmDgrad launches dx = conv_transpose(dy, w): GEMM M = C, N = N·H·W,
// Kr = K·R·S.
func (b *Backend) igemmDgrad(op string, dx, dy, w *engine.Tensor, g *convGeom, large bool) {
	bm, bn, threads := tcTile(large)
	args := append([]arg{ptr(dx), ptr(dy), ptr(w)}, g.shapeArgs()...)
	b.launch(op, "conv_igemm_dgrad_"+b.precName()+"_"+tileName(large), dim3{blocks(g.N*g.H*g.W, bn), blocks(g.C, bm), 1},
		d1(threads), 0, args...)
}

// wgradChunk splits the weight gradient's reduction over N·P·Q into equal
// chunks (multiples of 16, the k-tile; the last may be shorter) so that
// tiles·splits fills the device about twice, each chunk at least minChunk
// long. The split count depends only on the shape and the SM count: the
// sums are deterministic on a given device.
func wgradChunk(npq, tiles, sms int) (chunk, splits int) {
	const minChunk = 256
	splits = 2 * sms / max(tiles, 1)
	splits = min(max(splits, 1), max(npq/minChunk, 1))
	chunk = (blocks(npq, splits) + 15) / 16 * 16
	return chunk, blocks(npq, chunk)
}

// igemmWgrad launches dw = Σ_{n,pq} dy · x: GEMM M = K, N = C·R·S,
// Kr = N·P·Q, split over grid z into partial sums added in z order by
// gemm_sum_splits.
func (b *Backend) igemmWgrad(op string, dw, dy, x *engine.Tensor, g *convGeom, large bool) {
	bm, bn, threads := tcTile(large)
	tiles := blocks(g.K, bm) * blocks(g.CRS, bn)
	chunk, splits := wgradChunk(g.N*g.PQ, tiles, b.sms)
	if splits > 65535 {
		b.fail(op, "weight gradient split %d ways (at most 65535)", splits)
		return
	}
	out := addr(dw)
	if splits > 1 {
		p, ok := b.scratchBuf(op, scratchPartials, splits*g.K*g.CRS)
		if !ok {
			return
		}
		out = p
	}
	vecA := b2i(g.PQ%4 == 0 && aligned16(addr(dy)))
	args := append([]arg{dp(out), ptr(dy), ptr(x)}, g.shapeArgs()...)
	args = append(args, i32(chunk), i32(g.K*g.CRS), i32(vecA))
	b.launch(op, "conv_igemm_wgrad_"+b.inputPrec(x)+"_"+tileName(large), dim3{blocks(g.CRS, bn), blocks(g.K, bm), splits},
		d1(threads), 0, args...)
	if splits > 1 {
		b.launch(op, "gemm_sum_splits", b.ewGrid(g.K*g.CRS), d1(256), 0,
			ptr(dw), i32(g.CRS), dp(out), i32(g.K), i32(g.CRS), i32(splits))
	}
}
