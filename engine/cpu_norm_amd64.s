//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA loops of cpu_norm_small.go: the batch norms' channel blocks,
// whose coefficients and partial sums are per position (one channel's
// value repeated over its plane). 8 floats per trip; n is a multiple of 8
// (the Go callers do the tail). Each position's arithmetic is the Go
// loop's, operation for operation, except that the squares and products
// of the partial sums are fused multiply-adds.

// func bnStatsAVX2(x *float32, sh, p1, p2 *float64, n int)
// p1 += x − sh, p2 += (x − sh)² per position, in float64.
TEXT ·bnStatsAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ sh+8(FP), BX
	MOVQ p1+16(FP), DI
	MOVQ p2+24(FP), DX
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JZ   sdone

sloop:
	VCVTPS2PD   (SI), Y0
	VCVTPS2PD   16(SI), Y1
	VSUBPD      (BX), Y0, Y0
	VSUBPD      32(BX), Y1, Y1
	VADDPD      (DI), Y0, Y2
	VADDPD      32(DI), Y1, Y3
	VMOVUPD     Y2, (DI)
	VMOVUPD     Y3, 32(DI)
	VMOVUPD     (DX), Y4
	VMOVUPD     32(DX), Y5
	VFMADD231PD Y0, Y0, Y4
	VFMADD231PD Y1, Y1, Y5
	VMOVUPD     Y4, (DX)
	VMOVUPD     Y5, 32(DX)
	ADDQ        $32, SI
	ADDQ        $64, BX
	ADDQ        $64, DI
	ADDQ        $64, DX
	DECQ        CX
	JNZ         sloop

sdone:
	VZEROUPPER
	RET

// func bnApplyAVX2(y, x, a, o *float32, n int, relu int)
// y = x·a + o per position (a float32 multiply, then add), then max(·, 0)
// when relu is not 0 (VMAXPS returns the zero for NaN, as relu32).
TEXT ·bnApplyAVX2(SB), NOSPLIT, $0-48
	MOVQ   y+0(FP), DI
	MOVQ   x+8(FP), SI
	MOVQ   a+16(FP), BX
	MOVQ   o+24(FP), DX
	MOVQ   n+32(FP), CX
	MOVQ   relu+40(FP), R8
	VXORPS Y15, Y15, Y15
	SHRQ   $3, CX
	JZ     adone
	TESTQ  R8, R8
	JNZ    arelu

aloop:
	VMOVUPS (SI), Y0
	VMULPS  (BX), Y0, Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     aloop
	JMP     adone

arelu:
	VMOVUPS (SI), Y0
	VMULPS  (BX), Y0, Y0
	VADDPS  (DX), Y0, Y0
	VMAXPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     arelu

adone:
	VZEROUPPER
	RET

// func bnGradSumsAVX2(dy, x, ym *float32, mu, p1, p2 *float64, n int)
// p1 += d, p2 += d·(x − mu) per position, d = dy, or dy where ym > 0 else
// +0 when ym is not nil (VCMPPS greater-than, ordered: NaN gives false).
TEXT ·bnGradSumsAVX2(SB), NOSPLIT, $0-56
	MOVQ   dy+0(FP), SI
	MOVQ   x+8(FP), BX
	MOVQ   ym+16(FP), DX
	MOVQ   mu+24(FP), R8
	MOVQ   p1+32(FP), DI
	MOVQ   p2+40(FP), R9
	MOVQ   n+48(FP), CX
	VXORPS Y15, Y15, Y15
	SHRQ   $3, CX
	JZ     gdone

gloop:
	VMOVUPS (SI), Y8
	TESTQ   DX, DX
	JZ      gnomask
	VMOVUPS (DX), Y9
	VCMPPS  $0x1e, Y15, Y9, Y9
	VANDPS  Y9, Y8, Y8
	ADDQ    $32, DX

gnomask:
	VEXTRACTF128 $1, Y8, X9
	VCVTPS2PD    X8, Y0
	VCVTPS2PD    X9, Y1
	VCVTPS2PD    (BX), Y2
	VCVTPS2PD    16(BX), Y3
	VSUBPD       (R8), Y2, Y2
	VSUBPD       32(R8), Y3, Y3
	VADDPD       (DI), Y0, Y4
	VADDPD       32(DI), Y1, Y5
	VMOVUPD      Y4, (DI)
	VMOVUPD      Y5, 32(DI)
	VMOVUPD      (R9), Y6
	VMOVUPD      32(R9), Y7
	VFMADD231PD  Y0, Y2, Y6
	VFMADD231PD  Y1, Y3, Y7
	VMOVUPD      Y6, (R9)
	VMOVUPD      Y7, 32(R9)
	ADDQ         $32, SI
	ADDQ         $32, BX
	ADDQ         $64, R8
	ADDQ         $64, DI
	ADDQ         $64, R9
	DECQ         CX
	JNZ          gloop

gdone:
	VZEROUPPER
	RET

// func bnLin3AVX2(dx, dy, x, ym *float32, abc *float64, n int)
// dx = float32((a·d + b·x) + c) in float64 per position, each operation
// rounded as the Go loop rounds it (no fused multiply-add), with abc holding
// 4 a, 4 b, 4 c, then the next 4 positions' (12 doubles per 4 positions);
// d = dy masked by ym > 0 when ym is not nil. dx may be dy.
TEXT ·bnLin3AVX2(SB), NOSPLIT, $0-48
	MOVQ   dx+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   x+16(FP), BX
	MOVQ   ym+24(FP), DX
	MOVQ   abc+32(FP), R8
	MOVQ   n+40(FP), CX
	VXORPS Y15, Y15, Y15
	SHRQ   $3, CX
	JZ     ldone

lloop:
	VMOVUPS (SI), Y8
	TESTQ   DX, DX
	JZ      lnomask
	VMOVUPS (DX), Y9
	VCMPPS  $0x1e, Y15, Y9, Y9
	VANDPS  Y9, Y8, Y8
	ADDQ    $32, DX

lnomask:
	VEXTRACTF128 $1, Y8, X9
	VCVTPS2PD    X8, Y4
	VCVTPS2PD    X9, Y5
	VCVTPS2PD    (BX), Y6
	VCVTPS2PD    16(BX), Y7
	VMULPD       (R8), Y4, Y4
	VMULPD       96(R8), Y5, Y5
	VMULPD       32(R8), Y6, Y6
	VMULPD       128(R8), Y7, Y7
	VADDPD       Y6, Y4, Y4
	VADDPD       Y7, Y5, Y5
	VADDPD       64(R8), Y4, Y4
	VADDPD       160(R8), Y5, Y5
	VCVTPD2PSY   Y4, X4
	VCVTPD2PSY   Y5, X5
	VMOVUPS      X4, (DI)
	VMOVUPS      X5, 16(DI)
	ADDQ         $32, SI
	ADDQ         $32, BX
	ADDQ         $32, DI
	ADDQ         $192, R8
	DECQ         CX
	JNZ          lloop

ldone:
	VZEROUPPER
	RET
