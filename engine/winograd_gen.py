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

    def fold(self, dst, row, srcs, tmp="Z30"):
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
                    self("VXORPS Z31, %s, %s" % (s, dst))
                else:
                    self("VMULPS.BCST %s<>(SB), %s, %s" % (const(c), s, dst))
                first = False
                continue
            if c == 1:
                self("VADDPS %s, %s, %s" % (s, dst, dst))
            elif c == -1:
                self("VSUBPS %s, %s, %s" % (s, dst, dst))
            else:
                self("VMULPS.BCST %s<>(SB), %s, %s" % (const(c), s, tmp))
                self("VADDPS %s, %s, %s" % (tmp, dst, dst))
        if first:
            self("VPXORD %s, %s, %s" % (dst, dst, dst))


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


def gen_filter(m, al):
    """winoFilter{m}(u *float32, ld int, f *float32)"""
    g = al["g"]
    al_ = len(g)
    a = Asm()
    a("MOVQ u+0(FP), DI")
    a("MOVQ ld+8(FP), BX")
    a("SHLQ $2, BX")
    a("MOVQ f+16(FP), SI")
    a("VMOVUPS winoNine<>(SB), Z29")
    a("VMOVUPS winoSign<>(SB), Z31")

    def load_col(s):
        for r in range(3):
            a("KXNORW K0, K0, K1")
            a("VGATHERDPS %d(SI)(Z29*4), K1, %s" % (4 * (3 * r + s), z(r)))

    def store(i, j, reg):
        p = i * al_ + j
        a("MOVQ BX, AX")
        a("IMULQ $%d, AX" % p)
        a("VMOVUPS %s, (DI)(AX*1)" % reg)

    frame = two_phase(a, g, g, 3, 3, load_col, store)
    return frame, a.lines


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
    ("winoFilter%d", "u *float32, ld int, f *float32", 24, gen_filter),
    ("winoFilterGrad%d", "dw, du *float32, ld int", 24, gen_filter_grad),
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
             'import "golang.org/x/sys/cpu"', "",
             "// winoAVX512 reports whether the AVX-512 Winograd transforms can run.",
             "var winoAVX512 = cpu.X86.HasAVX512F", ""]
    other = ["// Code generated by engine/winograd_gen.py; DO NOT EDIT.", "", "//go:build !amd64 || purego", "", "package engine", "",
             "// winoAVX512 is false: the Winograd transforms run in Go.",
             "var winoAVX512 = false", ""]
    for m in ALGS:
        for name, sig, _, _ in FUNCS:
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
