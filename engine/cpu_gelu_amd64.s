//go:build amd64 && !purego

#include "textflag.h"

// cpu_gelu.go's GELU and its gradient, 4 float64 lanes at a time: the same
// operations as normCDF, expPoly, geluRun and geluBackwardRun (fused
// multiply-adds exactly where they call math.FMA), so the same bits.

DATA gelu_absMask<>+0(SB)/8, $0x7fffffffffffffff
DATA gelu_absMask<>+8(SB)/8, $0x7fffffffffffffff
DATA gelu_absMask<>+16(SB)/8, $0x7fffffffffffffff
DATA gelu_absMask<>+24(SB)/8, $0x7fffffffffffffff
GLOBL gelu_absMask<>(SB), RODATA|NOPTR, $32

DATA gelu_one<>+0(SB)/8, $0x3ff0000000000000
DATA gelu_one<>+8(SB)/8, $0x3ff0000000000000
DATA gelu_one<>+16(SB)/8, $0x3ff0000000000000
DATA gelu_one<>+24(SB)/8, $0x3ff0000000000000
GLOBL gelu_one<>(SB), RODATA|NOPTR, $32

DATA gelu_half<>+0(SB)/8, $0x3fe0000000000000
DATA gelu_half<>+8(SB)/8, $0x3fe0000000000000
DATA gelu_half<>+16(SB)/8, $0x3fe0000000000000
DATA gelu_half<>+24(SB)/8, $0x3fe0000000000000
GLOBL gelu_half<>(SB), RODATA|NOPTR, $32

DATA gelu_negHalf<>+0(SB)/8, $0xbfe0000000000000
DATA gelu_negHalf<>+8(SB)/8, $0xbfe0000000000000
DATA gelu_negHalf<>+16(SB)/8, $0xbfe0000000000000
DATA gelu_negHalf<>+24(SB)/8, $0xbfe0000000000000
GLOBL gelu_negHalf<>(SB), RODATA|NOPTR, $32

DATA gelu_invSqrt2<>+0(SB)/8, $0x3fe6a09e667f3bcd
DATA gelu_invSqrt2<>+8(SB)/8, $0x3fe6a09e667f3bcd
DATA gelu_invSqrt2<>+16(SB)/8, $0x3fe6a09e667f3bcd
DATA gelu_invSqrt2<>+24(SB)/8, $0x3fe6a09e667f3bcd
GLOBL gelu_invSqrt2<>(SB), RODATA|NOPTR, $32

DATA gelu_invSqrt2Pi<>+0(SB)/8, $0x3fd9884533d43651
DATA gelu_invSqrt2Pi<>+8(SB)/8, $0x3fd9884533d43651
DATA gelu_invSqrt2Pi<>+16(SB)/8, $0x3fd9884533d43651
DATA gelu_invSqrt2Pi<>+24(SB)/8, $0x3fd9884533d43651
GLOBL gelu_invSqrt2Pi<>(SB), RODATA|NOPTR, $32

DATA gelu_lo708<>+0(SB)/8, $0xc086200000000000
DATA gelu_lo708<>+8(SB)/8, $0xc086200000000000
DATA gelu_lo708<>+16(SB)/8, $0xc086200000000000
DATA gelu_lo708<>+24(SB)/8, $0xc086200000000000
GLOBL gelu_lo708<>(SB), RODATA|NOPTR, $32

DATA gelu_hi700<>+0(SB)/8, $0x4085e00000000000
DATA gelu_hi700<>+8(SB)/8, $0x4085e00000000000
DATA gelu_hi700<>+16(SB)/8, $0x4085e00000000000
DATA gelu_hi700<>+24(SB)/8, $0x4085e00000000000
GLOBL gelu_hi700<>(SB), RODATA|NOPTR, $32

DATA gelu_log2e<>+0(SB)/8, $0x3ff71547652b82fe
DATA gelu_log2e<>+8(SB)/8, $0x3ff71547652b82fe
DATA gelu_log2e<>+16(SB)/8, $0x3ff71547652b82fe
DATA gelu_log2e<>+24(SB)/8, $0x3ff71547652b82fe
GLOBL gelu_log2e<>(SB), RODATA|NOPTR, $32

