// Implicit-GEMM convolutions on tensor cores: forward, backward-data and
// backward-weight, with no im2col or col2im buffer. Each is a GEMM whose
// operand tiles are gathered straight from the NCHW tensors into shared
// memory by cp.async (igemm.cuh has the mainloop, the shared layout and
// the fragment loads); the convolution's zero padding, the stride's holes
// and ragged edges are zero-filled copies.
//
// Layout: x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q), NCHW row-major, as the
// engine keeps them (cuda/doc.go says why NCHW and what it costs).
// crs = c·R·S + r·S + s, pq = p·Q + q, h = p·sh - ph + r, w = q·sw - pw + s.
//
//   forward   y[n,k,pq]  = Σ_crs w[k,crs] · x[n,c,h,w] (+ b[k])
//             GEMM M = K, N = N·P·Q, Kr = C·R·S; A = w (16-byte copies when
//             C·R·S % 4 == 0), B = the input pixels (4-byte gathers).
//   backward  dx[n,c,h,w] = Σ_{k,r,s} w[k,c,r,s] · dy[n,k,p,q] over the
//   data      (p,q) with p·sh = h + ph - r, q·sw = w + pw - s inside the
//             output: GEMM M = C, N = N·H·W, Kr = K·R·S (4-byte gathers;
//             a stride's holes are zero-filled).
//   backward  dw[k,crs] = Σ_{n,pq} dy[n,k,pq] · x[n,c,h,w]: GEMM M = K,
//   weight    N = C·R·S, Kr = N·P·Q, split-K over grid z: split z reduces
//             npq in [z·chunk, (z+1)·chunk) into its own slice of a
//             partials buffer (out + z·outStride) and gemm_sum_splits adds
//             the slices in z order: deterministic, no atomics. A = dy
//             (16-byte copies when P·Q % 4 == 0), B = the input pixels.
//
// Kernels conv_igemm_{fwd,dgrad,wgrad}_{tf32,bf16}_{l,s}: tile 128×64
// (l, 256 threads) or 64×64 (s, 128 threads); grid (ceil(GEMM N / 64),
// ceil(GEMM M / BM), splits). vecA: 1 when A's rows are 16-byte aligned
// (the caller checks the pointer and the row length). TF32: operands
// rounded with cvt.rna, float32 sums; BF16: operands rounded to BF16
// (round to nearest even) as they go from shared memory to the tensor
// cores, float32 sums. They match CPU.Conv2d and CPU.Conv2dBackward within
// TF32 or BF16 rounding (kernels/parity/conv_test.go).
//
// Kernels conv_igemm_{fwd,wgrad}_bf16x_{l,s}: conv_igemm_{fwd,wgrad}_bf16_
// {l,s} (same arguments, launch shape and tiles) for an input x stored as
// bfloat16 (unsigned short bits, NCHW: engine.BFloat16, the fused batch
// norm + ReLU outputs that only convolutions read, at -precision bf16);
// w, bias, y, dy and the partial sums stay float32, and so does shared
// memory. cp.async cannot copy 2-byte elements, so the B gathers of x are
// 2-byte global loads into registers, issued before the current stage's
// tensor-core math and stored to the next stage widened to float32 (<<16)
// after it (ig_mainloop's two phases); the padding and elements outside
// the problem are 0. A widened bfloat16 is exact and the mma's rounding to
// bfloat16 leaves it unchanged, so they match CPU.Conv2d and
// CPU.Conv2dBackward on the bfloat16-rounded x within BF16 rounding of the
// other operand (kernels/parity/conv_test.go, TestConvIGemmBF16Input).
//
// Kernels conv_igemm_fwd_bf16y_{l,s} and conv_igemm_fwd_bf16xy_{l,s}:
// conv_igemm_fwd_bf16_{l,s} (x float32) and conv_igemm_fwd_bf16x_{l,s} (x
// bfloat16) whose output y is stored as bfloat16 (unsigned short bits,
// NCHW: an engine.BFloat16 convolution output at -precision bf16); same
// arguments but y's type, same launch shape, tiles and mainloop. The
// epilogue adds the bias (if any) to the float32 sum and rounds the result
// to bfloat16 to nearest even (bf16x2_rn), storing a thread's two adjacent
// pixels of one plane as one 4-byte store when 4-byte aligned and as 2-byte
// stores otherwise (fwd_store). They match CPU.Conv2d on the float32
// operands (x rounded to bfloat16 for bf16xy) with its output rounded by
// engine.RoundBF16, within BF16 rounding of the operands plus one bfloat16
// ulp of the value, since a float32 sum that differs slightly may round to
// a neighbouring bfloat16 (kernels/parity/conv_test.go,
// TestConvIGemmBF16Output).

