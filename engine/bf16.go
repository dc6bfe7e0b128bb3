package engine

import "math"

// ToBF16 rounds v to bfloat16 to nearest, ties to even, as the kernels'
// cvt.rn.bf16.f32 (kernels/device.cuh's bf16_rn): the bits a BFloat16
// tensor stores. A NaN stays a (quiet) NaN; values beyond bfloat16's
// largest finite round to ±Inf as IEEE rounding does.
func ToBF16(v float32) uint16 {
	b := math.Float32bits(v)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40 // NaN: keep the sign, set the quiet bit
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// FromBF16 widens bfloat16 bits to float32 (exact).
func FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// RoundBF16 is v rounded to the nearest bfloat16, as a float32: what a
// float32 value reads back as after a BFloat16 tensor stored it.
func RoundBF16(v float32) float32 { return FromBF16(ToBF16(v)) }
