// emu.h: what CUDA C gives a kernel, for compiling kernels/*.cu with g++
// and running them on the CPU (package emu). A kernel's threads are fibers:
// a block's threads run on one OS thread, each until it reaches a barrier,
// a warp collective or its end, in an order shuffled every round; blocks
// run in a shuffled order over the worker threads. __shared__ variables are
// thread_local statics, so each worker thread has one copy, used by the
// block it runs. Warp collectives (shuffles, votes, __match_any_sync,
// __syncwarp, mma.sync, ldmatrix) wait for every lane named in their mask
// and fail the launch when lanes disagree or a named lane has exited.
#pragma once

#ifndef GOTRAIN_EMU
#define GOTRAIN_EMU 1
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>

// ---- keywords --------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
// thread_local at block scope is static: one copy per worker thread.
#define __shared__ thread_local
#define __constant__ const
#define __align__(n) __attribute__((aligned(n)))

// ---- vector types ----------------------------------------------------------
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) int2 {
    int x, y;
};
struct alignas(16) int4 {
    int x, y, z, w;
};
struct alignas(8) uint2 {
    unsigned int x, y;
};
struct alignas(16) uint4 {
    unsigned int x, y, z, w;
};
struct alignas(16) double2 {
    double x, y;
};
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline int2 make_int2(int x, int y) { return int2{x, y}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
static inline double2 make_double2(double x, double y) { return double2{x, y}; }

// ---- the running thread ----------------------------------------------------
namespace emu {
struct Thread {
    uint3 idx;
};
struct Grid {
    uint3 block;
    dim3 blockDim, gridDim;
};
extern thread_local Thread* cur_thread;
extern thread_local Grid cur_grid;

void syncthreads();
// warp_collective: kind and param must agree over the lanes of mask; in
// holds nin 32-bit words of the calling lane, out receives nout words.
enum Coll { kSyncWarp = 1, kShfl, kShflUp, kShflDown, kShflXor, kBallot, kMatchAny, kMmaTF32, kMmaBF16, kLdmatrix };
void warp_collective(int kind, unsigned mask, int param, const uint32_t* in, int nin, uint32_t* out, int nout);
unsigned active_mask();
[[noreturn]] void trap(const char* what);
}  // namespace emu

#define threadIdx (::emu::cur_thread->idx)
#define blockIdx (::emu::cur_grid.block)
#define blockDim (::emu::cur_grid.blockDim)
#define gridDim (::emu::cur_grid.gridDim)
#define warpSize 32

static inline void __syncthreads() { emu::syncthreads(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::warp_collective(emu::kSyncWarp, mask, 0, nullptr, 0, nullptr, 0); }
static inline unsigned __activemask() { return emu::active_mask(); }
static inline void __trap() { emu::trap("__trap"); }
static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---- shuffles and votes ----------------------------------------------------
namespace emu {
template <typename T>
static inline T shfl(int kind, unsigned mask, T v, int param) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "shuffle of a 4- or 8-byte value");
    uint32_t in[2] = {0, 0}, out[2];
    memcpy(in, &v, sizeof(T));
    warp_collective(kind, mask, param, in, 2, out, 2);
    T r;
    memcpy(&r, out, sizeof(T));
    return r;
}
}  // namespace emu
// param packs the lane argument (low 16 bits) and the width (high 16 bits).
template <typename T>
static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    return emu::shfl(emu::kShfl, mask, v, (src & 0xffff) | (width << 16));
}
template <typename T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return emu::shfl(emu::kShflUp, mask, v, (int)(delta & 0xffff) | (width << 16));
}
template <typename T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return emu::shfl(emu::kShflDown, mask, v, (int)(delta & 0xffff) | (width << 16));
}
template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lanes, int width = 32) {
    return emu::shfl(emu::kShflXor, mask, v, (lanes & 0xffff) | (width << 16));
}
static inline unsigned __ballot_sync(unsigned mask, int pred) {
    uint32_t in = pred != 0, out;
    emu::warp_collective(emu::kBallot, mask, 0, &in, 1, &out, 1);
    return out;
}
static inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
static inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }
template <typename T>
static inline unsigned __match_any_sync(unsigned mask, T v) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "match of a 4- or 8-byte value");
    uint32_t in[2] = {0, 0}, out;
    memcpy(in, &v, sizeof(T));
    emu::warp_collective(emu::kMatchAny, mask, 0, in, 2, &out, 1);
    return out;
}