#include "igemm.cuh"

struct ConvShape {
    int N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw;
    FastDiv fRS, fS, fSh, fSw, fQ, fPQ;  // division by R·S, S, sh, sw, Q, P·Q
};

// The shape's parameters: the sizes, then (mul, shr) of the FastDiv of
// R·S, S, sh, sw, Q and P·Q (cuda/conv_igemm.go's fastDiv).
#define CONV_SHAPE_PARAMS                                                                                   \
    int N, int C, int H, int W, int K, int R, int S, int P, int Q, int sh, int sw, int ph, int pw,          \
        unsigned int mRS, unsigned int sRS, unsigned int mS, unsigned int sS, unsigned int mSh, unsigned int sSh, \
        unsigned int mSw, unsigned int sSw, unsigned int mQ, unsigned int sQ, unsigned int mPQ, unsigned int sPQ
#define CONV_SHAPE_INIT                                                                                     \
    {N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw, {R * S, mRS, sRS}, {S, mS, sS}, {sh, mSh, sSh}, {sw, mSw, sSw}, \
     {Q, mQ, sQ}, {P * Q, mPQ, sPQ}}

// ---- input gathers ---------------------------------------------------------
// XGather<XT, NB> copies the NB input elements a thread gathers per k-tile
// (B of the forward and the weight gradient; src is read only when ok): a
// float32 x by 4-byte cp.async straight into shared memory (put; no second
// phase), a bfloat16 x by 2-byte loads into registers (put, 0 when !ok)
// written widened to float32 into the stage by set after the current
// stage's math (the loader's store, ig_mainloop's second phase).
template <class XT, int NB>
struct XGather;

template <int NB>
struct XGather<float, NB> {
    __device__ __forceinline__ void put(int, float* dst, const float* src, bool ok) { cp_async4z(dst, src, ok); }
    __device__ __forceinline__ bool staged() const { return false; }
    __device__ __forceinline__ void set(int, float*) const {}
};

template <int NB>
struct XGather<unsigned short, NB> {
    unsigned short v[NB];
    __device__ __forceinline__ void put(int i, float*, const unsigned short* src, bool ok) {
        v[i] = ok ? *src : (unsigned short)0;
    }
    __device__ __forceinline__ bool staged() const { return true; }
    __device__ __forceinline__ void set(int i, float* dst) const { *dst = __uint_as_float((unsigned int)v[i] << 16); }
};

// ---- forward ------------------------------------------------------------
template <class Cfg, class XT>
struct FwdLoader {
    const XT* __restrict__ x;
    const float* __restrict__ w;
    ConvShape s;
    int m0, n0, CRS, RS, vecA;
    // B: this thread's pixel (the same column of every k-tile).
    const XT* xb;
    int h0, w0;
    bool pix;
    static constexpr int NB = Cfg::BN * 16 / Cfg::NT;  // B elements per thread
    XGather<XT, NB> xg;

    __device__ __forceinline__ void init() {
        const int PQ = s.P * s.Q;
        const int gn = n0 + threadIdx.x % Cfg::BN;
        pix = gn < s.N * PQ;
        const int n = pix ? gn / PQ : 0, pq = pix ? gn - n * PQ : 0;
        const int p = pq / s.Q, q = pq - p * s.Q;
        h0 = p * s.sh - s.ph, w0 = q * s.sw - s.pw;
        xb = x + (size_t)n * s.C * s.H * s.W;
    }
    __device__ __forceinline__ void load(float (*As)[IG_LDS], float (*Bs)[IG_LDS], int k) {
        constexpr int NT = Cfg::NT;
        const int k1 = CRS;
        if (vecA) {
            const float* wp = w;
            const int M = s.K, m0_ = m0, crs = CRS;
            ig_vec_rows<Cfg::BM, NT>(As, w, k, k1, [=](int row, int kg) -> const float* {
                const int gm = m0_ + row;
                return gm < M ? wp + (size_t)gm * crs + kg : nullptr;
            });
        } else {
            const int kk = threadIdx.x & 15, kg = k + kk;
#pragma unroll
            for (int i = 0; i < Cfg::BM * 16 / NT; i++) {
                const int row = (threadIdx.x >> 4) + i * (NT / 16);
                const int gm = m0 + row;
                const bool ok = gm < s.K && kg < k1;
                cp_async4z(&As[row][kk], ok ? w + (size_t)gm * CRS + kg : w, ok);
            }
        }
        const int row = threadIdx.x % Cfg::BN;
#pragma unroll
        for (int i = 0; i < NB; i++) {
            const int kk = threadIdx.x / Cfg::BN + i * (NT / Cfg::BN);
            const int crs = k + kk;
            const int c = s.fRS.div(crs), rs = crs - c * RS;
            const int r = s.fS.div(rs), sx = rs - r * s.S;
            const int h = h0 + r, ww = w0 + sx;
            const bool ok = pix && crs < k1 && h >= 0 && h < s.H && ww >= 0 && ww < s.W;
            xg.put(i, &Bs[row][kk], ok ? xb + ((size_t)c * s.H + h) * s.W + ww : x, ok);
        }
    }
    __device__ __forceinline__ void store(float (*)[IG_LDS], float (*Bs)[IG_LDS]) {
        if (!xg.staged()) return;
        const int row = threadIdx.x % Cfg::BN;
#pragma unroll
        for (int i = 0; i < NB; i++) xg.set(i, &Bs[row][threadIdx.x / Cfg::BN + i * (Cfg::NT / Cfg::BN)]);
    }
};

