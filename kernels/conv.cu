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

// conv_im2col: grid (x, C·R·S, N): blockIdx.z is the image, blockIdx.y the
// column row crs = (c, r, s); threads stride over the row's P·Q elements
// (blocks of 32 to 256 threads, as P·Q needs). Matches the CPU engine's
// im2col (cpu_conv.go).
extern "C" __global__ void conv_im2col(float* __restrict__ col, const float* __restrict__ x, int N, int C, int H, int W,
                                       int R, int S, int P, int Q, int sh, int sw, int ph, int pw, int imgStride, int ld) {
    const int crs = blockIdx.y, n = blockIdx.z;
    const int RS = R * S;
    const int c = crs / RS, rs = crs - c * RS;
    const int r = rs / S, s = rs - r * S;
    const float* xc = x + ((size_t)n * C + c) * H * W;
    float* dst = col + (size_t)n * imgStride + (size_t)crs * ld;
    const int PQ = P * Q;
    for (int pq = blockIdx.x * blockDim.x + threadIdx.x; pq < PQ; pq += blockDim.x * gridDim.x) {
        int p = pq / Q, q = pq - p * Q;
        int h = p * sh - ph + r, w = q * sw - pw + s;
        dst[pq] = (h >= 0 && h < H && w >= 0 && w < W) ? xc[h * W + w] : 0.f;
    }
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
        int h = hw / W, w = hw - h * W;
        float acc = 0.f;
        for (int r = 0; r < R; r++) {
            int hp = h + ph - r;
            if (hp < 0) break;  // and for every later r
            int p = hp / sh;
            if (p * sh != hp || p >= P) continue;
            for (int k = 0; k < S; k++) {
                int wq = w + pw - k;
                if (wq < 0) break;
                int q = wq / sw;
                if (q * sw != wq || q >= Q) continue;
                acc += cn[(size_t)(r * S + k) * ld + p * Q + q];
            }
        }
        dxc[hw] = acc;
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
