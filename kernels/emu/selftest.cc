// selftest.cc: small kernels that test the emulator itself (package emu's
// tests launch them): barriers, warp collectives, the inline PTX of
// kernels/device.cuh against its definition, and the faults the emulator
// must report. They are not gotrain kernels and have no PTX.
#include "emu.h"
#include "emu_api.h"

#include "../device.cuh"

// emutest_reverse: out[i] = in[n-1-i] through shared memory, one block of n
// threads; without the barrier (sync = 0) threads read slots not yet written.
extern "C" __global__ void emutest_reverse(float* out, const float* in, int n, int sync) {
    __shared__ float s[1024];
    int t = threadIdx.x;
    s[t] = in[t];
    if (sync) __syncthreads();
    out[t] = s[n - 1 - t];
    if (sync) __syncthreads();
    s[t] = -1.0f;  // the next block would otherwise see this block's data
}

// emutest_shfl: lane l of each warp writes the result of the collective
// `kind` (1 shfl, 2 up, 3 down, 4 xor, 5 ballot of odd values, 6
// match_any of lane/4) with argument arg and width, on the
// value 1000·warp + 10·l + blockIdx.x.
extern "C" __global__ void emutest_shfl(int* out, int kind, int arg, int width) {
    int t = threadIdx.x, l = t & 31;
    int v = 1000 * (t >> 5) + 10 * l + (int)blockIdx.x;
    int r = 0;
    switch (kind) {
    case 1: r = __shfl_sync(0xffffffffu, v, (arg + l) & 31, width); break;
    case 2: r = __shfl_up_sync(0xffffffffu, v, arg, width); break;
    case 3: r = __shfl_down_sync(0xffffffffu, v, arg, width); break;
    case 4: r = __shfl_xor_sync(0xffffffffu, v, arg, width); break;
    case 5: r = (int)__ballot_sync(0xffffffffu, (v / 10) & 1); break;
    case 6: r = (int)__match_any_sync(0xffffffffu, l / 4); break;
    }
    out[blockIdx.x * blockDim.x + t] = r;
}

// emutest_shfl_double: a 64-bit shuffle (xor 1) of a double.
extern "C" __global__ void emutest_shfl_double(double* out) {
    int l = threadIdx.x & 31;
    double v = 0.5 + l * 1e10;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, v, 1);
}