// fwd_store writes the forward's outputs from the accumulators: y[n, k, pq]
// = v + bias[k] (float32), or that sum rounded to bfloat16 to nearest even
// (unsigned short y). A thread's accumulators come in pairs of adjacent
// GEMM columns gn, gn + 1 (gn even) of one row k: pixels pq, pq + 1 of one
// plane, or, when P·Q is odd, the last pixel of image n and the first of
// image n + 1. A bfloat16 pair in one plane at a 4-byte aligned address is
// one 4-byte store (bf16x2_rn packs and rounds both); any other pair is two
// 2-byte stores.
template <class Cfg, int PREC>
__device__ __forceinline__ void fwd_store(const IgMma<Cfg, PREC>& mma, float* __restrict__ y,
                                          const float* __restrict__ bias, const ConvShape& s, int m0, int n0) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int PQ = s.P * s.Q, NPQ = s.N * PQ;
    mma.each((warp / Cfg::WN) * 32, (warp % Cfg::WN) * 32, lane, [&](int ml, int nl, float v) {
        const int gm = m0 + ml, gn = n0 + nl;
        if (gm >= s.K || gn >= NPQ) return;
        const int n = s.fPQ.div(gn), pq = gn - n * PQ;
        if (bias) v += bias[gm];
        y[((size_t)n * s.K + gm) * PQ + pq] = v;
    });
}

template <class Cfg, int PREC>
__device__ __forceinline__ void fwd_store(const IgMma<Cfg, PREC>& mma, unsigned short* __restrict__ y,
                                          const float* __restrict__ bias, const ConvShape& s, int m0, int n0) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int PQ = s.P * s.Q, NPQ = s.N * PQ;
    mma.pairs((warp / Cfg::WN) * 32, (warp % Cfg::WN) * 32, lane, [&](int ml, int nl, float v0, float v1) {
        const int gm = m0 + ml, gn = n0 + nl;
        if (gm >= s.K || gn >= NPQ) return;
        const int n = s.fPQ.div(gn), pq = gn - n * PQ;
        if (bias) {
            const float b = bias[gm];
            v0 += b, v1 += b;
        }
        const unsigned int u = bf16x2_rn(v0, v1);  // v0 in the low half
        unsigned short* p = y + ((size_t)n * s.K + gm) * PQ + pq;
        if (gn + 1 >= NPQ) {  // the last column: no neighbour
            p[0] = (unsigned short)(u & 0xffffu);
        } else if (pq + 1 < PQ) {  // the neighbour is the next pixel of the plane
            if ((reinterpret_cast<size_t>(p) & 3) == 0) {
                *reinterpret_cast<unsigned int*>(p) = u;
            } else {
                p[0] = (unsigned short)(u & 0xffffu);
                p[1] = (unsigned short)(u >> 16);
            }
        } else {  // the neighbour is pixel 0 of image n + 1
            p[0] = (unsigned short)(u & 0xffffu);
            y[((size_t)(n + 1) * s.K + gm) * PQ] = (unsigned short)(u >> 16);
        }
    });
}

