// Tiled single-precision GEMM, batched and split over products, plus the
// column reductions that the linear layer's bias gradient needs.
//
// C_z = alpha · Σ_{b in z's products} op(A_b)·op(B_b) + beta·C_z + bias
//
// Layout: row-major matrices. op(A) is M×K: A[m*lda+k], or A[k*lda+m] when
// transposed (TA); op(B) is K×N: B[k*ldb+n], or B[n*ldb+k] (TB). Product b
// starts at A + b·sA and B + b·sB and reduces over K elements, except the
// last (b = batch-1), which reduces over kLast (a long reduction split into
// equal chunks). Grid (ceil(N/BN), ceil(M/BM), Z): block z sums products
// [z·bpz, min((z+1)·bpz, batch)) in order and writes C + z·sC. bpz = 1 is a
// batched GEMM; bpz = batch (Z = 1) one GEMM whose reduction runs over every
// product. biasMode 1 adds bias[m], 2 adds bias[n].
//
// Block: BM×BN tile, (BM/TM)·(BN/TN) = 256 threads, each TM×TN outputs in
// registers; BK-deep slices of A and B staged through double-buffered shared
// memory with the next slice prefetched into registers. Every sum runs in a
// fixed order: results are deterministic.
//
// Matches the CPU engine's gemm.Sgemm as used by CPU.Conv2d, Conv2dBackward,
// Linear, LinearBackward and MatMul (the CPU sums in another order: results
// agree within float32 rounding).

#include "device.cuh"

// TileStage moves one BK-deep slice of op(A) (BM×BK) and op(B) (BK×BN)
// from global memory into registers (load: bounds-checked, 0 outside) and
// from there into shared memory as As[k][m] and Bs[k][n] (store; rounded to
// TF32 when TF32). NT threads share the work; the index mapping makes
// consecutive threads read consecutive addresses of A and B as stored.
template <int BM, int BN, int BK, int NT, bool TA, bool TB, bool TF32>
struct TileStage {
    static constexpr int LA = BM * BK / NT;  // A elements each thread moves per slice
    static constexpr int LB = BN * BK / NT;
    static_assert(LA * NT == BM * BK && LB * NT == BN * BK, "tile not divisible");
    float ra[LA], rb[LB];

    __device__ __forceinline__ static void aIndex(int idx, int& m, int& kk) {
        if (TA) { m = idx % BM; kk = idx / BM; } else { m = idx / BK; kk = idx % BK; }
    }
    __device__ __forceinline__ static void bIndex(int idx, int& n, int& kk) {
        if (TB) { kk = idx % BK; n = idx / BK; } else { n = idx % BN; kk = idx / BN; }
    }
    __device__ __forceinline__ void load(const float* __restrict__ Ab, int lda, const float* __restrict__ Bb, int ldb,
                                         int M, int N, int Kb, int m0, int n0, int k0, int tid) {
#pragma unroll
        for (int i = 0; i < LA; i++) {
            int m, kk;
            aIndex(tid + i * NT, m, kk);
            int gm = m0 + m, gk = k0 + kk;
            float v = 0.f;
            if (gm < M && gk < Kb) v = TA ? Ab[(size_t)gk * lda + gm] : Ab[(size_t)gm * lda + gk];
            ra[i] = v;
        }
#pragma unroll
        for (int i = 0; i < LB; i++) {
            int n, kk;
            bIndex(tid + i * NT, n, kk);
            int gn = n0 + n, gk = k0 + kk;
            float v = 0.f;
            if (gn < N && gk < Kb) v = TB ? Bb[(size_t)gn * ldb + gk] : Bb[(size_t)gk * ldb + gn];
            rb[i] = v;
        }
    }
    template <int PAD>
    __device__ __forceinline__ void store(float (*As)[BM + PAD], float (*Bs)[BN + PAD], int tid) const {
#pragma unroll
        for (int i = 0; i < LA; i++) {
            int m, kk;
            aIndex(tid + i * NT, m, kk);
            As[kk][m] = TF32 ? __uint_as_float(tf32_round(ra[i])) : ra[i];
        }
#pragma unroll
        for (int i = 0; i < LB; i++) {
            int n, kk;
            bIndex(tid + i * NT, n, kk);
            Bs[kk][n] = TF32 ? __uint_as_float(tf32_round(rb[i])) : rb[i];
        }
    }
};

