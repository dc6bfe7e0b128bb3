package engine

import (
	"os"
	"strconv"

	"github.com/gotrain/gotrain/engine/gemm"
)

// Winograd F(2x2, 3x3) for the 3x3, stride-1, padding-1 convolutions that
// dominate the ResNets and the VGG (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015).
//
// Each output plane is cut into 2x2 tiles; tile t of image n reads the 4x4
// input patch around it (zero outside the image). With
//
//	Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 -1 -1]
//
// a tile's output is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, so the convolution becomes
// 16 independent GEMMs, one per position p of the 4x4 transformed tile:
//
//	U[p] (K, C) = (G w Gᵀ)[p]      the transformed filters
//	V[p] (C, T) = (Bᵀ d B)[p]      the transformed input tiles, T tiles
//	M[p] (K, T) = U[p] · V[p]
//	y            = Aᵀ M A per tile
//
// 16 multiplies per 4 outputs instead of 36: 2.25x fewer than im2col + GEMM
// (less where an odd plane size leaves half-empty edge tiles), and a 4x
// expansion of the input instead of im2col's 9x. The transforms use only
// additions and halvings, so the result stays within a few float32
// roundings of the direct sum (TestWinogradAgainstFloat64 measures it).
//
// The backward pass reuses the same pieces: the input gradient is the
// forward convolution of dy with the filters flipped and transposed (a
// 3x3, stride-1, padding-1 convolution is its own transpose), and the
// weight gradient is Gᵀ[Σ_t (A dy_t Aᵀ) ⊙ (Bᵀ d_t B)]G, again 16 GEMMs,
// (K, T)·(T, C), whose sum over the tiles runs in a fixed order.
//
// Images go through in chunks whose size depends on the shape only (about
// winoChunkFloats floats of transformed tiles), so the weight gradient's
// chunk sums, added in chunk order, do not depend on the core count.

const (
	winoTile = 16 // positions of a transformed 4x4 tile
	// winoMaxW bounds the plane width (the padded-row buffers live on the
	// stack); wider planes use im2col.
	winoMaxW = 128
	// winoMinChannels, winoMinPlane: thinner convolutions and smaller
	// planes stay on im2col + GEMM. With 64 channels (the SE-ResNet's 28x28
	// stage) the 16 GEMMs are too skinny and the transforms cost more than
	// they save (3x3 forward 34 against 28 CPU-ms, backward 66 against 55);
	// from 128 channels Winograd wins (1.2x at 14x14, 1.8x at 7x7, 2.3x at
	// 4x4). Planes under 4x4 gain nothing (a 1x1 plane needs one product
	// per filter, Winograd 16) and lose accuracy to cancellation.
	winoMinChannels = 128
	winoMinPlane    = 4
)

// winoChunkFloats bounds each transformed buffer (V or M) of a chunk.
var winoChunkFloats = envInt("GOTRAIN_WINO_CHUNK", 1<<20)

func envInt(k string, def int) int {
	v, err := strconv.Atoi(os.Getenv(k))
	if err != nil {
		return def
	}
	return v
}

// winoMode: winoAuto picks by shape (winograd); GOTRAIN_WINOGRAD=0 turns
// the path off, for A/B measurements on one machine; tests force it on for
// every 3x3, stride-1, padding-1 shape to test small ones.
var winoMode = winoModeFromEnv(os.Getenv("GOTRAIN_WINOGRAD"))

const (
	winoAuto = iota
	winoOff
	winoForce
)

func winoModeFromEnv(v string) int {
	if v == "0" {
		return winoOff
	}
	return winoAuto
}

// winograd reports whether the convolution runs as Winograd F(2x2, 3x3).
func (g *convGeom) winograd() bool {
	p := g.Params
	fits := g.R == 3 && g.S == 3 && p.StrideH == 1 && p.StrideW == 1 &&
		p.PadH == 1 && p.PadW == 1 && g.W <= winoMaxW
	switch winoMode {
	case winoOff:
		return false
	case winoForce:
		return fits
	}
	return fits && g.H >= winoMinPlane && g.W >= winoMinPlane &&
		g.C >= winoMinChannels && g.K >= winoMinChannels
}

