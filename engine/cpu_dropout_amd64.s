//go:build amd64 && !purego

#include "textflag.h"

// Philox4x32-10 for 8 counters at once (one 32-bit lane each) and the
// dropout of the 32 elements they decide: the AVX2 loop of cpu_dropout.go,
// bit for bit its scalar dropoutRun (engine.Philox, engine.DropoutUniform).

DATA dropM0<>+0(SB)/8, $0xD2511F53D2511F53
DATA dropM0<>+8(SB)/8, $0xD2511F53D2511F53
DATA dropM0<>+16(SB)/8, $0xD2511F53D2511F53
DATA dropM0<>+24(SB)/8, $0xD2511F53D2511F53
GLOBL dropM0<>(SB), RODATA|NOPTR, $32

DATA dropM1<>+0(SB)/8, $0xCD9E8D57CD9E8D57
DATA dropM1<>+8(SB)/8, $0xCD9E8D57CD9E8D57
DATA dropM1<>+16(SB)/8, $0xCD9E8D57CD9E8D57
DATA dropM1<>+24(SB)/8, $0xCD9E8D57CD9E8D57
GLOBL dropM1<>(SB), RODATA|NOPTR, $32

DATA dropW0<>+0(SB)/8, $0x9E3779B99E3779B9
DATA dropW0<>+8(SB)/8, $0x9E3779B99E3779B9
DATA dropW0<>+16(SB)/8, $0x9E3779B99E3779B9
DATA dropW0<>+24(SB)/8, $0x9E3779B99E3779B9
GLOBL dropW0<>(SB), RODATA|NOPTR, $32

DATA dropW1<>+0(SB)/8, $0xBB67AE85BB67AE85
DATA dropW1<>+8(SB)/8, $0xBB67AE85BB67AE85
DATA dropW1<>+16(SB)/8, $0xBB67AE85BB67AE85
DATA dropW1<>+24(SB)/8, $0xBB67AE85BB67AE85
GLOBL dropW1<>(SB), RODATA|NOPTR, $32

DATA dropLanes<>+0(SB)/8, $0x0000000100000000
DATA dropLanes<>+8(SB)/8, $0x0000000300000002
DATA dropLanes<>+16(SB)/8, $0x0000000500000004
DATA dropLanes<>+24(SB)/8, $0x0000000700000006
GLOBL dropLanes<>(SB), RODATA|NOPTR, $32

DATA dropEight<>+0(SB)/8, $0x0000000800000008
DATA dropEight<>+8(SB)/8, $0x0000000800000008
DATA dropEight<>+16(SB)/8, $0x0000000800000008
DATA dropEight<>+24(SB)/8, $0x0000000800000008
GLOBL dropEight<>(SB), RODATA|NOPTR, $32

// MULHILO: lo = low and hi = high 32 bits of the 32×32-bit products of the
// lanes of c with the constant m (VPMULUDQ multiplies the even lanes;
// shifting by 32 brings the odd ones down).
#define MULHILO(c, m, lo, hi, tmp) \
	VPMULLD  m, c, lo; \
	VPMULUDQ m, c, hi; \
	VPSRLQ   $32, c, tmp; \
	VPMULUDQ m, tmp, tmp; \
	VPSRLQ   $32, hi, hi; \
	VPBLENDD $0xAA, tmp, hi, hi

// func dropoutAVX2(y, x *float32, n int, q, qhi, layer, step, k0, k1 uint32, thresh, scale float32)
// n is a multiple of 32; element e of the run is word e%4 of the Philox
// block at counter (q + e/4, qhi, layer, step) under key (k0, k1) (the
// caller keeps q + n/4 − 1 below 2³²). y = 0 where float32(word>>8) <
// thresh (= p·2²⁴: u < p exactly), else x·scale.
TEXT ·dropoutAVX2(SB), NOSPLIT, $0-56
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS q+24(FP), Y14
	VPADDD       dropLanes<>(SB), Y14, Y14
	VBROADCASTSS thresh+48(FP), Y15
	VBROADCASTSS scale+52(FP), Y13
	SHRQ         $5, CX
	JZ           ddone

dloop:
	VMOVDQU      Y14, Y0
	VBROADCASTSS qhi+28(FP), Y1
	VBROADCASTSS layer+32(FP), Y2
	VBROADCASTSS step+36(FP), Y3
	VBROADCASTSS k0+40(FP), Y4
	VBROADCASTSS k1+44(FP), Y5
	MOVQ         $10, DX

dround:
	MULHILO(Y0, dropM0<>(SB), Y6, Y7, Y8)
	MULHILO(Y2, dropM1<>(SB), Y9, Y10, Y11)
	VPXOR   Y1, Y10, Y10
	VPXOR   Y4, Y10, Y0 // c0 = hi1 ^ c1 ^ k0
	VMOVDQU Y9, Y1      // c1 = lo1
	VPXOR   Y3, Y7, Y7
	VPXOR   Y5, Y7, Y2  // c2 = hi0 ^ c3 ^ k1
	VMOVDQU Y6, Y3      // c3 = lo0
	VPADDD  dropW0<>(SB), Y4, Y4
	VPADDD  dropW1<>(SB), Y5, Y5
	DECQ    DX
	JNZ     dround

	// Drop masks (all ones where dropped), word by word.
	VPSRLD    $8, Y0, Y0
	VPSRLD    $8, Y1, Y1
	VPSRLD    $8, Y2, Y2
	VPSRLD    $8, Y3, Y3
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y1, Y1
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	VCMPPS    $1, Y15, Y0, Y0
	VCMPPS    $1, Y15, Y1, Y1
	VCMPPS    $1, Y15, Y2, Y2
	VCMPPS    $1, Y15, Y3, Y3

	// Transpose: words w of blocks b (Y_w lane b) to elements 4b+w.
	VUNPCKLPS  Y1, Y0, Y6
	VUNPCKHPS  Y1, Y0, Y7
	VUNPCKLPS  Y3, Y2, Y8
	VUNPCKHPS  Y3, Y2, Y9
	VUNPCKLPD  Y8, Y6, Y0
	VUNPCKHPD  Y8, Y6, Y1
	VUNPCKLPD  Y9, Y7, Y2
	VUNPCKHPD  Y9, Y7, Y3
	VPERM2F128 $0x20, Y1, Y0, Y6 // elements 0-7
	VPERM2F128 $0x20, Y3, Y2, Y7 // 8-15
	VPERM2F128 $0x31, Y1, Y0, Y8 // 16-23
	VPERM2F128 $0x31, Y3, Y2, Y9 // 24-31

	VMULPS  (SI), Y13, Y10
	VANDNPS Y10, Y6, Y10
	VMOVUPS Y10, (DI)
	VMULPS  32(SI), Y13, Y10
	VANDNPS Y10, Y7, Y10
	VMOVUPS Y10, 32(DI)
	VMULPS  64(SI), Y13, Y10
	VANDNPS Y10, Y8, Y10
	VMOVUPS Y10, 64(DI)
	VMULPS  96(SI), Y13, Y10
	VANDNPS Y10, Y9, Y10
	VMOVUPS Y10, 96(DI)

	VPADDD dropEight<>(SB), Y14, Y14
	ADDQ   $128, SI
	ADDQ   $128, DI
	DECQ   CX
	JNZ    dloop

ddone:
	VZEROUPPER
	RET
