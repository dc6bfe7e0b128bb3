// igemm.cuh: the tensor-core GEMM mainloop shared by the implicit-GEMM
// convolutions (conv_igemm.cu) and the TF32/BF16 GEMMs (gemm.cu).
//
// C (M×N) = A (M×Kr) · B (Kr×N), float32 in global memory, float32 sums.
// An operand tile is staged in shared memory k-contiguous: As[m][k] and
// Bs[n][k], rows of BK = 16 floats padded to 20 (80 bytes), so that the 8
// rows an ldmatrix reads start in 8 distinct 16-byte bank groups
// (80·i mod 128 = 0, 80, 32, 112, 64, 16, 96, 48): no bank conflicts on the
// fragment loads. A loader (the op's) fills a stage with cp.async: 16-byte
// copies where the operand is contiguous and 16-byte aligned along k (the
// caller checks), else 4-byte copies; elements outside the problem (ragged
// M, N, Kr, the zero padding of a convolution) are zero-filled by the copy
// (src-size 0), so the mainloop has no bounds checks. STAGES stages are in
// flight (cp.async groups; wait, then one __syncthreads per k-tile).
// A loader may also stage elements in registers (an operand cp.async cannot
// copy: bfloat16 activations, 2 bytes each): load issues its global loads
// before the tensor-core math of the current stage and store writes them,
// widened, into the stage being filled after it (IgNoRegs: nothing staged).
//
// Fragments: ldmatrix.x4 of 32-bit elements read as pairs of b16 gives
// lane l the element at row l/4, column l%4 of each 8×4 float block, which
// is exactly mma.m16n8k8's TF32 fragment (a = A[g][t], A[g+8][t],
// A[g][t+4], A[g+8][t+4]; b = B[t][g], B[t+4][g], g = lane/4, t = lane%4)
// of a k-contiguous tile. TF32: each element is rounded with cvt.rna (as the
// old GEMM did before its shared stores). BF16 (mma.m16n8k16): the two
// k8 halves of a 16-deep slice are loaded as TF32 fragments and each pair
// rounded to BF16 and packed so that logical k (2t, 2t+1, 2t+8, 2t+9) is
// physical k (t, t+4, t+8, t+12) for both A and B: the same permutation of
// the reduction on both sides, so the sum is unchanged.
//
// Warps: WM×WN warps, each a 32×32 sub-tile (2 m16 × 4 n8 accumulators).
#pragma once
#include "device.cuh"

#define IG_BK 16
#define IG_LDS 20  // padded shared row, floats

enum IgPrec { IG_TF32 = 0, IG_BF16 = 1 };

template <int BM_, int BN_, int WM_, int WN_, int STAGES_, int MINB_>
struct IgCfg {
    static constexpr int BM = BM_, BN = BN_, WM = WM_, WN = WN_, STAGES = STAGES_;
    static constexpr int MINB = MINB_;  // __launch_bounds__'s blocks per SM
    static constexpr int NT = WM * WN * 32;
    static_assert(BM == WM * 32 && BN == WN * 32, "warp tiles are 32x32");
};
// The two tile shapes: 128×64 (8 warps) for large problems, 64×64 (4
// warps) for small or skinny ones. Shared memory: 3 stages ×
// (BM+BN)·20·4 bytes = 46,080 and 30,720 bytes (static, under 48 KiB).
// Both ask for at least 16 warps per SM (2 large or 4 small blocks: at
// most 128 registers a thread, 92 or 120 KiB of shared memory): without
// the bound ptxas gave one kernel 80 registers and spills, and the small
// tile's GEMMs up to 231 registers (4 warps per SM).
typedef IgCfg<128, 64, 4, 2, 3, 2> IgLarge;
typedef IgCfg<64, 64, 2, 2, 3, 4> IgSmall;

#define IG_BOUNDS(CFG) __launch_bounds__(CFG::NT, CFG::MINB)

template <class Cfg>
struct IgSmem {
    float a[Cfg::STAGES][Cfg::BM][IG_LDS];
    float b[Cfg::STAGES][Cfg::BN][IG_LDS];
};

// bf16_pack rounds two float32 bit patterns to BF16 and packs them, lo in
// the low half (device.cuh's bf16x2_rn: one cvt.rn.bf16x2.f32).
__device__ __forceinline__ unsigned int bf16_pack(unsigned int lo, unsigned int hi) {
    return bf16x2_rn(__uint_as_float(lo), __uint_as_float(hi));
}

// FastDiv divides non-negative ints below 2^31 by a divisor fixed for the
// launch with a multiply-high and a shift (the host computes mul and shr:
// cuda/conv_igemm.go's fastDiv, CUTLASS's FastDivmod) instead of the ~20
// instructions of an integer division: the convolution loaders split
// reduction indices into (c, r, s) for every element of every k-tile.
struct FastDiv {
    int d;
    unsigned int mul, shr;
    __device__ __forceinline__ int div(int n) const {
        return d == 1 ? n : (int)(__umulhi((unsigned int)n, mul) >> shr);
    }
};