// winoShape is the tiling of one Winograd convolution: n images of c input
// and k output channels on h×w planes (the output is h×w too).
type winoShape struct {
	n, c, k, h, w int
	th, tw, tpi   int // tile rows, tile columns, tiles per image
	nb            int // images per chunk
}

func newWinoShape(n, c, k, h, w int) winoShape {
	s := winoShape{n: n, c: c, k: k, h: h, w: w, th: (h + 1) / 2, tw: (w + 1) / 2}
	s.tpi = s.th * s.tw
	s.nb = max(1, min(n, winoChunkFloats/(winoTile*max(c, k)*s.tpi)))
	return s
}

// sizes are the scratch sizes: U (16·k·c), then V (16·c·T) and M (16·k·T)
// for a chunk of T tiles, each sized for max(c, k) channels so that the
// input gradient (k input, c output channels) fits the same buffers.
func (s *winoShape) sizes() (u, v, m int) {
	t := s.nb * s.tpi
	return winoTile * s.k * s.c, winoTile * max(s.c, s.k) * t, winoTile * max(s.c, s.k) * t
}

// conv2dWinograd is the forward convolution (bias bs may be nil).
func (c *CPU) conv2dWinograd(ys, xs, ws, bs []float32, g *convGeom) {
	s := newWinoShape(g.N, g.C, g.K, g.H, g.W)
	nu, nv, nm := s.sizes()
	buf := c.scratchF32(nu + nv + nm)
	u, v, m := buf[:nu], buf[nu:nu+nv], buf[nu+nv:]
	c.winoFilters(u, ws, s.k, s.c)
	c.winoForward(ys, xs, bs, u, v, m, &s, false)
}

// winoForward runs the chunks of a forward convolution with the
// transformed filters u (16, k, c); with flip, u holds the transformed
// filters of the convolution whose input gradient this is, (16, c, k) in
// s's terms, and position p uses U[σ(p)]ᵀ.
func (c *CPU) winoForward(ys, xs, bs, u, v, m []float32, s *winoShape, flip bool) {
	hw := s.h * s.w
	for n0 := 0; n0 < s.n; n0 += s.nb {
		nb := min(s.nb, s.n-n0)
		t := nb * s.tpi
		c.winoInput(v[:winoTile*s.c*t], xs[n0*s.c*hw:(n0+nb)*s.c*hw], nb, s)
		c.w.For(winoTile, 1, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				mp := m[p*s.k*t : (p+1)*s.k*t]
				if flip {
					gemm.SgemmSerial(true, false, s.k, t, s.c, 1, u[winoFlip[p]*s.k*s.c:], s.k, v[p*s.c*t:], t, 0, mp, t)
				} else {
					gemm.SgemmSerial(false, false, s.k, t, s.c, 1, u[p*s.k*s.c:], s.c, v[p*s.c*t:], t, 0, mp, t)
				}
			}
		})
		yc := ys[n0*s.k*hw : (n0+nb)*s.k*hw]
		if winoAVX512 {
			tb := c.winoTables(s, nb)
			nblk := len(tb.mk) / 8
			c.w.For(s.k*nblk, grainFor(16*64, ewGrain), func(lo, hi int) {
				for it := lo; it < hi; it++ {
					k, blk := it/nblk, it%nblk
					var b float32
					if bs != nil {
						b = bs[k]
					}
					winoOutG16(&yc[k*hw], &m[k*t+blk*16], s.k*t, &tb.out[blk*16], s.w, &b, &tb.mk[blk*8])
				}
			})
			continue
		}
		c.w.For(nb*s.k, grainFor(s.tpi*64, ewGrain), func(lo, hi int) {
			for pl := lo; pl < hi; pl++ {
				var b float32
				if bs != nil {
					b = bs[pl%s.k]
				}
				n, k := pl/s.k, pl%s.k
				winoOutPlane(yc[pl*hw:(pl+1)*hw], s, m[k*t:], s.k*t, n*s.tpi, b)
			}
		})
	}
}