template <class Cfg, int PREC, class XT, class YT>
__device__ __forceinline__ void conv_fwd_body(YT* __restrict__ y, const XT* __restrict__ x,
                                              const float* __restrict__ w, const float* __restrict__ bias,
                                              ConvShape s, int vecA) {
    __shared__ __align__(16) IgSmem<Cfg> sm;
    FwdLoader<Cfg, XT> ld;
    ld.x = x, ld.w = w, ld.s = s, ld.vecA = vecA;
    ld.m0 = blockIdx.y * Cfg::BM, ld.n0 = blockIdx.x * Cfg::BN;
    ld.CRS = s.C * s.R * s.S, ld.RS = s.R * s.S;
    ld.init();
    IgMma<Cfg, PREC> mma;
    mma.zero();
    ig_mainloop<Cfg, PREC>(sm, mma, ld, 0, ld.CRS);
    fwd_store(mma, y, bias, s, ld.m0, ld.n0);
}

// ---- backward data --------------------------------------------------------
template <class Cfg>
struct DgradLoader : IgNoRegs {
    const float* __restrict__ dy;
    const float* __restrict__ w;
    ConvShape s;
    int m0, n0, KRS, RS;
    const float* dyb;
    int hp, wp;  // h + ph, w + pw of this thread's pixel
    bool pix;

    __device__ __forceinline__ void init() {
        const int HW = s.H * s.W;
        const int gn = n0 + threadIdx.x % Cfg::BN;
        pix = gn < s.N * HW;
        const int n = pix ? gn / HW : 0, hw = pix ? gn - n * HW : 0;
        const int h = hw / s.W, ww = hw - h * s.W;
        hp = h + s.ph, wp = ww + s.pw;
        dyb = dy + (size_t)n * s.K * s.P * s.Q;
    }
    __device__ __forceinline__ void load(float (*As)[IG_LDS], float (*Bs)[IG_LDS], int k) {
        constexpr int NT = Cfg::NT;
        const int k1 = KRS;
        {
            const int kk = threadIdx.x & 15, krs = k + kk;
            const int ko = s.fRS.div(krs), rs = krs - ko * RS;
#pragma unroll
            for (int i = 0; i < Cfg::BM * 16 / NT; i++) {
                const int row = (threadIdx.x >> 4) + i * (NT / 16);
                const int c = m0 + row;
                const bool ok = c < s.C && krs < k1;
                cp_async4z(&As[row][kk], ok ? w + ((size_t)ko * s.C + c) * RS + rs : w, ok);
            }
        }
        const int row = threadIdx.x % Cfg::BN;
#pragma unroll
        for (int i = 0; i < Cfg::BN * 16 / NT; i++) {
            const int kk = threadIdx.x / Cfg::BN + i * (NT / Cfg::BN);
            const int krs = k + kk;
            const int ko = s.fRS.div(krs), rs = krs - ko * RS;
            const int r = s.fS.div(rs), sx = rs - r * s.S;
            const int th = hp - r, tw = wp - sx;
            const int p = s.fSh.div(th), q = s.fSw.div(tw);  // garbage when th or tw < 0: checked below
            const bool ok = pix && krs < k1 && th >= 0 && tw >= 0 && p * s.sh == th && q * s.sw == tw && p < s.P &&
                            q < s.Q;
            cp_async4z(&Bs[row][kk], ok ? dyb + ((size_t)ko * s.P + p) * s.Q + q : dy, ok);
        }
    }
};

template <class Cfg, int PREC>
__device__ __forceinline__ void conv_dgrad_body(float* __restrict__ dx, const float* __restrict__ dy,
                                                const float* __restrict__ w, ConvShape s) {
    __shared__ __align__(16) IgSmem<Cfg> sm;
    DgradLoader<Cfg> ld;
    ld.dy = dy, ld.w = w, ld.s = s;
    ld.m0 = blockIdx.y * Cfg::BM, ld.n0 = blockIdx.x * Cfg::BN;
    ld.RS = s.R * s.S, ld.KRS = s.K * ld.RS;
    ld.init();
    IgMma<Cfg, PREC> mma;
    mma.zero();
    ig_mainloop<Cfg, PREC>(sm, mma, ld, 0, ld.KRS);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int HW = s.H * s.W, NHW = s.N * HW;
    const int m0 = ld.m0, n0 = ld.n0;
    mma.each((warp / Cfg::WN) * 32, (warp % Cfg::WN) * 32, lane, [&](int ml, int nl, float v) {
        const int c = m0 + ml, gn = n0 + nl;
        if (c >= s.C || gn >= NHW) return;
        const int n = gn / HW, hw = gn - n * HW;
        dx[((size_t)n * s.C + c) * HW + hw] = v;
    });
}