// cp_async4z: a 4-byte cp.async of *src, or zeros when !ok (src is then
// not read; any 4-byte aligned address will do).
__device__ __forceinline__ void cp_async4z(float* dst, const float* src, bool ok) {
    cp_async4(dst, src, ok ? 4 : 0);
}

// ig_vec_rows loads a ROWS×16 k-contiguous tile in 16-byte copies: row
// base(row) (null: outside the problem) from column k, zero past k1.
template <int ROWS, int NT, class Base>
__device__ __forceinline__ void ig_vec_rows(float (*S)[IG_LDS], const float* any, int k, int k1, Base base) {
    static_assert(ROWS * 4 % NT == 0, "vector tile");
#pragma unroll
    for (int i = 0; i < ROWS * 4 / NT; i++) {
        const int idx = threadIdx.x + i * NT;
        const int row = idx >> 2, c4 = (idx & 3) * 4;
        const int kg = k + c4;
        const float* p = base(row, kg);
        int bytes = 0;
        if (p != nullptr && kg < k1) bytes = k1 - kg >= 4 ? 16 : 4 * (k1 - kg);
        cp_async16(&S[row][c4], bytes ? p : any, bytes);
    }
}

// ig_kfast loads a ROWS×16 tile whose global rows are contiguous along k
// in 4-byte copies: thread t copies column t%16 of rows t/16, t/16 + NT/16, ...
template <int ROWS, int NT, class Addr>
__device__ __forceinline__ void ig_kfast(float (*S)[IG_LDS], const float* any, int k, int k1, Addr addr) {
    const int kk = threadIdx.x & 15, kg = k + kk;
#pragma unroll
    for (int i = 0; i < ROWS * 16 / NT; i++) {
        const int row = (threadIdx.x >> 4) + i * (NT / 16);
        const float* p = kg < k1 ? addr(row, kg) : nullptr;
        cp_async4z(&S[row][kk], p ? p : any, p != nullptr);
    }
}

// ig_rowfast loads a ROWS×16 tile whose global columns are contiguous
// along the row: thread t copies row t%ROWS of columns t/ROWS, t/ROWS + NT/ROWS, ...
template <int ROWS, int NT, class Addr>
__device__ __forceinline__ void ig_rowfast(float (*S)[IG_LDS], const float* any, int k, int k1, Addr addr) {
    static_assert(NT % ROWS == 0, "rows per thread");
    const int row = threadIdx.x % ROWS;
#pragma unroll
    for (int i = 0; i < ROWS * 16 / NT; i++) {
        const int kk = threadIdx.x / ROWS + i * (NT / ROWS);
        const float* p = k + kk < k1 ? addr(row, k + kk) : nullptr;
        cp_async4z(&S[row][kk], p ? p : any, p != nullptr);
    }
}

template <class Cfg, int PREC>
struct IgMma {
    static constexpr int FM = 2, FN = 4;
    float acc[FM][FN][4];

    __device__ __forceinline__ void zero() {
#pragma unroll
        for (int i = 0; i < FM; i++)
#pragma unroll
            for (int j = 0; j < FN; j++)
#pragma unroll
                for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;
    }

    // frags loads the k8 slice at column kk of a stage: A fragments of the
    // warp's two m16 tiles and B fragments of its four n8 tiles.
    __device__ __forceinline__ static void frags(const float (*As)[IG_LDS], const float (*Bs)[IG_LDS], int wm, int wn,
                                                 int lane, int kk, unsigned int (&af)[FM][4],
                                                 unsigned int (&bf)[FN][2]) {
#pragma unroll
        for (int i = 0; i < FM; i++) ldmatrix_x4<false>(af[i], &As[wm + i * 16 + (lane & 15)][kk + (lane >> 4) * 4]);
#pragma unroll
        for (int jp = 0; jp < FN / 2; jp++) {
            const int mi = lane >> 3;
            unsigned int r[4];
            ldmatrix_x4<false>(r, &Bs[wn + (2 * jp + (mi >> 1)) * 8 + (lane & 7)][kk + (mi & 1) * 4]);
            bf[2 * jp][0] = r[0], bf[2 * jp][1] = r[1];
            bf[2 * jp + 1][0] = r[2], bf[2 * jp + 1][1] = r[3];
        }
    }

