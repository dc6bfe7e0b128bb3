//go:build amd64 && !purego

package engine

import "golang.org/x/sys/cpu"

// winoAVX512 reports whether the AVX-512 Winograd transforms can run.
var winoAVX512 = cpu.X86.HasAVX512F

//go:noescape
func winoFilter16(u *float32, ld int, f *float32)

//go:noescape
func winoInG16(v *float32, ld int, x *float32, off *int32, w int, mk *uint16)

//go:noescape
func winoOutG16(y, m *float32, ld int, off *int32, w int, b *float32, mk *uint16)

//go:noescape
func winoGradG16(m *float32, ld int, dy *float32, off *int32, w int, mk *uint16)
