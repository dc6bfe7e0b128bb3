// device.cuh: the inline PTX the kernels use, each wrapped in one device
// function with a C version for the CPU emulator (kernels/emu), which
// defines GOTRAIN_EMU and implements the emu_* functions following the PTX
// ISA's definitions and fragment layouts. nvcc compiles the asm branch.
#pragma once

#ifdef GOTRAIN_EMU
#include "emu/emu.h"
#endif

// tf32_round: cvt.rna.tf32.f32, x rounded to TF32 (10-bit mantissa, to
// nearest, ties away from zero) and returned as its float32 bit pattern.
__device__ __forceinline__ unsigned int tf32_round(float x) {
#ifdef GOTRAIN_EMU
    return emu_cvt_rna_tf32(x);
#else
    unsigned int r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
#endif
}

// bf16x2_rn: cvt.rn.bf16x2.f32, lo and hi rounded to BF16 (to nearest,
// ties to even) and packed, lo in the low half (the lower k of an
// mma.m16n8k16 operand pair). The emulator's version rounds with integer
// arithmetic (a NaN stays a NaN; its payload may differ from the GPU's).
__device__ __forceinline__ unsigned int bf16x2_rn(float lo, float hi) {
#ifdef GOTRAIN_EMU
    auto rn = [](float x) -> unsigned int {
        unsigned int u = __float_as_uint(x);
        if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
        return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    };
    return rn(lo) | (rn(hi) << 16);
#else
    unsigned int r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#endif
}

// mma_tf32_16x8x8: d = A·B + d on the warp's tensor cores,
// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32. A is 16×8 (row), B
// 8×8 (col), d 16×8 float32; with g = lane/4 and t = lane%4 a lane holds
// a = {A[g][t], A[g+8][t], A[g][t+4], A[g+8][t+4]}, b = {B[t][g], B[t+4][g]}
// and d = {D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]}. Every lane of
// the warp must execute it.
__device__ __forceinline__ void mma_tf32_16x8x8(float (&d)[4], const unsigned int (&a)[4], const unsigned int (&b)[2]) {
#ifdef GOTRAIN_EMU
    emu_mma_m16n8k8_tf32(d, a, b);
#else
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

// mma_bf16_16x8x16: d = A·B + d, mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32.
// A is 16×16 (row), B 16×8 (col), two BF16 per register, the lower column
// (A) or row (B) in the low half: a = {A[g][2t..2t+1], A[g+8][2t..2t+1],
// A[g][2t+8..2t+9], A[g+8][2t+8..2t+9]}, b = {B[2t..2t+1][g],
// B[2t+8..2t+9][g]}; d as in mma_tf32_16x8x8.
__device__ __forceinline__ void mma_bf16_16x8x16(float (&d)[4], const unsigned int (&a)[4], const unsigned int (&b)[2]) {
#ifdef GOTRAIN_EMU
    emu_mma_m16n8k16_bf16(d, a, b);
#else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

// ldmatrix_x4: ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16. Lanes
// 8i..8i+7 give the addresses of rows 0..7 of 8×8 b16 matrix i (16 bytes
// each, 16-byte aligned, shared memory); lane l receives in r[i] the two
// elements of matrix i at row l/4, columns 2(l%4) and 2(l%4)+1 (with TRANS,
// of its transpose). Every lane of the warp must execute it.
template <bool TRANS>
__device__ __forceinline__ void ldmatrix_x4(unsigned int (&r)[4], const void* row) {
#ifdef GOTRAIN_EMU
    emu_ldmatrix(r, 4, TRANS, row);
#else
    unsigned int a = (unsigned int)__cvta_generic_to_shared(row);
    if (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#endif
}

// cp_async16: cp.async.cg.shared.global, 16 bytes from global src to shared
// dst (both 16-byte aligned); only the first src_bytes (0..16) are read,
// the rest of dst is zero-filled. The copy lands at cp_async_wait.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
#ifdef GOTRAIN_EMU
    emu_cp_async(dst, src, 16, src_bytes);
#else
    unsigned int a = (unsigned int)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(a), "l"(src), "r"(src_bytes));
#endif
}

// cp_async4: cp.async.ca.shared.global, 4 bytes from global src to shared
// dst (both 4-byte aligned); src_bytes 0 or 4 (0: dst is zero-filled and
// src not read). For gathered operands (a convolution's input pixels) that
// are not contiguous along the copied dimension.
__device__ __forceinline__ void cp_async4(void* dst, const void* src, int src_bytes) {
#ifdef GOTRAIN_EMU
    emu_cp_async(dst, src, 4, src_bytes);
#else
    unsigned int a = (unsigned int)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(a), "l"(src), "r"(src_bytes));
#endif
}

// cp_async_commit: cp.async.commit_group, closing the thread's current
// group of copies.
__device__ __forceinline__ void cp_async_commit() {
#ifdef GOTRAIN_EMU
    emu_cp_async_commit();
#else
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// cp_async_wait<N>: cp.async.wait_group N, waiting until at most N of the
// thread's committed groups are still in flight (their copies visible to
// this thread; a __syncthreads makes them visible to the block).
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#ifdef GOTRAIN_EMU
    emu_cp_async_wait(N);
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}
