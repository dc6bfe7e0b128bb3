//go:build amd64 && !purego

#include "textflag.h"

// Y4..Y15 hold the 4×24 accumulator tile: row r uses Y(4+3r), Y(5+3r), Y(6+3r).

#define FMAROW(src, a, r0, r1, r2) \
	VBROADCASTSS src, a; \
	VFMADD231PS  Y0, a, r0; \
	VFMADD231PS  Y1, a, r1; \
	VFMADD231PS  Y2, a, r2

// One k step: load the 24-wide B row at BX, broadcast the 4 A values.
#define KSTEP \
	VMOVUPS (BX), Y0; \
	VMOVUPS 32(BX), Y1; \
	VMOVUPS 64(BX), Y2; \
	FMAROW((AX), Y3, Y4, Y5, Y6); \
	FMAROW((AX)(R8*1), Y3, Y7, Y8, Y9); \
	FMAROW((DX), Y3, Y10, Y11, Y12); \
	FMAROW((DX)(R8*1), Y3, Y13, Y14, Y15); \
	ADDQ R9, AX; \
	ADDQ R9, DX; \
	ADDQ R10, BX

// func kern4x24(kc int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32)
//
// C[r][j] = alpha*sum_p A[r][p]*B[p][j] + beta*C[r][j] for r < 4, j < 24,
// where A[r][p] = a[r*rsA+p*csA], B[p][j] = b[p*rsB+j], C[r][j] = c[r*ldc+j].
// kc must be >= 1. When beta == 0, C is not read.
TEXT ·kern4x24(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ rsA+16(FP), R8
	SHLQ $2, R8
	MOVQ csA+24(FP), R9
	SHLQ $2, R9
	MOVQ b+32(FP), BX
	MOVQ rsB+40(FP), R10
	SHLQ $2, R10
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), R11
	SHLQ $2, R11
	LEAQ (AX)(R8*2), DX

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, R12
	SHRQ $2, R12
	JZ   tail

loop4:
	KSTEP
	KSTEP
	KSTEP
	KSTEP
	DECQ R12
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   done

loop1:
	KSTEP
	DECQ CX
	JNZ  loop1

done:
	VBROADCASTSS alpha+64(FP), Y0
	VMULPS       Y0, Y4, Y4
	VMULPS       Y0, Y5, Y5
	VMULPS       Y0, Y6, Y6
	VMULPS       Y0, Y7, Y7
	VMULPS       Y0, Y8, Y8
	VMULPS       Y0, Y9, Y9
	VMULPS       Y0, Y10, Y10
	VMULPS       Y0, Y11, Y11
	VMULPS       Y0, Y12, Y12
	VMULPS       Y0, Y13, Y13
	VMULPS       Y0, Y14, Y14
	VMULPS       Y0, Y15, Y15

	MOVL  beta+68(FP), R12
	TESTL $0x7fffffff, R12
	JZ    store

	VBROADCASTSS beta+68(FP), Y1
	LEAQ         (DI)(R11*2), SI
	VFMADD231PS  (DI), Y1, Y4
	VFMADD231PS  32(DI), Y1, Y5
	VFMADD231PS  64(DI), Y1, Y6
	VFMADD231PS  (DI)(R11*1), Y1, Y7
	VFMADD231PS  32(DI)(R11*1), Y1, Y8
	VFMADD231PS  64(DI)(R11*1), Y1, Y9
	VFMADD231PS  (SI), Y1, Y10
	VFMADD231PS  32(SI), Y1, Y11
	VFMADD231PS  64(SI), Y1, Y12
	VFMADD231PS  (SI)(R11*1), Y1, Y13
	VFMADD231PS  32(SI)(R11*1), Y1, Y14
	VFMADD231PS  64(SI)(R11*1), Y1, Y15

