#!/usr/bin/env python3
"""Generates engine/winograd_amd64.s and engine/winograd_mats.go.

Run from the repository root: python3 engine/winograd_gen.py [DIR] (make
winograd-gen); DIR (default engine) is where the files go.
TestWinogradGenerated checks that the committed files are its output. The two Winograd algorithms F(2x2,3x3) and F(4x4,3x3) are
given as their matrices B^T, G and A^T (Lavin and Gray, 2015). Every
transform is Y = L X R^T on 16-lane vectors, computed as two folds:
T = L X, then Y = T R^T. A fold sums the products of the nonzero
coefficients of a row in index order, starting from the first product; a
product by 1 or -1 is the value or its negation, any other is one rounded
multiplication. winograd.go's Go transforms (winoFold) do the same
operations in the same order, so the assembly is bit-identical to them.
"""
import os
import shutil
import subprocess
import sys
from fractions import Fraction as F

ALGS = {
    2: dict(
        bt=[[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        g=[[1, 0, 0], [F(1, 2), F(1, 2), F(1, 2)], [F(1, 2), F(-1, 2), F(1, 2)], [0, 0, 1]],
        at=[[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
    4: dict(
        bt=[[4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1]],
        g=[[F(1, 4), 0, 0],
           [F(-1, 6), F(-1, 6), F(-1, 6)],
           [F(-1, 6), F(1, 6), F(-1, 6)],
           [F(1, 24), F(1, 12), F(1, 6)],
           [F(1, 24), F(-1, 12), F(1, 6)],
           [0, 0, 1]],
        at=[[1, 1, 1, 1, 1, 0],
            [0, 1, -1, 2, -2, 0],
            [0, 1, 1, 4, 4, 0],
            [0, 1, -1, 8, -8, 1]],
    ),
}


def f32bits(q):
    """The float32 nearest to the rational q (ties to even), as bits."""
    q = F(q)
    if q == 0:
        return 0
    sign = 0x80000000 if q < 0 else 0
    q = abs(q)
    e = 0
    while q >= 2:
        q /= 2
        e += 1
    while q < 1:
        q *= 2
        e -= 1
    m = q * (1 << 23)
    mi = int(m)
    rem = m - mi
    if rem > F(1, 2) or (rem == F(1, 2) and mi % 2 == 1):
        mi += 1
    if mi == 1 << 24:
        mi >>= 1
        e += 1
    return sign | ((e + 127) << 23) | (mi - (1 << 23))


def transpose(m):
    return [list(r) for r in zip(*m)]


consts = {}


def const(c):
    b = f32bits(c)
    name = "wk%08x" % b
    consts[name] = b
    return name


class Asm:
    def __init__(self):
        self.lines = []

    def __call__(self, s):
        self.lines.append("\t" + s)

    # Instruction forms: AVX-512 (Z registers, embedded broadcast).
    tmp, sign = "Z30", "Z31"

    def mulc(self, c, s, dst):
        self("VMULPS.BCST %s<>(SB), %s, %s" % (const(c), s, dst))

    def zero(self, dst):
        self("VPXORD %s, %s, %s" % (dst, dst, dst))

    def fold(self, dst, row, srcs):
        """dst = fold of row's nonzero coefficients times srcs."""
        first = True
        for c, s in zip(row, srcs):
            c = F(c)
            if c == 0:
                continue
            if first:
                if c == 1:
                    self("VMOVAPS %s, %s" % (s, dst))
                elif c == -1:
                    self("VXORPS %s, %s, %s" % (self.sign, s, dst))
                else:
                    self.mulc(c, s, dst)
                first = False
                continue
            if c == 1:
                self("VADDPS %s, %s, %s" % (s, dst, dst))
            elif c == -1:
                self("VSUBPS %s, %s, %s" % (s, dst, dst))
            else:
                self.mulc(c, s, self.tmp)
                self("VADDPS %s, %s, %s" % (self.tmp, dst, dst))
        if first:
            self.zero(dst)


def z(i):
    return "Z%d" % i


def two_phase(a, L, R, nrows_x, ncols_x, load_col, store):
    """Y = L X R^T: per column b of X load it (load_col(b) puts X[r][b] in
    Z0..), T[i][b] = fold(L[i], X[:, b]) spilled to the frame; then per row
    i of T load T[i][:] and store(i, j, reg) each Y[i][j] = fold(R[j], T[i])."""
    lr = len(L)
    rr = len(R)
    for b in range(ncols_x):
        load_col(b)
        for i in range(lr):
            a.fold(z(8 + i), L[i], [z(r) for r in range(nrows_x)])
            a("VMOVUPS %s, %d(SP)" % (z(8 + i), (i * ncols_x + b) * 64))
    for i in range(lr):
        for b in range(ncols_x):
            a("VMOVUPS %d(SP), %s" % ((i * ncols_x + b) * 64, z(b)))
        for j in range(rr):
            a.fold(z(16), R[j], [z(b) for b in range(ncols_x)])
            store(i, j, z(16))
    return lr * ncols_x * 64


ROWREGS = ["R8", "R9", "R10", "R11", "R12", "R13"]


def gen_in(m, al):
    """winoIn{m}(v *float32, ld int, x *float32, off *int32, w int, mk *uint16)"""
    bt = al["bt"]
    al_ = len(bt)
    a = Asm()
    a("MOVQ x+16(FP), R8")
    a("MOVQ w+32(FP), AX")
    a("SHLQ $2, AX")
    for r in range(1, al_):
        a("LEAQ (%s)(AX*1), %s" % (ROWREGS[r - 1], ROWREGS[r]))
    a("MOVQ off+24(FP), SI")
    a("VMOVDQU32 (SI), Z29")
    a("MOVQ mk+40(FP), SI")
    a("MOVQ v+0(FP), DI")
    a("MOVQ ld+8(FP), BX")
    a("SHLQ $2, BX")
    a("VMOVUPS winoSign<>(SB), Z31")
    a("KMOVW 2(SI), K2")  # valid lanes: patch row 1

    def load_col(b):
        for r in range(al_):
            a("MOVWLZX %d(SI), AX" % (2 * r))
            a("ANDW %d(SI), AX" % (2 * (al_ + b)))
            a("KMOVW AX, K1")
            a("VPXORD %s, %s, %s" % (z(r), z(r), z(r)))
            a("VGATHERDPS %d(%s)(Z29*4), K1, %s" % (4 * b, ROWREGS[r], z(r)))

    def store(i, j, reg):
        p = i * al_ + j
        a("MOVQ BX, AX")
        a("IMULQ $%d, AX" % p)
        a("VMOVUPS %s, K2, (DI)(AX*1)" % reg)

    frame = two_phase(a, bt, bt, al_, al_, load_col, store)
    return frame, a.lines


def gen_out(m, al):
    """winoOut{m}(y, mm *float32, ld int, off *int32, w int, b *float32, mk *uint16)"""
    at = al["at"]
    al_ = len(at[0])
    a = Asm()
    a("MOVQ mk+48(FP), SI")
    a("KMOVW 2(SI), K2")
    a("MOVQ mm+8(FP), DX")
    a("MOVQ ld+16(FP), BX")
    a("SHLQ $2, BX")
    a("VMOVUPS winoSign<>(SB), Z31")

    def load_col(b):
        for r in range(al_):
            p = r * al_ + b
            a("MOVQ BX, AX")
            a("IMULQ $%d, AX" % p)
            a("VMOVUPS.Z (DX)(AX*1), K2, %s" % z(r))

    def store(i, j, reg):
        if j == 0:
            a("MOVQ w+32(FP), AX")
            a("IMULQ $%d, AX" % (4 * i))
            a("MOVQ y+0(FP), DI")
            a("ADDQ AX, DI")
        a("VADDPS Z28, %s, %s" % (reg, reg))
        a("MOVWLZX %d(SI), AX" % (2 * (i + 1)))
        a("ANDW %d(SI), AX" % (2 * (al_ + j + 1)))
        a("KMOVW AX, K1")
        a("VSCATTERDPS %s, K1, %d(DI)(Z29*4)" % (reg, 4 * j))

    frame = two_phase(a, at, at, al_, al_, load_col, store)
    # the bias and offsets are loaded before the second phase needs them
    head = ["\tMOVQ b+40(FP), AX", "\tVBROADCASTSS (AX), Z28", "\tMOVQ off+24(FP), AX", "\tVMOVDQU32 (AX), Z29"]
    return frame, head + a.lines


def gen_grad(m, al):
    """winoGrad{m}(mm *float32, ld int, dy *float32, off *int32, w int, mk *uint16)"""
    at = al["at"]
    A = transpose(at)  # alpha x m
    al_ = len(A)
    a = Asm()
    a("MOVQ dy+16(FP), R8")
    a("MOVQ w+32(FP), AX")
    a("SHLQ $2, AX")
    for r in range(1, m):
        a("LEAQ (%s)(AX*1), %s" % (ROWREGS[r - 1], ROWREGS[r]))
    a("MOVQ off+24(FP), SI")
    a("VMOVDQU32 (SI), Z29")
    a("MOVQ mk+40(FP), SI")
    a("MOVQ mm+0(FP), DI")
    a("MOVQ ld+8(FP), BX")
    a("SHLQ $2, BX")
    a("VMOVUPS winoSign<>(SB), Z31")
    a("KMOVW 2(SI), K2")

    def load_col(j):
        for r in range(m):
            a("MOVWLZX %d(SI), AX" % (2 * (r + 1)))
            a("ANDW %d(SI), AX" % (2 * (al_ + j + 1)))
            a("KMOVW AX, K1")
            a("VPXORD %s, %s, %s" % (z(r), z(r), z(r)))
            a("VGATHERDPS %d(%s)(Z29*4), K1, %s" % (4 * j, ROWREGS[r], z(r)))

    def store(i, j, reg):
        p = i * al_ + j
        a("MOVQ BX, AX")
        a("IMULQ $%d, AX" % p)
        a("VMOVUPS %s, K2, (DI)(AX*1)" % reg)

    frame = two_phase(a, A, A, m, m, load_col, store)
    return frame, a.lines


def gen_filter(m, al, rot=False):
    """winoFilter{m}(u *float32, ld int, f *float32, stride int): filter l
    at f + l·stride floats; winoFilterRot{m} reads each rotated by 180°."""
    g = al["g"]
    al_ = len(g)
    a = Asm()
    a("MOVQ u+0(FP), DI")
    a("MOVQ ld+8(FP), BX")
    a("SHLQ $2, BX")
    a("MOVQ f+16(FP), SI")
    a("VPBROADCASTD stride+24(FP), Z29")
    a("VPMULLD winoIota<>(SB), Z29, Z29")
    a("VMOVUPS winoSign<>(SB), Z31")

    def load_col(s_):
        for r in range(3):
            tap = 3 * r + s_
            if rot:
                tap = 8 - tap
            a("KXNORW K0, K0, K1")
            a("VGATHERDPS %d(SI)(Z29*4), K1, %s" % (4 * tap, z(r)))

    def store(i, j, reg):
        p = i * al_ + j
        a("MOVQ BX, AX")
        a("IMULQ $%d, AX" % p)
        a("VMOVUPS %s, (DI)(AX*1)" % reg)

    frame = two_phase(a, g, g, 3, 3, load_col, store)
    return frame, a.lines


def gen_filter_rot(m, al):
    return gen_filter(m, al, rot=True)


def gen_filter_grad(m, al):
    """winoFilterGrad{m}(dw, du *float32, ld int)"""
    gt = transpose(al["g"])  # 3 x alpha
    al_ = len(gt[0])
    a = Asm()
    a("MOVQ dw+0(FP), DI")
    a("MOVQ du+8(FP), DX")
    a("MOVQ ld+16(FP), BX")
    a("SHLQ $2, BX")
    a("VMOVUPS winoNine<>(SB), Z29")
    a("VMOVUPS winoSign<>(SB), Z31")

    def load_col(b):
        for r in range(al_):
            p = r * al_ + b
            a("MOVQ BX, AX")
            a("IMULQ $%d, AX" % p)
            a("VMOVUPS (DX)(AX*1), %s" % z(r))

    def store(i, j, reg):
        a("KXNORW K0, K0, K1")
        a("VSCATTERDPS %s, K1, %d(DI)(Z29*4)" % (reg, 4 * (3 * i + j)))

    frame = two_phase(a, gt, gt, al_, al_, load_col, store)
    return frame, a.lines


FUNCS = [
    ("winoIn%d", "v *float32, ld int, x *float32, off *int32, w int, mk *uint16", 48, gen_in),
    ("winoOut%d", "y, mm *float32, ld int, off *int32, w int, b *float32, mk *uint16", 56, gen_out),
    ("winoGrad%d", "mm *float32, ld int, dy *float32, off *int32, w int, mk *uint16", 48, gen_grad),
    ("winoFilter%d", "u *float32, ld int, f *float32, stride int", 32, gen_filter),
    ("winoFilterRot%d", "u *float32, ld int, f *float32, stride int", 32, gen_filter_rot),
    ("winoFilterGrad%d", "dw, du *float32, ld int", 24, gen_filter_grad),
]


# ---- AVX2: 8 lanes, no mask registers, no scatter ----------------------
#
# The same transforms on 8 tiles (or filters) at a time, half hi (0 or 1)
# of a 16-tile block: lanes 8·hi .. 8·hi+7 of its masks and offsets. Lane
# masks become vectors (broadcast, AND with the lane bits, compare); the
# stores of the output and filter-gradient transforms, which AVX-512 does
# with scatters, go lane by lane.


class Asm2(Asm):
    # AVX2: Y registers, no embedded broadcast.
    tmp, sign = "Y13", "Y14"

    def mulc(self, c, s, dst):
        self("VBROADCASTSS %s<>(SB), %s" % (const(c), dst))
        self("VMULPS %s, %s, %s" % (s, dst, dst))

    def zero(self, dst):
        self("VXORPS %s, %s, %s" % (dst, dst, dst))

    def vmask(self, dst, first, second=None):
        """dst = the lanes of this half whose bits are set in the uint16
        at first(SI) (AND second(SI)); CX points at the half's lane bits."""
        self("MOVWLZX %d(SI), AX" % first)
        if second is not None:
            self("ANDW %d(SI), AX" % second)
        self("VMOVD AX, X%s" % dst[1:])
        self("VPBROADCASTD X%s, %s" % (dst[1:], dst))
        self("VPAND (CX), %s, %s" % (dst, dst))
        self("VPCMPEQD (CX), %s, %s" % (dst, dst))


def y(i):
    return "Y%d" % i


label = [0]


def two_phase2(a, L, R, nrows_x, ncols_x, load_col, store, phase2_head=None):
    lr, rr = len(L), len(R)
    for b in range(ncols_x):
        load_col(b)
        for i in range(lr):
            a.fold(y(6 + i), L[i], [y(r) for r in range(nrows_x)])
            a("VMOVUPS %s, %d(SP)" % (y(6 + i), (i * ncols_x + b) * 32))
    if phase2_head:
        phase2_head()
    for i in range(lr):
        for b in range(ncols_x):
            a("VMOVUPS %d(SP), %s" % ((i * ncols_x + b) * 32, y(b)))
        for j in range(rr):
            a.fold(y(12), R[j], [y(b) for b in range(ncols_x)])
            store(i, j, y(12))
    return lr * ncols_x * 32


def head2(a, hi_off):
    a("LEAQ winoBits<>(SB), CX")
    a("MOVQ hi+%d(FP), AX" % hi_off)
    a("SHLQ $5, AX")
    a("ADDQ AX, CX")
    a("VMOVUPS winoSign<>(SB), Y14")


def lane_stores(a, frame, ptr, disp, bits_from):
    """Stores Y12's lanes one by one to ptr + 4·off[l] + disp for the lanes
    set in AX (bits of this half, shifted down), off at DX."""
    a("VMOVUPS Y12, %d(SP)" % frame)
    for l in range(8):
        label[0] += 1
        a("BTL $%d, AX" % l)
        a("JCC wskip%d" % label[0])
        a("MOVLQSX %d(DX), BX" % (4 * l))
        a("MOVSS %d(SP), X13" % (frame + 4 * l))
        a("MOVSS X13, %d(%s)(BX*4)" % (disp, ptr))
        a.lines.append("wskip%d:" % label[0])


def gen2_in(m, al):
    bt = al["bt"]
    n = len(bt)
    a = Asm2()
    head2(a, 48)
    a("MOVQ x+16(FP), R8")
    a("MOVQ w+32(FP), AX")
    a("SHLQ $2, AX")
    for r in range(1, n):
        a("LEAQ (%s)(AX*1), %s" % (ROWREGS[r - 1], ROWREGS[r]))
    a("MOVQ off+24(FP), DX")
    a("VMOVDQU (DX), Y15")
    a("MOVQ mk+40(FP), SI")
    a("MOVQ v+0(FP), DI")
    a("MOVQ ld+8(FP), BX")
    a("SHLQ $2, BX")

    def load_col(b):
        for r in range(n):
            a.vmask("Y12", 2 * r, 2 * (n + b))
            a("VXORPS %s, %s, %s" % (y(r), y(r), y(r)))
            a("VGATHERDPS Y12, %d(%s)(Y15*4), %s" % (4 * b, ROWREGS[r], y(r)))

    def p2():
        a.vmask("Y6", 2)

    def store(i, j, reg):
        a("MOVQ BX, AX")
        a("IMULQ $%d, AX" % (i * n + j))
        a("VMASKMOVPS %s, Y6, (DI)(AX*1)" % reg)

    return two_phase2(a, bt, bt, n, n, load_col, store, p2), a.lines


def gen2_out(m, al):
    at = al["at"]
    n = len(at[0])
    a = Asm2()
    head2(a, 56)
    a("MOVQ mk+48(FP), SI")
    a("MOVQ mm+8(FP), R8")
    a("MOVQ ld+16(FP), R9")
    a("SHLQ $2, R9")
    a.vmask("Y15", 2)
    frame = m * n * 32

    def load_col(b):
        for r in range(n):
            a("MOVQ R9, AX")
            a("IMULQ $%d, AX" % (r * n + b))
            a("VMASKMOVPS (R8)(AX*1), Y15, %s" % y(r))

    def p2():
        a("MOVQ b+40(FP), AX")
        a("VBROADCASTSS (AX), Y6")
        a("MOVQ off+24(FP), DX")
        a("MOVQ hi+56(FP), R10")
        a("SHLQ $3, R10")

    def store(i, j, reg):
        if j == 0:
            a("MOVQ w+32(FP), AX")
            a("IMULQ $%d, AX" % (4 * i))
            a("MOVQ y+0(FP), DI")
            a("ADDQ AX, DI")
        a("VADDPS Y6, %s, %s" % (reg, reg))
        a("MOVWLZX %d(SI), AX" % (2 * (i + 1)))
        a("ANDW %d(SI), AX" % (2 * (n + j + 1)))
        a("MOVQ R10, CX")
        a("SHRL CL, AX")
        lane_stores(a, frame, "DI", 4 * j, None)

    f = two_phase2(a, at, at, n, n, load_col, store, p2)
    return f + 32, a.lines


def gen2_grad(m, al):
    A = transpose(al["at"])
    n = len(A)
    a = Asm2()
    head2(a, 48)
    a("MOVQ dy+16(FP), R8")
    a("MOVQ w+32(FP), AX")
    a("SHLQ $2, AX")
    for r in range(1, m):
        a("LEAQ (%s)(AX*1), %s" % (ROWREGS[r - 1], ROWREGS[r]))
    a("MOVQ off+24(FP), DX")
    a("VMOVDQU (DX), Y15")
    a("MOVQ mk+40(FP), SI")
    a("MOVQ mm+0(FP), DI")
    a("MOVQ ld+8(FP), BX")
    a("SHLQ $2, BX")

    def load_col(j):
        for r in range(m):
            a.vmask("Y12", 2 * (r + 1), 2 * (n + j + 1))
            a("VXORPS %s, %s, %s" % (y(r), y(r), y(r)))
            a("VGATHERDPS Y12, %d(%s)(Y15*4), %s" % (4 * j, ROWREGS[r], y(r)))

    def p2():
        a.vmask("Y6", 2)

    def store(i, j, reg):
        a("MOVQ BX, AX")
        a("IMULQ $%d, AX" % (i * n + j))
        a("VMASKMOVPS %s, Y6, (DI)(AX*1)" % reg)

    return two_phase2(a, A, A, m, m, load_col, store, p2), a.lines


def gen2_filter(m, al, rot=False):
    g = al["g"]
    n = len(g)
    a = Asm2()
    a("VMOVUPS winoSign<>(SB), Y14")
    a("MOVQ u+0(FP), DI")
    a("MOVQ ld+8(FP), BX")
    a("SHLQ $2, BX")
    a("MOVQ f+16(FP), SI")
    a("VPBROADCASTD stride+24(FP), Y15")
    a("VPMULLD winoIota<>(SB), Y15, Y15")

    def load_col(s_):
        for r in range(3):
            tap = 3 * r + s_
            if rot:
                tap = 8 - tap
            a("VPCMPEQD Y12, Y12, Y12")
            a("VGATHERDPS Y12, %d(SI)(Y15*4), %s" % (4 * tap, y(r)))

    def store(i, j, reg):
        a("MOVQ BX, AX")
        a("IMULQ $%d, AX" % (i * n + j))
        a("VMOVUPS %s, (DI)(AX*1)" % reg)

    return two_phase2(a, g, g, 3, 3, load_col, store), a.lines


def gen2_filter_rot(m, al):
    return gen2_filter(m, al, rot=True)


def gen2_filter_grad(m, al):
    gt = transpose(al["g"])
    n = len(gt[0])
    a = Asm2()
    a("VMOVUPS winoSign<>(SB), Y14")
    a("MOVQ dw+0(FP), DI")
    a("MOVQ du+8(FP), DX")
    a("MOVQ ld+16(FP), BX")
    a("SHLQ $2, BX")
    frame = 3 * n * 32

    def load_col(b):
        for r in range(n):
            a("MOVQ BX, AX")
            a("IMULQ $%d, AX" % (r * n + b))
            a("VMOVUPS (DX)(AX*1), %s" % y(r))

    def store(i, j, reg):
        a("VMOVUPS %s, %d(SP)" % (reg, frame))
        for l in range(8):
            a("MOVSS %d(SP), X13" % (frame + 4 * l))
            a("MOVSS X13, %d(DI)" % (36 * l + 4 * (3 * i + j)))

    f = two_phase2(a, gt, gt, n, n, load_col, store)
    return f + 32, a.lines


FUNCS2 = [
    ("winoIn%dAVX2", "v *float32, ld int, x *float32, off *int32, w int, mk *uint16, hi int", 56, gen2_in),
    ("winoOut%dAVX2", "y, mm *float32, ld int, off *int32, w int, b *float32, mk *uint16, hi int", 64, gen2_out),
    ("winoGrad%dAVX2", "mm *float32, ld int, dy *float32, off *int32, w int, mk *uint16, hi int", 56, gen2_grad),
    ("winoFilter%dAVX2", "u *float32, ld int, f *float32, stride int", 32, gen2_filter),
    ("winoFilterRot%dAVX2", "u *float32, ld int, f *float32, stride int", 32, gen2_filter_rot),
    ("winoFilterGrad%dAVX2", "dw, du *float32, ld int", 24, gen2_filter_grad),
]


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "engine"
    body = []
    for m, al in ALGS.items():
        for name, sig, argsize, gen in FUNCS:
            fn = name % m
            frame, lines = gen(m, al)
            body.append("// func %s(%s)" % (fn, sig))
            body.append("TEXT ·%s(SB), $%d-%d" % (fn, frame, argsize))
            body.extend(lines)
            body.append("\tVZEROUPPER")
            body.append("\tRET")
            body.append("")
        for name, sig, argsize, gen in FUNCS2:
            fn = name % m
            frame, lines = gen(m, al)
            body.append("// func %s(%s)" % (fn, sig))
            body.append("TEXT ·%s(SB), $%d-%d" % (fn, frame, argsize))
            body.extend(lines)
            body.append("\tVZEROUPPER")
            body.append("\tRET")
            body.append("")
    out = ["// Code generated by engine/winograd_gen.py; DO NOT EDIT.", "",
           "//go:build amd64 && !purego", "", '#include "textflag.h"', "",
           "// AVX-512 transforms of the Winograd convolutions (winograd.go): each",
           "// works on 16 tiles (or filters) at once, one per lane, and does the",
           "// arithmetic of winoFold in the same order (bit-identical).", ""]
    for i in range(16):
        out.append("DATA winoSign<>+%d(SB)/4, $0x80000000" % (4 * i))
    out.append("GLOBL winoSign<>(SB), RODATA|NOPTR, $64")
    out.append("")
    for i in range(16):
        out.append("DATA winoNine<>+%d(SB)/4, $%d" % (4 * i, 9 * i))
    out.append("GLOBL winoNine<>(SB), RODATA|NOPTR, $64")
    out.append("")
    for i in range(16):
        out.append("DATA winoIota<>+%d(SB)/4, $%d" % (4 * i, i))
    out.append("GLOBL winoIota<>(SB), RODATA|NOPTR, $64")
    out.append("")
    for i in range(16):
        out.append("DATA winoBits<>+%d(SB)/4, $%d" % (4 * i, 1 << i))
    out.append("GLOBL winoBits<>(SB), RODATA|NOPTR, $64")
    out.append("")
    for name in sorted(consts):
        out.append("DATA %s<>+0(SB)/4, $0x%08x" % (name, consts[name]))
        out.append("GLOBL %s<>(SB), RODATA|NOPTR, $4" % name)
    out.append("")
    out.extend(body)
    open(os.path.join(outdir, "winograd_amd64.s"), "w").write("\n".join(out))

    go = ["// Code generated by engine/winograd_gen.py; DO NOT EDIT.", "", "package engine", "",
          'import "math"', "",
          "// The matrices of the Winograd algorithms, as float32 (the nearest to",
          "// each exact coefficient), row-major.",
          "var ("]
    for m, al in ALGS.items():
        for key, mat in (("bt", al["bt"]), ("g", al["g"]), ("at", al["at"])):
            vals = ", ".join("math.Float32frombits(0x%08x)" % f32bits(c) for row in mat for c in row)
            go.append("\twino%d%s = [...]float32{%s}" % (m, key.upper() if key != "g" else "G", vals))
    go.append(")")
    open(os.path.join(outdir, "winograd_mats.go"), "w").write("\n".join(go) + "\n")

    stubs = ["// Code generated by engine/winograd_gen.py; DO NOT EDIT.", "", "//go:build amd64 && !purego", "", "package engine", "",
             'import (', '\t"golang.org/x/sys/cpu"', "", '\t"github.com/gotrain/gotrain/engine/gemm"', ")", "",
             "// winoAVX512 and winoAVX2 report which Winograd transforms run: the",
             "// instruction set the GEMM uses (GOTRAIN_GEMM_ISA=avx2 or go forces a",
             "// slower one for both).",
             "var (", '\twinoAVX512 = cpu.X86.HasAVX512F && gemm.ISA() == "avx512"',
             '\twinoAVX2   = cpu.X86.HasAVX2 && gemm.ISA() != "go"', ")", ""]
    other = ["// Code generated by engine/winograd_gen.py; DO NOT EDIT.", "", "//go:build !amd64 || purego", "", "package engine", "",
             "// winoAVX512 and winoAVX2 are false: the Winograd transforms run in Go.",
             "var (", "\twinoAVX512 = false", "\twinoAVX2   = false", ")", ""]
    for m in ALGS:
        for name, sig, _, _ in FUNCS + FUNCS2:
            fn = name % m
            stubs += ["//go:noescape", "func %s(%s)" % (fn, sig), ""]
            other += ["func %s(%s) { panic(\"engine: %s needs amd64\") }" % (fn, sig, fn), ""]
    open(os.path.join(outdir, "winograd_asm_amd64.go"), "w").write("\n".join(stubs))
    open(os.path.join(outdir, "winograd_asm_other.go"), "w").write("\n".join(other))
    gofmt = os.environ.get("GOFMT") or shutil.which("gofmt")
    if gofmt:
        subprocess.run([gofmt, "-w"] + [os.path.join(outdir, f) for f in
                                        ("winograd_mats.go", "winograd_asm_amd64.go", "winograd_asm_other.go")], check=True)


if __name__ == "__main__":
    main()
