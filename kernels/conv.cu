// Convolution helpers: im2col, col2im and the bias gradient. The products
// themselves run on the GEMM of gemm.cu (cuda/conv.go composes them).
//
// Layout: x (N,C,H,W), weights (K,C,R,S), y (N,K,P,Q), all NCHW row-major.
// Columns: element (n, crs, pq) with crs = c·R·S + r·S + s and pq = p·Q + q
// holds x[n, c, p·sh - ph + r, q·sw - pw + s] (0 outside the image) at
// col[n·imgStride + crs·ld + pq]. Per image (imgStride = C·R·S·P·Q,
// ld = P·Q) this is the CPU engine's im2col, one (C·R·S, P·Q) matrix per
// image; batched (imgStride = P·Q, ld = N·P·Q) one (C·R·S, N·P·Q) matrix
// for the whole batch, the CPU engine's layout for small outputs.

// conv_im2col_plane: grid (C, N), 256 threads: block (c, n) writes the R·S
// column rows of channel c of image n; thread t covers output pixels
// t, t+256, ... (one division per pixel for all R·S rows). For outputs of
// 64 pixels or more. Matches the CPU engine's im2col (cpu_conv.go).
extern "C" __global__ void conv_im2col_plane(float* __restrict__ col, const float* __restrict__ x, int N, int C, int H,
                                             int W, int R, int S, int P, int Q, int sh, int sw, int ph, int pw,
                                             int imgStride, int ld) {
    const int c = blockIdx.x, n = blockIdx.y;
    const int PQ = P * Q, RS = R * S;
    const float* xc = x + ((size_t)n * C + c) * H * W;
    float* base = col + (size_t)n * imgStride + (size_t)c * RS * ld;
    for (int pq = threadIdx.x; pq < PQ; pq += blockDim.x) {
        const int p = pq / Q, q = pq - p * Q;
        const int h0 = p * sh - ph, w0 = q * sw - pw;
        for (int r = 0; r < R; r++) {
            const int h = h0 + r;
            const bool hok = h >= 0 && h < H;
            for (int s = 0; s < S; s++) {
                const int w = w0 + s;
                base[(size_t)(r * S + s) * ld + pq] = (hok && w >= 0 && w < W) ? xc[h * W + w] : 0.f;
            }
        }
    }
}

// conv_im2col_flat: grid (x, N), 256 threads: blockIdx.y is the image;
// threads stride over its C·R·S·P·Q column elements (small outputs, where
// a block per channel would idle). Matches the CPU engine's im2col.
extern "C" __global__ void conv_im2col_flat(float* __restrict__ col, const float* __restrict__ x, int N, int C, int H,
                                            int W, int R, int S, int P, int Q, int sh, int sw, int ph, int pw,
                                            int imgStride, int ld) {
    const int PQ = P * Q, RS = R * S, CRS = C * RS;
    const int total = CRS * PQ;
    const int n = blockIdx.y;
    const float* xn = x + (size_t)n * C * H * W;
    float* cn = col + (size_t)n * imgStride;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
        const int pq = i % PQ, crs = i / PQ;
        const int c = crs / RS, rs = crs % RS;
        const int r = rs / S, s = rs % S;
        const int p = pq / Q, q = pq % Q;
        const int h = p * sh - ph + r, w = q * sw - pw + s;
        float v = 0.f;
        if (h >= 0 && h < H && w >= 0 && w < W) v = xn[(c * H + h) * W + w];
        cn[(size_t)crs * ld + pq] = v;
    }
}

// col2im_pixel is the sum behind dx[n,c,h,w]: over (r,s) in row-major
// order with h = p·sh - ph + r and w = q·sw - pw + s inside the output, of
// the column element (c·RS + r·S + s, p·Q + q) of cn, channel c's first
// column row of image n.
__device__ __forceinline__ float col2im_pixel(const float* __restrict__ cn, int h, int w, int R, int S, int P, int Q,
                                              int sh, int sw, int ph, int pw, int ld) {
    float acc = 0.f;
    for (int r = 0; r < R; r++) {
        const int hp = h + ph - r;
        if (hp < 0) break;  // and for every later r
        const int p = hp / sh;
        if (p * sh != hp || p >= P) continue;
        for (int k = 0; k < S; k++) {
            const int wq = w + pw - k;
            if (wq < 0) break;
            const int q = wq / sw;
            if (q * sw != wq || q >= Q) continue;
            acc += cn[(size_t)(r * S + k) * ld + p * Q + q];
        }
    }
    return acc;
}

