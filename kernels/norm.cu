// Normalisation ops: batch norm, layer norm, softmax and cross entropy.
//
// Every kernel matches an engine.CPU method of engine/cpu_norm.go (named in
// its comment). Launch shapes are picked by cuda/norm.go.
//
// Layouts:
//   - Batch norm views x as (N, C, S): element (i, k, j) is at (i·C+k)·S+j,
//     with S = H·W (1 for a 2-D (N,C) input). Per-channel statistics reduce
//     over the M = N·S elements of a channel.
//   - Layer norm, softmax and cross entropy view x as rows of D contiguous
//     elements (the last dimension).
//
// Determinism: every reduction has a fixed order that depends only on the
// launch shape (which the Go side derives from the tensor shapes and the
// device's SM count): per-thread partials in a fixed element order, then a
// fixed-order tree (warp xor-butterfly, then shared memory), then partials of
// several blocks summed in index order by a finalize kernel. No atomics.
//
// Precision: sums are accumulated in double, as the CPU does; element-wise
// outputs are computed in float from per-channel/per-row coefficients that
// are computed in double. Batch-norm statistics are computed in one pass over
// x with a shift: with K = x[0,k,0] (a value of the channel), s1 = Σ(x-K) and
// s2 = Σ(x-K)² in double give mean = K+s1/M and Σ(x-mean)² = s2-s1²/M. As K
// is one of the values, (mean-K)² <= Σ(x-mean)², so the subtraction loses at
// most log2(M) bits of double's 53: the result agrees with the CPU's two-pass
// variance far below float precision.
//
// BF16 storage: at -precision bf16 a batch norm's input x may be a
// bfloat16 tensor (a convolution's output that only the batch norm reads,
// layers.StoreForBatchNorm), and the fused batch norm + ReLU's output y
// too (a convolution operand, layers.StoreForConvs). The _xbf16 kernels
// read x as bfloat16 (widened exactly: the statistics, sums and
// coefficients stay in double and float32); the _ybf16 ones store y
// rounded to nearest even (bf16x2_rn) and read it back as the backward
// pass's mask; dy, dx, the parameters and the statistics stay float32.
// They match the CPU on x and y rounded to bfloat16 (engine.RoundBF16): a
// positive float32 never rounds to a bfloat16 zero above 2^-133, so the
// mask is the float32 output's but for smaller positives.
//
// Aliasing: an output may be the same memory as an input of the same shape
// (y = x, dx = dy) everywhere, as on the CPU: every element is read before it
// is written, by the thread that writes it, and never read again after.

#include <math.h>

#include "device.cuh"

namespace norm_impl {

constexpr int kThreads = 256;  // block size of every 1-D kernel here

// warp_sum: xor butterfly over the 32 lanes. Every lane ends with the same
// value (each step adds the same two operands, commutatively), so results do
// not depend on which lane reads them.
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// group_sum reduces v over a group of NT threads: one warp (NT = 32; only
// shuffles, so warps of a block may work on different rows) or the whole 1-D
// block (NT = blockDim.x, a multiple of 32, at most 1024). Every thread of
// the group gets the same total. The block form must be reached by every
// thread of the block.
template <int NT>
__device__ __forceinline__ double group_sum(double v) {
    v = warp_sum(v);
    if (NT > 32) {
        __shared__ double sh[32];
        const int w = threadIdx.x >> 5, l = threadIdx.x & 31;
        __syncthreads();  // a previous call's readers are done with sh
        if (l == 0) sh[w] = v;
        __syncthreads();
        v = warp_sum(l < NT / 32 ? sh[l] : 0.0);
    }
    return v;
}

// group_sum2 is group_sum of two values at once.
template <int NT>
__device__ __forceinline__ void group_sum2(double& a, double& b) {
    a = warp_sum(a);
    b = warp_sum(b);
    if (NT > 32) {
        __shared__ double sh[2][32];
        const int w = threadIdx.x >> 5, l = threadIdx.x & 31;
        __syncthreads();
        if (l == 0) {
            sh[0][w] = a;
            sh[1][w] = b;
        }
        __syncthreads();
        a = warp_sum(l < NT / 32 ? sh[0][l] : 0.0);
        b = warp_sum(l < NT / 32 ? sh[1][l] : 0.0);
    }
}

template <int NT>
__device__ __forceinline__ float group_max(float v) {
    v = warp_max(v);
    if (NT > 32) {
        __shared__ float sh[32];
        const int w = threadIdx.x >> 5, l = threadIdx.x & 31;
        __syncthreads();
        if (l == 0) sh[w] = v;
        __syncthreads();
        v = warp_max(l < NT / 32 ? sh[l] : -INFINITY);
    }
    return v;
}

// ---- Batch norm ------------------------------------------------------------

// ChanWalk visits the elements e, e+stride, e+2·stride, ... (e < M) of
// channel k of an (N, C, S) tensor without a division per element: it keeps
// e as (i, j) = (e / S, e % S), the element's offset being (i·C+k)·S+j.
struct ChanWalk {
    int i, j, di, dj, S;
    __device__ __forceinline__ ChanWalk(int e, int stride, int S_) : S(S_) {
        i = e / S;
        j = e - i * S;
        di = stride / S;
        dj = stride - di * S;
    }
    __device__ __forceinline__ int offset(int C, int k) const { return (i * C + k) * S + j; }
    __device__ __forceinline__ void next() {
        i += di;
        j += dj;
        if (j >= S) {
            j -= S;
            ++i;
        }
    }
};

// walk_count is the number of elements e, e+stride, ... below M.
__device__ __forceinline__ int walk_count(int e, int stride, int M) { return e < M ? (M - 1 - e) / stride + 1 : 0; }

// bn_finish_stats turns channel k's shifted sums into the saved and running
// statistics and returns the affine map (a, off) with y = x·a + off, as
// CPU.BatchNormTrain computes them (a = γ·σ⁻¹, off = β − μ·γ·σ⁻¹ in double,
// each rounded to float).
__device__ __forceinline__ float2 bn_finish_stats(int k, double s1, double s2, int M, double K, float* saveMean,
                                                  float* saveInvStd, float* runMean, float* runVar,
                                                  const float* gamma, const float* beta, float momentum,
                                                  float eps) {
    const double m = (double)M;
    const double dm = s1 / m;
    const double mean = K + dm;
    double sq = s2 - s1 * dm;  // Σ(x-mean)²
    if (sq < 0.0) sq = 0.0;
    const double inv = 1.0 / sqrt(sq / m + (double)eps);
    if (saveMean) saveMean[k] = (float)mean;
    if (saveInvStd) saveInvStd[k] = (float)inv;
    // The running statistics in float32, operation by operation as the CPU.
    const float keep = 1.f - momentum;
    if (runMean) runMean[k] = __fadd_rn(__fmul_rn(keep, runMean[k]), __fmul_rn(momentum, (float)mean));
    if (runVar) runVar[k] = __fadd_rn(__fmul_rn(keep, runVar[k]), __fmul_rn(momentum, (float)(sq / (double)(M - 1))));
    const double g = gamma ? (double)gamma[k] : 1.0;
    const double b = beta ? (double)beta[k] : 0.0;
    const float a = (float)__dmul_rn(g, inv);
    const float off = (float)__dsub_rn(b, __dmul_rn(__dmul_rn(mean, g), inv));
    return make_float2(a, off);
}

// bn_affine: y = x·a + off, rounded after each operation as the CPU's
// float32 `v*a + off`.
__device__ __forceinline__ float bn_affine(float v, float a, float off) { return __fadd_rn(__fmul_rn(v, a), off); }

// bn_out is bn_affine, then max(·, 0) when relu is set (NaN gives 0, as
// CPU.Relu): the fused BatchNormRelu ops.
__device__ __forceinline__ float bn_out(float v, float a, float off, int relu) {
    const float r = bn_affine(v, a, off);
    return relu ? (r > 0.f ? r : 0.f) : r;
}

// bn_mask is dy where the fused op's output y is positive, else 0 (the
// gradient through the ReLU of BatchNormRelu); ym null: no mask.
__device__ __forceinline__ float bn_mask(float d, const float* ym, int o) {
    return (ym && !(ym[o] > 0.f)) ? 0.f : d;
}

// bf16 storage of y (BF16 storage above): bn_bf16 widens bits exactly,
// bn_store writes a float32 y element or rounds it to a bfloat16 one.
typedef unsigned short bf16_t;
__device__ __forceinline__ float bn_bf16(bf16_t h) { return __uint_as_float((unsigned int)h << 16); }
__device__ __forceinline__ void bn_store(float* y, int o, float v) { y[o] = v; }
__device__ __forceinline__ void bn_store(bf16_t* y, int o, float v) { y[o] = (bf16_t)(bf16x2_rn(v, 0.f) & 0xffffu); }
__device__ __forceinline__ float bn_mask(float d, const bf16_t* ym, int o) {
    return (ym && !(bn_bf16(ym[o]) > 0.f)) ? 0.f : d;
}
// bn_ld reads a float32 or bfloat16 element of x as float32.
__device__ __forceinline__ float bn_ld(const float* x, int o) { return x[o]; }
__device__ __forceinline__ float bn_ld(const bf16_t* x, int o) { return bn_bf16(x[o]); }

}  // namespace norm_impl
using namespace norm_impl;