// emutest_mma_tf32: D = A·B + C for one m16n8k8 tile, one warp. A is 16×8
// row-major, B 8×8 row-major (k, n), C and D 16×8; the fragments are
// loaded by the layout mma_tf32_16x8x8 documents, A and B rounded to TF32.
extern "C" __global__ void emutest_mma_tf32(float* D, const float* A, const float* B, const float* C) {
    int l = threadIdx.x, g = l >> 2, t = l & 3;
    unsigned a[4] = {tf32_round(A[g * 8 + t]), tf32_round(A[(g + 8) * 8 + t]), tf32_round(A[g * 8 + t + 4]),
                     tf32_round(A[(g + 8) * 8 + t + 4])};
    unsigned b[2] = {tf32_round(B[t * 8 + g]), tf32_round(B[(t + 4) * 8 + g])};
    float d[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
    mma_tf32_16x8x8(d, a, b);
    D[g * 8 + 2 * t] = d[0];
    D[g * 8 + 2 * t + 1] = d[1];
    D[(g + 8) * 8 + 2 * t] = d[2];
    D[(g + 8) * 8 + 2 * t + 1] = d[3];
}

// emutest_mma_bf16: D = A·B + C for one m16n8k16 tile; A (16×16) and B
// (16×8, row-major (k, n)) hold BF16 values as uint16.
extern "C" __global__ void emutest_mma_bf16(float* D, const unsigned short* A, const unsigned short* B, const float* C) {
    int l = threadIdx.x, g = l >> 2, t = l & 3;
    auto pa = [&](int r, int c) { return (unsigned)A[r * 16 + c] | (unsigned)A[r * 16 + c + 1] << 16; };
    auto pb = [&](int k, int n) { return (unsigned)B[k * 8 + n] | (unsigned)B[(k + 1) * 8 + n] << 16; };
    unsigned a[4] = {pa(g, 2 * t), pa(g + 8, 2 * t), pa(g, 2 * t + 8), pa(g + 8, 2 * t + 8)};
    unsigned b[2] = {pb(2 * t, g), pb(2 * t + 8, g)};
    float d[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
    mma_bf16_16x8x16(d, a, b);
    D[g * 8 + 2 * t] = d[0];
    D[g * 8 + 2 * t + 1] = d[1];
    D[(g + 8) * 8 + 2 * t] = d[2];
    D[(g + 8) * 8 + 2 * t + 1] = d[3];
}

// emutest_ldmatrix: four 8×8 b16 matrices M (row-major, matrix after
// matrix) staged in shared memory; out[4·l + i] is register i of lane l
// after ldmatrix_x4 (transposed when trans).
extern "C" __global__ void emutest_ldmatrix(unsigned* out, const unsigned short* M, int trans) {
    __shared__ __align__(16) unsigned short s[4 * 64];
    int l = threadIdx.x;
    for (int i = l; i < 4 * 64; i += 32) s[i] = M[i];
    __syncwarp();
    unsigned r[4];
    const void* row = &s[(l >> 3) * 64 + (l & 7) * 8];
    if (trans) ldmatrix_x4<true>(r, row);
    else ldmatrix_x4<false>(r, row);
    for (int i = 0; i < 4; i++) out[4 * l + i] = r[i];
}

// emutest_cp_async: each of 32 threads copies 16 bytes of in (the last
// thread only src_bytes of them) into shared memory with cp.async, waits
// for its group when wait is set, and after a barrier writes the shared
// memory to out (NaN where nothing landed).
extern "C" __global__ void emutest_cp_async(float* out, const float* in, int src_bytes, int wait) {
    __shared__ __align__(16) float s[128];
    int t = threadIdx.x;
    for (int i = 0; i < 4; i++) s[4 * t + i] = __int_as_float(0x7fc00000);
    __syncthreads();
    cp_async16(&s[4 * t], &in[4 * t], t == 31 ? src_bytes : 16);
    cp_async_commit();
    if (wait) cp_async_wait<0>();
    __syncthreads();
    for (int i = 0; i < 4; i++) out[4 * t + i] = s[4 * t + i];
}

// emutest_fault: faults the emulator must report. 1: half the block waits
// at __syncthreads, lanes 0-15 of warp 0 at a __syncwarp naming all 32
// (deadlock). 2: lanes of a warp at different collectives. 3: a lane exits
// while the others wait for it in a shuffle. 4: __trap. 5: a collective
// whose mask lacks the calling lane. 6: write one element past n.
extern "C" __global__ void emutest_fault(float* out, int mode, int n) {
    int t = threadIdx.x;
    switch (mode) {
    case 1:
        if (t < 16) __syncwarp();
        else __syncthreads();
        break;
    case 2:
        if (t < 32) {
            if (t < 16) out[t] = (float)__shfl_sync(0xffffffffu, t, 0);
            else out[t] = (float)__ballot_sync(0xffffffffu, 1);
        }
        break;
    case 3:
        if (t == 5) return;
        if (t < 32) out[t] = __shfl_down_sync(0xffffffffu, (float)t, 1);
        break;
    case 4:
        if (t == 7) __trap();
        break;
    case 5:
        if (t < 32) out[t] = __shfl_sync(0x0000ffffu, (float)t, 0);
        break;
    case 6:
        if (t <= n) out[t] = 1.0f;
        break;
    }
}

static const emu::KernelEntry kernels_selftest[] = {
    EMU_KERNEL(emutest_reverse),  EMU_KERNEL(emutest_shfl),     EMU_KERNEL(emutest_shfl_double),
    EMU_KERNEL(emutest_mma_tf32), EMU_KERNEL(emutest_mma_bf16), EMU_KERNEL(emutest_ldmatrix),
    EMU_KERNEL(emutest_cp_async), EMU_KERNEL(emutest_fault),
};

extern "C" void emu_register_selftest(void) {
    emu_register(kernels_selftest, sizeof kernels_selftest / sizeof kernels_selftest[0]);
}
