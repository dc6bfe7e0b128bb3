//go:build amd64 && !purego

#include "textflag.h"

// AVX2 loops of cpu_opt.go's optimizer updates, 8 floats per trip; n is a
// multiple of 8 (the Go callers do the tail). Each is its scalar function
// (sgdOne, adadeltaOne) operation for operation: float32 multiplies and
// adds rounded one by one (no FMA), so the results are the same bits.

// func sgdAVX2(p, grad, m *float32, n int, lr, wd, mom, damp1 float32, flags int)
// flags: 1 weight decay, 2 momentum (m is the buffer), 4 first step, 8
// Nesterov. With d = g + wd·p: b = d (first step) or mom·m + damp1·d;
// m = b; u = d + mom·b (Nesterov) or b; p = p − lr·u.
TEXT ·sgdAVX2(SB), NOSPLIT, $0-56
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), BX
	MOVQ         n+24(FP), CX
	VBROADCASTSS lr+32(FP), Y12
	VBROADCASTSS wd+36(FP), Y13
	VBROADCASTSS mom+40(FP), Y14
	VBROADCASTSS damp1+44(FP), Y15
	MOVQ         flags+48(FP), DX
	SHRQ         $3, CX
	JZ           gdone

gloop:
	VMOVUPS (SI), Y0
	VMOVUPS (DI), Y1
	TESTQ   $1, DX
	JZ      gnodecay
	VMULPS  Y1, Y13, Y2
	VADDPS  Y2, Y0, Y0

gnodecay:
	TESTQ $2, DX
	JZ    gstep
	TESTQ $4, DX
	JZ    gdecayed
	VMOVAPS Y0, Y3
	JMP   gbuf

gdecayed:
	VMULPS (BX), Y14, Y3
	VMULPS Y0, Y15, Y4
	VADDPS Y4, Y3, Y3

gbuf:
	VMOVUPS Y3, (BX)
	ADDQ    $32, BX
	TESTQ   $8, DX
	JZ      gplain
	VMULPS  Y3, Y14, Y4
	VADDPS  Y4, Y0, Y0
	JMP     gstep

gplain:
	VMOVAPS Y3, Y0

gstep:
	VMULPS  Y0, Y12, Y2
	VSUBPS  Y2, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     gloop

gdone:
	VZEROUPPER
	RET

// func adadeltaAVX2(p, grad, sq, ad *float32, n int, lr, rho, eps, wd float32, decay int)
// With h = g + wd·p (g when decay is 0): s = rho·sq + ((1−rho)·h)·h;
// sq = s; d = (√(ad+eps) / √(s+eps))·h; ad = rho·ad + ((1−rho)·d)·d;
// p = p − lr·d.
TEXT ·adadeltaAVX2(SB), NOSPLIT, $0-64
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         sq+16(FP), BX
	MOVQ         ad+24(FP), DX
	MOVQ         n+32(FP), CX
	VBROADCASTSS lr+40(FP), Y11
	VBROADCASTSS rho+44(FP), Y12
	VBROADCASTSS eps+48(FP), Y13
	VBROADCASTSS wd+52(FP), Y14
	MOVQ         decay+56(FP), AX
	MOVL         $0x3f800000, R8
	MOVL         R8, X15
	VBROADCASTSS X15, Y15
	VSUBPS       Y12, Y15, Y15 // 1 − rho
	SHRQ         $3, CX
	JZ           adone

aloop:
	VMOVUPS (SI), Y0
	VMOVUPS (DI), Y1
	TESTQ   AX, AX
	JZ      anodecay
	VMULPS  Y1, Y14, Y2
	VADDPS  Y2, Y0, Y0

anodecay:
	VMULPS  (BX), Y12, Y2 // rho·sq
	VMULPS  Y0, Y15, Y3
	VMULPS  Y0, Y3, Y3    // ((1−rho)·g)·g
	VADDPS  Y3, Y2, Y2    // s
	VMOVUPS Y2, (BX)
	VADDPS  Y13, Y2, Y2
	VSQRTPS Y2, Y2        // std
	VMOVUPS (DX), Y4      // ad
	VADDPS  Y13, Y4, Y5
	VSQRTPS Y5, Y5
	VDIVPS  Y2, Y5, Y5
	VMULPS  Y0, Y5, Y5    // delta
	VMULPS  Y4, Y12, Y4   // rho·ad
	VMULPS  Y5, Y15, Y6
	VMULPS  Y5, Y6, Y6    // ((1−rho)·delta)·delta
	VADDPS  Y6, Y4, Y4
	VMOVUPS Y4, (DX)
	VMULPS  Y5, Y11, Y6
	VSUBPS  Y6, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, BX
	ADDQ    $32, DX
	DECQ    CX
	JNZ     aloop

adone:
	VZEROUPPER
	RET