// norm_bn_stats: per-channel batch statistics of x (N, C, S).
// Launch: grid (C, P), block 256; block (k, p) reduces the elements p·256+t,
// p·256+t+P·256, ... of channel k (thread t). Shift K = x[0,k,0].
//   - P == 1: the block owns the channel and does everything
//     CPU.BatchNormTrain does for it: saveMean, saveInvStd, the running
//     statistics (updated in place; any of the four may be null) and y.
//   - P > 1: thread 0 writes the block's (s1, s2) as two doubles at
//     part[2·(k·P+p)]; norm_bn_stats_finalize and norm_bn_apply finish.
// gamma and beta may be null (1 and 0). relu != 0 applies max(·, 0) to y
// (CPU.BatchNormReluTrain).
namespace norm_impl {
template <class TX, class TY>
__device__ __forceinline__ void bn_stats(const TX* x, TY* y, float* saveMean, float* saveInvStd, float* runMean,
                                         float* runVar, const float* __restrict__ gamma,
                                         const float* __restrict__ beta, float* part, int N, int C, int S, int P,
                                         float momentum, float eps, int relu) {
    const int k = blockIdx.x, p = blockIdx.y;
    const int M = N * S;
    const float Kf = bn_ld(x, k * S);
    const double K = (double)Kf;
    const int e0 = p * kThreads + threadIdx.x, stride = P * kThreads;
    double s1 = 0.0, s2 = 0.0;
    int cnt = walk_count(e0, stride, M);
    if (cnt > 0) {
        ChanWalk w(e0, stride, S);
        for (; cnt >= 4; cnt -= 4) {
            const int o0 = w.offset(C, k);
            w.next();
            const int o1 = w.offset(C, k);
            w.next();
            const int o2 = w.offset(C, k);
            w.next();
            const int o3 = w.offset(C, k);
            w.next();
            const float v0 = bn_ld(x, o0), v1 = bn_ld(x, o1), v2 = bn_ld(x, o2), v3 = bn_ld(x, o3);
            const double d0 = (double)v0 - K, d1 = (double)v1 - K, d2 = (double)v2 - K, d3 = (double)v3 - K;
            s1 += d0;
            s2 = fma(d0, d0, s2);
            s1 += d1;
            s2 = fma(d1, d1, s2);
            s1 += d2;
            s2 = fma(d2, d2, s2);
            s1 += d3;
            s2 = fma(d3, d3, s2);
        }
        for (; cnt > 0; --cnt) {
            const double d = (double)bn_ld(x, w.offset(C, k)) - K;
            w.next();
            s1 += d;
            s2 = fma(d, d, s2);
        }
    }
    group_sum2<kThreads>(s1, s2);
    if (P > 1) {
        if (threadIdx.x == 0) {
            double* pd = reinterpret_cast<double*>(part) + 2 * (k * P + p);
            pd[0] = s1;
            pd[1] = s2;
        }
        return;
    }
    __shared__ float2 coef;
    if (threadIdx.x == 0)
        coef = bn_finish_stats(k, s1, s2, M, K, saveMean, saveInvStd, runMean, runVar, gamma, beta, momentum, eps);
    __syncthreads();
    const float a = coef.x, off = coef.y;
    cnt = walk_count(threadIdx.x, kThreads, M);
    if (cnt > 0) {
        ChanWalk w(threadIdx.x, kThreads, S);
        for (; cnt >= 4; cnt -= 4) {
            const int o0 = w.offset(C, k);
            w.next();
            const int o1 = w.offset(C, k);
            w.next();
            const int o2 = w.offset(C, k);
            w.next();
            const int o3 = w.offset(C, k);
            w.next();
            const float v0 = bn_ld(x, o0), v1 = bn_ld(x, o1), v2 = bn_ld(x, o2), v3 = bn_ld(x, o3);
            bn_store(y, o0, bn_out(v0, a, off, relu));
            bn_store(y, o1, bn_out(v1, a, off, relu));
            bn_store(y, o2, bn_out(v2, a, off, relu));
            bn_store(y, o3, bn_out(v3, a, off, relu));
        }
        for (; cnt > 0; --cnt) {
            const int o = w.offset(C, k);
            w.next();
            bn_store(y, o, bn_out(bn_ld(x, o), a, off, relu));
        }
    }
}
}  // namespace norm_impl

