package gemm

// kernGo is the portable micro-kernel: the same contract as kern4x24,
// C[r][j] = alpha*sum_p A[r][p]*B[p][j] + beta*C[r][j] for r < mr, j < nr
// with A[r][p] = a[ao+r*rsA+p*csA], B[p][j] = b[bo+p*rsB+j] and
// C[r][j] = c[co+r*ldc+j]; C is not read when beta == 0. Each element is
// accumulated in increasing p order.
func kernGo(kc int, a []float32, ao, rsA, csA int, b []float32, bo, rsB int, c []float32, co, ldc int, alpha, beta float32) {
	var acc [mr * nr]float32
	for j := 0; j < nr; j += 4 {
		var c00, c01, c02, c03 float32
		var c10, c11, c12, c13 float32
		var c20, c21, c22, c23 float32
		var c30, c31, c32, c33 float32
		ap, bp := ao, bo+j
		for p := 0; p < kc; p++ {
			as := a[ap : ap+3*rsA+1]
			a0, a1, a2, a3 := as[0], as[rsA], as[2*rsA], as[3*rsA]
			bs := b[bp : bp+4 : bp+4]
			b0, b1, b2, b3 := bs[0], bs[1], bs[2], bs[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			c20 += a2 * b0
			c21 += a2 * b1
			c22 += a2 * b2
			c23 += a2 * b3
			c30 += a3 * b0
			c31 += a3 * b1
			c32 += a3 * b2
			c33 += a3 * b3
			ap += csA
			bp += rsB
		}
		acc[0*nr+j], acc[0*nr+j+1], acc[0*nr+j+2], acc[0*nr+j+3] = c00, c01, c02, c03
		acc[1*nr+j], acc[1*nr+j+1], acc[1*nr+j+2], acc[1*nr+j+3] = c10, c11, c12, c13
		acc[2*nr+j], acc[2*nr+j+1], acc[2*nr+j+2], acc[2*nr+j+3] = c20, c21, c22, c23
		acc[3*nr+j], acc[3*nr+j+1], acc[3*nr+j+2], acc[3*nr+j+3] = c30, c31, c32, c33
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
