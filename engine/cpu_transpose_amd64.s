//go:build amd64 && !purego

#include "textflag.h"

// func transpose16B(dst *float32, ds int, src *float32, ss int, rows, cols int)
// dst[j][i] = src[i][j] for 16-byte elements (4 floats): src has rows×cols
// of them, rows ss floats apart; dst has cols×rows, rows ds floats apart.
// rows and cols are multiples of 4: each trip moves a 4×4 tile of
// elements, four 64-byte rows in, four out, transposed by 128-bit lane
// shuffles (AVX-512F).
TEXT ·transpose16B(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ds+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ ss+24(FP), R9
	MOVQ rows+32(FP), R10
	MOVQ cols+40(FP), R11
	SHLQ $2, R8          // bytes per dst row
	SHLQ $2, R9          // bytes per src row
	SHRQ $2, R10         // tiles down
	SHRQ $2, R11         // tiles across
	JZ   done
	TESTQ R10, R10
	JZ   done

rowtile:
	// SI: src tile row start; DI: dst column start (16·i bytes in).
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R11, CX

coltile:
	MOVQ       AX, DX
	VMOVUPS    (DX), Z0
	ADDQ       R9, DX
	VMOVUPS    (DX), Z1
	ADDQ       R9, DX
	VMOVUPS    (DX), Z2
	ADDQ       R9, DX
	VMOVUPS    (DX), Z3
	VSHUFI64X2 $0x44, Z1, Z0, Z4
	VSHUFI64X2 $0xee, Z1, Z0, Z5
	VSHUFI64X2 $0x44, Z3, Z2, Z6
	VSHUFI64X2 $0xee, Z3, Z2, Z7
	VSHUFI64X2 $0x88, Z6, Z4, Z0
	VSHUFI64X2 $0xdd, Z6, Z4, Z1
	VSHUFI64X2 $0x88, Z7, Z5, Z2
	VSHUFI64X2 $0xdd, Z7, Z5, Z3
	MOVQ       BX, DX
	VMOVUPS    Z0, (DX)
	ADDQ       R8, DX
	VMOVUPS    Z1, (DX)
	ADDQ       R8, DX
	VMOVUPS    Z2, (DX)
	ADDQ       R8, DX
	VMOVUPS    Z3, (DX)
	ADDQ       $64, AX   // next 4 elements of the src rows
	LEAQ       (BX)(R8*4), BX // next 4 dst rows
	DECQ       CX
	JNZ        coltile

	LEAQ (SI)(R9*4), SI  // next 4 src rows
	ADDQ $64, DI         // next 4 elements of the dst rows
	DECQ R10
	JNZ  rowtile

done:
	VZEROUPPER
	RET