// conv_col2im: dx[n,c,h,w] = Σ over (r,s) with h = p·sh - ph + r and
// w = q·sw - pw + s inside the output of the column element
// (n, c·RS + r·S + s, p·Q + q), (r, s) in row-major order: a gather, so no
// atomics and a fixed order. Grid (x, C, N): blockIdx.z is the image,
// blockIdx.y the channel; threads stride over its H·W pixels (blocks of 32
// to 256 threads). Matches the CPU engine's col2im.
extern "C" __global__ void conv_col2im(float* __restrict__ dx, const float* __restrict__ col, int N, int C, int H, int W,
                                       int R, int S, int P, int Q, int sh, int sw, int ph, int pw, int imgStride, int ld) {
    const int c = blockIdx.y, n = blockIdx.z;
    const int RS = R * S;
    const float* cn = col + (size_t)n * imgStride + (size_t)c * RS * ld;
    float* dxc = dx + ((size_t)n * C + c) * H * W;
    const int HW = H * W;
    for (int hw = blockIdx.x * blockDim.x + threadIdx.x; hw < HW; hw += blockDim.x * gridDim.x) {
        const int h = hw / W, w = hw - h * W;
        dxc[hw] = col2im_pixel(cn, h, w, R, S, P, Q, sh, sw, ph, pw, ld);
    }
}

// conv_col2im_flat: conv_col2im for small images, grid (x, N), 256
// threads: blockIdx.y is the image; threads stride over its C·H·W
// elements. The same sums in the same order as conv_col2im.
extern "C" __global__ void conv_col2im_flat(float* __restrict__ dx, const float* __restrict__ col, int N, int C, int H,
                                            int W, int R, int S, int P, int Q, int sh, int sw, int ph, int pw,
                                            int imgStride, int ld) {
    const int RS = R * S;
    const int total = C * H * W;
    const int n = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
        const int w = i % W, t = i / W;
        const int h = t % H, c = t / H;
        const float* cn = col + (size_t)n * imgStride + (size_t)c * RS * ld;
        dx[(size_t)n * total + i] = col2im_pixel(cn, h, w, R, S, P, Q, sh, sw, ph, pw, ld);
    }
}

// conv_bias_grad: db[k] = Σ_n Σ_pq dy[n,k,pq]. One block of 256 threads per
// filter k (grid K): thread t sums elements t, t+256, ... of the N·PQ
// values in order, then a fixed tree adds the 256 partial sums. Matches
// CPU.Conv2dBackward's db.
extern "C" __global__ void conv_bias_grad(float* __restrict__ db, const float* __restrict__ dy, int N, int K, int PQ) {
    __shared__ float part[256];
    const int k = blockIdx.x;
    float s = 0.f;
    const int total = N * PQ;
    for (int i = threadIdx.x; i < total; i += 256) {
        int n = i / PQ, pq = i % PQ;
        s += dy[((size_t)n * K + k) * PQ + pq];
    }
    part[threadIdx.x] = s;
    __syncthreads();
    for (int w = 128; w > 0; w >>= 1) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) db[k] = part[0];
}

// conv_swap01: dst (B, A, L) = src (A, B, L) with the first two dimensions
// swapped, plus bias[a] when bias is not null: the batched convolution's
// GEMM output (K, N, P·Q) to y (N, K, P·Q), and dy back to (K, N, P·Q).
// One thread per element, grid-stride, 256 threads.
extern "C" __global__ void conv_swap01(float* __restrict__ dst, const float* __restrict__ src, int A, int B, int L,
                                       const float* __restrict__ bias) {
    const int total = A * B * L;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
        int l = i % L;
        int t = i / L;
        int a = t % A;
        int b = t / A;
        float v = src[((size_t)a * B + b) * L + l];
        if (bias) v += bias[a];
        dst[i] = v;
    }
}
