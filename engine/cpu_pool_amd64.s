//go:build amd64 && !purego

#include "textflag.h"

DATA poolLanes<>+0(SB)/8, $0x0000000100000000
DATA poolLanes<>+8(SB)/8, $0x0000000300000002
DATA poolLanes<>+16(SB)/8, $0x0000000500000004
DATA poolLanes<>+24(SB)/8, $0x0000000700000006
GLOBL poolLanes<>(SB), RODATA|NOPTR, $32

// func maxPoolRowAVX2(y *float32, idx *int32, x *float32, n, kh, kw, w, s, base int)
// The max pool of n outputs of one output row (n a multiple of 8), 8 at a
// time: output j's window is the kh×kw block at x[a·w + s·j + b] (a < kh,
// b < kw; s is 1 or 2), scanned row by row, and it keeps the first
// maximum, or the first NaN (v > best, ordered, or v is NaN and best is
// not): maxWindow's rule, so the same value and index. The index written
// is base + a·w + s·j + b. For s = 2 each load reads 16 floats and keeps
// the even ones: the caller keeps x[s·n + (kh−1)·w + kw] inside the tensor.
TEXT ·maxPoolRowAVX2(SB), NOSPLIT, $0-72
	MOVQ         y+0(FP), DI
	MOVQ         idx+8(FP), R8
	MOVQ         x+16(FP), SI
	MOVQ         n+24(FP), CX
	MOVQ         kh+32(FP), R9
	MOVQ         kw+40(FP), R10
	MOVQ         w+48(FP), R11
	MOVQ         s+56(FP), R12
	MOVQ         base+64(FP), AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	MOVQ         R12, X9
	VPBROADCASTD X9, Y9
	VPMULLD      poolLanes<>(SB), Y9, Y9
	VPADDD       Y9, Y15, Y15          // indices of the group's first candidates
	MOVQ         R12, AX
	SHLQ         $3, AX
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14              // 8·s: the next group
	MOVQ         R11, X11
	VPBROADCASTD X11, Y11              // w: the next row
	MOVL         $1, AX
	MOVQ         AX, X10
	VPBROADCASTD X10, Y10              // 1: the next column
	SHLQ         $2, R11               // row stride in bytes
	MOVQ         R12, R14
	SHLQ         $5, R14               // group stride in bytes: 32·s
	SHRQ         $3, CX
	JZ           mdone

mgroup:
	MOVQ    SI, R13
	VMOVDQU Y15, Y13
	CMPQ    R12, $1
	JNE     mfirst2
	VMOVUPS (SI), Y0
	JMP     mfirstdone

mfirst2:
	VMOVUPS (SI), Y3
	VMOVUPS 32(SI), Y4
	VSHUFPS $0x88, Y4, Y3, Y0
	VPERMPD $0xD8, Y0, Y0

mfirstdone:
	VMOVDQU Y15, Y1
	MOVQ    R9, AX

mrow:
	MOVQ    R13, BX
	VMOVDQU Y13, Y12
	MOVQ    R10, DX

mcol:
	CMPQ    R12, $1
	JNE     mload2
	VMOVUPS (BX), Y2
	JMP     mcmp

mload2:
	VMOVUPS (BX), Y3
	VMOVUPS 32(BX), Y4
	VSHUFPS $0x88, Y4, Y3, Y2
	VPERMPD $0xD8, Y2, Y2

mcmp:
	VCMPPS    $0x1e, Y0, Y2, Y5 // v > best (ordered)
	VCMPPS    $3, Y2, Y2, Y6    // v is NaN
	VCMPPS    $3, Y0, Y0, Y7    // best is NaN
	VANDNPS   Y6, Y7, Y6
	VORPS     Y6, Y5, Y5
	VBLENDVPS Y5, Y2, Y0, Y0
	VBLENDVPS Y5, Y12, Y1, Y1
	ADDQ      $4, BX
	VPADDD    Y10, Y12, Y12
	DECQ      DX
	JNZ       mcol

	ADDQ   R11, R13
	VPADDD Y11, Y13, Y13
	DECQ   AX
	JNZ    mrow

	VMOVUPS Y0, (DI)
	VMOVDQU Y1, (R8)
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    R14, SI
	VPADDD  Y14, Y15, Y15
	DECQ    CX
	JNZ     mgroup

mdone:
	VZEROUPPER
	RET

// func maxPoolPlanesAVX2(out *float32, oidx *int32, x *float32, hw, nout int, offs, starts *int32)
// The max pool of 8 planes at once (x: 8 consecutive planes of hw floats),
// lane l for plane l: output o's window is offs[starts[o]:starts[o+1]] (in
// row-major order, never empty), gathered from each plane, with
// maxPoolRowAVX2's rule (the first maximum, or the first NaN). out and
// oidx get output o's 8 lanes at [8·o, 8·o+8).
TEXT ·maxPoolPlanesAVX2(SB), NOSPLIT, $0-56
	MOVQ         out+0(FP), DI
	MOVQ         oidx+8(FP), R8
	MOVQ         x+16(FP), SI
	MOVQ         hw+24(FP), AX
	MOVQ         nout+32(FP), CX
	MOVQ         offs+40(FP), R12
	MOVQ         starts+48(FP), R13
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	VPMULLD      poolLanes<>(SB), Y15, Y15 // plane starts: l·hw
	VPCMPEQD     Y14, Y14, Y14             // all-ones gather mask
	TESTQ        CX, CX
	JZ           pdone

pout:
	MOVLQSX      (R13), R9
	MOVLQSX      4(R13), R10
	VPBROADCASTD (R12)(R9*4), Y1 // first candidate's index
	VPADDD       Y1, Y15, Y2
	VMOVDQU      Y14, Y3
	VGATHERDPS   Y3, (SI)(Y2*4), Y0
	INCQ         R9

pcand:
	CMPQ         R9, R10
	JGE          pstore
	VPBROADCASTD (R12)(R9*4), Y5
	VPADDD       Y5, Y15, Y2
	VMOVDQU      Y14, Y3
	VGATHERDPS   Y3, (SI)(Y2*4), Y4
	VCMPPS       $0x1e, Y0, Y4, Y6 // v > best (ordered)
	VCMPPS       $3, Y4, Y4, Y7    // v is NaN
	VCMPPS       $3, Y0, Y0, Y8    // best is NaN
	VANDNPS      Y7, Y8, Y7
	VORPS        Y7, Y6, Y6
	VBLENDVPS    Y6, Y4, Y0, Y0
	VBLENDVPS    Y6, Y5, Y1, Y1
	INCQ         R9
	JMP          pcand

pstore:
	VMOVUPS Y0, (DI)
	VMOVDQU Y1, (R8)
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $4, R13
	DECQ    CX
	JNZ     pout

pdone:
	VZEROUPPER
	RET