// ---- backward weight ------------------------------------------------------
template <class Cfg, class XT>
struct WgradLoader {
    const float* __restrict__ dy;
    const XT* __restrict__ x;
    ConvShape s;
    int m0, n0, PQ, k1, vecA;
    static constexpr int NB = Cfg::BN * 16 / Cfg::NT;  // B rows per thread
    int bc[NB], bh[NB], bw[NB];                       // c, -ph + r, -pw + s of each B row (c < 0: outside)
    XGather<XT, NB> xg;

    __device__ __forceinline__ void init() {
        const int RS = s.R * s.S, CRS = s.C * RS;
#pragma unroll
        for (int i = 0; i < NB; i++) {
            const int crs = n0 + (threadIdx.x >> 4) + i * (Cfg::NT / 16);
            const int c = crs / RS, rs = crs - c * RS;
            const int r = rs / s.S, sx = rs - r * s.S;
            bc[i] = crs < CRS ? c : -1;
            bh[i] = r - s.ph, bw[i] = sx - s.pw;
        }
    }
    __device__ __forceinline__ void load(float (*As)[IG_LDS], float (*Bs)[IG_LDS], int k) {
        constexpr int NT = Cfg::NT;
        const int kk = threadIdx.x & 15, npq = k + kk;
        const bool kok = npq < k1;
        const int n = kok ? s.fPQ.div(npq) : 0, pq = kok ? npq - n * PQ : 0;
        if (vecA) {
            const float* d = dy;
            const int M = s.K, m0_ = m0, K = s.K, pqs = PQ;
            const FastDiv fpq = s.fPQ;
            ig_vec_rows<Cfg::BM, NT>(As, dy, k, k1, [=](int row, int kg) -> const float* {
                const int gm = m0_ + row;
                if (gm >= M) return nullptr;
                const int nn = fpq.div(kg);
                return d + ((size_t)nn * K + gm) * pqs + (kg - nn * pqs);
            });
        } else {
#pragma unroll
            for (int i = 0; i < Cfg::BM * 16 / NT; i++) {
                const int row = (threadIdx.x >> 4) + i * (NT / 16);
                const int gm = m0 + row;
                const bool ok = gm < s.K && kok;
                cp_async4z(&As[row][kk], ok ? dy + ((size_t)n * s.K + gm) * PQ + pq : dy, ok);
            }
        }
        const int p = s.fQ.div(pq), q = pq - p * s.Q;
        const int hb = p * s.sh, wb = q * s.sw;
        const XT* xn = x + (size_t)n * s.C * s.H * s.W;
#pragma unroll
        for (int i = 0; i < NB; i++) {
            const int row = (threadIdx.x >> 4) + i * (NT / 16);
            const int h = hb + bh[i], ww = wb + bw[i];
            const bool ok = kok && bc[i] >= 0 && h >= 0 && h < s.H && ww >= 0 && ww < s.W;
            xg.put(i, &Bs[row][kk], ok ? xn + ((size_t)bc[i] * s.H + h) * s.W + ww : x, ok);
        }
    }
    __device__ __forceinline__ void store(float (*)[IG_LDS], float (*Bs)[IG_LDS]) {
        if (!xg.staged()) return;
#pragma unroll
        for (int i = 0; i < NB; i++) xg.set(i, &Bs[(threadIdx.x >> 4) + i * (Cfg::NT / 16)][threadIdx.x & 15]);
    }
};

template <class Cfg, int PREC, class XT>
__device__ __forceinline__ void conv_wgrad_body(float* __restrict__ out, const float* __restrict__ dy,
                                                const XT* __restrict__ x, ConvShape s, int chunk, int outStride,
                                                int vecA) {
    __shared__ __align__(16) IgSmem<Cfg> sm;
    WgradLoader<Cfg, XT> ld;
    ld.dy = dy, ld.x = x, ld.s = s, ld.vecA = vecA;
    ld.m0 = blockIdx.y * Cfg::BM, ld.n0 = blockIdx.x * Cfg::BN;
    ld.PQ = s.P * s.Q;
    const int NPQ = s.N * ld.PQ;
    const int kb = blockIdx.z * chunk;
    ld.k1 = min(kb + chunk, NPQ);
    ld.init();
    IgMma<Cfg, PREC> mma;
    mma.zero();
    ig_mainloop<Cfg, PREC>(sm, mma, ld, kb, ld.k1);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int CRS = s.C * s.R * s.S;
    float* o = out + (size_t)blockIdx.z * outStride;
    const int m0 = ld.m0, n0 = ld.n0;
    mma.each((warp / Cfg::WN) * 32, (warp % Cfg::WN) * 32, lane, [&](int ml, int nl, float v) {
        const int gm = m0 + ml, gn = n0 + nl;
        if (gm >= s.K || gn >= CRS) return;
        o[(size_t)gm * CRS + gn] = v;
    });
}