// gemm_write stores one output: C[gm, gn] = alpha·acc + beta·C + bias.
__device__ __forceinline__ void gemm_write(float* __restrict__ Cz, int ldc, int gm, int gn, float acc, float alpha,
                                           float beta, const float* __restrict__ bias, int biasMode) {
    float v = alpha * acc;
    float* c = Cz + (size_t)gm * ldc + gn;
    if (beta != 0.f) v += beta * *c;
    if (biasMode == 1) v += bias[gm];
    else if (biasMode == 2) v += bias[gn];
    *c = v;
}

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__device__ __forceinline__ void gemm_body(const float* __restrict__ A, int lda, int sA,
                                          const float* __restrict__ B, int ldb, int sB,
                                          float* __restrict__ C, int ldc, int sC,
                                          int M, int N, int K, int kLast, int batch, int bpz,
                                          float alpha, float beta, const float* __restrict__ bias, int biasMode) {
    constexpr int NT = (BM / TM) * (BN / TN);
    __shared__ __align__(16) float As[2][BK][BM + 4];
    __shared__ __align__(16) float Bs[2][BK][BN + 4];

    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int z = blockIdx.z;
    const int b0 = z * bpz;
    int b1 = b0 + bpz;
    if (b1 > batch) b1 = batch;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;

    TileStage<BM, BN, BK, NT, TA, TB, false> st;
    for (int bi = b0; bi < b1; bi++) {
        const float* Ab = A + (size_t)bi * sA;
        const float* Bb = B + (size_t)bi * sB;
        const int Kb = bi == batch - 1 ? kLast : K;
        const int nt = (Kb + BK - 1) / BK;
        if (nt == 0) continue;
        st.load(Ab, lda, Bb, ldb, M, N, Kb, m0, n0, 0, tid);
        st.template store<4>(As[0], Bs[0], tid);
        __syncthreads();
        for (int t = 0; t < nt; t++) {
            const int buf = t & 1;
            if (t + 1 < nt) st.load(Ab, lda, Bb, ldb, M, N, Kb, m0, n0, (t + 1) * BK, tid);
#pragma unroll
            for (int kk = 0; kk < BK; kk++) {
                float a[TM], b[TN];
#pragma unroll
                for (int i = 0; i < TM; i += 4) {
                    float4 v = *reinterpret_cast<const float4*>(&As[buf][kk][ty * TM + i]);
                    a[i] = v.x; a[i + 1] = v.y; a[i + 2] = v.z; a[i + 3] = v.w;
                }
#pragma unroll
                for (int j = 0; j < TN; j += 4) {
                    float4 v = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * TN + j]);
                    b[j] = v.x; b[j + 1] = v.y; b[j + 2] = v.z; b[j + 3] = v.w;
                }
#pragma unroll
                for (int i = 0; i < TM; i++)
#pragma unroll
                    for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
            if (t + 1 < nt) st.template store<4>(As[buf ^ 1], Bs[buf ^ 1], tid);
            __syncthreads();
        }
    }

    float* Cz = C + (size_t)z * sC;
#pragma unroll
    for (int i = 0; i < TM; i++) {
        int gm = m0 + ty * TM + i;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            int gn = n0 + tx * TN + j;
            if (gn >= N) continue;
            gemm_write(Cz, ldc, gm, gn, acc[i][j], alpha, beta, bias, biasMode);
        }
    }
}

#define GEMM_PARAMS                                                                                      \
    const float *__restrict__ A, int lda, int sA, const float *__restrict__ B, int ldb, int sB,          \
        float *__restrict__ C, int ldc, int sC, int M, int N, int K, int kLast, int batch, int bpz, \
        float alpha, float beta, const float *__restrict__ bias, int biasMode
#define GEMM_ARGS A, lda, sA, B, ldb, sB, C, ldc, sC, M, N, K, kLast, batch, bpz, alpha, beta, bias, biasMode

