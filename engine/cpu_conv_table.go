package engine

// im2col and col2im through an offset table, for the geometries without a
// faster layout (strides above 1 and kernels that do not keep the row
// length: the ResNets' stride-2 3x3 convolutions, the 7x7 stem). The table
// holds, for each kernel tap t and output pixel p, the offset in the image
// plane that column entry reads, or H·W for padding; each channel plane is
// copied into a buffer with a zero after it, so every entry is one
// branch-free load, where im2colRows paid a range computation and a
// clear per output row (4 or 2 pixels long on the light ResNet's 7x7 and
// 4x4 maps).

const (
	// colTableMaxPlane: planes up to this many pixels (28x28 and
	// smaller) go through a buffer on the stack (colTableMaxPlane+1 is a
	// power of 2, so that masking an offset proves it in range).
	colTableMaxPlane = 1023
	// colTableMaxLen bounds the table (R·S·P·Q offsets).
	colTableMaxLen = 1 << 14
)

// colTable fills g.tab for the geometries the table path takes; the others
// keep g.tab nil.
func (c *CPU) colTable(g *convGeom) {
	hw, n := g.H*g.W, g.R*g.S*g.PQ
	if g.Direct || g.shifted() || hw > colTableMaxPlane || n > colTableMaxLen {
		return
	}
	if cap(c.tab) < n {
		c.tab = make([]int32, n)
	}
	tab := c.tab[:n]
	p := g.Params
	for kr := 0; kr < g.R; kr++ {
		for ks := 0; ks < g.S; ks++ {
			row := tab[(kr*g.S+ks)*g.PQ : (kr*g.S+ks+1)*g.PQ]
			for op := 0; op < g.P; op++ {
				ih := op*p.StrideH - p.PadH + kr
				for oq := 0; oq < g.Q; oq++ {
					iw := oq*p.StrideW - p.PadW + ks
					off := int32(hw)
					if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
						off = int32(ih*g.W + iw)
					}
					row[op*g.Q+oq] = off
				}
			}
		}
	}
	g.tab = tab
}

// im2colTable is im2col through g.tab for channels [c0, c1) of the first
// n images of xs, image i at columns col0 + i·P·Q. Channel by channel, then
// image by image, the R·S rows of a channel are written front to back.
func im2colTable(cols, xs []float32, g *convGeom, ld, col0, n, c0, c1 int) {
	hw, rs, pq, nc, tab := g.H*g.W, g.R*g.S, g.PQ, g.C, g.tab
	var plane [colTableMaxPlane + 1]float32
	for ch := c0; ch < c1; ch++ {
		for i := 0; i < n; i++ {
			copy(plane[:hw], xs[(i*nc+ch)*hw:(i*nc+ch+1)*hw])
			for t := 0; t < rs; t++ {
				tt := tab[t*pq : (t+1)*pq]
				at := (ch*rs+t)*ld + col0 + i*pq
				d := cols[at : at+len(tt)]
				for j, off := range tt {
					d[j] = plane[off&colTableMaxPlane]
				}
			}
		}
	}
}

// col2imTable is col2im through g.tab for channels [c0, c1) of the first n
// images (as im2colTable lays them out): per plane the sums start from
// zero in a buffer and are added in the order col2imRows adds them (tap,
// then output pixel), then copied to dx, which need not be zeroed.
func col2imTable(dxs, cols []float32, g *convGeom, ld, col0, n, c0, c1 int) {
	hw, rs, pq, nc, tab := g.H*g.W, g.R*g.S, g.PQ, g.C, g.tab
	var plane [colTableMaxPlane + 1]float32
	for ch := c0; ch < c1; ch++ {
		for i := 0; i < n; i++ {
			clear(plane[:hw+1])
			for t := 0; t < rs; t++ {
				tt := tab[t*pq : (t+1)*pq]
				at := (ch*rs+t)*ld + col0 + i*pq
				s := cols[at : at+len(tt)]
				for j, off := range tt {
					plane[off&colTableMaxPlane] += s[j]
				}
			}
			copy(dxs[(i*nc+ch)*hw:(i*nc+ch+1)*hw], plane[:hw])
		}
	}
}