// ---- atomics (sequentially consistent; blocks may run on several threads) --
template <typename T>
static inline T atomicAdd(T* p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline float atomicAdd(float* p, float v) {
    float old, nv;
    __atomic_load(p, &old, __ATOMIC_SEQ_CST);
    do {
        nv = old + v;
    } while (!__atomic_compare_exchange(p, &old, &nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return old;
}
template <typename T>
static inline T atomicMax(T* p, T v) {
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return old;
}
template <typename T>
static inline T atomicMin(T* p, T v) {
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (old > v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return old;
}
template <typename T>
static inline T atomicExch(T* p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
template <typename T>
static inline T atomicCAS(T* p, T cmp, T v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}

// ---- math intrinsics -------------------------------------------------------
// The _rn forms round once to nearest even: the emulator is built with
// -std=c++17 (ISO C++: no floating-point contraction, and no FMA on
// x86-64 without -mfma), so a*b is never fused into a following add.
// fmaf: without FMA instructions (x86-64 before -mfma) libm's fmaf is a
// slow exact software routine. The product of two floats is exact in
// double, so one double add and a rounding to float gives the fused result
// except where rounding twice (to double, then to float) lands on a float
// tie: within one float ulp, rarely.
static inline float emu_fmaf(float a, float b, float c) { return (float)((double)a * (double)b + (double)c); }
#define fmaf emu_fmaf
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fmaf_rn(float a, float b, float c) { return emu_fmaf(a, b, c); }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
static inline unsigned __float_as_uint(float x) {
    unsigned u;
    memcpy(&u, &x, 4);
    return u;
}
static inline int __float_as_int(float x) {
    int u;
    memcpy(&u, &x, 4);
    return u;
}
static inline float __uint_as_float(unsigned u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static inline float __int_as_float(int u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static inline long long __double_as_longlong(double x) {
    long long u;
    memcpy(&u, &x, 8);
    return u;
}
static inline double __longlong_as_double(long long u) {
    double x;
    memcpy(&x, &u, 8);
    return x;
}
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
static inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
// __clz(0) is 32 and __ffs(0) is 0, as on the GPU.
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline unsigned __brev(unsigned x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
template <typename T>
static inline T __ldg(const T* p) { return *p; }
template <typename T>
static inline T min(T a, T b) { return a < b ? a : b; }
template <typename T>
static inline T max(T a, T b) { return a > b ? a : b; }

// ---- the inline PTX of kernels/device.cuh, in C (PTX ISA definitions) ------
// cvt.rna.tf32.f32: round to a 10-bit mantissa, to nearest, ties away from
// zero; NaN and infinities pass unchanged.
static inline unsigned emu_cvt_rna_tf32(float x) {
    unsigned u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return u;
    return (u + 0x1000u) & 0xffffe000u;
}
void emu_mma_m16n8k8_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]);
void emu_mma_m16n8k16_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]);
void emu_ldmatrix(unsigned* r, int n, bool trans, const void* row);
void emu_cp_async(void* dst, const void* src, int size, int src_bytes);
void emu_cp_async_commit();
void emu_cp_async_wait(int n);
// Generic addresses are the emulator's shared addresses.
static inline size_t __cvta_generic_to_shared(const void* p) { return (size_t)p; }

// ---- the kernel table ------------------------------------------------------
// A kernel's parameters come in 8-byte slots, as cuLaunchKernel's argument
// pointers give them: a pointer or 64-bit integer takes the slot, a 32-bit
// int or float its low 4 bytes. sig has one letter per parameter: p
// (pointer or 64-bit integer), i (32-bit integer), f (float), d (double):
// the PTX .param kinds u64/s64, u32/s32, f32, f64 (kernels.Sig).
namespace emu {
typedef void (*Thunk)(const uint64_t* slots);
struct KernelEntry {
    const char* name;
    const char* sig;
    int nargs;
    Thunk thunk;
};

template <typename T>
struct Slot {
    static_assert(std::is_pointer<T>::value || std::is_integral<T>::value || std::is_floating_point<T>::value,
                  "kernel parameters are pointers, integers or floats");
    static T get(uint64_t v) {
        if constexpr (std::is_pointer<T>::value) {
            return reinterpret_cast<T>((uintptr_t)v);
        } else if constexpr (std::is_floating_point<T>::value) {
            T x;
            if constexpr (sizeof(T) == 4) {
                uint32_t u = (uint32_t)v;
                memcpy(&x, &u, 4);
            } else {
                memcpy(&x, &v, 8);
            }
            return x;
        } else if constexpr (sizeof(T) == 4) {
            return (T)(uint32_t)v;
        } else {
            return (T)v;
        }
    }
    static constexpr char kind() {
        if constexpr (std::is_pointer<T>::value) return 'p';
        else if constexpr (std::is_floating_point<T>::value) return sizeof(T) == 4 ? 'f' : 'd';
        else return sizeof(T) == 8 ? 'p' : 'i';
    }
};

template <typename F, F f>
struct Wrap;
template <typename... A, void (*f)(A...)>
struct Wrap<void (*)(A...), f> {
    static constexpr int n = sizeof...(A);
    static constexpr char sig[sizeof...(A) + 1] = {Slot<A>::kind()..., 0};
    template <size_t... I>
    static void call(const uint64_t* s, std::index_sequence<I...>) {
        f(Slot<A>::get(s[I])...);
    }
    static void thunk(const uint64_t* s) { call(s, std::index_sequence_for<A...>{}); }
};
}  // namespace emu

#define EMU_KERNEL(k) \
    { #k, ::emu::Wrap<decltype(&k), &k>::sig, ::emu::Wrap<decltype(&k), &k>::n, &::emu::Wrap<decltype(&k), &k>::thunk }

// EMU_DYNAMIC_SHARED defines a kernel file's `extern __shared__` array
// with the capacity dynamic shared memory has without opting in (48 KiB);
// a launch asking for more fails.
#define EMU_DYNAMIC_SHARED(type, name) alignas(16) thread_local type name[49152 / sizeof(type)]
