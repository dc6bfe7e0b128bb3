//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// hasAsm reports whether the AVX2+FMA kernels can run on this CPU.
var hasAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kern4x24(kc int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func packBT24(kc8 int, src *float32, ld int, dst *float32)

//go:noescape
func packBBlock24(kc int, src *float32, ld int, dst *float32, np int)

//go:noescape
func packATBlock4(kc int, src *float32, ld int, dst *float32, np int)

//go:noescape
func packA4(kc8 int, src *float32, ld int, dst *float32)

//go:noescape
func dot3x4(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)

// hasAVX512 reports whether the AVX-512 kernels can run on this CPU (and
// the operating system saves the ZMM registers, which x/sys/cpu checks).
var hasAVX512 = hasAsm && cpu.X86.HasAVX512F

//go:noescape
func kern8x32(kc int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func packBT32(kc8 int, src *float32, ld int, dst *float32)

//go:noescape
func packBBlock32(kc int, src *float32, ld int, dst *float32, np int)

//go:noescape
func packATBlock8(kc int, src *float32, ld int, dst *float32, np int)
