//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 kernels. Z16..Z31 hold the 8×32 accumulator tile: row r uses
// Z(16+2r) (columns 0..15) and Z(17+2r) (columns 16..31).

#define ROW512(src, t, r0, r1) \
	VBROADCASTSS src, t; \
	VFMADD231PS  Z0, t, r0; \
	VFMADD231PS  Z1, t, r1

// One k step: load the 32-wide B row at BX, broadcast the 8 A values.
// Rows of A: 0 (AX), 1 (AX)(R8), 2 (AX)(2R8), 3 (DX), 4 (AX)(4R8),
// 5 (DX)(2R8), 6 (DX)(R13), 7 (DX)(4R8), with DX = AX+3R8, R13 = 3R8.
#define KSTEP512 \
	VMOVUPS (BX), Z0; \
	VMOVUPS 64(BX), Z1; \
	ROW512((AX), Z2, Z16, Z17); \
	ROW512((AX)(R8*1), Z3, Z18, Z19); \
	ROW512((AX)(R8*2), Z4, Z20, Z21); \
	ROW512((DX), Z5, Z22, Z23); \
	ROW512((AX)(R8*4), Z6, Z24, Z25); \
	ROW512((DX)(R8*2), Z7, Z26, Z27); \
	ROW512((DX)(R13*1), Z8, Z28, Z29); \
	ROW512((DX)(R8*4), Z9, Z30, Z31); \
	ADDQ R9, AX; \
	ADDQ R9, DX; \
	ADDQ R10, BX

// func kern8x32(kc int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32)
//
// C[r][j] = alpha*sum_p A[r][p]*B[p][j] + beta*C[r][j] for r < 8, j < 32,
// where A[r][p] = a[r*rsA+p*csA], B[p][j] = b[p*rsB+j], C[r][j] = c[r*ldc+j].
// Each element is accumulated in increasing p order with one FMA per
// step (as kern4x24 and kernGo do). kc must be >= 1. When beta == 0, C is
// not read.
TEXT ·kern8x32(SB), NOSPLIT, $0-72
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
	LEAQ (R8)(R8*2), R13
	LEAQ (AX)(R13*1), DX

	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31

	MOVQ CX, R12
	SHRQ $2, R12
	JZ   tail

loop4:
	KSTEP512
	KSTEP512
	KSTEP512
	KSTEP512
	DECQ R12
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   done

loop1:
	KSTEP512
	DECQ CX
	JNZ  loop1

done:
	VBROADCASTSS alpha+64(FP), Z0
	VMULPS       Z0, Z16, Z16
	VMULPS       Z0, Z17, Z17
	VMULPS       Z0, Z18, Z18
	VMULPS       Z0, Z19, Z19
	VMULPS       Z0, Z20, Z20
	VMULPS       Z0, Z21, Z21
	VMULPS       Z0, Z22, Z22
	VMULPS       Z0, Z23, Z23
	VMULPS       Z0, Z24, Z24
	VMULPS       Z0, Z25, Z25
	VMULPS       Z0, Z26, Z26
	VMULPS       Z0, Z27, Z27
	VMULPS       Z0, Z28, Z28
	VMULPS       Z0, Z29, Z29
	VMULPS       Z0, Z30, Z30
	VMULPS       Z0, Z31, Z31

	// Rows of C: 0 (DI), 1 (DI)(R11), 2 (DI)(2R11), 3 (SI), 4 (DI)(4R11),
	// 5 (SI)(2R11), 6 (SI)(R14), 7 (SI)(4R11), with SI = DI+3R11,
	// R14 = 3R11.
	LEAQ (R11)(R11*2), R14
	LEAQ (DI)(R14*1), SI

	MOVL  beta+68(FP), R12
	TESTL $0x7fffffff, R12
	JZ    store

	VBROADCASTSS beta+68(FP), Z1
	VFMADD231PS  (DI), Z1, Z16
	VFMADD231PS  64(DI), Z1, Z17
	VFMADD231PS  (DI)(R11*1), Z1, Z18
	VFMADD231PS  64(DI)(R11*1), Z1, Z19
	VFMADD231PS  (DI)(R11*2), Z1, Z20
	VFMADD231PS  64(DI)(R11*2), Z1, Z21
	VFMADD231PS  (SI), Z1, Z22
	VFMADD231PS  64(SI), Z1, Z23
	VFMADD231PS  (DI)(R11*4), Z1, Z24
	VFMADD231PS  64(DI)(R11*4), Z1, Z25
	VFMADD231PS  (SI)(R11*2), Z1, Z26
	VFMADD231PS  64(SI)(R11*2), Z1, Z27
	VFMADD231PS  (SI)(R14*1), Z1, Z28
	VFMADD231PS  64(SI)(R14*1), Z1, Z29
	VFMADD231PS  (SI)(R11*4), Z1, Z30
	VFMADD231PS  64(SI)(R11*4), Z1, Z31