// winoInput transforms the nb images of xs (nb, s.c, h, w) into v (16, c,
// nb·tpi).
func (c *CPU) winoInput(v, xs []float32, nb int, s *winoShape) {
	hw, t := s.h*s.w, nb*s.tpi
	if winoAVX512 {
		tb := c.winoTables(s, nb)
		nblk := len(tb.mk) / 8
		c.w.For(s.c*nblk, grainFor(16*64, ewGrain), func(lo, hi int) {
			for it := lo; it < hi; it++ {
				ch, blk := it/nblk, it%nblk
				winoInG16(&v[ch*t+blk*16], s.c*t, &xs[ch*hw], &tb.in[blk*16], s.w, &tb.mk[blk*8])
			}
		})
		return
	}
	c.w.For(nb*s.c, grainFor(s.tpi*64, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			n, ch := pl/s.c, pl%s.c
			winoInPlane(v[ch*t:], s.c*t, n*s.tpi, xs[pl*hw:(pl+1)*hw], s)
		}
	})
}

// conv2dBackwardWinograd computes dx (when dxs is not nil) as the forward
// convolution of dy with the flipped, transposed filters, and dw (when dws
// is not nil) as Gᵀ[Σ_t (A dy_t Aᵀ) ⊙ (Bᵀ x_t B)]G.
func (c *CPU) conv2dBackwardWinograd(dxs, dws, dys, xs, ws []float32, g *convGeom) {
	s := newWinoShape(g.N, g.C, g.K, g.H, g.W)
	nu, nv, nm := s.sizes()
	buf := c.scratchF32(nu + nv + nm)
	u, v, m := buf[:nu], buf[nu:nu+nv], buf[nu+nv:]
	if dws != nil {
		c.winoWeightGrad(dws, dys, xs, u, v, m, &s)
	}
	if dxs != nil {
		// dx = conv(dy, w'), w'[c][k] = w[k][c] rotated by 180°: K input
		// and C output channels. Reversing the columns of G swaps its rows
		// 0 and 3, so G w' Gᵀ at (i, j) is U at (σi, σj): the GEMMs read
		// U[σ(p)] transposed.
		c.winoFilters(u, ws, s.k, s.c)
		d := newWinoShape(g.N, g.K, g.C, g.H, g.W)
		d.nb = s.nb // same buffers: max(c, k) is symmetric
		c.winoForward(dxs, dys, nil, u, v, m, &d, true)
	}
}