DATA gelu_ln2hi<>+0(SB)/8, $0x3fe62e42fee00000
DATA gelu_ln2hi<>+8(SB)/8, $0x3fe62e42fee00000
DATA gelu_ln2hi<>+16(SB)/8, $0x3fe62e42fee00000
DATA gelu_ln2hi<>+24(SB)/8, $0x3fe62e42fee00000
GLOBL gelu_ln2hi<>(SB), RODATA|NOPTR, $32

DATA gelu_ln2lo<>+0(SB)/8, $0x3dea39ef35793c76
DATA gelu_ln2lo<>+8(SB)/8, $0x3dea39ef35793c76
DATA gelu_ln2lo<>+16(SB)/8, $0x3dea39ef35793c76
DATA gelu_ln2lo<>+24(SB)/8, $0x3dea39ef35793c76
GLOBL gelu_ln2lo<>(SB), RODATA|NOPTR, $32

DATA gelu_magic<>+0(SB)/8, $0x4338000000000000
DATA gelu_magic<>+8(SB)/8, $0x4338000000000000
DATA gelu_magic<>+16(SB)/8, $0x4338000000000000
DATA gelu_magic<>+24(SB)/8, $0x4338000000000000
GLOBL gelu_magic<>(SB), RODATA|NOPTR, $32

DATA gelu_bias<>+0(SB)/8, $0x00000000000003ff
DATA gelu_bias<>+8(SB)/8, $0x00000000000003ff
DATA gelu_bias<>+16(SB)/8, $0x00000000000003ff
DATA gelu_bias<>+24(SB)/8, $0x00000000000003ff
GLOBL gelu_bias<>(SB), RODATA|NOPTR, $32

DATA gelu_e9<>+0(SB)/8, $0x3ec71de3a556c734
DATA gelu_e9<>+8(SB)/8, $0x3ec71de3a556c734
DATA gelu_e9<>+16(SB)/8, $0x3ec71de3a556c734
DATA gelu_e9<>+24(SB)/8, $0x3ec71de3a556c734
GLOBL gelu_e9<>(SB), RODATA|NOPTR, $32

DATA gelu_e8<>+0(SB)/8, $0x3efa01a01a01a01a
DATA gelu_e8<>+8(SB)/8, $0x3efa01a01a01a01a
DATA gelu_e8<>+16(SB)/8, $0x3efa01a01a01a01a
DATA gelu_e8<>+24(SB)/8, $0x3efa01a01a01a01a
GLOBL gelu_e8<>(SB), RODATA|NOPTR, $32

DATA gelu_e7<>+0(SB)/8, $0x3f2a01a01a01a01a
DATA gelu_e7<>+8(SB)/8, $0x3f2a01a01a01a01a
DATA gelu_e7<>+16(SB)/8, $0x3f2a01a01a01a01a
DATA gelu_e7<>+24(SB)/8, $0x3f2a01a01a01a01a
GLOBL gelu_e7<>(SB), RODATA|NOPTR, $32

DATA gelu_e6<>+0(SB)/8, $0x3f56c16c16c16c17
DATA gelu_e6<>+8(SB)/8, $0x3f56c16c16c16c17
DATA gelu_e6<>+16(SB)/8, $0x3f56c16c16c16c17
DATA gelu_e6<>+24(SB)/8, $0x3f56c16c16c16c17
GLOBL gelu_e6<>(SB), RODATA|NOPTR, $32

DATA gelu_e5<>+0(SB)/8, $0x3f81111111111111
DATA gelu_e5<>+8(SB)/8, $0x3f81111111111111
DATA gelu_e5<>+16(SB)/8, $0x3f81111111111111
DATA gelu_e5<>+24(SB)/8, $0x3f81111111111111
GLOBL gelu_e5<>(SB), RODATA|NOPTR, $32