#define BN_STATS(name, TX, TY)                                                                                  \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                      \
        name(const TX* x, TY* y, float* saveMean, float* saveInvStd, float* runMean, float* runVar,             \
             const float* __restrict__ gamma, const float* __restrict__ beta, float* part, int N, int C, int S, \
             int P, float momentum, float eps, int relu) {                                                      \
        bn_stats(x, y, saveMean, saveInvStd, runMean, runVar, gamma, beta, part, N, C, S, P, momentum, eps, relu); \
    }
BN_STATS(norm_bn_stats, float, float)
// The BF16 storage variants (above): y, x, or both bfloat16.
BN_STATS(norm_bn_stats_ybf16, float, bf16_t)
BN_STATS(norm_bn_stats_xbf16, bf16_t, float)
BN_STATS(norm_bn_stats_xbf16_ybf16, bf16_t, bf16_t)

// norm_bn_stats_finalize: sums the P partials of norm_bn_stats per channel
// in order p = 0..P-1 and writes saveMean, saveInvStd, the running statistics
// (in place; each may be null) and the affine map coef[k] = (a, off) as a
// float2 (coef 8-byte aligned). Launch: 1-D, one thread per channel,
// ceil(C/256) blocks of 256. Matches CPU.BatchNormTrain (statistics).
namespace norm_impl {
template <class TX>
__device__ __forceinline__ void bn_stats_finalize(const float* __restrict__ part, float* __restrict__ coef,
                                                  float* saveMean, float* saveInvStd, float* runMean, float* runVar,
                                                  const float* __restrict__ gamma, const float* __restrict__ beta,
                                                  const TX* __restrict__ x, int N, int C, int S, int P,
                                                  float momentum, float eps) {
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= C) return;
    const double* pd = reinterpret_cast<const double*>(part) + 2 * k * P;
    double s1 = 0.0, s2 = 0.0;
    for (int p = 0; p < P; ++p) {
        s1 += pd[2 * p];
        s2 += pd[2 * p + 1];
    }
    const double K = (double)bn_ld(x, k * S);
    reinterpret_cast<float2*>(coef)[k] =
        bn_finish_stats(k, s1, s2, N * S, K, saveMean, saveInvStd, runMean, runVar, gamma, beta, momentum, eps);
}
}  // namespace norm_impl

#define BN_STATS_FINALIZE(name, TX)                                                                                 \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                          \
        name(const float* __restrict__ part, float* __restrict__ coef, float* saveMean, float* saveInvStd,          \
             float* runMean, float* runVar, const float* __restrict__ gamma, const float* __restrict__ beta,        \
             const TX* __restrict__ x, int N, int C, int S, int P, float momentum, float eps) {                     \
        bn_stats_finalize(part, coef, saveMean, saveInvStd, runMean, runVar, gamma, beta, x, N, C, S, P, momentum, \
                          eps);                                                                                     \
    }
BN_STATS_FINALIZE(norm_bn_stats_finalize, float)
// norm_bn_stats_finalize_xbf16: with x bfloat16 (BF16 storage above).
BN_STATS_FINALIZE(norm_bn_stats_finalize_xbf16, bf16_t)

// norm_bn_eval_coef: coef[k] = (a, off) (a float2) from the running
// statistics: a = γ·σ⁻¹, off = β − μ·γ·σ⁻¹ with σ⁻¹ = 1/sqrt(var+eps), in
// double then rounded, as CPU.BatchNormEval. gamma, beta may be null.
// Launch: 1-D, one thread per channel, ceil(C/256) blocks of 256.
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_bn_eval_coef(float* __restrict__ coef, const float* __restrict__ gamma, const float* __restrict__ beta,
                      const float* __restrict__ runMean, const float* __restrict__ runVar, int C, float eps) {
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= C) return;
    const double inv = 1.0 / sqrt((double)runVar[k] + (double)eps);
    const double g = gamma ? (double)gamma[k] : 1.0;
    const double b = beta ? (double)beta[k] : 0.0;
    const float a = (float)__dmul_rn(g, inv);
    const float off = (float)__dsub_rn(b, __dmul_rn(__dmul_rn((double)runMean[k], g), inv));
    reinterpret_cast<float2*>(coef)[k] = make_float2(a, off);
}