// winoWeightGrad accumulates dU[p] (k, c) = Σ_chunks dM[p]·V[p]ᵀ in chunk
// order in du, then writes dw = Gᵀ dU G.
func (c *CPU) winoWeightGrad(dws, dys, xs, du, v, m []float32, s *winoShape) {
	hw := s.h * s.w
	for n0 := 0; n0 < s.n; n0 += s.nb {
		nb := min(s.nb, s.n-n0)
		t := nb * s.tpi
		c.winoInput(v[:winoTile*s.c*t], xs[n0*s.c*hw:(n0+nb)*s.c*hw], nb, s)
		dyc := dys[n0*s.k*hw : (n0+nb)*s.k*hw]
		if winoAVX512 {
			tb := c.winoTables(s, nb)
			nblk := len(tb.mk) / 8
			c.w.For(s.k*nblk, grainFor(16*64, ewGrain), func(lo, hi int) {
				for it := lo; it < hi; it++ {
					k, blk := it/nblk, it%nblk
					winoGradG16(&m[k*t+blk*16], s.k*t, &dyc[k*hw], &tb.out[blk*16], s.w, &tb.mk[blk*8])
				}
			})
		} else {
			c.w.For(nb*s.k, grainFor(s.tpi*64, ewGrain), func(lo, hi int) {
				for pl := lo; pl < hi; pl++ {
					n, k := pl/s.k, pl%s.k
					winoGradPlane(m[k*t:], s.k*t, n*s.tpi, dyc[pl*hw:(pl+1)*hw], s)
				}
			})
		}
		beta := float32(1)
		if n0 == 0 {
			beta = 0
		}
		c.w.For(winoTile, 1, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				gemm.SgemmSerial(false, true, s.k, s.c, t, 1, m[p*s.k*t:], t, v[p*s.c*t:], t, beta, du[p*s.k*s.c:(p+1)*s.k*s.c], s.c)
			}
		})
	}
	kc := s.k * s.c
	c.w.For(kc, grainFor(64, ewGrain), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			winoFilterGrad(dws[i*9:i*9+9], du[i:], kc)
		}
	})
}

// winoFilters writes u (16, k, c) = G w Gᵀ for the filters w (k, c, 3, 3),
// 16 filters at a time.
func (c *CPU) winoFilters(u, ws []float32, k, ch int) {
	kc := k * ch
	_ = u[15*kc+kc-1]
	c.w.For((kc+15)/16, grainFor(16*64, ewGrain), func(lo, hi int) {
		for blk := lo; blk < hi; blk++ {
			i0 := blk * 16
			if winoAVX512 && i0+16 <= kc {
				winoFilter16(&u[i0], kc, &ws[i0*9])
				continue
			}
			for i := i0; i < min(i0+16, kc); i++ {
				winoFilter(u[i:], kc, (*[9]float32)(ws[i*9:i*9+9]))
			}
		}
	})
}

// winoFlip maps position (i, j) of a transformed tile to (σi, σj), σ
// swapping 0 and 3: the position of U that the 180°-rotated filter has at
// (i, j).
var winoFlip = [winoTile]int{15, 13, 14, 12, 7, 5, 6, 4, 11, 9, 10, 8, 3, 1, 2, 0}

// winoFilter writes (G g Gᵀ)[p] to u[p·ld].
func winoFilter(u []float32, ld int, g *[9]float32) {
	// q = G g (4x3): rows g0, ½(g0+g1+g2), ½(g0-g1+g2), g2.
	var q [12]float32
	for j := 0; j < 3; j++ {
		g0, g1, g2 := g[j], g[3+j], g[6+j]
		q[j] = g0
		q[3+j] = 0.5 * (g0 + g1 + g2)
		q[6+j] = 0.5 * (g0 - g1 + g2)
		q[9+j] = g2
	}
	// u = q Gᵀ (4x4), row by row.
	_ = u[15*ld]
	for i := 0; i < 4; i++ {
		a, b, c := q[3*i], q[3*i+1], q[3*i+2]
		u[(4*i)*ld] = a
		u[(4*i+1)*ld] = 0.5 * (a + b + c)
		u[(4*i+2)*ld] = 0.5 * (a - b + c)
		u[(4*i+3)*ld] = c
	}
}

// winoFilterGrad writes dw (3x3) = Gᵀ dU G for dU[p] at du[p·ld].
func winoFilterGrad(dw, du []float32, ld int) {
	_ = du[15*ld]
	// t = Gᵀ dU (3x4): rows dU0 + ½(dU1+dU2), ½(dU1-dU2), ½(dU1+dU2) + dU3.
	var t [12]float32
	for j := 0; j < 4; j++ {
		u0, u1, u2, u3 := du[j*ld], du[(4+j)*ld], du[(8+j)*ld], du[(12+j)*ld]
		t[j] = u0 + 0.5*(u1+u2)
		t[4+j] = 0.5 * (u1 - u2)
		t[8+j] = 0.5*(u1+u2) + u3
	}
	// dw = t G (3x3).
	_ = dw[8]
	for r := 0; r < 3; r++ {
		a, b, c, d := t[4*r], t[4*r+1], t[4*r+2], t[4*r+3]
		dw[3*r] = a + 0.5*(b+c)
		dw[3*r+1] = 0.5 * (b - c)
		dw[3*r+2] = 0.5*(b+c) + d
	}
}

