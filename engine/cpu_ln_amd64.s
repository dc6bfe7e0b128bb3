//go:build amd64 && !purego

#include "textflag.h"

// AVX2 loops of cpu_ln.go's layer norm rows, 8 floats per trip in two
// 4-lane float64 halves; n is a multiple of 8 (the Go callers do the
// tail). The element-wise results are the Go loops' bit for bit (the same
// float64 operations in the same order, no FMA); the sums are summed in
// another fixed order.

// LOAD8(p, lo, hi): the 8 floats at p as two vectors of 4 doubles.
#define LOAD8(p, lo, hi) \
	VCVTPS2PD (p), lo; \
	VCVTPS2PD 16(p), hi

// func lnApplyAVX2(y, x, gamma, b *float32, n int, mean, inv float64)
// y = float32(((x − mean)·inv)·g + b), without the ·g when g is nil and
// the + b when b is nil.
TEXT ·lnApplyAVX2(SB), NOSPLIT, $0-56
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         gamma+16(FP), BX
	MOVQ         b+24(FP), DX
	MOVQ         n+32(FP), CX
	VBROADCASTSD mean+40(FP), Y14
	VBROADCASTSD inv+48(FP), Y15
	SHRQ         $3, CX
	JZ           adone

aloop:
	LOAD8(SI, Y0, Y1)
	VSUBPD Y14, Y0, Y0
	VSUBPD Y14, Y1, Y1
	VMULPD Y15, Y0, Y0
	VMULPD Y15, Y1, Y1
	TESTQ  BX, BX
	JZ     anog
	LOAD8(BX, Y2, Y3)
	VMULPD Y2, Y0, Y0
	VMULPD Y3, Y1, Y1
	ADDQ   $32, BX

anog:
	TESTQ  DX, DX
	JZ     anob
	LOAD8(DX, Y2, Y3)
	VADDPD Y2, Y0, Y0
	VADDPD Y3, Y1, Y1
	ADDQ   $32, DX

anob:
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VMOVUPS    X0, (DI)
	VMOVUPS    X1, 16(DI)
	ADDQ       $32, SI
	ADDQ       $32, DI
	DECQ       CX
	JNZ        aloop

adone:
	VZEROUPPER
	RET

// func lnGradSumsAVX2(dy, x, gamma *float32, n int, mean, inv float64) (sg, sgx float64)
// With h = dy·g (dy when g is nil) and xh = (x − mean)·inv: sg = Σh,
// sgx = Σh·xh (each lane's sums in order, the lanes combined as
// ((l0+l2)+(l1+l3)), the second half's added last).
TEXT ·lnGradSumsAVX2(SB), NOSPLIT, $0-64
	MOVQ         dy+0(FP), SI
	MOVQ         x+8(FP), BX
	MOVQ         gamma+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD mean+32(FP), Y14
	VBROADCASTSD inv+40(FP), Y15
	VXORPD       Y8, Y8, Y8
	VXORPD       Y9, Y9, Y9
	VXORPD       Y10, Y10, Y10
	VXORPD       Y11, Y11, Y11
	SHRQ         $3, CX
	JZ           sdone

sloop:
	LOAD8(SI, Y0, Y1)
	TESTQ  DX, DX
	JZ     snog
	LOAD8(DX, Y2, Y3)
	VMULPD Y2, Y0, Y0
	VMULPD Y3, Y1, Y1
	ADDQ   $32, DX

snog:
	LOAD8(BX, Y4, Y5)
	VSUBPD Y14, Y4, Y4
	VSUBPD Y14, Y5, Y5
	VMULPD Y15, Y4, Y4
	VMULPD Y15, Y5, Y5
	VADDPD Y0, Y8, Y8
	VADDPD Y1, Y9, Y9
	VMULPD Y4, Y0, Y4
	VMULPD Y5, Y1, Y5
	VADDPD Y4, Y10, Y10
	VADDPD Y5, Y11, Y11
	ADDQ   $32, SI
	ADDQ   $32, BX
	DECQ   CX
	JNZ    sloop

