// Max, average and adaptive average pooling (NCHW).
//
// Layout: x and dx are planes*H*W floats, y, dy and idx planes*OH*OW, where
// planes = N*C and each plane is row-major. Every index fits in an int: the
// Go side (cuda/pool.go) refuses tensors of 2^31 elements or more.
//
// Every output is written by exactly one thread, in a fixed order, so the
// results do not depend on the grid and no float atomics are used. The
// float arithmetic repeats the CPU engine's (cpu_pool.go) operation for
// operation, in the same order, except where a kernel's comment says
// otherwise.

#define POOL_NEG_INF __int_as_float(0xff800000)

// avgWindow of cpu_pool.go: PyTorch's average-pool window [lo,hi) along one
// dimension and its divisor (the window size, clipped to the padded input;
// or to the input when excl is set).
__device__ __forceinline__ void pool_avg_window(int i, int k, int s, int p, int in, int excl, int& lo, int& hi, float& div) {
    lo = i * s - p;
    hi = min(lo + k, in + p);
    int size = hi - lo;
    lo = max(lo, 0);
    hi = min(hi, in);
    if (excl) size = hi - lo;
    div = (float)size;
}

// adaptiveWindow of cpu_pool.go: [floor(i·in/out), ceil((i+1)·in/out)).
__device__ __forceinline__ void pool_adaptive_window(int i, int in, int out, int& lo, int& hi) {
    lo = i * in / out;
    hi = ((i + 1) * in + out - 1) / out;
}

// pool_max_fwd: y and idx (planes,OH,OW) from x (planes,H,W). One thread per
// output element o = (plane, i, j); 1-D grid of ceil(n/256) blocks of 256.
// Scans the window clipped to the input row-major and keeps the first
// maximum (a later equal value does not replace it; padding never wins); a
// NaN wins at once and ends the scan. idx is the flat a*W+b in the plane.
// Matches CPU.MaxPool2d.
extern "C" __global__ void pool_max_fwd(float* __restrict__ y, int* __restrict__ idx, const float* __restrict__ x,
                                        int n, int h, int w, int oh, int ow,
                                        int kh, int kw, int sh, int sw, int ph, int pw) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= n) return;
    int j = o % ow;
    int t = o / ow;
    int i = t % oh;
    int pl = t / oh;
    const float* in = x + pl * h * w;
    int h0 = i * sh - ph;
    int h1 = min(h0 + kh, h);
    h0 = max(h0, 0);
    int w0 = j * sw - pw;
    int w1 = min(w0 + kw, w);
    w0 = max(w0, 0);
    float best = POOL_NEG_INF;
    int bi = h0 * w + w0;
    bool nan = false;
    for (int a = h0; a < h1 && !nan; a++) {
        const float* row = in + a * w;
        for (int b = w0; b < w1; b++) {
            float v = row[b];
            if (v > best || v != v) {
                best = v;
                bi = a * w + b;
                if (v != v) {
                    nan = true;
                    break;
                }
            }
        }
    }
    y[o] = best;
    idx[o] = bi;
}

extern __shared__ float pool_dyn_smem[];

// Body of the max-pool backward kernels: one warp per plane. The warp zeroes
// the plane's dx (in shared memory when SMEM, else in place in global
// memory), then walks the plane's outputs in order, 32 at a time: lanes
// holding the same target index form a group (__match_any_sync) whose lowest
// lane adds the group's dy to dx[target] in lane order. Chunks are taken in
// order, so every dx element receives its dy values in increasing output
// order, exactly the CPU's `out[idx[o]] += dy[o]` loop: bit-identical, and
// deterministic without atomics. Indices outside [0, H*W) are skipped (the
// CPU would panic).
//
// The backward op has no window parameters, so a gather over the windows
// that contain a dx element is not possible; this ordered scatter needs
// none.
template <bool SMEM>
__device__ __forceinline__ void pool_max_bwd_body(float* dx, const float* dy, const int* idx, int planes, int hw, int ohw) {
    const int warps = blockDim.x >> 5;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int pl = blockIdx.x * warps + warp;
    if (pl >= planes) return; // uniform across the warp
    float* stash = pool_dyn_smem + warp * 32;
    float* gout = dx + pl * hw;
    float* out = SMEM ? pool_dyn_smem + warps * 32 + warp * hw : gout;
    for (int k = lane; k < hw; k += 32) out[k] = 0.0f;
    __syncwarp();
    const float* g = dy + pl * ohw;
    const int* ix = idx + pl * ohw;
    for (int base = 0; base < ohw; base += 32) {
        int o = base + lane;
        int t = -1;
        float v = 0.0f;
        if (o < ohw) {
            t = ix[o];
            v = g[o];
            if (t < 0 || t >= hw) t = -1;
        }
        stash[lane] = v;
        unsigned grp = __match_any_sync(0xffffffffu, t);
        __syncwarp();
        if (t >= 0 && lane == __ffs(grp) - 1) {
            float acc = out[t];
            for (unsigned m = grp; m != 0; m &= m - 1) acc += stash[__ffs(m) - 1];
            out[t] = acc;
        }
        __syncwarp();
    }
    if (SMEM) {
        for (int k = lane; k < hw; k += 32) gout[k] = out[k];
    }
}