DATA gelu_e4<>+0(SB)/8, $0x3fa5555555555555
DATA gelu_e4<>+8(SB)/8, $0x3fa5555555555555
DATA gelu_e4<>+16(SB)/8, $0x3fa5555555555555
DATA gelu_e4<>+24(SB)/8, $0x3fa5555555555555
GLOBL gelu_e4<>(SB), RODATA|NOPTR, $32

DATA gelu_e3<>+0(SB)/8, $0x3fc5555555555555
DATA gelu_e3<>+8(SB)/8, $0x3fc5555555555555
DATA gelu_e3<>+16(SB)/8, $0x3fc5555555555555
DATA gelu_e3<>+24(SB)/8, $0x3fc5555555555555
GLOBL gelu_e3<>(SB), RODATA|NOPTR, $32

DATA gelu_e2<>+0(SB)/8, $0x3fe0000000000000
DATA gelu_e2<>+8(SB)/8, $0x3fe0000000000000
DATA gelu_e2<>+16(SB)/8, $0x3fe0000000000000
DATA gelu_e2<>+24(SB)/8, $0x3fe0000000000000
GLOBL gelu_e2<>(SB), RODATA|NOPTR, $32

DATA gelu_e1<>+0(SB)/8, $0x3ff0000000000000
DATA gelu_e1<>+8(SB)/8, $0x3ff0000000000000
DATA gelu_e1<>+16(SB)/8, $0x3ff0000000000000
DATA gelu_e1<>+24(SB)/8, $0x3ff0000000000000
GLOBL gelu_e1<>(SB), RODATA|NOPTR, $32

DATA gelu_e0<>+0(SB)/8, $0x3ff0000000000000
DATA gelu_e0<>+8(SB)/8, $0x3ff0000000000000
DATA gelu_e0<>+16(SB)/8, $0x3ff0000000000000
DATA gelu_e0<>+24(SB)/8, $0x3ff0000000000000
GLOBL gelu_e0<>(SB), RODATA|NOPTR, $32

DATA gelu_p9<>+0(SB)/8, $0x3fc5df28af76a5a4
DATA gelu_p9<>+8(SB)/8, $0x3fc5df28af76a5a4
DATA gelu_p9<>+16(SB)/8, $0x3fc5df28af76a5a4
DATA gelu_p9<>+24(SB)/8, $0x3fc5df28af76a5a4
GLOBL gelu_p9<>(SB), RODATA|NOPTR, $32

DATA gelu_p8<>+0(SB)/8, $0xbfea4f123185defd
DATA gelu_p8<>+8(SB)/8, $0xbfea4f123185defd
DATA gelu_p8<>+16(SB)/8, $0xbfea4f123185defd
DATA gelu_p8<>+24(SB)/8, $0xbfea4f123185defd
GLOBL gelu_p8<>(SB), RODATA|NOPTR, $32

DATA gelu_p7<>+0(SB)/8, $0x3ff7d0f60453a1be
DATA gelu_p7<>+8(SB)/8, $0x3ff7d0f60453a1be
DATA gelu_p7<>+16(SB)/8, $0x3ff7d0f60453a1be
DATA gelu_p7<>+24(SB)/8, $0x3ff7d0f60453a1be
GLOBL gelu_p7<>(SB), RODATA|NOPTR, $32

DATA gelu_p6<>+0(SB)/8, $0xbff229cba6063980
DATA gelu_p6<>+8(SB)/8, $0xbff229cba6063980
DATA gelu_p6<>+16(SB)/8, $0xbff229cba6063980
DATA gelu_p6<>+24(SB)/8, $0xbff229cba6063980
GLOBL gelu_p6<>(SB), RODATA|NOPTR, $32

DATA gelu_p5<>+0(SB)/8, $0x3fd1d8f976231ce6
DATA gelu_p5<>+8(SB)/8, $0x3fd1d8f976231ce6
DATA gelu_p5<>+16(SB)/8, $0x3fd1d8f976231ce6
DATA gelu_p5<>+24(SB)/8, $0x3fd1d8f976231ce6
GLOBL gelu_p5<>(SB), RODATA|NOPTR, $32