// winoRows fills the four zero-padded input rows 2ty-1 .. 2ty+2 of plane x
// (s.h, s.w) that tile row ty reads: rows[a][1+j] = x[2ty-1+a][j], zero
// elsewhere, 2·tw+2 long.
func winoRows(rows *[4][winoMaxW + 4]float32, x []float32, ty int, s *winoShape) {
	wp := 2*s.tw + 2
	for a := 0; a < 4; a++ {
		row := rows[a][:wp]
		r := 2*ty - 1 + a
		if r < 0 || r >= s.h {
			clear(row)
			continue
		}
		row[0] = 0
		copy(row[1:1+s.w], x[r*s.w:(r+1)*s.w])
		for j := 1 + s.w; j < wp; j++ {
			row[j] = 0
		}
	}
}

// winoInPlane writes the transformed tiles Bᵀ d B of one plane x (s.h, s.w)
// to v[p·ld + t0 + ty·tw + tx].
func winoInPlane(v []float32, ld, t0 int, x []float32, s *winoShape) {
	var rows [4][winoMaxW + 4]float32
	_ = v[15*ld+t0+s.tpi-1]
	for ty := 0; ty < s.th; ty++ {
		winoRows(&rows, x, ty, s)
		r0, r1, r2, r3 := &rows[0], &rows[1], &rows[2], &rows[3]
		base := t0 + ty*s.tw
		for tx := 0; tx < s.tw; tx++ {
			j := 2 * tx
			// Bᵀ d: per column b, rows d0-d2, d1+d2, d2-d1, d1-d3.
			var c [4][4]float32
			for b := 0; b < 4; b++ {
				d0, d1, d2, d3 := r0[j+b], r1[j+b], r2[j+b], r3[j+b]
				c[0][b] = d0 - d2
				c[1][b] = d1 + d2
				c[2][b] = d2 - d1
				c[3][b] = d1 - d3
			}
			// (Bᵀ d) B: per row i, the same combinations of its columns.
			o := base + tx
			for i := 0; i < 4; i++ {
				e := &c[i]
				v[(4*i)*ld+o] = e[0] - e[2]
				v[(4*i+1)*ld+o] = e[1] + e[2]
				v[(4*i+2)*ld+o] = e[2] - e[1]
				v[(4*i+3)*ld+o] = e[1] - e[3]
			}
		}
	}
}

// winoOutPlane writes one output plane y (s.h, s.w) = Aᵀ M A + b per tile,
// M[p] of tile ty·tw + tx at m[p·ld + t0 + ty·tw + tx].
func winoOutPlane(y []float32, s *winoShape, m []float32, ld, t0 int, b float32) {
	_ = m[15*ld+t0+s.tpi-1]
	for ty := 0; ty < s.th; ty++ {
		r := 2 * ty
		for tx := 0; tx < s.tw; tx++ {
			o := t0 + ty*s.tw + tx
			var e [16]float32
			for p := range e {
				e[p] = m[p*ld+o]
			}
			// Aᵀ M: rows m0+m1+m2, m1-m2-m3 (per column).
			var t [2][4]float32
			for j := 0; j < 4; j++ {
				t[0][j] = e[j] + e[4+j] + e[8+j]
				t[1][j] = e[4+j] - e[8+j] - e[12+j]
			}
			col := 2 * tx
			for i := 0; i < 2 && r+i < s.h; i++ {
				row := y[(r+i)*s.w : (r+i+1)*s.w]
				q := &t[i]
				row[col] = q[0] + q[1] + q[2] + b
				if col+1 < s.w {
					row[col+1] = q[1] - q[2] - q[3] + b
				}
			}
		}
	}
}