namespace norm_impl {

// GroupWalk visits groups e, e+stride, ... (e < n) of V consecutive elements
// of an (N, C, S) tensor with S % V == 0 (so a group lies in one row of S),
// tracking the channel k of each without a division per step: with Sg = S/V
// groups per row, row q = e / Sg, j = e % Sg and k = q % C.
struct GroupWalk {
    unsigned e, stride;
    int j, k, dj, dk, Sg, C;
    __device__ __forceinline__ GroupWalk(int e0, int stride_, int Sg_, int C_)
        : e((unsigned)e0), stride((unsigned)stride_), Sg(Sg_), C(C_) {
        const int q = e0 / Sg;
        j = e0 - q * Sg;
        k = q % C;
        const int dq = stride_ / Sg;
        dj = stride_ - dq * Sg;
        dk = dq % C;
    }
    __device__ __forceinline__ void next() {
        e += stride;  // unsigned: no overflow below 2^32 (n, stride < 2^31)
        j += dj;
        k += dk;
        if (j >= Sg) {
            j -= Sg;
            ++k;
        }
        if (k >= C) k -= C;  // k + dk + 1 <= 2C - 1
    }
};

template <int V>
struct Vec;
template <>
struct Vec<1> {
    typedef float T;
    static __device__ __forceinline__ float get(const T& v, int) { return v; }
    static __device__ __forceinline__ void set(T& v, int, float f) { v = f; }
};
template <>
struct Vec<4> {
    typedef float4 T;
    static __device__ __forceinline__ float get(const T& v, int i) {
        return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
    }
    static __device__ __forceinline__ void set(T& v, int i, float f) {
        if (i == 0)
            v.x = f;
        else if (i == 1)
            v.y = f;
        else if (i == 2)
            v.z = f;
        else
            v.w = f;
    }
};

// Groups of V elements of a float32 or bfloat16 tensor as Vec<V>::T:
// group_load(p, e) and group_store(p, e, v) access group e (elements
// e·V .. e·V+V-1); a bfloat16 group of 4 is one 8-byte access.
template <int V>
__device__ __forceinline__ typename Vec<V>::T group_load(const float* p, unsigned e) {
    return reinterpret_cast<const typename Vec<V>::T*>(p)[e];
}
template <int V>
__device__ __forceinline__ void group_store(float* p, unsigned e, const typename Vec<V>::T& v) {
    reinterpret_cast<typename Vec<V>::T*>(p)[e] = v;
}
template <int V>
__device__ __forceinline__ typename Vec<V>::T group_load(const bf16_t* p, unsigned e) {
    typename Vec<V>::T v;
    if (V == 1) {
        Vec<V>::set(v, 0, bn_bf16(p[e]));
    } else {
        const uint2 u = reinterpret_cast<const uint2*>(p)[e];
        Vec<V>::set(v, 0, __uint_as_float(u.x << 16));
        Vec<V>::set(v, 1, __uint_as_float(u.x & 0xffff0000u));
        Vec<V>::set(v, 2, __uint_as_float(u.y << 16));
        Vec<V>::set(v, 3, __uint_as_float(u.y & 0xffff0000u));
    }
    return v;
}
template <int V>
__device__ __forceinline__ void group_store(bf16_t* p, unsigned e, const typename Vec<V>::T& v) {
    if (V == 1) {
        bn_store(p, (int)e, Vec<V>::get(v, 0));
    } else {
        uint2 u;
        u.x = bf16x2_rn(Vec<V>::get(v, 0), Vec<V>::get(v, 1));
        u.y = bf16x2_rn(Vec<V>::get(v, 2), Vec<V>::get(v, 3));
        reinterpret_cast<uint2*>(p)[e] = u;
    }
}

// bn_apply: y = x·a[k] + off[k] over groups of V elements, U groups per
// loop trip (independent loads in flight).
template <int V, int U, class TX, class TY>
__device__ __forceinline__ void bn_apply(const TX* x, TY* y, const float2* __restrict__ coef, int total, int C,
                                         int S, int relu) {
    typedef typename Vec<V>::T T;
    const int n = total / V;
    const int t = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
    int cnt = walk_count(t, stride, n);
    if (cnt == 0) return;
    GroupWalk w(t, stride, S / V, C);
    for (; cnt >= U; cnt -= U) {
        unsigned e[U];
        float2 c[U];
        T v[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            e[u] = w.e;
            c[u] = coef[w.k];
            w.next();
        }
#pragma unroll
        for (int u = 0; u < U; ++u) v[u] = group_load<V>(x, e[u]);
#pragma unroll
        for (int u = 0; u < U; ++u) {
#pragma unroll
            for (int i = 0; i < V; ++i) Vec<V>::set(v[u], i, bn_out(Vec<V>::get(v[u], i), c[u].x, c[u].y, relu));
            group_store<V>(y, e[u], v[u]);
        }
    }
    for (; cnt > 0; --cnt) {
        const float2 c = coef[w.k];
        T v = group_load<V>(x, w.e);
#pragma unroll
        for (int i = 0; i < V; ++i) Vec<V>::set(v, i, bn_out(Vec<V>::get(v, i), c.x, c.y, relu));
        group_store<V>(y, w.e, v);
        w.next();
    }
}

}  // namespace norm_impl
using namespace norm_impl;

// norm_bn_apply: y = x·a[k] + off[k] with coef[k] = (a, off) (float2), x and
// y (N, C, S) of total elements; y may be x. Launch: 1-D grid-stride, block
// 256, any grid. Matches the element-wise part of CPU.BatchNormTrain and
// CPU.BatchNormEval; relu != 0 applies max(·, 0) (CPU.BatchNormReluTrain,
// CPU.BatchNormReluEval).
#define BN_APPLY(name, V, U, TX, TY)                                                                      \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                  \
        name(const TX* x, TY* y, const float* __restrict__ coef, int total, int C, int S, int relu) {       \
        bn_apply<V, U>(x, y, reinterpret_cast<const float2*>(coef), total, C, S, relu);                     \
    }
BN_APPLY(norm_bn_apply, 1, 4, float, float)

// norm_bn_apply4: norm_bn_apply with float4 accesses; needs S % 4 == 0 and x,
// y 16-byte aligned. Launch as norm_bn_apply (over total/4 groups).
BN_APPLY(norm_bn_apply4, 4, 2, float, float)

// The BF16 storage variants (above) of norm_bn_apply and norm_bn_apply4:
// y, x, or both bfloat16 (the 4-wide ones need a bfloat16 tensor 8-byte
// aligned).
BN_APPLY(norm_bn_apply_ybf16, 1, 4, float, bf16_t)
BN_APPLY(norm_bn_apply4_ybf16, 4, 2, float, bf16_t)
BN_APPLY(norm_bn_apply_xbf16, 1, 4, bf16_t, float)
BN_APPLY(norm_bn_apply4_xbf16, 4, 2, bf16_t, float)
BN_APPLY(norm_bn_apply_xbf16_ybf16, 1, 4, bf16_t, bf16_t)
BN_APPLY(norm_bn_apply4_xbf16_ybf16, 4, 2, bf16_t, bf16_t)

namespace norm_impl {

// bn_bwd_inv is σ⁻¹ of channel k: saveInvStd[k] (training) or
// 1/sqrt(runVar[k]+eps) (eval), in double as the CPU.
__device__ __forceinline__ double bn_bwd_inv(const float* stat, int k, int evalMode, float eps) {
    return evalMode ? 1.0 / sqrt((double)stat[k] + (double)eps) : (double)stat[k];
}

// bn_bwd_coef: the per-channel constants of the training dx,
// dx = a·(dy − mdy) − b·(x − μ) with a = γσ⁻¹, mdy = Σdy/M, b = a·σ⁻¹·Σdy·x̂/M
// (the CPU's a·(dy − mdy − x̂·mdyx) expanded), packed (a, mdy, b, μ).
__device__ __forceinline__ float4 bn_bwd_coef(double s1, double s2, int M, double mean, double inv, double g) {
    const double m = (double)M;
    const double a = g * inv;
    const double mdy = s1 / m;
    const double mdyx = (s2 * inv) / m;
    return make_float4((float)a, (float)mdy, (float)(a * inv * mdyx), (float)mean);
}

__device__ __forceinline__ float bn_bwd_dx(float d, float v, const float4& c) {
    return c.x * (d - c.y) - c.z * (v - c.w);
}

// bn_bwd_sums adds this thread's elements of channel k (the walk of
// norm_bn_stats) to s1 = Σdy and s2 = Σdy·(x−μ); with EVAL_DX it also writes
// dx = dy·γ·σ⁻¹ in double (CPU.BatchNormEvalBackward's order). dy is masked
// by ym (bn_mask; null: none).
template <bool EVAL_DX, class TM, class TX>
__device__ __forceinline__ void bn_bwd_sums(double& s1, double& s2, float* dx, const float* dy, const TM* ym,
                                            const TX* x, int k, int e0, int stride, int M, int C, int S,
                                            double mu, double g, double inv) {
    int cnt = walk_count(e0, stride, M);
    if (cnt == 0) return;
    ChanWalk w(e0, stride, S);
    for (; cnt >= 4; cnt -= 4) {
        int o[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            o[u] = w.offset(C, k);
            w.next();
        }
        float d[4], v[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            d[u] = bn_mask(dy[o[u]], ym, o[u]);
            v[u] = bn_ld(x, o[u]);
        }
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const double dd = (double)d[u];
            s1 += dd;
            s2 = fma(dd, (double)v[u] - mu, s2);
            if (EVAL_DX) dx[o[u]] = (float)__dmul_rn(__dmul_rn(dd, g), inv);
        }
    }
    for (; cnt > 0; --cnt) {
        const int o = w.offset(C, k);
        w.next();
        const double dd = (double)bn_mask(dy[o], ym, o);
        s1 += dd;
        s2 = fma(dd, (double)bn_ld(x, o) - mu, s2);
        if (EVAL_DX) dx[o] = (float)__dmul_rn(__dmul_rn(dd, g), inv);
    }
}

}  // namespace norm_impl
using namespace norm_impl;