DATA gelu_p4<>+0(SB)/8, $0xbfc7d84982aaeaa5
DATA gelu_p4<>+8(SB)/8, $0xbfc7d84982aaeaa5
DATA gelu_p4<>+16(SB)/8, $0xbfc7d84982aaeaa5
DATA gelu_p4<>+24(SB)/8, $0xbfc7d84982aaeaa5
GLOBL gelu_p4<>(SB), RODATA|NOPTR, $32

DATA gelu_p3<>+0(SB)/8, $0x3fb8c6d917dec3f0
DATA gelu_p3<>+8(SB)/8, $0x3fb8c6d917dec3f0
DATA gelu_p3<>+16(SB)/8, $0x3fb8c6d917dec3f0
DATA gelu_p3<>+24(SB)/8, $0x3fb8c6d917dec3f0
GLOBL gelu_p3<>(SB), RODATA|NOPTR, $32

DATA gelu_p2<>+0(SB)/8, $0x3fd7f11f677960ea
DATA gelu_p2<>+8(SB)/8, $0x3fd7f11f677960ea
DATA gelu_p2<>+16(SB)/8, $0x3fd7f11f677960ea
DATA gelu_p2<>+24(SB)/8, $0x3fd7f11f677960ea
GLOBL gelu_p2<>(SB), RODATA|NOPTR, $32

DATA gelu_p1<>+0(SB)/8, $0x3ff00018d48d3588
DATA gelu_p1<>+8(SB)/8, $0x3ff00018d48d3588
DATA gelu_p1<>+16(SB)/8, $0x3ff00018d48d3588
DATA gelu_p1<>+24(SB)/8, $0x3ff00018d48d3588
GLOBL gelu_p1<>(SB), RODATA|NOPTR, $32

DATA gelu_p0<>+0(SB)/8, $0xbff43f89c0889bc5
DATA gelu_p0<>+8(SB)/8, $0xbff43f89c0889bc5
DATA gelu_p0<>+16(SB)/8, $0xbff43f89c0889bc5
DATA gelu_p0<>+24(SB)/8, $0xbff43f89c0889bc5
GLOBL gelu_p0<>(SB), RODATA|NOPTR, $32

DATA gelu_q16<>+0(SB)/8, $0x3cdd70b3537f4765
DATA gelu_q16<>+8(SB)/8, $0x3cdd70b3537f4765
DATA gelu_q16<>+16(SB)/8, $0x3cdd70b3537f4765
DATA gelu_q16<>+24(SB)/8, $0x3cdd70b3537f4765
GLOBL gelu_q16<>(SB), RODATA|NOPTR, $32

DATA gelu_q15<>+0(SB)/8, $0xbd1f56f071a885cf
DATA gelu_q15<>+8(SB)/8, $0xbd1f56f071a885cf
DATA gelu_q15<>+16(SB)/8, $0xbd1f56f071a885cf
DATA gelu_q15<>+24(SB)/8, $0xbd1f56f071a885cf
GLOBL gelu_q15<>(SB), RODATA|NOPTR, $32

DATA gelu_q14<>+0(SB)/8, $0x3d5f683ae4a97007
DATA gelu_q14<>+8(SB)/8, $0x3d5f683ae4a97007
DATA gelu_q14<>+16(SB)/8, $0x3d5f683ae4a97007
DATA gelu_q14<>+24(SB)/8, $0x3d5f683ae4a97007
GLOBL gelu_q14<>(SB), RODATA|NOPTR, $32

DATA gelu_q13<>+0(SB)/8, $0xbd9d8453cb0c46ea
DATA gelu_q13<>+8(SB)/8, $0xbd9d8453cb0c46ea
DATA gelu_q13<>+16(SB)/8, $0xbd9d8453cb0c46ea
DATA gelu_q13<>+24(SB)/8, $0xbd9d8453cb0c46ea
GLOBL gelu_q13<>(SB), RODATA|NOPTR, $32