store:
	LEAQ    (DI)(R11*2), SI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y7, (DI)(R11*1)
	VMOVUPS Y8, 32(DI)(R11*1)
	VMOVUPS Y9, 64(DI)(R11*1)
	VMOVUPS Y10, (SI)
	VMOVUPS Y11, 32(SI)
	VMOVUPS Y12, 64(SI)
	VMOVUPS Y13, (SI)(R11*1)
	VMOVUPS Y14, 32(SI)(R11*1)
	VMOVUPS Y15, 64(SI)(R11*1)
	VZEROUPPER
	RET

// Transpose an 8×8 block: rows j..j+7 (pointers SI, SI+R8, SI+2R8, SI+R9,
// R10, R10+R8, R10+2R8, R10+R9), 8 floats each, into 8 rows of dst (stride
// 96 bytes) at DI.
#define TRANS8 \
	VMOVUPS     (SI), X0; \
	VINSERTF128 $1, (R10), Y0, Y0; \
	VMOVUPS     (SI)(R8*1), X1; \
	VINSERTF128 $1, (R10)(R8*1), Y1, Y1; \
	VMOVUPS     (SI)(R8*2), X2; \
	VINSERTF128 $1, (R10)(R8*2), Y2, Y2; \
	VMOVUPS     (SI)(R9*1), X3; \
	VINSERTF128 $1, (R10)(R9*1), Y3, Y3; \
	VMOVUPS     16(SI), X4; \
	VINSERTF128 $1, 16(R10), Y4, Y4; \
	VMOVUPS     16(SI)(R8*1), X5; \
	VINSERTF128 $1, 16(R10)(R8*1), Y5, Y5; \
	VMOVUPS     16(SI)(R8*2), X6; \
	VINSERTF128 $1, 16(R10)(R8*2), Y6, Y6; \
	VMOVUPS     16(SI)(R9*1), X7; \
	VINSERTF128 $1, 16(R10)(R9*1), Y7, Y7; \
	VUNPCKLPS   Y1, Y0, Y8; \
	VUNPCKHPS   Y1, Y0, Y9; \
	VUNPCKLPS   Y3, Y2, Y10; \
	VUNPCKHPS   Y3, Y2, Y11; \
	VUNPCKLPS   Y5, Y4, Y12; \
	VUNPCKHPS   Y5, Y4, Y13; \
	VUNPCKLPS   Y7, Y6, Y14; \
	VUNPCKHPS   Y7, Y6, Y15; \
	VSHUFPS     $0x44, Y10, Y8, Y0; \
	VSHUFPS     $0xEE, Y10, Y8, Y1; \
	VSHUFPS     $0x44, Y11, Y9, Y2; \
	VSHUFPS     $0xEE, Y11, Y9, Y3; \
	VSHUFPS     $0x44, Y14, Y12, Y4; \
	VSHUFPS     $0xEE, Y14, Y12, Y5; \
	VSHUFPS     $0x44, Y15, Y13, Y6; \
	VSHUFPS     $0xEE, Y15, Y13, Y7; \
	VMOVUPS     Y0, (DI); \
	VMOVUPS     Y1, 96(DI); \
	VMOVUPS     Y2, 192(DI); \
	VMOVUPS     Y3, 288(DI); \
	VMOVUPS     Y4, 384(DI); \
	VMOVUPS     Y5, 480(DI); \
	VMOVUPS     Y6, 576(DI); \
	VMOVUPS     Y7, 672(DI)

// func packBT24(kc8 int, src *float32, ld int, dst *float32)
//
// dst[p*24+j] = src[j*ld+p] for p < 8*kc8, j < 24.
TEXT ·packBT24(SB), NOSPLIT, $0-32
	MOVQ kc8+0(FP), CX
	TESTQ CX, CX
	JZ    ptdone
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9 // 3*ld
	MOVQ $3, R12        // three groups of 8 rows

