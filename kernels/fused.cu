// Fused memory-bound ops: chains the models repeat, in one pass over memory.
//
// Every kernel matches an engine.CPU method of engine/cpu_fused.go (named in
// its comment); cuda/fused.go picks the launch shapes. The fused batch norm
// + ReLU ops are the batch-norm kernels of norm.cu with their relu flag (or
// output mask) set, so they have no kernel here.
//
// Layout: flat float32 arrays of n elements. Launch: 1-D grid-stride loop,
// 256 threads per block, grid min(ceil(n/256), 32·SMs) blocks (float4
// kernels: over n/4 groups). Results do not depend on the grid.
//
// Aliasing: y may be a or b: each element is read before it is written, by
// the thread that writes it.

#define FUSED_GRID_STRIDE(i, n) \
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// fused_relu: max(v, 0), NaN giving 0 as CPU.Relu.
__device__ __forceinline__ float fused_relu(float v) { return v > 0.f ? v : 0.f; }

// fused_add_relu: y = max(a + b, 0). Matches CPU.AddRelu.
extern "C" __global__ void fused_add_relu(float* y, const float* a, const float* b, int n) {
    FUSED_GRID_STRIDE(i, n) y[i] = fused_relu(a[i] + b[i]);
}

// fused_add_relu4: fused_add_relu on n4 float4 groups (y, a, b 16-byte
// aligned, n = 4·n4). Matches CPU.AddRelu.
extern "C" __global__ void fused_add_relu4(float4* y, const float4* a, const float4* b, int n4) {
    FUSED_GRID_STRIDE(i, n4) {
        const float4 u = a[i], v = b[i];
        y[i] = make_float4(fused_relu(u.x + v.x), fused_relu(u.y + v.y), fused_relu(u.z + v.z),
                           fused_relu(u.w + v.w));
    }
}

// ---- Squeeze and excitation ---------------------------------------------------
//
// Layout: x, y, res, dy, dx (N, C, S) with S elements per plane p = n·C + c;
// pooled, scale, dz2, dpool (N, C); hidden, dz1 (N, D); w1 (D, C), w2 (C, D)
// row-major (1x1 convolution weights). Sums are in double in a fixed order:
// per thread in element order, then a warp xor-butterfly, then the warps in
// index order through shared memory, so results do not depend on the grid.

namespace fused_impl {

constexpr int kSEPlaneThreads = 128;

__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// plane_sum reduces v over the kSEPlaneThreads threads of the block; thread
// 0 gets the total.
__device__ __forceinline__ double plane_sum(double v) {
    __shared__ double sh[kSEPlaneThreads / 32];
    v = warp_sum_d(v);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    double t = 0.0;
    if (threadIdx.x == 0)
        for (int w = 0; w < kSEPlaneThreads / 32; ++w) t += sh[w];
    return t;
}

}  // namespace fused_impl
using namespace fused_impl;

// fused_se_pool: pooled[p] = mean of plane p of x (double sum). Launch: grid
// N·C, block 128. Matches the pooled means of CPU.SqueezeExcite.
extern "C" __global__ void __launch_bounds__(kSEPlaneThreads)
    fused_se_pool(const float* __restrict__ x, float* __restrict__ pooled, int S) {
    const int p = blockIdx.x;
    const float* xp = x + (size_t)p * S;
    double s = 0.0;
    for (int i = threadIdx.x; i < S; i += kSEPlaneThreads) s += (double)xp[i];
    s = plane_sum(s);
    if (threadIdx.x == 0) pooled[p] = (float)(s / (double)S);
}

// fused_se_excite: per sample n, hidden[n,j] = relu(Σc w1[j,c]·pooled[n,c]
// + b1[j]) and scale[n,c] = sigmoid(Σj w2[c,j]·hidden[n,j] + b2[c]) (double
// sums, sigmoid in double as CPU.Sigmoid). b1, b2 may be null. Launch: grid
// N, block 256 (threads loop over j, then c). Matches CPU.SqueezeExcite.
extern "C" __global__ void __launch_bounds__(256)
    fused_se_excite(const float* __restrict__ pooled, float* hidden, float* __restrict__ scale,
                    const float* __restrict__ w1, const float* __restrict__ b1, const float* __restrict__ w2,
                    const float* __restrict__ b2, int C, int D) {
    const int n = blockIdx.x;
    const float* pr = pooled + (size_t)n * C;
    float* hr = hidden + (size_t)n * D;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        double v = 0.0;
        for (int c = 0; c < C; ++c) v += (double)w1[(size_t)j * C + c] * (double)pr[c];
        if (b1) v += (double)b1[j];
        const float h = (float)v;
        hr[j] = h > 0.f ? h : 0.f;
    }
    __syncthreads();  // hidden (global memory) written by the block before it is read
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        double v = 0.0;
        for (int j = 0; j < D; ++j) v += (double)w2[(size_t)c * D + j] * (double)hr[j];
        if (b2) v += (double)b2[c];
        scale[(size_t)n * C + c] = (float)(1.0 / (1.0 + exp(-v)));
    }
}