// winoGradPlane writes the transformed output gradients A g Aᵀ of one
// plane dy (s.h, s.w) to m[p·ld + t0 + ty·tw + tx] (g: the tile's 2x2
// gradient, zero outside the plane).
func winoGradPlane(m []float32, ld, t0 int, dy []float32, s *winoShape) {
	_ = m[15*ld+t0+s.tpi-1]
	for ty := 0; ty < s.th; ty++ {
		r := 2 * ty
		for tx := 0; tx < s.tw; tx++ {
			col := 2 * tx
			var g [2][2]float32
			for i := 0; i < 2 && r+i < s.h; i++ {
				g[i][0] = dy[(r+i)*s.w+col]
				if col+1 < s.w {
					g[i][1] = dy[(r+i)*s.w+col+1]
				}
			}
			// A g (4x2): rows g0, g0+g1, g0-g1, -g1.
			var a [4][2]float32
			for j := 0; j < 2; j++ {
				g0, g1 := g[0][j], g[1][j]
				a[0][j] = g0
				a[1][j] = g0 + g1
				a[2][j] = g0 - g1
				a[3][j] = -g1
			}
			o := t0 + ty*s.tw + tx
			for i := 0; i < 4; i++ {
				a0, a1 := a[i][0], a[i][1]
				m[(4*i)*ld+o] = a0
				m[(4*i+1)*ld+o] = a0 + a1
				m[(4*i+2)*ld+o] = a0 - a1
				m[(4*i+3)*ld+o] = -a1
			}
		}
	}
}

// winoTables are the gather offsets and lane masks of the tiles of one
// chunk, for the AVX-512 transforms, padded to whole blocks of 16 tiles.
type winoTables struct {
	in  []int32  // offset of the tile's input pixel (2ty-1, 2tx-1) from its channel's plane in the chunk's first image
	out []int32  // offset of its output pixel (2ty, 2tx), likewise
	mk  []uint16 // per block: lanes whose patch rows 0..3, then columns 0..3, lie in the plane
}

// winoTables fills c's tables for a chunk of nb images of shape s.
func (c *CPU) winoTables(s *winoShape, nb int) *winoTables {
	t := nb * s.tpi
	nblk := (t + 15) / 16
	tb := &c.wino
	if cap(tb.in) < nblk*16 {
		tb.in, tb.out = make([]int32, nblk*16), make([]int32, nblk*16)
	}
	if cap(tb.mk) < nblk*8 {
		tb.mk = make([]uint16, nblk*8)
	}
	tb.in, tb.out, tb.mk = tb.in[:nblk*16], tb.out[:nblk*16], tb.mk[:nblk*8]
	clear(tb.in)
	clear(tb.out)
	clear(tb.mk)
	hw := s.h * s.w
	for i := 0; i < t; i++ {
		n, r := i/s.tpi, i%s.tpi
		ty, tx := r/s.tw, r%s.tw
		tb.in[i] = int32(n*s.c*hw + (2*ty-1)*s.w + 2*tx - 1)
		tb.out[i] = int32(n*s.k*hw + 2*ty*s.w + 2*tx)
		bit := uint16(1) << (i % 16)
		m := tb.mk[i/16*8 : i/16*8+8]
		rows := [4]bool{ty > 0, true, 2*ty+1 < s.h, 2*ty+2 < s.h}
		cols := [4]bool{tx > 0, true, 2*tx+1 < s.w, 2*tx+2 < s.w}
		for j := 0; j < 4; j++ {
			if rows[j] {
				m[j] |= bit
			}
			if cols[j] {
				m[4+j] |= bit
			}
		}
	}
	return tb
}