DATA gelu_q12<>+0(SB)/8, $0x3dd9e6ad5e55a730
DATA gelu_q12<>+8(SB)/8, $0x3dd9e6ad5e55a730
DATA gelu_q12<>+16(SB)/8, $0x3dd9e6ad5e55a730
DATA gelu_q12<>+24(SB)/8, $0x3dd9e6ad5e55a730
GLOBL gelu_q12<>(SB), RODATA|NOPTR, $32

DATA gelu_q11<>+0(SB)/8, $0xbe151d7181c5d36d
DATA gelu_q11<>+8(SB)/8, $0xbe151d7181c5d36d
DATA gelu_q11<>+16(SB)/8, $0xbe151d7181c5d36d
DATA gelu_q11<>+24(SB)/8, $0xbe151d7181c5d36d
GLOBL gelu_q11<>(SB), RODATA|NOPTR, $32

DATA gelu_q10<>+0(SB)/8, $0x3e4fcc5720624c1c
DATA gelu_q10<>+8(SB)/8, $0x3e4fcc5720624c1c
DATA gelu_q10<>+16(SB)/8, $0x3e4fcc5720624c1c
DATA gelu_q10<>+24(SB)/8, $0x3e4fcc5720624c1c
GLOBL gelu_q10<>(SB), RODATA|NOPTR, $32

DATA gelu_q9<>+0(SB)/8, $0xbe85f742ec43e71a
DATA gelu_q9<>+8(SB)/8, $0xbe85f742ec43e71a
DATA gelu_q9<>+16(SB)/8, $0xbe85f742ec43e71a
DATA gelu_q9<>+24(SB)/8, $0xbe85f742ec43e71a
GLOBL gelu_q9<>(SB), RODATA|NOPTR, $32

DATA gelu_q8<>+0(SB)/8, $0x3ebb9e6c9dc651a3
DATA gelu_q8<>+8(SB)/8, $0x3ebb9e6c9dc651a3
DATA gelu_q8<>+16(SB)/8, $0x3ebb9e6c9dc651a3
DATA gelu_q8<>+24(SB)/8, $0x3ebb9e6c9dc651a3
GLOBL gelu_q8<>(SB), RODATA|NOPTR, $32

DATA gelu_q7<>+0(SB)/8, $0xbeef4d25c3e0c2eb
DATA gelu_q7<>+8(SB)/8, $0xbeef4d25c3e0c2eb
DATA gelu_q7<>+16(SB)/8, $0xbeef4d25c3e0c2eb
DATA gelu_q7<>+24(SB)/8, $0xbeef4d25c3e0c2eb
GLOBL gelu_q7<>(SB), RODATA|NOPTR, $32

DATA gelu_q6<>+0(SB)/8, $0x3f1f9a326f9b89b7
DATA gelu_q6<>+8(SB)/8, $0x3f1f9a326f9b89b7
DATA gelu_q6<>+16(SB)/8, $0x3f1f9a326f9b89b7
DATA gelu_q6<>+24(SB)/8, $0x3f1f9a326f9b89b7
GLOBL gelu_q6<>(SB), RODATA|NOPTR, $32

DATA gelu_q5<>+0(SB)/8, $0xbf4c02db40040b86
DATA gelu_q5<>+8(SB)/8, $0xbf4c02db40040b86
DATA gelu_q5<>+16(SB)/8, $0xbf4c02db40040b86
DATA gelu_q5<>+24(SB)/8, $0xbf4c02db40040b86
GLOBL gelu_q5<>(SB), RODATA|NOPTR, $32

DATA gelu_q4<>+0(SB)/8, $0x3f7565bcd0e6a53f
DATA gelu_q4<>+8(SB)/8, $0x3f7565bcd0e6a53f
DATA gelu_q4<>+16(SB)/8, $0x3f7565bcd0e6a53f
DATA gelu_q4<>+24(SB)/8, $0x3f7565bcd0e6a53f
GLOBL gelu_q4<>(SB), RODATA|NOPTR, $32