// gemm_128_XY: 128×128 tiles, 8×8 per thread, 256 threads. X, Y: n (as
// stored) or t (transposed) for A and B.
extern "C" __global__ void __launch_bounds__(256, 2) gemm_128_nn(GEMM_PARAMS) { gemm_body<128, 128, 8, 8, 8, false, false>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256, 2) gemm_128_nt(GEMM_PARAMS) { gemm_body<128, 128, 8, 8, 8, false, true>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256, 2) gemm_128_tn(GEMM_PARAMS) { gemm_body<128, 128, 8, 8, 8, true, false>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256, 2) gemm_128_tt(GEMM_PARAMS) { gemm_body<128, 128, 8, 8, 8, true, true>(GEMM_ARGS); }
// gemm_64_XY: 64×64 tiles, 4×4 per thread, 256 threads: small or skinny products.
extern "C" __global__ void __launch_bounds__(256) gemm_64_nn(GEMM_PARAMS) { gemm_body<64, 64, 8, 4, 4, false, false>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_64_nt(GEMM_PARAMS) { gemm_body<64, 64, 8, 4, 4, false, true>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_64_tn(GEMM_PARAMS) { gemm_body<64, 64, 8, 4, 4, true, false>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_64_tt(GEMM_PARAMS) { gemm_body<64, 64, 8, 4, 4, true, true>(GEMM_ARGS); }

// ---- TF32 tensor-core path -------------------------------------------------
// The same contract as gemm_body, with the products on tensor cores:
// mma.sync.m16n8k8 in TF32 (inputs rounded to 10-bit mantissas, cvt.rna;
// float32 accumulation). Block tile 128×128 (or 64×64), BK = 16, 8 warps
// laid out 2 (M) × 4 (N); each warp owns a (BM/2)×(BN/4) sub-tile of
// m16n8 accumulators. Shared rows are padded by 8 floats so that the
// fragment reads (4 k-rows × 8 m or n per warp) hit 32 distinct banks.


template <int BM, int BN, int BK, bool TA, bool TB>
__device__ __forceinline__ void gemm_tf32_body(const float* __restrict__ A, int lda, int sA,
                                               const float* __restrict__ B, int ldb, int sB,
                                               float* __restrict__ C, int ldc, int sC,
                                               int M, int N, int K, int kLast, int batch, int bpz,
                                               float alpha, float beta, const float* __restrict__ bias, int biasMode) {
    constexpr int NT = 256;
    constexpr int WM = BM / 2, WN = BN / 4;  // warp tile
    constexpr int FM = WM / 16, FN = WN / 8;  // mma tiles per warp
    __shared__ __align__(16) float As[2][BK][BM + 8];
    __shared__ __align__(16) float Bs[2][BK][BN + 8];

    const int tid = threadIdx.x;
    const int warp = tid >> 5, lane = tid & 31;
    const int wm = (warp >> 2) * WM, wn = (warp & 3) * WN;
    const int grp = lane >> 2, tig = lane & 3;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int z = blockIdx.z;
    const int b0 = z * bpz;
    int b1 = b0 + bpz;
    if (b1 > batch) b1 = batch;

    float acc[FM][FN][4];
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;

    TileStage<BM, BN, BK, NT, TA, TB, true> st;
    for (int bi = b0; bi < b1; bi++) {
        const float* Ab = A + (size_t)bi * sA;
        const float* Bb = B + (size_t)bi * sB;
        const int Kb = bi == batch - 1 ? kLast : K;
        const int nt = (Kb + BK - 1) / BK;
        if (nt == 0) continue;
        st.load(Ab, lda, Bb, ldb, M, N, Kb, m0, n0, 0, tid);
        st.template store<8>(As[0], Bs[0], tid);
        __syncthreads();
        for (int t = 0; t < nt; t++) {
            const int buf = t & 1;
            if (t + 1 < nt) st.load(Ab, lda, Bb, ldb, M, N, Kb, m0, n0, (t + 1) * BK, tid);
#pragma unroll
            for (int kk = 0; kk < BK; kk += 8) {
                unsigned int af[FM][4], bf[FN][2];
#pragma unroll
                for (int i = 0; i < FM; i++) {
                    int m = wm + i * 16 + grp;
                    af[i][0] = __float_as_uint(As[buf][kk + tig][m]);
                    af[i][1] = __float_as_uint(As[buf][kk + tig][m + 8]);
                    af[i][2] = __float_as_uint(As[buf][kk + tig + 4][m]);
                    af[i][3] = __float_as_uint(As[buf][kk + tig + 4][m + 8]);
                }
#pragma unroll
                for (int j = 0; j < FN; j++) {
                    int n = wn + j * 8 + grp;
                    bf[j][0] = __float_as_uint(Bs[buf][kk + tig][n]);
                    bf[j][1] = __float_as_uint(Bs[buf][kk + tig + 4][n]);
                }
#pragma unroll
                for (int i = 0; i < FM; i++)
#pragma unroll
                    for (int j = 0; j < FN; j++)
                        mma_tf32_16x8x8(acc[i][j], af[i], bf[j]);
            }
            if (t + 1 < nt) st.template store<8>(As[buf ^ 1], Bs[buf ^ 1], tid);
            __syncthreads();
        }
    }

    float* Cz = C + (size_t)z * sC;
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                int gm = m0 + wm + i * 16 + grp + (r >= 2 ? 8 : 0);
                int gn = n0 + wn + j * 8 + 2 * tig + (r & 1);
                if (gm >= M || gn >= N) continue;
                gemm_write(Cz, ldc, gm, gn, acc[i][j][r], alpha, beta, bias, biasMode);
            }
}

// gemm_tf32_128_XY and gemm_tf32_64_XY: the tensor-core variants of
// gemm_128_XY and gemm_64_XY (same arguments, same launch grid, 256
// threads). Results agree with the CPU engine within TF32 rounding.
extern "C" __global__ void __launch_bounds__(256) gemm_tf32_128_nn(GEMM_PARAMS) { gemm_tf32_body<128, 128, 16, false, false>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_tf32_128_nt(GEMM_PARAMS) { gemm_tf32_body<128, 128, 16, false, true>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_tf32_128_tn(GEMM_PARAMS) { gemm_tf32_body<128, 128, 16, true, false>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_tf32_128_tt(GEMM_PARAMS) { gemm_tf32_body<128, 128, 16, true, true>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_tf32_64_nn(GEMM_PARAMS) { gemm_tf32_body<64, 64, 16, false, false>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_tf32_64_nt(GEMM_PARAMS) { gemm_tf32_body<64, 64, 16, false, true>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_tf32_64_tn(GEMM_PARAMS) { gemm_tf32_body<64, 64, 16, true, false>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_tf32_64_tt(GEMM_PARAMS) { gemm_tf32_body<64, 64, 16, true, true>(GEMM_ARGS); }

// gemm_sum_splits: C[r*ldc+c] = Σ_z P[z*M*N + r*N + c], z ascending (the
// split partial sums of a gemm with Z > 1 added in a fixed order). One
// thread per element, grid-stride, 256 threads.
extern "C" __global__ void gemm_sum_splits(float* __restrict__ C, int ldc, const float* __restrict__ P, int M, int N, int splits) {
    int total = M * N;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
        float s = 0.f;
        for (int z = 0; z < splits; z++) s += P[(size_t)z * total + i];
        C[(size_t)(i / N) * ldc + i % N] = s;
    }
}

// gemm_col_sum: y[c] = Σ_r x[r*cols + c] (the bias gradient of Linear:
// dy summed over rows). Block (32, 8): 32 columns, 8 row lanes; lane l sums
// rows l, l+8, ... in order, then the 8 lane sums add in lane order. Grid:
// ceil(cols/32) blocks. Matches CPU.LinearBackward's db.
extern "C" __global__ void gemm_col_sum(float* __restrict__ y, const float* __restrict__ x, int rows, int cols) {
    __shared__ float part[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.f;
    if (c < cols)
        for (int r = threadIdx.y; r < rows; r += 8) s += x[(size_t)r * cols + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float t = 0.f;
        for (int l = 0; l < 8; l++) t += part[l][threadIdx.x];
        y[c] = t;
    }
}
