package gemm

// kernGo is the portable micro-kernel: the same contract as kern4x24 for a
// packed A panel, C[r][j] = alpha*sum_p A[r][p]*B[p][j] + beta*C[r][j] for
// r < mr, j < nr, with A[r][p] = a[ao+p*mr+r], B[p][j] = b[bo+p*rsB+j]
// and C[r][j] = c[co+r*ldc+j]; C is not read when beta == 0. Each element
// is accumulated in increasing p order. The 4×24 tile is done as 4×2
// column pairs so that the accumulators stay in registers.
func kernGo(kc int, a []float32, ao int, b []float32, bo, rsB int, c []float32, co, ldc int, alpha, beta float32) {
	var acc [mr * nr]float32
	a = a[ao : ao+kc*mr]
	for j := 0; j < nr; j += 2 {
		var c00, c01, c10, c11, c20, c21, c30, c31 float32
		bp := bo + j
		for ap := a; len(ap) >= 4; ap = ap[4:] {
			a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
			bs := b[bp : bp+2 : bp+2]
			b0, b1 := bs[0], bs[1]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1
			bp += rsB
		}
		acc[0*nr+j], acc[0*nr+j+1] = c00, c01
		acc[1*nr+j], acc[1*nr+j+1] = c10, c11
		acc[2*nr+j], acc[2*nr+j+1] = c20, c21
		acc[3*nr+j], acc[3*nr+j+1] = c30, c31
	}
	for r := 0; r < mr; r++ {
		row := c[co+r*ldc : co+r*ldc+nr]
		ar := acc[r*nr : r*nr+nr]
		if beta == 0 {
			for j := range row {
				row[j] = alpha * ar[j]
			}
		} else {
			for j := range row {
				row[j] = alpha*ar[j] + beta*row[j]
			}
		}
	}
}