// pool_max_bwd: dx (planes,H,W) from dy and idx (planes,OH,OW), dx
// accumulated in global memory. One warp per plane: blocks of 128 threads
// (4 planes), grid ceil(planes/4), dynamic shared memory 4*32 floats.
// Matches CPU.MaxPool2dBackward bit for bit.
extern "C" __global__ void pool_max_bwd(float* dx, const float* __restrict__ dy, const int* __restrict__ idx,
                                        int planes, int hw, int ohw) {
    pool_max_bwd_body<false>(dx, dy, idx, planes, hw, ohw);
}

// pool_max_bwd_smem: as pool_max_bwd with each warp's dx plane accumulated
// in shared memory and written out once: blocks of 32*W threads (W planes),
// grid ceil(planes/W), dynamic shared memory W*(32+H*W) floats.
// Matches CPU.MaxPool2dBackward bit for bit.
extern "C" __global__ void pool_max_bwd_smem(float* dx, const float* __restrict__ dy, const int* __restrict__ idx,
                                             int planes, int hw, int ohw) {
    pool_max_bwd_body<true>(dx, dy, idx, planes, hw, ohw);
}

// pool_avg_fwd: y (planes,OH,OW) from x (planes,H,W). One thread per output;
// 1-D grid of ceil(n/256) blocks of 256. Sums the clipped window row-major
// in float32 and divides by dh*dw (avgWindow). Matches CPU.AvgPool2d.
extern "C" __global__ void pool_avg_fwd(float* __restrict__ y, const float* __restrict__ x,
                                        int n, int h, int w, int oh, int ow,
                                        int kh, int kw, int sh, int sw, int ph, int pw, int excl) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= n) return;
    int j = o % ow;
    int t = o / ow;
    int i = t % oh;
    int pl = t / oh;
    const float* in = x + pl * h * w;
    int h0, h1, w0, w1;
    float dh, dw;
    pool_avg_window(i, kh, sh, ph, h, excl, h0, h1, dh);
    pool_avg_window(j, kw, sw, pw, w, excl, w0, w1, dw);
    float s = 0.0f;
    for (int a = h0; a < h1; a++)
        for (int b = w0; b < w1; b++) s += in[a * w + b];
    y[o] = s / (dh * dw);
}

// pool_avg_bwd: dx (planes,H,W) from dy (planes,OH,OW). One thread per dx
// element (plane, a, b), gathering dy[i,j]/(dh*dw) over the outputs whose
// windows contain it, i then j ascending: the order in which the CPU's
// scatter loop adds them, so the result is bit-identical. 1-D grid of
// ceil(n/256) blocks of 256. Matches CPU.AvgPool2dBackward.
extern "C" __global__ void pool_avg_bwd(float* __restrict__ dx, const float* __restrict__ dy,
                                        int n, int h, int w, int oh, int ow,
                                        int kh, int kw, int sh, int sw, int ph, int pw, int excl) {
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n) return;
    int b = e % w;
    int t = e / w;
    int a = t % h;
    int pl = t / h;
    // Window i covers [i*sh-ph, i*sh-ph+kh) (clipped), so it holds a when
    // (a+ph-kh)/sh < i <= (a+ph)/sh. The range is widened by one each way and
    // every candidate checked against the window itself.
    int ilo = a + ph - kh < 0 ? 0 : (a + ph - kh) / sh;
    int ihi = min((a + ph) / sh + 1, oh - 1);
    int jlo = b + pw - kw < 0 ? 0 : (b + pw - kw) / sw;
    int jhi = min((b + pw) / sw + 1, ow - 1);
    const float* g = dy + pl * oh * ow;
    float acc = 0.0f;
    for (int i = ilo; i <= ihi; i++) {
        int h0, h1;
        float dh;
        pool_avg_window(i, kh, sh, ph, h, excl, h0, h1, dh);
        if (a < h0 || a >= h1) continue;
        for (int j = jlo; j <= jhi; j++) {
            int w0, w1;
            float dw;
            pool_avg_window(j, kw, sw, pw, w, excl, w0, w1, dw);
            if (b < w0 || b >= w1) continue;
            acc += g[i * ow + j] / (dh * dw);
        }
    }
    dx[e] = acc;
}