ptgroup:
	MOVQ src+8(FP), SI
	MOVQ dst+24(FP), DI
	MOVQ $3, AX
	SUBQ R12, AX       // group index g
	MOVQ AX, BX
	SHLQ $5, BX        // g*32 bytes into dst rows
	ADDQ BX, DI
	MOVQ R8, BX
	SHLQ $3, BX        // 8*ld
	IMULQ BX, AX
	ADDQ AX, SI        // src + g*8*ld
	LEAQ (SI)(R8*4), R10
	MOVQ kc8+0(FP), CX

ptloop:
	TRANS8
	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $768, DI
	DECQ CX
	JNZ  ptloop

	DECQ R12
	JNZ  ptgroup

ptdone:
	VZEROUPPER
	RET

// func packBBlock24(kc int, src *float32, ld int, dst *float32, np int)
//
// Packs np 24-column panels of a kc×(24·np) block read row by row:
// dst[jp*kc*24 + q*24 + j] = src[q*ld + jp*24 + j].
TEXT ·packBBlock24(SB), NOSPLIT, $0-40
	MOVQ kc+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ dst+24(FP), DI
	MOVQ np+32(FP), R9
	MOVQ CX, R10
	IMULQ $96, R10 // panel stride in bytes
	TESTQ CX, CX
	JZ    bbdone
	TESTQ R9, R9
	JZ    bbdone

bbrow:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R9, DX

bbpanel:
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS 64(AX), Y2
	VMOVUPS Y0, (BX)
	VMOVUPS Y1, 32(BX)
	VMOVUPS Y2, 64(BX)
	ADDQ    $96, AX
	ADDQ    R10, BX
	DECQ    DX
	JNZ     bbpanel

	ADDQ R8, SI
	ADDQ $96, DI
	DECQ CX
	JNZ  bbrow

bbdone:
	VZEROUPPER
	RET

// func packATBlock4(kc int, src *float32, ld int, dst *float32, np int)
//
// Packs np 4-row panels of op(A) = Aᵀ from the stored k×m matrix:
// dst[ip*kc*4 + q*4 + r] = src[q*ld + ip*4 + r].
TEXT ·packATBlock4(SB), NOSPLIT, $0-40
	MOVQ kc+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ dst+24(FP), DI
	MOVQ np+32(FP), R9
	MOVQ CX, R10
	SHLQ $4, R10 // panel stride in bytes: kc*16
	TESTQ CX, CX
	JZ    atdone
	TESTQ R9, R9
	JZ    atdone

atrow:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R9, DX

atpanel:
	MOVUPS (AX), X0
	MOVUPS X0, (BX)
	ADDQ   $16, AX
	ADDQ   R10, BX
	DECQ   DX
	JNZ    atpanel

	ADDQ R8, SI
	ADDQ $16, DI
	DECQ CX
	JNZ  atrow

atdone:
	RET

// func packA4(kc8 int, src *float32, ld int, dst *float32)
//
// Interleaves 4 rows of A: dst[q*4+r] = src[r*ld+q] for q < 8*kc8, r < 4.
TEXT ·packA4(SB), NOSPLIT, $0-32
	MOVQ kc8+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ dst+24(FP), DI
	LEAQ (SI)(R8*2), DX
	TESTQ CX, CX
	JZ    padone

paloop:
	VMOVUPS    (SI), Y0
	VMOVUPS    (SI)(R8*1), Y1
	VMOVUPS    (DX), Y2
	VMOVUPS    (DX)(R8*1), Y3
	VUNPCKLPS  Y1, Y0, Y4
	VUNPCKHPS  Y1, Y0, Y5
	VUNPCKLPS  Y3, Y2, Y6
	VUNPCKHPS  Y3, Y2, Y7
	VSHUFPS    $0x44, Y6, Y4, Y0
	VSHUFPS    $0xEE, Y6, Y4, Y1
	VSHUFPS    $0x44, Y7, Y5, Y2
	VSHUFPS    $0xEE, Y7, Y5, Y3
	VPERM2F128 $0x20, Y1, Y0, Y4
	VPERM2F128 $0x20, Y3, Y2, Y5
	VPERM2F128 $0x31, Y1, Y0, Y6
	VPERM2F128 $0x31, Y3, Y2, Y7
	VMOVUPS    Y4, (DI)
	VMOVUPS    Y5, 32(DI)
	VMOVUPS    Y6, 64(DI)
	VMOVUPS    Y7, 96(DI)
	ADDQ       $32, SI
	ADDQ       $32, DX
	ADDQ       $128, DI
	DECQ       CX
	JNZ        paloop

