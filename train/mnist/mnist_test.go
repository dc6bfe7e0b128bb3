package mnist

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeValues(t *testing.T) {
	// Reference values of (p/255-0.1307)/0.3081, computed independently.
	for _, c := range []struct {
		p    uint8
		want float64
	}{
		{0, -0.424212917883804},
		{1, -0.41148468475348593},
		{33, -0.004181224583309463},
		{34, 0.008547008547008506},
		{128, 1.2050009227969019},
		{255, 2.82148653034729},
	} {
		assert.InDelta(t, c.want, float64(Normalize(c.p)), 1e-6, "pixel %d", c.p)
	}
	assert.Equal(t, 0.1307, Mean)
	assert.Equal(t, 0.3081, Std)
	for p := range 256 {
		want := float32((float64(p)/255 - Mean) / Std)
		require.Equal(t, want, Normalize(uint8(p)), "pixel %d", p)
	}
}

func testSet() *Set {
	s := &Set{N: 3, Labels: []uint8{7, 1, 9}, Images: make([]uint8, 3*Pixels)}
	for i := range s.Images {
		s.Images[i] = uint8(i % 251)
	}
	return s
}

func TestSetImage(t *testing.T) {
	s := testSet()
	im := s.Image(1)
	require.Len(t, im, Pixels)
	assert.Equal(t, s.Images[Pixels:2*Pixels], im)
	assert.Equal(t, Pixels, cap(im), "Image must not expose the next image through its capacity")
	assert.Panics(t, func() { s.Image(3) })
	assert.Panics(t, func() { s.Image(-1) })
}

func TestNormalized(t *testing.T) {
	s := testSet()
	idx := []int{2, 0, 2}
	dst := make([]float32, len(idx)*Pixels+5)
	for i := range dst {
		dst[i] = 42
	}
	n := s.Normalized(dst, idx)
	require.Equal(t, len(idx)*Pixels, n)
	for k, i := range idx {
		for j := range Pixels {
			p := s.Images[i*Pixels+j]
			want := float32((float64(p)/255 - Mean) / Std)
			require.Equal(t, want, dst[k*Pixels+j], "example %d pixel %d", k, j)
		}
	}
	for _, v := range dst[n:] {
		assert.Equal(t, float32(42), v, "Normalized must not write past its output")
	}

	allocs := testing.AllocsPerRun(20, func() { s.Normalized(dst, idx) })
	assert.Zero(t, allocs)

	assert.Equal(t, 0, s.Normalized(nil, nil))
	assert.Panics(t, func() { s.Normalized(dst[:Pixels], []int{0, 1}) })
	assert.Panics(t, func() { s.Normalized(dst, []int{3}) })
}

func BenchmarkNormalized(b *testing.B) {
	s := testSet()
	idx := make([]int, 64)
	for i := range idx {
		idx[i] = i % s.N
	}
	dst := make([]float32, len(idx)*Pixels)
	b.SetBytes(int64(len(idx) * Pixels))
	for b.Loop() {
		s.Normalized(dst, idx)
	}
}