// fused_se_apply: y = x·scale[p] (+ res, when not null), rounded after each
// operation as CPU.ChannelScale then CPU.Add. total = N·C·S elements; y may be
// x or res. Launch: 1-D grid-stride, block 256. Matches CPU.SqueezeExcite.
extern "C" __global__ void fused_se_apply(float* y, const float* x, const float* __restrict__ scale,
                                          const float* res, int total, int S) {
    FUSED_GRID_STRIDE(i, total) {
        float v = __fmul_rn(x[i], scale[i / S]);
        if (res) v = __fadd_rn(v, res[i]);
        y[i] = v;
    }
}

// fused_se_bwd_reduce: dz2[p] = (Σ dy·x over plane p)·s·(1−s) with s =
// scale[p] (double). Launch: grid N·C, block 128. Matches the gradient of
// fc2's output in CPU.SqueezeExciteBackward.
extern "C" __global__ void __launch_bounds__(kSEPlaneThreads)
    fused_se_bwd_reduce(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ scale,
                        float* __restrict__ dz2, int S) {
    const int p = blockIdx.x;
    const float *dp = dy + (size_t)p * S, *xp = x + (size_t)p * S;
    double s = 0.0;
    for (int i = threadIdx.x; i < S; i += kSEPlaneThreads) s += (double)dp[i] * (double)xp[i];
    s = plane_sum(s);
    if (threadIdx.x == 0) {
        const double sv = (double)scale[p];
        dz2[p] = (float)(s * sv * (1.0 - sv));
    }
}

// fused_se_bwd_excite: per sample n, dz1[n,j] = Σc w2[c,j]·dz2[n,c] where
// hidden[n,j] > 0, else 0; dpool[n,c] = Σj w1[j,c]·dz1[n,j] / S (the
// gradient of each element of plane (n,c) through the mean). Launch: grid
// N, block 256. Matches CPU.SqueezeExciteBackward.
extern "C" __global__ void __launch_bounds__(256)
    fused_se_bwd_excite(const float* __restrict__ dz2, const float* __restrict__ hidden,
                        const float* __restrict__ w1, const float* __restrict__ w2, float* dz1,
                        float* __restrict__ dpool, int C, int D, int S) {
    const int n = blockIdx.x;
    const float* g2 = dz2 + (size_t)n * C;
    float* g1 = dz1 + (size_t)n * D;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        double v = 0.0;
        if (hidden[(size_t)n * D + j] > 0.f)
            for (int c = 0; c < C; ++c) v += (double)w2[(size_t)c * D + j] * (double)g2[c];
        g1[j] = (float)v;
    }
    __syncthreads();  // dz1 (global memory) written by the block before it is read
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        double v = 0.0;
        for (int j = 0; j < D; ++j) v += (double)w1[(size_t)j * C + c] * (double)g1[j];
        dpool[(size_t)n * C + c] = (float)(v / (double)S);
    }
}

// fused_se_bwd_weights: thread t < C·D (c = t / D, j = t % D) writes
// dw2[c,j] = Σn dz2[n,c]·hidden[n,j] and dw1[j,c] = Σn dz1[n,j]·pooled[n,c];
// t < C writes db2[t] = Σn dz2[n,t], t < D db1[t] = Σn dz1[n,t] (sums over n
// in order, double; each output may be null). Launch: 1-D, ceil(C·D/256)
// blocks of 256. Matches CPU.SqueezeExciteBackward's weight gradients.
extern "C" __global__ void __launch_bounds__(256)
    fused_se_bwd_weights(const float* __restrict__ dz2, const float* __restrict__ dz1,
                         const float* __restrict__ hidden, const float* __restrict__ pooled, float* __restrict__ dw1,
                         float* __restrict__ db1, float* __restrict__ dw2, float* __restrict__ db2, int N, int C,
                         int D) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= C * D) return;
    const int c = t / D, j = t - c * D;
    double a2 = 0.0, a1 = 0.0, b2s = 0.0, b1s = 0.0;
    for (int n = 0; n < N; ++n) {
        a2 += (double)dz2[(size_t)n * C + c] * (double)hidden[(size_t)n * D + j];
        a1 += (double)dz1[(size_t)n * D + j] * (double)pooled[(size_t)n * C + c];
        if (t < C) b2s += (double)dz2[(size_t)n * C + t];
        if (t < D) b1s += (double)dz1[(size_t)n * D + t];
    }
    if (dw2) dw2[(size_t)c * D + j] = (float)a2;
    if (dw1) dw1[(size_t)j * C + c] = (float)a1;
    if (db2 && t < C) db2[t] = (float)b2s;
    if (db1 && t < D) db1[t] = (float)b1s;
}

// fused_se_bwd_dx: dx = dy·scale[p] + dpool[p] (rounded after each
// operation); dx may be dy. Launch: 1-D grid-stride, block 256. Matches the
// dx of CPU.SqueezeExciteBackward.
extern "C" __global__ void fused_se_bwd_dx(float* dx, const float* dy, const float* __restrict__ scale,
                                           const float* __restrict__ dpool, int total, int S) {
    FUSED_GRID_STRIDE(i, total) {
        const int p = i / S;
        dx[i] = __fadd_rn(__fmul_rn(dy[i], scale[p]), dpool[p]);
    }
}
