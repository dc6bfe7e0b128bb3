//go:build !amd64 || purego

package gemm

// hasAsm is false: no assembly kernels on this platform or build.
const hasAsm = false

func kern4x24(kc int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32) {
	panic("gemm: assembly kernel not available")
}

func packBT24(kc8 int, src *float32, ld int, dst *float32) {
	panic("gemm: assembly kernel not available")
}

func packBBlock24(kc int, src *float32, ld int, dst *float32, np int) {
	panic("gemm: assembly kernel not available")
}

func packATBlock4(kc int, src *float32, ld int, dst *float32, np int) {
	panic("gemm: assembly kernel not available")
}

func packA4(kc8 int, src *float32, ld int, dst *float32) {
	panic("gemm: assembly kernel not available")
}

func dot3x4(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32) {
	panic("gemm: assembly kernel not available")
}

// hasAVX512 is false: no assembly kernels on this platform or build.
const hasAVX512 = false

func kern8x32(kc int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32) {
	panic("gemm: assembly kernel not available")
}

func packBT32(kc8 int, src *float32, ld int, dst *float32) {
	panic("gemm: assembly kernel not available")
}

func packBBlock32(kc int, src *float32, ld int, dst *float32, np int) {
	panic("gemm: assembly kernel not available")
}

func packATBlock8(kc int, src *float32, ld int, dst *float32, np int) {
	panic("gemm: assembly kernel not available")
}