DATA gelu_q3<>+0(SB)/8, $0xbf9b82ce31288b51
DATA gelu_q3<>+8(SB)/8, $0xbf9b82ce31288b51
DATA gelu_q3<>+16(SB)/8, $0xbf9b82ce31288b51
DATA gelu_q3<>+24(SB)/8, $0xbf9b82ce31288b51
GLOBL gelu_q3<>(SB), RODATA|NOPTR, $32

DATA gelu_q2<>+0(SB)/8, $0x3fbce2f21a042be2
DATA gelu_q2<>+8(SB)/8, $0x3fbce2f21a042be2
DATA gelu_q2<>+16(SB)/8, $0x3fbce2f21a042be2
DATA gelu_q2<>+24(SB)/8, $0x3fbce2f21a042be2
GLOBL gelu_q2<>(SB), RODATA|NOPTR, $32

DATA gelu_q1<>+0(SB)/8, $0xbfd812746b0379e7
DATA gelu_q1<>+8(SB)/8, $0xbfd812746b0379e7
DATA gelu_q1<>+16(SB)/8, $0xbfd812746b0379e7
DATA gelu_q1<>+24(SB)/8, $0xbfd812746b0379e7
GLOBL gelu_q1<>(SB), RODATA|NOPTR, $32

DATA gelu_q0<>+0(SB)/8, $0x3ff20dd750429b6d
DATA gelu_q0<>+8(SB)/8, $0x3ff20dd750429b6d
DATA gelu_q0<>+16(SB)/8, $0x3ff20dd750429b6d
DATA gelu_q0<>+24(SB)/8, $0x3ff20dd750429b6d
GLOBL gelu_q0<>(SB), RODATA|NOPTR, $32

// EXPPOLY(a, n, t, m): a = expPoly(a); n, t and m are clobbered.
#define EXPPOLY(a, n, t, m) \
	VCMPPD       $5, gelu_lo708<>(SB), a, m; \
	VMAXPD       a, Y15, a; \
	VMINPD       a, Y14, a; \
	VMULPD       gelu_log2e<>(SB), a, n; \
	VROUNDPD     $0, n, n; \
	VFNMADD231PD gelu_ln2hi<>(SB), n, a; \
	VFNMADD231PD gelu_ln2lo<>(SB), n, a; \
	VMOVUPD      gelu_e9<>(SB), t; \
	VFMADD213PD  gelu_e8<>(SB), a, t; \
	VFMADD213PD  gelu_e7<>(SB), a, t; \
	VFMADD213PD  gelu_e6<>(SB), a, t; \
	VFMADD213PD  gelu_e5<>(SB), a, t; \
	VFMADD213PD  gelu_e4<>(SB), a, t; \
	VFMADD213PD  gelu_e3<>(SB), a, t; \
	VFMADD213PD  gelu_e2<>(SB), a, t; \
	VFMADD213PD  gelu_e1<>(SB), a, t; \
	VFMADD213PD  gelu_e0<>(SB), a, t; \
	VADDPD       gelu_magic<>(SB), n, n; \
	VPADDQ       gelu_bias<>(SB), n, n; \
	VPSLLQ       $52, n, n; \
	VMULPD       n, t, a; \
	VANDPD       m, a, a

// func geluAVX2(y, x, dy *float32, n int)
// dy nil: y = float32(x·Φ(x)); else y = float32(dy·(x·φ(x) + Φ(x))) with
// φ(x) = invSqrt2Pi·expPoly(−x²/2), Φ as normCDF. n is a multiple of 4.
// A vector whose lanes all take one branch of normCDF skips the other.
TEXT ·geluAVX2(SB), NOSPLIT, $0-32
	MOVQ    y+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    dy+16(FP), DX
	MOVQ    n+24(FP), CX
	VMOVUPD gelu_lo708<>(SB), Y15
	VMOVUPD gelu_hi700<>(SB), Y14
	VMOVUPD gelu_one<>(SB), Y13
	SHRQ    $2, CX
	JZ      gdone