// norm_bn_bwd_reduce: per-channel sums of the batch-norm backward pass over
// dy and x (N, C, S): s1 = Σdy, s2 = Σdy·(x−μ) (double), with μ = mean[k] and
// σ⁻¹ = stat[k] (training: saveMean, saveInvStd; evalMode: runMean, runVar
// and eps). dγ = s2·σ⁻¹, dβ = s1.
// Launch: grid (C, P), block 256, the element walk of norm_bn_stats.
//   - evalMode: dx (if not null) = dy·γ·σ⁻¹ (in double, as
//     CPU.BatchNormEvalBackward) is written during the walk.
//   - P == 1: the block also writes dgamma, dbeta (each may be null) and, in
//     training mode, dx (if not null) as CPU.BatchNormBackward.
//   - P > 1: thread 0 writes (s1, s2) as doubles at part[2·(k·P+p)];
//     norm_bn_bwd_finalize and norm_bn_bwd_dx finish.
// gamma may be null (1). dx may be dy. ym, when not null, is the output of
// the fused BatchNormRelu forward op: dy is read as dy·[ym>0]
// (CPU.BatchNormReluBackward, CPU.BatchNormReluEvalBackward).
namespace norm_impl {
template <class TX, class TM>
__device__ __forceinline__ void bn_bwd_reduce(const float* dy, const TX* x, float* dx,
                                              const float* __restrict__ gamma, const float* __restrict__ mean,
                                              const float* __restrict__ stat, float* __restrict__ dgamma,
                                              float* __restrict__ dbeta, float* part, int N, int C, int S, int P,
                                              int evalMode, float eps, const TM* __restrict__ ym) {
    const int k = blockIdx.x, p = blockIdx.y;
    const int M = N * S;
    const double mu = (double)mean[k];
    const double inv = bn_bwd_inv(stat, k, evalMode, eps);
    const double g = gamma ? (double)gamma[k] : 1.0;
    double s1 = 0.0, s2 = 0.0;
    if (evalMode && dx)
        bn_bwd_sums<true>(s1, s2, dx, dy, ym, x, k, p * kThreads + threadIdx.x, P * kThreads, M, C, S, mu, g, inv);
    else
        bn_bwd_sums<false>(s1, s2, dx, dy, ym, x, k, p * kThreads + threadIdx.x, P * kThreads, M, C, S, mu, g,
                           inv);
    group_sum2<kThreads>(s1, s2);
    if (P > 1) {
        if (threadIdx.x == 0) {
            double* pd = reinterpret_cast<double*>(part) + 2 * (k * P + p);
            pd[0] = s1;
            pd[1] = s2;
        }
        return;
    }
    if (threadIdx.x == 0) {
        if (dgamma) dgamma[k] = (float)(s2 * inv);
        if (dbeta) dbeta[k] = (float)s1;
    }
    if (evalMode || !dx) return;  // uniform over the block
    const float4 c = bn_bwd_coef(s1, s2, M, mu, inv, g);  // same value in every thread
    int cnt = walk_count(threadIdx.x, kThreads, M);
    if (cnt > 0) {
        ChanWalk w(threadIdx.x, kThreads, S);
        for (; cnt >= 4; cnt -= 4) {
            int o[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                o[u] = w.offset(C, k);
                w.next();
            }
            float d[4], v[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                d[u] = bn_mask(dy[o[u]], ym, o[u]);
                v[u] = bn_ld(x, o[u]);
            }
#pragma unroll
            for (int u = 0; u < 4; ++u) dx[o[u]] = bn_bwd_dx(d[u], v[u], c);
        }
        for (; cnt > 0; --cnt) {
            const int o = w.offset(C, k);
            w.next();
            dx[o] = bn_bwd_dx(bn_mask(dy[o], ym, o), bn_ld(x, o), c);
        }
    }
}
}  // namespace norm_impl

#define BN_BWD_REDUCE(name, TX, TM)                                                                          \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                     \
        name(const float* dy, const TX* x, float* dx, const float* __restrict__ gamma,                         \
             const float* __restrict__ mean, const float* __restrict__ stat, float* __restrict__ dgamma,       \
             float* __restrict__ dbeta, float* part, int N, int C, int S, int P, int evalMode, float eps,      \
             const TM* __restrict__ ym) {                                                                      \
        bn_bwd_reduce(dy, x, dx, gamma, mean, stat, dgamma, dbeta, part, N, C, S, P, evalMode, eps, ym);       \
    }
BN_BWD_REDUCE(norm_bn_bwd_reduce, float, float)
// The BF16 storage variants (above): the mask ym (never null in these),
// x, or both bfloat16; norm_bn_bwd_reduce_xbf16's ym is float32 or null.
BN_BWD_REDUCE(norm_bn_bwd_reduce_ybf16, float, bf16_t)
BN_BWD_REDUCE(norm_bn_bwd_reduce_xbf16, bf16_t, float)
BN_BWD_REDUCE(norm_bn_bwd_reduce_xbf16_ybf16, bf16_t, bf16_t)

// norm_bn_bwd_finalize: sums the P partials of norm_bn_bwd_reduce per channel
// in order p = 0..P-1; writes dgamma = s2·σ⁻¹ and dbeta = s1 (each may be
// null) and, when coef is not null (training mode with dx), coef[k] = the
// float4 (a, mdy, b, μ) of norm_bn_bwd_dx (coef 16-byte aligned).
// Launch: 1-D, one thread per channel, ceil(C/256) blocks of 256.
// Matches CPU.BatchNormBackward / CPU.BatchNormEvalBackward (dγ, dβ).
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_bn_bwd_finalize(const float* __restrict__ part, float* __restrict__ coef, const float* __restrict__ gamma,
                         const float* __restrict__ mean, const float* __restrict__ stat, float* __restrict__ dgamma,
                         float* __restrict__ dbeta, int N, int C, int S, int P, int evalMode, float eps) {
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= C) return;
    const double* pd = reinterpret_cast<const double*>(part) + 2 * k * P;
    double s1 = 0.0, s2 = 0.0;
    for (int p = 0; p < P; ++p) {
        s1 += pd[2 * p];
        s2 += pd[2 * p + 1];
    }
    const double inv = bn_bwd_inv(stat, k, evalMode, eps);
    if (dgamma) dgamma[k] = (float)(s2 * inv);
    if (dbeta) dbeta[k] = (float)s1;
    if (coef) {
        const double g = gamma ? (double)gamma[k] : 1.0;
        reinterpret_cast<float4*>(coef)[k] = bn_bwd_coef(s1, s2, N * S, (double)mean[k], inv, g);
    }
}