#define CONV_FWD(name, CFG, PREC, XT, YT)                                                                     \
    extern "C" __global__ void IG_BOUNDS(CFG) name(YT* __restrict__ y, const XT* __restrict__ x,         \
                                                               const float* __restrict__ w,                     \
                                                               const float* __restrict__ bias, CONV_SHAPE_PARAMS, \
                                                               int vecA) {                                      \
        conv_fwd_body<CFG, PREC, XT, YT>(y, x, w, bias, ConvShape CONV_SHAPE_INIT, vecA);                       \
    }
#define CONV_DGRAD(name, CFG, PREC)                                                                              \
    extern "C" __global__ void IG_BOUNDS(CFG) name(float* __restrict__ dx, const float* __restrict__ dy, \
                                                               const float* __restrict__ w, CONV_SHAPE_PARAMS) {  \
        conv_dgrad_body<CFG, PREC>(dx, dy, w, ConvShape CONV_SHAPE_INIT);                                        \
    }
#define CONV_WGRAD(name, CFG, PREC, XT)                                                                           \
    extern "C" __global__ void IG_BOUNDS(CFG) name(float* __restrict__ out, const float* __restrict__ dy, \
                                                               const XT* __restrict__ x, CONV_SHAPE_PARAMS,        \
                                                               int chunk, int outStride, int vecA) {               \
        conv_wgrad_body<CFG, PREC, XT>(out, dy, x, ConvShape CONV_SHAPE_INIT, chunk, outStride, vecA);            \
    }

CONV_FWD(conv_igemm_fwd_tf32_l, IgLarge, IG_TF32, float, float)
CONV_FWD(conv_igemm_fwd_tf32_s, IgSmall, IG_TF32, float, float)
CONV_FWD(conv_igemm_fwd_bf16_l, IgLarge, IG_BF16, float, float)
CONV_FWD(conv_igemm_fwd_bf16_s, IgSmall, IG_BF16, float, float)
CONV_DGRAD(conv_igemm_dgrad_tf32_l, IgLarge, IG_TF32)
CONV_DGRAD(conv_igemm_dgrad_tf32_s, IgSmall, IG_TF32)
CONV_DGRAD(conv_igemm_dgrad_bf16_l, IgLarge, IG_BF16)
CONV_DGRAD(conv_igemm_dgrad_bf16_s, IgSmall, IG_BF16)
CONV_WGRAD(conv_igemm_wgrad_tf32_l, IgLarge, IG_TF32, float)
CONV_WGRAD(conv_igemm_wgrad_tf32_s, IgSmall, IG_TF32, float)
CONV_WGRAD(conv_igemm_wgrad_bf16_l, IgLarge, IG_BF16, float)
CONV_WGRAD(conv_igemm_wgrad_bf16_s, IgSmall, IG_BF16, float)

// The bfloat16-input variants (x: unsigned short bits, see the top of the
// file): forward and weight gradient only (the backward-data pass does not
// read x).
CONV_FWD(conv_igemm_fwd_bf16x_l, IgLarge, IG_BF16, unsigned short, float)
CONV_FWD(conv_igemm_fwd_bf16x_s, IgSmall, IG_BF16, unsigned short, float)
CONV_WGRAD(conv_igemm_wgrad_bf16x_l, IgLarge, IG_BF16, unsigned short)
CONV_WGRAD(conv_igemm_wgrad_bf16x_s, IgSmall, IG_BF16, unsigned short)

// The bfloat16-output variants (y: unsigned short bits, see the top of the
// file): the forward with x float32 (bf16y) or bfloat16 (bf16xy).
CONV_FWD(conv_igemm_fwd_bf16y_l, IgLarge, IG_BF16, float, unsigned short)
CONV_FWD(conv_igemm_fwd_bf16y_s, IgSmall, IG_BF16, float, unsigned short)
CONV_FWD(conv_igemm_fwd_bf16xy_l, IgLarge, IG_BF16, unsigned short, unsigned short)
CONV_FWD(conv_igemm_fwd_bf16xy_s, IgSmall, IG_BF16, unsigned short, unsigned short)