gloop:
	VCVTPS2PD   (SI), Y0                  // x
	VANDPD      gelu_absMask<>(SB), Y0, Y1
	VMULPD      gelu_invSqrt2<>(SB), Y1, Y1 // z
	VCMPPD      $1, Y13, Y1, Y5           // z < 1: the series' lanes
	VMOVMSKPD   Y5, AX
	CMPQ        AX, $15
	JEQ         gseries                   // every lane: skip erfc
	VMOVUPD     Y1, Y2
	VFMADD132PD gelu_half<>(SB), Y13, Y2  // z·0.5 + 1
	VDIVPD      Y2, Y13, Y2               // t
	VMOVUPD     gelu_p9<>(SB), Y3
	VFMADD213PD gelu_p8<>(SB), Y2, Y3
	VFMADD213PD gelu_p7<>(SB), Y2, Y3
	VFMADD213PD gelu_p6<>(SB), Y2, Y3
	VFMADD213PD gelu_p5<>(SB), Y2, Y3
	VFMADD213PD gelu_p4<>(SB), Y2, Y3
	VFMADD213PD gelu_p3<>(SB), Y2, Y3
	VFMADD213PD gelu_p2<>(SB), Y2, Y3
	VFMADD213PD gelu_p1<>(SB), Y2, Y3
	VFMADD213PD gelu_p0<>(SB), Y2, Y3
	VFNMADD231PD Y1, Y1, Y3               // p − z·z
	EXPPOLY(Y3, Y4, Y5, Y7)
	VMULPD      Y3, Y2, Y3                // t·exp
	VMULPD      gelu_half<>(SB), Y3, Y3   // h
	VSUBPD      Y3, Y13, Y4               // 1 − h
	VBLENDVPD   Y0, Y3, Y4, Y6            // Φ: h where x's sign bit is set
	TESTQ       AX, AX
	JZ          gphi                      // no lane: skip the series

gseries:
	VMULPD      gelu_invSqrt2<>(SB), Y0, Y4 // u
	VMULPD      Y4, Y4, Y5                // u²
	VMOVUPD     gelu_q16<>(SB), Y12
	VFMADD213PD gelu_q15<>(SB), Y5, Y12
	VFMADD213PD gelu_q14<>(SB), Y5, Y12
	VFMADD213PD gelu_q13<>(SB), Y5, Y12
	VFMADD213PD gelu_q12<>(SB), Y5, Y12
	VFMADD213PD gelu_q11<>(SB), Y5, Y12
	VFMADD213PD gelu_q10<>(SB), Y5, Y12
	VFMADD213PD gelu_q9<>(SB), Y5, Y12
	VFMADD213PD gelu_q8<>(SB), Y5, Y12
	VFMADD213PD gelu_q7<>(SB), Y5, Y12
	VFMADD213PD gelu_q6<>(SB), Y5, Y12
	VFMADD213PD gelu_q5<>(SB), Y5, Y12
	VFMADD213PD gelu_q4<>(SB), Y5, Y12
	VFMADD213PD gelu_q3<>(SB), Y5, Y12
	VFMADD213PD gelu_q2<>(SB), Y5, Y12
	VFMADD213PD gelu_q1<>(SB), Y5, Y12
	VFMADD213PD gelu_q0<>(SB), Y5, Y12
	VMULPD      Y12, Y4, Y12              // erf(u)
	VMULPD      gelu_half<>(SB), Y12, Y12
	VADDPD      gelu_half<>(SB), Y12, Y12 // ½ + ½·erf(u)
	VCMPPD      $1, Y13, Y1, Y5           // z < 1
	VBLENDVPD   Y5, Y12, Y6, Y6           // Φ (all of Y12 when erfc was skipped)

gphi:
	TESTQ       DX, DX
	JNZ         gback
	VMULPD      Y6, Y0, Y7
	JMP         gstore