namespace norm_impl {

template <int V, int U, class TX, class TM>
__device__ __forceinline__ void bn_bwd_dx_walk(float* dx, const float* dy, const TX* x, const TM* ym,
                                               const float4* __restrict__ coef, int total, int C, int S) {
    typedef typename Vec<V>::T T;
    const int n = total / V;
    const int t = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
    int cnt = walk_count(t, stride, n);
    if (cnt == 0) return;
    const T* dyv = reinterpret_cast<const T*>(dy);
    T* dxv = reinterpret_cast<T*>(dx);
    GroupWalk w(t, stride, S / V, C);
    for (; cnt >= U; cnt -= U) {
        unsigned e[U];
        float4 c[U];
        T d[U], v[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            e[u] = w.e;
            c[u] = coef[w.k];
            w.next();
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            d[u] = dyv[e[u]];
            v[u] = group_load<V>(x, e[u]);
        }
        if (ym) {
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const T m = group_load<V>(ym, e[u]);
#pragma unroll
                for (int i = 0; i < V; ++i)
                    if (!(Vec<V>::get(m, i) > 0.f)) Vec<V>::set(d[u], i, 0.f);
            }
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
#pragma unroll
            for (int i = 0; i < V; ++i)
                Vec<V>::set(d[u], i, bn_bwd_dx(Vec<V>::get(d[u], i), Vec<V>::get(v[u], i), c[u]));
            dxv[e[u]] = d[u];
        }
    }
    for (; cnt > 0; --cnt) {
        const float4 c = coef[w.k];
        T d = dyv[w.e];
        const T v = group_load<V>(x, w.e);
        if (ym) {
            const T m = group_load<V>(ym, w.e);
#pragma unroll
            for (int i = 0; i < V; ++i)
                if (!(Vec<V>::get(m, i) > 0.f)) Vec<V>::set(d, i, 0.f);
        }
#pragma unroll
        for (int i = 0; i < V; ++i) Vec<V>::set(d, i, bn_bwd_dx(Vec<V>::get(d, i), Vec<V>::get(v, i), c));
        dxv[w.e] = d;
        w.next();
    }
}

}  // namespace norm_impl
using namespace norm_impl;

// norm_bn_bwd_dx: dx = a·(dy − mdy) − b·(x − μ) with coef[k] = (a, mdy, b, μ)
// (float4, 16-byte aligned) from norm_bn_bwd_finalize; dy, x, dx (N, C, S) of
// total elements; dx may be dy; ym (null: none) masks dy as in
// norm_bn_bwd_reduce. Launch: 1-D grid-stride, block 256, any grid.
// Matches the dx of CPU.BatchNormBackward (CPU.BatchNormReluBackward with ym).
#define BN_BWD_DX(name, V, U, TX, TM)                                                                         \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                      \
        name(float* dx, const float* dy, const TX* x, const float* __restrict__ coef, int total, int C, int S,  \
             const TM* __restrict__ ym) {                                                                       \
        bn_bwd_dx_walk<V, U>(dx, dy, x, ym, reinterpret_cast<const float4*>(coef), total, C, S);                \
    }
BN_BWD_DX(norm_bn_bwd_dx, 1, 4, float, float)

// norm_bn_bwd_dx4: norm_bn_bwd_dx with float4 accesses; needs S % 4 == 0 and
// dx, dy, x (and ym) 16-byte aligned. Launch as norm_bn_bwd_dx (over total/4
// groups).
BN_BWD_DX(norm_bn_bwd_dx4, 4, 2, float, float)

// The BF16 storage variants (above) of norm_bn_bwd_dx and norm_bn_bwd_dx4:
// the mask ym, x, or both bfloat16 (the 4-wide ones need a bfloat16 tensor
// 8-byte aligned).
BN_BWD_DX(norm_bn_bwd_dx_ybf16, 1, 4, float, bf16_t)
BN_BWD_DX(norm_bn_bwd_dx4_ybf16, 4, 2, float, bf16_t)
BN_BWD_DX(norm_bn_bwd_dx_xbf16, 1, 4, bf16_t, float)
BN_BWD_DX(norm_bn_bwd_dx4_xbf16, 4, 2, bf16_t, float)
BN_BWD_DX(norm_bn_bwd_dx_xbf16_ybf16, 1, 4, bf16_t, bf16_t)
BN_BWD_DX(norm_bn_bwd_dx4_xbf16_ybf16, 4, 2, bf16_t, bf16_t)

// ---- Row ops: layer norm, softmax, cross entropy ---------------------------
//
// Each comes as _warp (one warp per row, 8 rows per block of 256: grid
// ceil(R/8)) and _block (one block of 256 per row: grid R); the Go side picks
// _warp for rows of up to 1024 elements. Thread `lane` of a row's group of NT
// handles elements lane, lane+NT, ...

namespace norm_impl {

template <int NT>
__device__ __forceinline__ int row_index() {
    return NT == 32 ? blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5) : blockIdx.x;
}
template <int NT>
__device__ __forceinline__ int row_lane() {
    return NT == 32 ? (threadIdx.x & 31) : threadIdx.x;
}

// ln_fwd: CPU.LayerNorm for one row: mean and Σ(x−mean)² in double (two
// passes), σ⁻¹ = 1/sqrt(Σ/D + eps); y = (x−mean)·σ⁻¹·γ + β in float, with
// mean split into float hi + lo so that x − mean keeps its precision.
template <int NT>
__device__ __forceinline__ void ln_fwd(const float* x, float* y, float* sm, float* si, const float* gamma,
                                       const float* beta, int R, int D, float eps) {
    const int row = row_index<NT>(), lane = row_lane<NT>();
    if (row >= R) return;  // whole warp (NT = 32) or whole block
    const float* xr = x + (size_t)row * D;
    float* yr = y + (size_t)row * D;
    double s = 0.0;
    for (int j = lane; j < D; j += NT) s += (double)xr[j];
    s = group_sum<NT>(s);
    const double mean = s / (double)D;
    double q = 0.0;
    for (int j = lane; j < D; j += NT) {
        const double e = (double)xr[j] - mean;
        q = fma(e, e, q);
    }
    q = group_sum<NT>(q);
    const double inv = 1.0 / sqrt(q / (double)D + (double)eps);
    if (lane == 0) {
        sm[row] = (float)mean;
        si[row] = (float)inv;
    }
    const float mh = (float)mean, ml = (float)(mean - (double)mh), invf = (float)inv;
    for (int j = lane; j < D; j += NT) {
        float h = ((xr[j] - mh) - ml) * invf;
        if (gamma) h *= gamma[j];
        if (beta) h += beta[j];
        yr[j] = h;
    }
}