store:
	VMOVUPS Z16, (DI)
	VMOVUPS Z17, 64(DI)
	VMOVUPS Z18, (DI)(R11*1)
	VMOVUPS Z19, 64(DI)(R11*1)
	VMOVUPS Z20, (DI)(R11*2)
	VMOVUPS Z21, 64(DI)(R11*2)
	VMOVUPS Z22, (SI)
	VMOVUPS Z23, 64(SI)
	VMOVUPS Z24, (DI)(R11*4)
	VMOVUPS Z25, 64(DI)(R11*4)
	VMOVUPS Z26, (SI)(R11*2)
	VMOVUPS Z27, 64(SI)(R11*2)
	VMOVUPS Z28, (SI)(R14*1)
	VMOVUPS Z29, 64(SI)(R14*1)
	VMOVUPS Z30, (SI)(R11*4)
	VMOVUPS Z31, 64(SI)(R11*4)
	VZEROUPPER
	RET

// Transpose an 8×8 block: rows j..j+7 (pointers SI, SI+R8, SI+2R8, SI+R9,
// R10, R10+R8, R10+2R8, R10+R9), 8 floats each, into 8 rows of dst (stride
// 128 bytes) at DI.
#define TRANS8W128 \
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
	VMOVUPS     Y1, 128(DI); \
	VMOVUPS     Y2, 256(DI); \
	VMOVUPS     Y3, 384(DI); \
	VMOVUPS     Y4, 512(DI); \
	VMOVUPS     Y5, 640(DI); \
	VMOVUPS     Y6, 768(DI); \
	VMOVUPS     Y7, 896(DI)

// func packBT32(kc8 int, src *float32, ld int, dst *float32)
//
// dst[p*32+j] = src[j*ld+p] for p < 8*kc8, j < 32.
TEXT ·packBT32(SB), NOSPLIT, $0-32
	MOVQ  kc8+0(FP), CX
	TESTQ CX, CX
	JZ    pt32done
	MOVQ  ld+16(FP), R8
	SHLQ  $2, R8
	LEAQ  (R8)(R8*2), R9 // 3*ld
	MOVQ  $4, R12        // four groups of 8 rows

pt32group:
	MOVQ  src+8(FP), SI
	MOVQ  dst+24(FP), DI
	MOVQ  $4, AX
	SUBQ  R12, AX // group index g
	MOVQ  AX, BX
	SHLQ  $5, BX  // g*32 bytes into dst rows
	ADDQ  BX, DI
	MOVQ  R8, BX
	SHLQ  $3, BX  // 8*ld
	IMULQ BX, AX
	ADDQ  AX, SI  // src + g*8*ld
	LEAQ  (SI)(R8*4), R10
	MOVQ  kc8+0(FP), CX

pt32loop:
	TRANS8W128
	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $1024, DI
	DECQ CX
	JNZ  pt32loop

	DECQ R12
	JNZ  pt32group

pt32done:
	VZEROUPPER
	RET

// func packBBlock32(kc int, src *float32, ld int, dst *float32, np int)
//
// Packs np 32-column panels of a kc×(32·np) block read row by row:
// dst[jp*kc*32 + q*32 + j] = src[q*ld + jp*32 + j].
TEXT ·packBBlock32(SB), NOSPLIT, $0-40
	MOVQ  kc+0(FP), CX
	MOVQ  src+8(FP), SI
	MOVQ  ld+16(FP), R8
	SHLQ  $2, R8
	MOVQ  dst+24(FP), DI
	MOVQ  np+32(FP), R9
	MOVQ  CX, R10
	SHLQ  $7, R10 // panel stride in bytes: kc*128
	TESTQ CX, CX
	JZ    bb32done
	TESTQ R9, R9
	JZ    bb32done

bb32row:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R9, DX

bb32panel:
	VMOVUPS (AX), Z0
	VMOVUPS 64(AX), Z1
	VMOVUPS Z0, (BX)
	VMOVUPS Z1, 64(BX)
	ADDQ    $128, AX
	ADDQ    R10, BX
	DECQ    DX
	JNZ     bb32panel

	ADDQ R8, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  bb32row

bb32done:
	VZEROUPPER
	RET

// func packATBlock8(kc int, src *float32, ld int, dst *float32, np int)
//
// Packs np 8-row panels of op(A) = Aᵀ from the stored k×m matrix:
// dst[ip*kc*8 + q*8 + r] = src[q*ld + ip*8 + r].
TEXT ·packATBlock8(SB), NOSPLIT, $0-40
	MOVQ  kc+0(FP), CX
	MOVQ  src+8(FP), SI
	MOVQ  ld+16(FP), R8
	SHLQ  $2, R8
	MOVQ  dst+24(FP), DI
	MOVQ  np+32(FP), R9
	MOVQ  CX, R10
	SHLQ  $5, R10 // panel stride in bytes: kc*32
	TESTQ CX, CX
	JZ    at8done
	TESTQ R9, R9
	JZ    at8done

at8row:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R9, DX

at8panel:
	VMOVUPS (AX), Y0
	VMOVUPS Y0, (BX)
	ADDQ    $32, AX
	ADDQ    R10, BX
	DECQ    DX
	JNZ     at8panel

	ADDQ R8, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  at8row

at8done:
	VZEROUPPER
	RET