gback:
	VMULPD      Y0, Y0, Y8
	VMULPD      gelu_negHalf<>(SB), Y8, Y8
	EXPPOLY(Y8, Y9, Y10, Y11)
	VMULPD      gelu_invSqrt2Pi<>(SB), Y8, Y8 // φ
	VFMADD213PD Y6, Y0, Y8                    // x·φ + Φ
	VCVTPS2PD   (DX), Y7
	VMULPD      Y8, Y7, Y7
	ADDQ        $16, DX

gstore:
	VCVTPD2PSY Y7, X7
	VMOVUPS    X7, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DI
	DECQ       CX
	JNZ        gloop

gdone:
	VZEROUPPER
	RET

// func expRowAVX2(y, x *float32, n int, shift, mul float64) (sum float64)
// e = expPoly(float64(x) − shift) for n floats (a multiple of 8), sum = Σe
// (two 4-lane accumulators, combined as ((l0+l2)+(l1+l3)) + the other's:
// a fixed order), and y = float32(e·mul) when y is not nil.
TEXT ·expRowAVX2(SB), NOSPLIT, $0-48
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSD shift+24(FP), Y13
	VBROADCASTSD mul+32(FP), Y12
	VMOVUPD      gelu_lo708<>(SB), Y15
	VMOVUPD      gelu_hi700<>(SB), Y14
	VXORPD       Y10, Y10, Y10
	VXORPD       Y11, Y11, Y11
	SHRQ         $3, CX
	JZ           edone

eloop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VSUBPD    Y13, Y0, Y0
	VSUBPD    Y13, Y1, Y1
	EXPPOLY(Y0, Y2, Y3, Y4)
	EXPPOLY(Y1, Y5, Y6, Y7)
	VADDPD    Y0, Y10, Y10
	VADDPD    Y1, Y11, Y11
	TESTQ     DI, DI
	JZ        enext
	VMULPD    Y12, Y0, Y0
	VMULPD    Y12, Y1, Y1
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VMOVUPS   X0, (DI)
	VMOVUPS   X1, 16(DI)
	ADDQ      $32, DI

enext:
	ADDQ $32, SI
	DECQ CX
	JNZ  eloop

edone:
	VEXTRACTF128 $1, Y10, X0
	VADDPD       X0, X10, X10
	VHADDPD      X10, X10, X10
	VEXTRACTF128 $1, Y11, X1
	VADDPD       X1, X11, X11
	VHADDPD      X11, X11, X11
	VADDSD       X11, X10, X10
	MOVSD        X10, sum+40(FP)
	VZEROUPPER
	RET

// func maxRowAVX2(x *float32, n int) (mx float32, nan int)
// mx = max of n floats (a multiple of 8) ignoring NaNs, or −Inf when all
// are NaN; nan = 1 when any is NaN. VMAXPS returns its second source (the
// accumulator) when either is NaN, so the accumulator never takes one.
TEXT ·maxRowAVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVL         $0xff800000, AX
	MOVQ         AX, X0
	VBROADCASTSS X0, Y0
	VXORPS       Y1, Y1, Y1
	SHRQ         $3, CX
	JZ           xdone

xloop:
	VMOVUPS (SI), Y2
	VCMPPS  $3, Y2, Y2, Y3
	VORPS   Y3, Y1, Y1
	VMAXPS  Y0, Y2, Y0 // max(x, acc): acc where x is NaN
	ADDQ    $32, SI
	DECQ    CX
	JNZ     xloop

xdone:
	VEXTRACTF128 $1, Y0, X2
	VMAXPS       X0, X2, X0
	VPERMILPS    $0x4e, X0, X2
	VMAXPS       X0, X2, X0
	VPERMILPS    $0xb1, X0, X2
	VMAXPS       X0, X2, X0
	MOVSS        X0, mx+16(FP)
	VMOVMSKPS    Y1, AX
	XORQ         DX, DX
	TESTL        AX, AX
	SETNE        DX
	MOVQ         DX, nan+24(FP)
	VZEROUPPER
	RET