padone:
	VZEROUPPER
	RET

// Dot-product kernel for op(A)·Bᵀ with both operands contiguous in k.
// Accumulator Y(4+4r+c) holds 8 lane partial sums of A row r · B row c.

#define DOTCOL(bsrc, r0, r1, r2) \
	VMOVUPS     bsrc, Y3; \
	VFMADD231PS Y3, Y0, r0; \
	VFMADD231PS Y3, Y1, r1; \
	VFMADD231PS Y3, Y2, r2

#define DOTCOLS(bsrc, r0, r1, r2) \
	VMOVSS      bsrc, X3; \
	VFMADD231PS Y3, Y0, r0; \
	VFMADD231PS Y3, Y1, r1; \
	VFMADD231PS Y3, Y2, r2

// Reduce the 4 accumulators of row r to C[r][0..3] = alpha*sum + beta*C.
#define DOTROW(a0, a1, a2, a3, dst) \
	VHADDPS      a1, a0, Y0; \
	VHADDPS      a3, a2, Y1; \
	VHADDPS      Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMULPS       X2, X0, X0; \
	TESTL        $0x7fffffff, R12; \
	JZ           2(PC); \
	VFMADD231PS  dst, X3, X0; \
	VMOVUPS      X0, dst

// func dot3x4(kc int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32)
//
// C[r][j] = alpha*sum_p a[r*lda+p]*b[j*ldb+p] + beta*C[r][j] for r < 3,
// j < 4, C[r][j] = c[r*ldc+j]. The sum runs in 8 lanes (p mod 8, tail
// elements in lane 0) reduced in a fixed order. kc >= 1. When beta == 0,
// C is not read.
TEXT ·dot3x4(SB), NOSPLIT, $0-64
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), R8
	SHLQ $2, R8
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), R11
	SHLQ $2, R11

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, DX
	SHRQ $3, DX
	JZ   dtail

dloop:
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(R8*1), Y1
	VMOVUPS (AX)(R8*2), Y2
	DOTCOL((BX), Y4, Y8, Y12)
	DOTCOL((BX)(R9*1), Y5, Y9, Y13)
	DOTCOL((BX)(R9*2), Y6, Y10, Y14)
	DOTCOL((BX)(R10*1), Y7, Y11, Y15)
	ADDQ $32, AX
	ADDQ $32, BX
	DECQ DX
	JNZ  dloop

dtail:
	ANDQ $7, CX
	JZ   dreduce

dtloop:
	VMOVSS (AX), X0
	VMOVSS (AX)(R8*1), X1
	VMOVSS (AX)(R8*2), X2
	DOTCOLS((BX), Y4, Y8, Y12)
	DOTCOLS((BX)(R9*1), Y5, Y9, Y13)
	DOTCOLS((BX)(R9*2), Y6, Y10, Y14)
	DOTCOLS((BX)(R10*1), Y7, Y11, Y15)
	ADDQ $4, AX
	ADDQ $4, BX
	DECQ CX
	JNZ  dtloop

dreduce:
	VBROADCASTSS alpha+56(FP), X2
	VBROADCASTSS beta+60(FP), X3
	MOVL         beta+60(FP), R12
	DOTROW(Y4, Y5, Y6, Y7, (DI))
	DOTROW(Y8, Y9, Y10, Y11, (DI)(R11*1))
	DOTROW(Y12, Y13, Y14, Y15, (DI)(R11*2))
	VZEROUPPER
	RET
