//go:build !amd64 || purego

package engine

// winoAVX512 is false off amd64 (and with the purego tag): the Winograd
// transforms run in Go.
var winoAVX512 = false

func winoFilter16(u *float32, ld int, f *float32) {
	panic("engine: winoFilter16 needs amd64")
}

func winoInG16(v *float32, ld int, x *float32, off *int32, w int, mk *uint16) {
	panic("engine: winoInG16 needs amd64")
}

func winoOutG16(y, m *float32, ld int, off *int32, w int, b *float32, mk *uint16) {
	panic("engine: winoOutG16 needs amd64")
}

func winoGradG16(m *float32, ld int, dy *float32, off *int32, w int, mk *uint16) {
	panic("engine: winoGradG16 needs amd64")
}