sdone:
	VADDPD       Y9, Y8, Y8
	VADDPD       Y11, Y10, Y10
	VEXTRACTF128 $1, Y8, X0
	VADDPD       X0, X8, X8
	VHADDPD      X8, X8, X8
	VEXTRACTF128 $1, Y10, X0
	VADDPD       X0, X10, X10
	VHADDPD      X10, X10, X10
	MOVSD        X8, sg+48(FP)
	MOVSD        X10, sgx+56(FP)
	VZEROUPPER
	RET

// func lnGradAVX2(dx, dy, x, gamma *float32, n int, mean, inv, sg, sgx float64)
// dx = float32(inv·((h − sg) − xh·sgx)) with h and xh as lnGradSumsAVX2's.
TEXT ·lnGradAVX2(SB), NOSPLIT, $0-72
	MOVQ         dx+0(FP), DI
	MOVQ         dy+8(FP), SI
	MOVQ         x+16(FP), BX
	MOVQ         gamma+24(FP), DX
	MOVQ         n+32(FP), CX
	VBROADCASTSD mean+40(FP), Y12
	VBROADCASTSD inv+48(FP), Y13
	VBROADCASTSD sg+56(FP), Y14
	VBROADCASTSD sgx+64(FP), Y15
	SHRQ         $3, CX
	JZ           gdone

gloop:
	LOAD8(SI, Y0, Y1)
	TESTQ  DX, DX
	JZ     gnog
	LOAD8(DX, Y2, Y3)
	VMULPD Y2, Y0, Y0
	VMULPD Y3, Y1, Y1
	ADDQ   $32, DX

gnog:
	LOAD8(BX, Y4, Y5)
	VSUBPD     Y12, Y4, Y4
	VSUBPD     Y12, Y5, Y5
	VMULPD     Y13, Y4, Y4
	VMULPD     Y13, Y5, Y5
	VSUBPD     Y14, Y0, Y0
	VSUBPD     Y14, Y1, Y1
	VMULPD     Y15, Y4, Y4
	VMULPD     Y15, Y5, Y5
	VSUBPD     Y4, Y0, Y0
	VSUBPD     Y5, Y1, Y1
	VMULPD     Y13, Y0, Y0
	VMULPD     Y13, Y1, Y1
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VMOVUPS    X0, (DI)
	VMOVUPS    X1, 16(DI)
	ADDQ       $32, SI
	ADDQ       $32, BX
	ADDQ       $32, DI
	DECQ       CX
	JNZ        gloop

gdone:
	VZEROUPPER
	RET

// func lnColSumsAVX2(sg, sb *float64, dy, x *float32, n int, mean, inv float64)
// For one row: sb += dy and sg += (dy·(x − mean))·inv, element by element
// (each column's sum keeps its own order: the Go loop's bits).
TEXT ·lnColSumsAVX2(SB), NOSPLIT, $0-56
	MOVQ         sg+0(FP), DI
	MOVQ         sb+8(FP), R8
	MOVQ         dy+16(FP), SI
	MOVQ         x+24(FP), BX
	MOVQ         n+32(FP), CX
	VBROADCASTSD mean+40(FP), Y14
	VBROADCASTSD inv+48(FP), Y15
	SHRQ         $3, CX
	JZ           cdone

cloop:
	LOAD8(SI, Y0, Y1)
	LOAD8(BX, Y2, Y3)
	VADDPD  (R8), Y0, Y4
	VADDPD  32(R8), Y1, Y5
	VMOVUPD Y4, (R8)
	VMOVUPD Y5, 32(R8)
	VSUBPD  Y14, Y2, Y2
	VSUBPD  Y14, Y3, Y3
	VMULPD  Y2, Y0, Y0
	VMULPD  Y3, Y1, Y1
	VMULPD  Y15, Y0, Y0
	VMULPD  Y15, Y1, Y1
	VADDPD  (DI), Y0, Y0
	VADDPD  32(DI), Y1, Y1
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $64, DI
	ADDQ    $64, R8
	DECQ    CX
	JNZ     cloop

cdone:
	VZEROUPPER
	RET
