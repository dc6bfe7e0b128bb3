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

#include "igemm.cuh"

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

// ---- Tensor-core path (TF32 and BF16) ---------------------------------------
// The same contract as gemm_body, with the products on tensor cores through
// the mainloop of igemm.cuh (cp.async stages, ldmatrix fragments,
// mma.sync): TF32 (m16n8k8, operands rounded with cvt.rna) or BF16
// (m16n8k16, operands rounded to nearest even), float32 sums. op(A) and
// op(B) are staged k-contiguous: A as stored (not TA) and B transposed (TB)
// are read with 16-byte copies when their rows are 16-byte aligned (lda,
// sA, and the pointer; ldb, sB), the other layouts with 4-byte copies in
// which consecutive threads read consecutive addresses.

template <class Cfg, bool TA, bool TB>
struct GemmLoader : IgNoRegs {
    const float* A;
    const float* B;
    int lda, ldb, M, N, m0, n0, k1;
    bool vecA, vecB;
    __device__ __forceinline__ void load(float (*As)[IG_LDS], float (*Bs)[IG_LDS], int k) {
        constexpr int NT = Cfg::NT;
        const float* a = A;
        const float* bp = B;
        const int la = lda, lb = ldb, Mm = M, Nn = N, mm0 = m0, nn0 = n0;
        auto aAddr = [=](int row, int kg) -> const float* {
            const int gm = mm0 + row;
            if (gm >= Mm) return nullptr;
            return TA ? a + (size_t)kg * la + gm : a + (size_t)gm * la + kg;
        };
        auto bAddr = [=](int row, int kg) -> const float* {
            const int gn = nn0 + row;
            if (gn >= Nn) return nullptr;
            return TB ? bp + (size_t)gn * lb + kg : bp + (size_t)kg * lb + gn;
        };
        if (TA) ig_rowfast<Cfg::BM, NT>(As, A, k, k1, aAddr);
        else if (vecA) ig_vec_rows<Cfg::BM, NT>(As, A, k, k1, aAddr);
        else ig_kfast<Cfg::BM, NT>(As, A, k, k1, aAddr);
        if (!TB) ig_rowfast<Cfg::BN, NT>(Bs, B, k, k1, bAddr);
        else if (vecB) ig_vec_rows<Cfg::BN, NT>(Bs, B, k, k1, bAddr);
        else ig_kfast<Cfg::BN, NT>(Bs, B, k, k1, bAddr);
    }
};

template <class Cfg, int PREC, bool TA, bool TB>
__device__ __forceinline__ void gemm_tc_body(const float* __restrict__ A, int lda, int sA,
                                             const float* __restrict__ B, int ldb, int sB,
                                             float* __restrict__ C, int ldc, int sC,
                                             int M, int N, int K, int kLast, int batch, int bpz,
                                             float alpha, float beta, const float* __restrict__ bias, int biasMode) {
    __shared__ __align__(16) IgSmem<Cfg> sm;
    const int z = blockIdx.z;
    const int b0 = z * bpz;
    int b1 = b0 + bpz;
    if (b1 > batch) b1 = batch;
    GemmLoader<Cfg, TA, TB> ld;
    ld.lda = lda, ld.ldb = ldb, ld.M = M, ld.N = N;
    ld.m0 = blockIdx.y * Cfg::BM, ld.n0 = blockIdx.x * Cfg::BN;
    IgMma<Cfg, PREC> mma;
    mma.zero();
    for (int bi = b0; bi < b1; bi++) {
        ld.A = A + (size_t)bi * sA;
        ld.B = B + (size_t)bi * sB;
        ld.vecA = lda % 4 == 0 && ((size_t)ld.A & 15) == 0;
        ld.vecB = ldb % 4 == 0 && ((size_t)ld.B & 15) == 0;
        ld.k1 = bi == batch - 1 ? kLast : K;
        ig_mainloop<Cfg, PREC>(sm, mma, ld, 0, ld.k1);
    }
    float* Cz = C + (size_t)z * sC;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int m0 = ld.m0, n0 = ld.n0;
    mma.each((warp / Cfg::WN) * 32, (warp % Cfg::WN) * 32, lane, [&](int ml, int nl, float v) {
        const int gm = m0 + ml, gn = n0 + nl;
        if (gm < M && gn < N) gemm_write(Cz, ldc, gm, gn, v, alpha, beta, bias, biasMode);
    });
}

// gemm_{tf32,bf16}_{l,s}_XY: the tensor-core variants of gemm_128_XY and
// gemm_64_XY (same arguments): tiles 128×64 (l, 256 threads) or 64×64 (s,
// 128 threads), grid (ceil(N/64), ceil(M/BM), Z). Results agree with the
// CPU engine within TF32 or BF16 rounding.
#define GEMM_TC(prec, P, cfg, CFG)                                                                                   \
    extern "C" __global__ void IG_BOUNDS(CFG) gemm_##prec##_##cfg##_nn(GEMM_PARAMS) { gemm_tc_body<CFG, P, false, false>(GEMM_ARGS); } \
    extern "C" __global__ void IG_BOUNDS(CFG) gemm_##prec##_##cfg##_nt(GEMM_PARAMS) { gemm_tc_body<CFG, P, false, true>(GEMM_ARGS); }  \
    extern "C" __global__ void IG_BOUNDS(CFG) gemm_##prec##_##cfg##_tn(GEMM_PARAMS) { gemm_tc_body<CFG, P, true, false>(GEMM_ARGS); }  \
    extern "C" __global__ void IG_BOUNDS(CFG) gemm_##prec##_##cfg##_tt(GEMM_PARAMS) { gemm_tc_body<CFG, P, true, true>(GEMM_ARGS); }
GEMM_TC(tf32, IG_TF32, l, IgLarge)
GEMM_TC(tf32, IG_TF32, s, IgSmall)
GEMM_TC(bf16, IG_BF16, l, IgLarge)
GEMM_TC(bf16, IG_BF16, s, IgSmall)

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