// ln_bwd_dx: the dx of CPU.LayerNormBackward for one row: with ĝ = dy·γ and
// x̂ = (x−μ)·σ⁻¹ (μ, σ⁻¹ the saved floats), sg = Σĝ/D and sgx = Σĝ·x̂/D in
// double; dx = σ⁻¹·(ĝ − sg − x̂·sgx) in float.
template <int NT>
__device__ __forceinline__ void ln_bwd_dx(float* dx, const float* dy, const float* x, const float* gamma,
                                          const float* sm, const float* si, int R, int D) {
    const int row = row_index<NT>(), lane = row_lane<NT>();
    if (row >= R) return;
    const size_t base = (size_t)row * D;
    const float meanf = sm[row], invf = si[row];
    const double mean = (double)meanf;
    double sg = 0.0, sgx = 0.0;
    for (int j = lane; j < D; j += NT) {
        double g = (double)dy[base + j];
        if (gamma) g *= (double)gamma[j];
        sg += g;
        sgx = fma(g, (double)x[base + j] - mean, sgx);
    }
    group_sum2<NT>(sg, sgx);
    const double inv = (double)invf;
    const float mg = (float)(sg / (double)D);
    const float k2 = (float)(inv * (sgx * inv / (double)D));  // σ⁻¹·sgx: x̂·sgx = (x−μ)·k2
    for (int j = lane; j < D; j += NT) {
        float g = dy[base + j];
        if (gamma) g *= gamma[j];
        dx[base + j] = invf * ((g - mg) - (x[base + j] - meanf) * k2);
    }
}

// softmax_row: CPU.Softmax for one row: max in float, e = exp(x − max) with
// the difference in float as the CPU, Σe in double, y = e·(1/Σe).
template <int NT>
__device__ __forceinline__ void softmax_row(float* y, const float* x, int R, int D) {
    const int row = row_index<NT>(), lane = row_lane<NT>();
    if (row >= R) return;
    const float* xr = x + (size_t)row * D;
    float* yr = y + (size_t)row * D;
    float mx = -INFINITY;
    for (int j = lane; j < D; j += NT) mx = fmaxf(mx, xr[j]);  // NaN skipped, as the CPU's v > mx
    mx = group_max<NT>(mx);
    double s = 0.0;
    for (int j = lane; j < D; j += NT) s += (double)expf(xr[j] - mx);
    s = group_sum<NT>(s);
    const float inv = (float)(1.0 / s);
    for (int j = lane; j < D; j += NT) yr[j] = expf(xr[j] - mx) * inv;
}

// softmax_bwd_row: CPU.SoftmaxBackward for one row: dot = Σdy·y in double,
// dx = y·(dy − dot).
template <int NT>
__device__ __forceinline__ void softmax_bwd_row(float* dx, const float* dy, const float* y, int R, int D) {
    const int row = row_index<NT>(), lane = row_lane<NT>();
    if (row >= R) return;
    const size_t base = (size_t)row * D;
    double dot = 0.0;
    for (int j = lane; j < D; j += NT) dot = fma((double)dy[base + j], (double)y[base + j], dot);
    dot = group_sum<NT>(dot);
    const float dotf = (float)dot;
    for (int j = lane; j < D; j += NT) dx[base + j] = y[base + j] * (dy[base + j] - dotf);
}

// ce_row: one row of CPU.CrossEntropy: lse = max + log Σexp(x − max) (the
// sum in double), rowLoss[row] = lse − x[label] (double); dlogits (if not
// null) = (softmax − onehot)/N. A label outside [0, C) makes the row's loss
// and dlogits NaN (the CPU records an error instead; a device op cannot
// without synchronising).
template <int NT>
__device__ __forceinline__ void ce_row(float* dlogits, const float* logits, const int* labels, double* rowLoss,
                                       int N, int C) {
    const int row = row_index<NT>(), lane = row_lane<NT>();
    if (row >= N) return;
    const size_t base = (size_t)row * C;
    const int label = labels[row];
    const bool bad = label < 0 || label >= C;
    // Read before the reductions (which order it before any thread's
    // dlogits store), so dlogits may be logits.
    const float xl = bad ? 0.f : logits[base + label];
    float mx = -INFINITY;
    for (int j = lane; j < C; j += NT) mx = fmaxf(mx, logits[base + j]);
    mx = group_max<NT>(mx);
    double s = 0.0;
    for (int j = lane; j < C; j += NT) s += (double)expf(logits[base + j] - mx);
    s = group_sum<NT>(s);
    const double lse = (double)mx + log(s);
    if (lane == 0) rowLoss[row] = bad ? (double)NAN : lse - (double)xl;
    if (!dlogits) return;
    if (NT == 32) __syncwarp();  // group_sum<32> is shuffles only: order the reads above before the stores below
    const double invN = 1.0 / (double)N, invs = 1.0 / s;
    const float invNf = (float)invN, invsf = (float)invs;
    for (int j = lane; j < C; j += NT) {
        const float e = expf(logits[base + j] - mx);
        float d;
        if (bad)
            d = NAN;
        else if (j == label)
            d = (float)(((double)e * invs - 1.0) * invN);
        else
            d = (e * invsf) * invNf;
        dlogits[base + j] = d;
    }
}

}  // namespace norm_impl
using namespace norm_impl;

// norm_ln_fwd_warp / norm_ln_fwd_block: CPU.LayerNorm over rows of D: x, y
// (R, D) (y may be x), saveMean and saveInvStd (R), gamma and beta (D, each
// may be null). Launch: see "Row ops" above.
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_ln_fwd_warp(const float* x, float* y, float* __restrict__ saveMean, float* __restrict__ saveInvStd,
                     const float* __restrict__ gamma, const float* __restrict__ beta, int R, int D, float eps) {
    ln_fwd<32>(x, y, saveMean, saveInvStd, gamma, beta, R, D, eps);
}
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_ln_fwd_block(const float* x, float* y, float* __restrict__ saveMean, float* __restrict__ saveInvStd,
                      const float* __restrict__ gamma, const float* __restrict__ beta, int R, int D, float eps) {
    ln_fwd<kThreads>(x, y, saveMean, saveInvStd, gamma, beta, R, D, eps);
}