// pool_adaptive_fwd: y (planes,OH,OW) from x (planes,H,W) over adaptive
// windows. One thread per output; 1-D grid of ceil(n/256) blocks of 256.
// Sums row-major in float32. Matches CPU.AdaptiveAvgPool2d bit for bit.
extern "C" __global__ void pool_adaptive_fwd(float* __restrict__ y, const float* __restrict__ x,
                                             int n, int h, int w, int oh, int ow) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= n) return;
    int j = o % ow;
    int t = o / ow;
    int i = t % oh;
    int pl = t / oh;
    const float* in = x + pl * h * w;
    int h0, h1, w0, w1;
    pool_adaptive_window(i, h, oh, h0, h1);
    pool_adaptive_window(j, w, ow, w0, w1);
    float s = 0.0f;
    for (int a = h0; a < h1; a++)
        for (int b = w0; b < w1; b++) s += in[a * w + b];
    y[o] = s / (float)((h1 - h0) * (w1 - w0));
}

// pool_adaptive_fwd_warp: as pool_adaptive_fwd for large windows (global
// pooling of 56x56 planes): one warp per output; lane l sums the window's
// elements l, l+32, ... (row-major) in float32, then a fixed shuffle tree
// adds the 32 partial sums. Deterministic; the summation order differs from
// the CPU's sequential one (float32 rounding differences only). Blocks of
// 256 threads (8 outputs), grid ceil(n/8). Matches CPU.AdaptiveAvgPool2d.
extern "C" __global__ void pool_adaptive_fwd_warp(float* __restrict__ y, const float* __restrict__ x,
                                                  int n, int h, int w, int oh, int ow) {
    int o = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (o >= n) return; // uniform across the warp
    int j = o % ow;
    int t = o / ow;
    int i = t % oh;
    int pl = t / oh;
    const float* in = x + pl * h * w;
    int h0, h1, w0, w1;
    pool_adaptive_window(i, h, oh, h0, h1);
    pool_adaptive_window(j, w, ow, w0, w1);
    int ww = w1 - w0;
    int cnt = (h1 - h0) * ww;
    float s = 0.0f;
    for (int e = lane; e < cnt; e += 32) {
        int r = e / ww;
        s += in[(h0 + r) * w + w0 + (e - r * ww)];
    }
    for (int d = 16; d > 0; d >>= 1) s += __shfl_down_sync(0xffffffffu, s, d);
    if (lane == 0) y[o] = s / (float)cnt;
}

// pool_adaptive_bwd: dx (planes,H,W) from dy (planes,OH,OW). One thread per
// dx element, gathering dy[i,j]/window size over the adaptive windows that
// contain it, i then j ascending (the CPU's scatter order: bit-identical).
// 1-D grid of ceil(n/256) blocks of 256. Matches CPU.AdaptiveAvgPool2dBackward.
extern "C" __global__ void pool_adaptive_bwd(float* __restrict__ dx, const float* __restrict__ dy,
                                             int n, int h, int w, int oh, int ow) {
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n) return;
    int b = e % w;
    int t = e / w;
    int a = t % h;
    int pl = t / h;
    // Window i holds a for floor(a*oh/h) <= i <= floor(((a+1)*oh-1)/h);
    // widened by one each way, every candidate checked.
    int ilo = max(a * oh / h - 1, 0);
    int ihi = min(((a + 1) * oh - 1) / h + 1, oh - 1);
    int jlo = max(b * ow / w - 1, 0);
    int jhi = min(((b + 1) * ow - 1) / w + 1, ow - 1);
    const float* g = dy + pl * oh * ow;
    float acc = 0.0f;
    for (int i = ilo; i <= ihi; i++) {
        int h0, h1;
        pool_adaptive_window(i, h, oh, h0, h1);
        if (a < h0 || a >= h1) continue;
        for (int j = jlo; j <= jhi; j++) {
            int w0, w1;
            pool_adaptive_window(j, w, ow, w0, w1);
            if (b < w0 || b >= w1) continue;
            acc += g[i * ow + j] / (float)((h1 - h0) * (w1 - w0));
        }
    }
    dx[e] = acc;
}