    // step multiplies one BK-deep stage into the accumulators.
    __device__ __forceinline__ void step(const float (*As)[IG_LDS], const float (*Bs)[IG_LDS], int wm, int wn,
                                         int lane) {
        if (PREC == IG_TF32) {
#pragma unroll
            for (int kk = 0; kk < IG_BK; kk += 8) {
                unsigned int af[FM][4], bf[FN][2];
                frags(As, Bs, wm, wn, lane, kk, af, bf);
#pragma unroll
                for (int i = 0; i < FM; i++)
#pragma unroll
                    for (int r = 0; r < 4; r++) af[i][r] = tf32_round(__uint_as_float(af[i][r]));
#pragma unroll
                for (int j = 0; j < FN; j++)
#pragma unroll
                    for (int r = 0; r < 2; r++) bf[j][r] = tf32_round(__uint_as_float(bf[j][r]));
#pragma unroll
                for (int i = 0; i < FM; i++)
#pragma unroll
                    for (int j = 0; j < FN; j++) mma_tf32_16x8x8(acc[i][j], af[i], bf[j]);
            }
        } else {
            unsigned int al[FM][4], bl[FN][2], ah[FM][4], bh[FN][2];
            frags(As, Bs, wm, wn, lane, 0, al, bl);
            frags(As, Bs, wm, wn, lane, 8, ah, bh);
            unsigned int a[FM][4], b[FN][2];
#pragma unroll
            for (int i = 0; i < FM; i++) {
                a[i][0] = bf16_pack(al[i][0], al[i][2]);
                a[i][1] = bf16_pack(al[i][1], al[i][3]);
                a[i][2] = bf16_pack(ah[i][0], ah[i][2]);
                a[i][3] = bf16_pack(ah[i][1], ah[i][3]);
            }
#pragma unroll
            for (int j = 0; j < FN; j++) {
                b[j][0] = bf16_pack(bl[j][0], bl[j][1]);
                b[j][1] = bf16_pack(bh[j][0], bh[j][1]);
            }
#pragma unroll
            for (int i = 0; i < FM; i++)
#pragma unroll
                for (int j = 0; j < FN; j++) mma_bf16_16x8x16(acc[i][j], a[i], b[j]);
        }
    }

    // pairs calls f(mLocal, nLocal, v0, v1) for every pair of accumulators
    // at columns nLocal (even) and nLocal + 1 of one row, with coordinates
    // relative to the block tile: the pairs of elements each calls singly.
    template <class F>
    __device__ __forceinline__ void pairs(int wm, int wn, int lane, F f) const {
        const int g = lane >> 2, t = lane & 3;
#pragma unroll
        for (int i = 0; i < FM; i++)
#pragma unroll
            for (int j = 0; j < FN; j++)
#pragma unroll
                for (int h = 0; h < 2; h++)
                    f(wm + i * 16 + g + h * 8, wn + j * 8 + 2 * t, acc[i][j][2 * h], acc[i][j][2 * h + 1]);
    }

    // each calls f(mLocal, nLocal, value) for every accumulator, with
    // coordinates relative to the block tile.
    template <class F>
    __device__ __forceinline__ void each(int wm, int wn, int lane, F f) const {
        const int g = lane >> 2, t = lane & 3;
#pragma unroll
        for (int i = 0; i < FM; i++)
#pragma unroll
            for (int j = 0; j < FN; j++)
#pragma unroll
                for (int r = 0; r < 4; r++) f(wm + i * 16 + g + (r >= 2 ? 8 : 0), wn + j * 8 + 2 * t + (r & 1), acc[i][j][r]);
    }
};

// IgNoRegs is the second phase of a loader that stages nothing in
// registers (every copy is a cp.async issued by load).
struct IgNoRegs {
    __device__ __forceinline__ void store(float (*)[IG_LDS], float (*)[IG_LDS]) {}
};

// ig_mainloop accumulates A[m0.., k0..k1) · B[.., n0..] into mma: L is the
// op's loader, with load(As, Bs, k) issuing the cp.async copies (and any
// global loads into registers) of the k-tile starting at k (zero-filling
// columns at or past k1), and store(As, Bs) writing what load left in
// registers into the same stage. The next stage's load is issued before
// mma.step and its store follows it, so the register loads are in flight
// during the math; the stage being filled is not the one being read (it
// was read at the previous k-tile, before this one's __syncthreads), and
// the __syncthreads of a later k-tile publishes it before it is read.
template <class Cfg, int PREC, class L>
__device__ __forceinline__ void ig_mainloop(IgSmem<Cfg>& sm, IgMma<Cfg, PREC>& mma, L& ld, int k0, int k1) {
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wm = (warp / Cfg::WN) * 32, wn = (warp % Cfg::WN) * 32;
    const int nt = (k1 - k0 + IG_BK - 1) / IG_BK;
#pragma unroll
    for (int s = 0; s < Cfg::STAGES - 1; s++) {
        if (s < nt) {
            ld.load(sm.a[s], sm.b[s], k0 + s * IG_BK);
            ld.store(sm.a[s], sm.b[s]);
        }
        cp_async_commit();
    }
    for (int t = 0; t < nt; t++) {
        cp_async_wait<Cfg::STAGES - 2>();
        __syncthreads();
        const int pre = t + Cfg::STAGES - 1;
        const int ps = pre % Cfg::STAGES;
        if (pre < nt) ld.load(sm.a[ps], sm.b[ps], k0 + pre * IG_BK);
        cp_async_commit();
        const int s = t % Cfg::STAGES;
        mma.step(sm.a[s], sm.b[s], wm, wn, lane);
        if (pre < nt) ld.store(sm.a[ps], sm.b[ps]);
    }
    cp_async_wait<0>();
    __syncthreads();  // the stages may be refilled by a following mainloop
}