// norm_ln_bwd_dx_warp / norm_ln_bwd_dx_block: the dx of
// CPU.LayerNormBackward: dx, dy, x (R, D) (dx may be dy), gamma (D, may be
// null), saveMean, saveInvStd (R). Launch: see "Row ops" above.
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_ln_bwd_dx_warp(float* dx, const float* dy, const float* x, const float* __restrict__ gamma,
                        const float* __restrict__ saveMean, const float* __restrict__ saveInvStd, int R, int D) {
    ln_bwd_dx<32>(dx, dy, x, gamma, saveMean, saveInvStd, R, D);
}
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_ln_bwd_dx_block(float* dx, const float* dy, const float* x, const float* __restrict__ gamma,
                         const float* __restrict__ saveMean, const float* __restrict__ saveInvStd, int R, int D) {
    ln_bwd_dx<kThreads>(dx, dy, x, gamma, saveMean, saveInvStd, R, D);
}

// norm_ln_bwd_cols: dγ and dβ of CPU.LayerNormBackward, column sums over
// rows: dγ[j] = Σ_i dy·(x−μ_i)·σ⁻¹_i, dβ[j] = Σ_i dy (double).
// Launch: block (32, 8), grid (ceil(D/32), P). Block (bx, p) sums column
// j = bx·32+tx over rows [p·rowsPer, min(R, (p+1)·rowsPer)), thread (tx, ty)
// taking rows ty, ty+8, ...; the 8 partials are added in ty order.
//   - P == 1: writes dgamma[j], dbeta[j] (each may be null).
//   - P > 1: writes the doubles (sγ, sβ) at part[2·(p·D+j)];
//     norm_ln_bwd_cols_finalize adds them.
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_ln_bwd_cols(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ saveMean,
                     const float* __restrict__ saveInvStd, float* __restrict__ dgamma, float* __restrict__ dbeta,
                     float* __restrict__ part, int R, int D, int rowsPer, int P) {
    __shared__ double sh[2][8][33];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int j = blockIdx.x * 32 + tx, p = blockIdx.y;
    const int r0 = p * rowsPer;
    const int r1 = min(R, r0 + rowsPer);
    double sg = 0.0, sb = 0.0;
    if (j < D) {
#pragma unroll 4
        for (int i = r0 + ty; i < r1; i += 8) {
            const size_t o = (size_t)i * D + j;
            const float d = dy[o];
            const float xh = (x[o] - saveMean[i]) * saveInvStd[i];
            sb += (double)d;
            sg = fma((double)d, (double)xh, sg);
        }
    }
    sh[0][ty][tx] = sg;
    sh[1][ty][tx] = sb;
    __syncthreads();
    if (ty != 0 || j >= D) return;
    sg = sh[0][0][tx];
    sb = sh[1][0][tx];
#pragma unroll
    for (int r = 1; r < 8; ++r) {
        sg += sh[0][r][tx];
        sb += sh[1][r][tx];
    }
    if (P > 1) {
        double* pd = reinterpret_cast<double*>(part) + 2 * ((size_t)p * D + j);
        pd[0] = sg;
        pd[1] = sb;
        return;
    }
    if (dgamma) dgamma[j] = (float)sg;
    if (dbeta) dbeta[j] = (float)sb;
}

// norm_ln_bwd_cols_finalize: adds the P partials of norm_ln_bwd_cols per
// column in order p = 0..P-1 into dgamma, dbeta (each may be null).
// Launch: 1-D, one thread per column, ceil(D/256) blocks of 256.
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_ln_bwd_cols_finalize(const float* __restrict__ part, float* __restrict__ dgamma, float* __restrict__ dbeta,
                              int D, int P) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= D) return;
    const double* pd = reinterpret_cast<const double*>(part);
    double sg = 0.0, sb = 0.0;
    for (int p = 0; p < P; ++p) {
        sg += pd[2 * ((size_t)p * D + j)];
        sb += pd[2 * ((size_t)p * D + j) + 1];
    }
    if (dgamma) dgamma[j] = (float)sg;
    if (dbeta) dbeta[j] = (float)sb;
}

// norm_softmax_warp / norm_softmax_block: CPU.Softmax over rows of D: x, y
// (R, D), y may be x. Launch: see "Row ops" above.
extern "C" __global__ void __launch_bounds__(kThreads) norm_softmax_warp(float* y, const float* x, int R, int D) {
    softmax_row<32>(y, x, R, D);
}
extern "C" __global__ void __launch_bounds__(kThreads) norm_softmax_block(float* y, const float* x, int R, int D) {
    softmax_row<kThreads>(y, x, R, D);
}

// norm_softmax_bwd_warp / norm_softmax_bwd_block: CPU.SoftmaxBackward over
// rows of D: dx, dy, y (R, D), dx may be dy or y. Launch: see "Row ops".
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_softmax_bwd_warp(float* dx, const float* dy, const float* y, int R, int D) {
    softmax_bwd_row<32>(dx, dy, y, R, D);
}
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_softmax_bwd_block(float* dx, const float* dy, const float* y, int R, int D) {
    softmax_bwd_row<kThreads>(dx, dy, y, R, D);
}

// norm_ce_rows_warp / norm_ce_rows_block: the per-row part of
// CPU.CrossEntropy: logits (N, C), labels int32 (N), dlogits (N, C) or null,
// rowLoss N doubles (scratch) for norm_ce_loss; dlogits may be logits. Launch: see "Row ops" (rows
// of C).
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_ce_rows_warp(float* dlogits, const float* logits, const int* __restrict__ labels,
                      float* __restrict__ rowLoss, int N, int C) {
    ce_row<32>(dlogits, logits, labels, reinterpret_cast<double*>(rowLoss), N, C);
}
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_ce_rows_block(float* dlogits, const float* logits, const int* __restrict__ labels,
                       float* __restrict__ rowLoss, int N, int C) {
    ce_row<kThreads>(dlogits, logits, labels, reinterpret_cast<double*>(rowLoss), N, C);
}

// norm_ce_loss: loss[0] = (Σ rowLoss)/N, the N doubles of norm_ce_rows_*
// summed in a fixed order (thread t: rows t, t+256, ...; then the block
// tree). Launch: one block of 256. Matches CPU.CrossEntropy's loss.
extern "C" __global__ void __launch_bounds__(kThreads)
    norm_ce_loss(const float* __restrict__ rowLoss, float* __restrict__ loss, int N) {
    const double* rl = reinterpret_cast<const double*>(rowLoss);
    double s = 0.0;
    for (int i = threadIdx.x; i < N; i += kThreads) s += rl[i];
    s = group_sum<kThreads>(s);
    if (threadIdx.x == 0) loss[0] = (float)(s * (1.0 / (double)N));
}
