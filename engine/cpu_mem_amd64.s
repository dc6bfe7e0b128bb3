//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA loops of cpu_mem.go's memory-bound runs, 8 floats per trip; n is
// a multiple of 8 (the Go callers do the tail). Float64 sums keep two
// 4-lane accumulators per sum, combined as ((l0+l2)+(l1+l3)) at the end: a
// fixed order, so results depend only on the data.

// HSUM4 reduces the 4 doubles of Y(reg) into the low double of X(reg).
#define HSUM4(y, x, tmp) \
	VEXTRACTF128 $1, y, tmp; \
	VADDPD       tmp, x, x; \
	VHADDPD      x, x, x

// func sumShiftedAVX2(x *float32, n int, k float64) (s1, s2 float64)
TEXT ·sumShiftedAVX2(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSD k+16(FP), Y15
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	SHRQ         $3, CX
	JZ           sdone

sloop:
	VCVTPS2PD   (SI), Y4
	VCVTPS2PD   16(SI), Y5
	VSUBPD      Y15, Y4, Y4
	VSUBPD      Y15, Y5, Y5
	VADDPD      Y4, Y0, Y0
	VADDPD      Y5, Y1, Y1
	VFMADD231PD Y4, Y4, Y2
	VFMADD231PD Y5, Y5, Y3
	ADDQ        $32, SI
	DECQ        CX
	JNZ         sloop

sdone:
	VADDPD Y1, Y0, Y0
	VADDPD Y3, Y2, Y2
	HSUM4(Y0, X0, X1)
	HSUM4(Y2, X2, X3)
	MOVSD  X0, s1+24(FP)
	MOVSD  X2, s2+32(FP)
	VZEROUPPER
	RET

// func affineAVX2(y, x *float32, n int, a, off float32, relu int)
// y = x·a + off (a float32 multiply, then add), then max(·, 0) when relu is
// not 0: VMAXPS returns its second source (zero) for a NaN or for zeros of
// either sign, as relu32.
TEXT ·affineAVX2(SB), NOSPLIT, $0-40
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS a+24(FP), Y14
	VBROADCASTSS off+28(FP), Y15
	VXORPS       Y13, Y13, Y13
	MOVQ         relu+32(FP), DX
	SHRQ         $3, CX
	JZ           adone
	TESTQ        DX, DX
	JNZ          arelu

aloop:
	VMULPS  (SI), Y14, Y0
	VADDPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     aloop
	JMP     adone

arelu:
	VMULPS  (SI), Y14, Y0
	VADDPS  Y15, Y0, Y0
	VMAXPS  Y13, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     arelu

adone:
	VZEROUPPER
	RET

// func dotSumsAVX2(dy, x, ym *float32, n int, mean float64) (s1, s2 float64)
// s1 = Σd, s2 = Σd·(x−mean) with d = dy, or dy where ym > 0 else +0 when ym
// is not nil (VCMPPS greater-than, ordered: NaN gives false).
TEXT ·dotSumsAVX2(SB), NOSPLIT, $0-56
	MOVQ         dy+0(FP), SI
	MOVQ         x+8(FP), BX
	MOVQ         ym+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD mean+32(FP), Y15
	VXORPS       Y14, Y14, Y14
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	SHRQ         $3, CX
	JZ           ddone

dloop:
	VMOVUPS (SI), Y8
	TESTQ   DX, DX
	JZ      dnomask
	VMOVUPS (DX), Y9
	VCMPPS  $0x1e, Y14, Y9, Y9
	VANDPS  Y9, Y8, Y8
	ADDQ    $32, DX

dnomask:
	VEXTRACTF128 $1, Y8, X9
	VCVTPS2PD    X8, Y4
	VCVTPS2PD    X9, Y5
	VCVTPS2PD    (BX), Y6
	VCVTPS2PD    16(BX), Y7
	VSUBPD       Y15, Y6, Y6
	VSUBPD       Y15, Y7, Y7
	VADDPD       Y4, Y0, Y0
	VADDPD       Y5, Y1, Y1
	VFMADD231PD  Y4, Y6, Y2
	VFMADD231PD  Y5, Y7, Y3
	ADDQ         $32, SI
	ADDQ         $32, BX
	DECQ         CX
	JNZ          dloop

ddone:
	VADDPD Y1, Y0, Y0
	VADDPD Y3, Y2, Y2
	HSUM4(Y0, X0, X1)
	HSUM4(Y2, X2, X3)
	MOVSD  X0, s1+40(FP)
	MOVSD  X2, s2+48(FP)
	VZEROUPPER
	RET

// func lin3AVX2(dx, dy, x, ym *float32, n int, a, b, c float64)
// dx = float32((a·d + b·x) + c) in float64, each operation rounded as the
// Go loop rounds it (no fused multiply-add), d = dy masked by ym > 0 when ym
// is not nil. dx may be dy.
TEXT ·lin3AVX2(SB), NOSPLIT, $0-64
	MOVQ         dx+0(FP), DI
	MOVQ         dy+8(FP), SI
	MOVQ         x+16(FP), BX
	MOVQ         ym+24(FP), DX
	MOVQ         n+32(FP), CX
	VBROADCASTSD a+40(FP), Y13
	VBROADCASTSD b+48(FP), Y14
	VBROADCASTSD c+56(FP), Y15
	VXORPS       Y12, Y12, Y12
	SHRQ         $3, CX
	JZ           ldone

lloop:
	VMOVUPS (SI), Y8
	TESTQ   DX, DX
	JZ      lnomask
	VMOVUPS (DX), Y9
	VCMPPS  $0x1e, Y12, Y9, Y9
	VANDPS  Y9, Y8, Y8
	ADDQ    $32, DX

lnomask:
	VEXTRACTF128 $1, Y8, X9
	VCVTPS2PD    X8, Y4
	VCVTPS2PD    X9, Y5
	VCVTPS2PD    (BX), Y6
	VCVTPS2PD    16(BX), Y7
	VMULPD       Y13, Y4, Y4
	VMULPD       Y13, Y5, Y5
	VMULPD       Y14, Y6, Y6
	VMULPD       Y14, Y7, Y7
	VADDPD       Y6, Y4, Y4
	VADDPD       Y7, Y5, Y5
	VADDPD       Y15, Y4, Y4
	VADDPD       Y15, Y5, Y5
	VCVTPD2PSY   Y4, X4
	VCVTPD2PSY   Y5, X5
	VMOVUPS      X4, (DI)
	VMOVUPS      X5, 16(DI)
	ADDQ         $32, SI
	ADDQ         $32, BX
	ADDQ         $32, DI
	DECQ         CX
	JNZ          lloop

ldone:
	VZEROUPPER
	RET

// func addReluAVX2(y, a, b *float32, n int, relu int)
// y = a + b, then max(·, 0) when relu is not 0 (as affineAVX2).
TEXT ·addReluAVX2(SB), NOSPLIT, $0-40
	MOVQ   y+0(FP), DI
	MOVQ   a+8(FP), SI
	MOVQ   b+16(FP), BX
	MOVQ   n+24(FP), CX
	MOVQ   relu+32(FP), DX
	VXORPS Y13, Y13, Y13
	SHRQ   $3, CX
	JZ     rdone
	TESTQ  DX, DX
	JNZ    rrelu

rloop:
	VMOVUPS (SI), Y0
	VADDPS  (BX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     rloop
	JMP     rdone

rrelu:
	VMOVUPS (SI), Y0
	VADDPS  (BX), Y0, Y0
	VMAXPS  Y13, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     rrelu

rdone:
	VZEROUPPER
	RET

// func scaleAddAVX2(y, x, r *float32, n int, f float32, add int)
// y = x·f, or (x·f) + r when add != 0 (two roundings, no FMA: the Go
// loop's x*f then + r).
TEXT ·scaleAddAVX2(SB), NOSPLIT, $0-48
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         r+16(FP), BX
	MOVQ         n+24(FP), CX
	VBROADCASTSS f+32(FP), Y14
	MOVQ         add+40(FP), DX
	SHRQ         $3, CX
	JZ           sdone
	TESTQ        DX, DX
	JNZ          sadd

sloop:
	VMULPS  (SI), Y14, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sloop
	JMP     sdone

sadd:
	VMULPS  (SI), Y14, Y0
	VADDPS  (BX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sadd

sdone:
	VZEROUPPER
	RET
