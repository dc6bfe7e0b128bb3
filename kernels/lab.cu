// Peak microkernels for the kernel lab (cmd/kernellab): the tensor cores'
// mma.sync throughput in TF32 and BF16, which the lab reports every other
// kernel's GFLOP/s against (measured in the same run, on the same GPU).
//
// lab_mma_tf32 / lab_mma_bf16: grid (any), block (any multiple of 32).
// Every warp runs iters rounds of 8 independent mma.sync chains
// (m16n8k8 TF32: 2,048 flops each; m16n8k16 BF16: 4,096) on fragments
// holding a (1.0 where a = 1) and b = 1.0, so each accumulator element
// grows by a·K per mma; each thread writes the sum of its 32 accumulators
// to out[global thread]: 8·4·8·iters·a (TF32) or 8·4·16·iters·a (BF16),
// which the parity test checks (kernels/parity/lab_test.go) and which keeps
// the compiler from dropping the loop.

#include "device.cuh"

extern "C" __global__ void lab_mma_tf32(float* __restrict__ out, float a, int iters) {
    const unsigned int ua = tf32_round(a), one = tf32_round(1.f);
    const unsigned int af[4] = {ua, ua, ua, ua};
    const unsigned int bf[2] = {one, one};
    float acc[8][4];
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) acc[j][r] = 0.f;
    for (int i = 0; i < iters; i++) {
#pragma unroll
        for (int j = 0; j < 8; j++) mma_tf32_16x8x8(acc[j], af, bf);
    }
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) s += acc[j][r];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

extern "C" __global__ void lab_mma_bf16(float* __restrict__ out, float a, int iters) {
    // BF16 of a and 1.0: the high halves of their float32 patterns (exact
    // for the values the lab passes: 1, 0.5, ...).
    const unsigned int ha = __float_as_uint(a) >> 16, h1 = __float_as_uint(1.f) >> 16;
    const unsigned int pa = ha | (ha << 16), p1 = h1 | (h1 << 16);
    const unsigned int af[4] = {pa, pa, pa, pa};
    const unsigned int bf[2] = {p1, p1};
    float acc[8][4];
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) acc[j][r] = 0.f;
    for (int i = 0; i < iters; i++) {
#pragma unroll
        for (int j = 0; j < 8; j++) mma_bf16_16x8x16(acc[j], af, bf);
    }
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) s += acc[j][r];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}
