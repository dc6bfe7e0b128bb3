package engine

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC 2011), the counter-based generator CUDA's curand also implements.
// Every random number is a pure function of (key, counter): the CPU and
// CUDA engines draw the same dropout masks, and a resumed run the same as an
// uninterrupted one.

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox returns the four 32-bit outputs for counter c under key k.
func Philox(c [4]uint32, k [2]uint32) [4]uint32 {
	for i := 0; i < 10; i++ {
		p0 := uint64(philoxM0) * uint64(c[0])
		p1 := uint64(philoxM1) * uint64(c[2])
		c = [4]uint32{
			uint32(p1>>32) ^ c[1] ^ k[0],
			uint32(p1),
			uint32(p0>>32) ^ c[3] ^ k[1],
			uint32(p0),
		}
		k[0] += philoxW0
		k[1] += philoxW1
	}
	return c
}

// DropoutUniform is the uniform number in [0,1) that element i of the
// tensor drawn under key gets: element i uses word i%4 of the Philox block
// at counter (i/4 low, i/4 high, layer, step) under key (seed low, seed
// high), and keeps its top 24 bits. An element is dropped when it is < p.
func DropoutUniform(key DropoutKey, i int) float32 {
	q := uint64(i) >> 2
	r := Philox([4]uint32{uint32(q), uint32(q >> 32), key.Layer, key.Step}, [2]uint32{uint32(key.Seed), uint32(key.Seed >> 32)})
	return float32(r[i&3]>>8) * (1.0 / (1 << 24))
}
