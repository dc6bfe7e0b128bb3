// Broadcast add, sum-to, permute, concat/split, mean and channel scale.
//
// Layout: dense row-major float32 tensors. The Go side (cuda/shape.go)
// drops size-1 dimensions and merges dimensions that stay contiguous for
// every operand before launching, so most launches see 1 to 3 dimensions;
// unused leading dimension slots have size 1 (and stride 0). Every index
// fits in an int: the Go side refuses tensors of 2^31 elements or more.
//
// Division by a runtime size d uses a precomputed magic number m (see
// shape_fdiv and shapeMagic in cuda/shape.go) instead of the slow integer
// division, for the element-wise gathers.
//
// Every output element is written by exactly one thread; reductions use a
// fixed order that depends only on the shapes. No float atomics.

// shape_fdiv: floor(n/d) for n < 2^31 and 1 <= d < 2^31, with
// m = ceil(2^s/d) and s = 31 + ceil(log2 d) (m < 2^32). Then
// n*m/2^s = n/d + n*e/(d*2^s) with 0 <= e < d, and the error term is below
// 2^-ceil(log2 d) <= 1/d, so the floor is exact.
__device__ __forceinline__ unsigned shape_fdiv(unsigned n, unsigned m, unsigned d) {
    return (unsigned)(((unsigned long long)n * m) >> (63 - __clz((int)(d - 1))));
}

// ---- copies and same-shape add ---------------------------------------------

// shape_copy: y = x, n floats. One thread per element; grid ceil(n/256) of
// 256. Matches the copy in CPU.SumTo (equal shapes, or y broadcast only
// over size-1 dimensions) and CPU.Permute when the permutation keeps the
// memory order.
extern "C" __global__ void shape_copy(float* y, const float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i];
}

// shape_copy4: as shape_copy on n4 float4s (16-byte aligned pointers).
extern "C" __global__ void shape_copy4(float4* y, const float4* x, int n4) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n4) y[i] = x[i];
}

// shape_fill: y = v, n floats. One thread per element; grid ceil(n/256) of
// 256. Matches CPU.SumTo over an empty reduction (the sums are 0).
extern "C" __global__ void shape_fill(float* y, float v, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = v;
}

// shape_add: y = a + b element-wise, n floats (y may be a or b). One thread
// per element; grid ceil(n/256) of 256. Matches CPU.Add with equal shapes.
extern "C" __global__ void shape_add(float* y, const float* a, const float* b, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a[i] + b[i];
}

// shape_add4: as shape_add on n4 float4s (16-byte aligned pointers).
extern "C" __global__ void shape_add4(float4* y, const float4* a, const float4* b, int n4) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n4) {
        float4 u = a[i], v = b[i];
        y[i] = make_float4(u.x + v.x, u.y + v.y, u.z + v.z, u.w + v.w);
    }
}

// ---- broadcast add -----------------------------------------------------------

// shape_add_bc4: y (d0,d1,d2,d3) = a + b with a and b read at element
// strides sa*, sb* (0 along a broadcast dimension). m1..m3 are the magic
// numbers of d1..d3. One thread per y element; grid ceil(n/256) of 256.
// y may be a or b when they have y's shape. Matches CPU.Add (broadcast).
extern "C" __global__ void shape_add_bc4(float* y, const float* a, const float* b, int n,
                                         unsigned d1, unsigned m1, unsigned d2, unsigned m2, unsigned d3, unsigned m3,
                                         int sa0, int sa1, int sa2, int sa3, int sb0, int sb1, int sb2, int sb3) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned r = (unsigned)i, q;
    int k, oa = 0, ob = 0;
    q = shape_fdiv(r, m3, d3);
    k = (int)(r - q * d3);
    oa += k * sa3;
    ob += k * sb3;
    r = q;
    q = shape_fdiv(r, m2, d2);
    k = (int)(r - q * d2);
    oa += k * sa2;
    ob += k * sb2;
    r = q;
    q = shape_fdiv(r, m1, d1);
    k = (int)(r - q * d1);
    oa += k * sa1;
    ob += k * sb1;
    oa += (int)q * sa0;
    ob += (int)q * sb0;
    y[i] = a[oa] + b[ob];
}

#define SHAPE_BC8(k)                  \
    if (d##k != 1) {                  \
        int q = r / d##k;             \
        int c = r - q * d##k;         \
        oa += c * sa##k;              \
        ob += c * sb##k;              \
        r = q;                        \
    }

// shape_add_bc8: as shape_add_bc4 for up to 8 dimensions (plain division;
// only broadcasts that do not merge below 5 dimensions get here). One
// thread per y element; grid ceil(n/256) of 256. Matches CPU.Add (broadcast).
extern "C" __global__ void shape_add_bc8(float* y, const float* a, const float* b, int n,
                                         int d1, int d2, int d3, int d4, int d5, int d6, int d7,
                                         int sa0, int sa1, int sa2, int sa3, int sa4, int sa5, int sa6, int sa7,
                                         int sb0, int sb1, int sb2, int sb3, int sb4, int sb5, int sb6, int sb7) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int r = i, oa = 0, ob = 0;
    SHAPE_BC8(7)
    SHAPE_BC8(6)
    SHAPE_BC8(5)
    SHAPE_BC8(4)
    SHAPE_BC8(3)
    SHAPE_BC8(2)
    SHAPE_BC8(1)
    oa += r * sa0;
    ob += r * sb0;
    y[i] = a[oa] + b[ob];
}

// ---- reductions (SumTo, Mean) ----------------------------------------------

// shape_reduce: y[o] = (Σ_j x[kept(o) + red(j)]) / div, summed in double
// over j ascending, where o runs row-major over the kept dimensions
// (sizes k0..k3, x strides ks0..ks3; k0 is implied) and j row-major over
// the reduced ones (sizes r0..r3, strides rs0..rs3; r0 is implied), nred
// values in all. Thread t handles output o = t % nout over the chunk
// c = t / nout of j in [c*chunk, min((c+1)*chunk, nred)). With one chunk
// (part == 0) it writes y[o] as float32(sum/div): the CPU's own order and
// arithmetic, bit-identical. With several it writes the double partial
// part[c*nout+o] for shape_reduce_partials. 1-D grid of
// ceil(nout*chunks/256) blocks of 256. Matches CPU.SumTo (div 1) and
// CPU.Mean (div = the axis length).
extern "C" __global__ void shape_reduce(float* __restrict__ y, double* __restrict__ part, const float* __restrict__ x,
                                        int nout, int nred, int chunk, int div,
                                        int k1, int k2, int k3, int ks0, int ks1, int ks2, int ks3,
                                        int r1, int r2, int r3, int rs0, int rs1, int rs2, int rs3) {
    int nchunks = (nred + chunk - 1) / chunk;
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nout * nchunks) return;
    int o = t % nout;
    int c = t / nout;
    int r = o, q, base = 0;
    q = r / k3;
    base += (r - q * k3) * ks3;
    r = q;
    q = r / k2;
    base += (r - q * k2) * ks2;
    r = q;
    q = r / k1;
    base += (r - q * k1) * ks1;
    base += q * ks0;
    int j = c * chunk;
    int jend = min(nred, j + chunk);
    r = j;
    int i3 = r % r3;
    r /= r3;
    int i2 = r % r2;
    r /= r2;
    int i1 = r % r1;
    int i0 = r / r1;
    double sum = 0.0;
    while (j < jend) {
        int cnt = min(r3 - i3, jend - j);
        const float* p = x + base + i0 * rs0 + i1 * rs1 + i2 * rs2 + i3 * rs3;
        for (int k = 0; k < cnt; k++) sum += (double)p[k * rs3];
        j += cnt;
        i3 = 0;
        if (++i2 == r2) {
            i2 = 0;
            if (++i1 == r1) {
                i1 = 0;
                ++i0;
            }
        }
    }
    if (part != 0)
        part[c * nout + o] = sum;
    else
        y[o] = (float)(sum / (double)div);
}

// shape_reduce_partials: y[o] = float32((Σ_c part[c*nout+o]) / div), the
// nchunks double partials of shape_reduce added in chunk order. One thread
// per output; grid ceil(nout/256) of 256. Matches CPU.SumTo and CPU.Mean
// up to the double rounding of the split sum (deterministic).
extern "C" __global__ void shape_reduce_partials(float* __restrict__ y, const double* __restrict__ part,
                                                 int nout, int nchunks, int div) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= nout) return;
    double sum = 0.0;
    for (int c = 0; c < nchunks; c++) sum += part[c * nout + o];
    y[o] = (float)(sum / (double)div);
}

// shape_reduce_rows: y[o] = float32((Σ_k x[o*len+k]) / div) for contiguous
// rows: one warp per row; lane l sums k = l, l+32, ... in double, then a
// fixed shuffle tree adds the lanes. Deterministic; the double sum order
// differs from the CPU's sequential one. Blocks of 256 threads (8 rows),
// grid ceil(nout/8). Matches CPU.SumTo and CPU.Mean over trailing dims.
extern "C" __global__ void shape_reduce_rows(float* __restrict__ y, const float* __restrict__ x, int nout, int len, int div) {
    int o = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (o >= nout) return; // uniform across the warp
    const float* row = x + o * len;
    double s = 0.0;
    for (int k = lane; k < len; k += 32) s += (double)row[k];
    for (int d = 16; d > 0; d >>= 1) s += __shfl_down_sync(0xffffffffu, s, d);
    if (lane == 0) y[o] = (float)(s / (double)div);
}

// ---- permute -------------------------------------------------------------------

#define SHAPE_PDEC(k)                                 \
    if (d##k != 1) {                                  \
        unsigned q = shape_fdiv(r, m##k, d##k);       \
        off += (int)(r - q * d##k) * s##k;            \
        r = q;                                        \
    }

// shape_permute: y (d0..d7) gathers x: y's element at index (i0..i7) reads
// x at Σ i_k*s_k (s_k: x's stride of the dimension y's k-th comes from).
// m1..m7 are the magic numbers of d1..d7. One thread per y element (writes
// coalesced; reads too when the innermost dimension is kept); grid
// ceil(n/256) of 256. Matches CPU.Permute.
extern "C" __global__ void shape_permute(float* __restrict__ y, const float* __restrict__ x, int n,
                                         unsigned d1, unsigned d2, unsigned d3, unsigned d4, unsigned d5, unsigned d6, unsigned d7,
                                         unsigned m1, unsigned m2, unsigned m3, unsigned m4, unsigned m5, unsigned m6, unsigned m7,
                                         int s0, int s1, int s2, int s3, int s4, int s5, int s6, int s7) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned r = (unsigned)i;
    int off = 0;
    SHAPE_PDEC(7)
    SHAPE_PDEC(6)
    SHAPE_PDEC(5)
    SHAPE_PDEC(4)
    SHAPE_PDEC(3)
    SHAPE_PDEC(2)
    SHAPE_PDEC(1)
    off += (int)r * s0;
    y[i] = x[off];
}

#define SHAPE_TDEC(k)      \
    {                      \
        int q = r / b##k;  \
        int c = r - q * b##k; \
        xo += c * bx##k;   \
        yo += c * by##k;   \
        r = q;             \
    }

// shape_permute_tile: a permutation that moves x's innermost dimension
// (size V, x stride 1, y stride syV) away from y's innermost one (size U,
// y stride 1, x stride sxU), batched over up to six other dimensions
// (sizes b0..b5, x strides bx*, y strides by*). Each block moves one 32x32
// tile of (u, v) through shared memory: reads coalesced along v, writes
// along u. Blocks of 32x8 threads; 1-D grid of tilesV*tilesU*batch blocks,
// tile v fastest. Matches CPU.Permute (a pure copy: bit-identical).
extern "C" __global__ void shape_permute_tile(float* __restrict__ y, const float* __restrict__ x,
                                              int U, int V, int sxU, int syV, int tilesU, int tilesV,
                                              int b0, int b1, int b2, int b3, int b4, int b5,
                                              int bx0, int bx1, int bx2, int bx3, int bx4, int bx5,
                                              int by0, int by1, int by2, int by3, int by4, int by5) {
    __shared__ float tile[32][33];
    int r = blockIdx.x;
    int tv = r % tilesV;
    r /= tilesV;
    int tu = r % tilesU;
    r /= tilesU;
    int xo = 0, yo = 0;
    SHAPE_TDEC(5)
    SHAPE_TDEC(4)
    SHAPE_TDEC(3)
    SHAPE_TDEC(2)
    SHAPE_TDEC(1)
    xo += r * bx0;
    yo += r * by0;
    int tx = threadIdx.x, ty = threadIdx.y;
    int v = tv * 32 + tx;
    for (int q = 0; q < 32; q += 8) {
        int u = tu * 32 + ty + q;
        if (u < U && v < V) tile[ty + q][tx] = x[xo + u * sxU + v];
    }
    __syncthreads();
    int u = tu * 32 + tx;
    for (int q = 0; q < 32; q += 8) {
        int vv = tv * 32 + ty + q;
        if (u < U && vv < V) y[yo + vv * syV + u] = tile[tx][ty + q];
    }
    (void)b0;
}

// ---- concat / split ----------------------------------------------------------

// Part selection shared by concat and split: column c of a row lies in the
// first part k with c < e_k; part k spans columns [e_{k-1}, e_k) (e_{-1} =
// c0) and its rows hold e_k - e_{k-1} values. Unused slots have e = INT_MAX.
#define SHAPE_PART(k, prev)          \
    if (!found && c < e##k) {        \
        p = p##k;                    \
        start = prev;                \
        end = e##k;                  \
        found = true;                \
    }

#define SHAPE_PARTS            \
    SHAPE_PART(0, c0)          \
    SHAPE_PART(1, e0)          \
    SHAPE_PART(2, e1)          \
    SHAPE_PART(3, e2)          \
    SHAPE_PART(4, e3)          \
    SHAPE_PART(5, e4)          \
    SHAPE_PART(6, e5)          \
    SHAPE_PART(7, e6)

// shape_concat: y (outer, rowLen) gets columns [c0, c0+W) of every row from
// up to eight parts p0..p7 (each (outer, e_k-e_{k-1})) in order. mW is the
// magic number of W. One thread per y element written; grid
// ceil(outer*W/256) of 256. A pure copy. Matches CPU.Concat.
extern "C" __global__ void shape_concat(float* __restrict__ y, int n, int rowLen, unsigned W, unsigned mW, int c0,
                                        const float* p0, const float* p1, const float* p2, const float* p3,
                                        const float* p4, const float* p5, const float* p6, const float* p7,
                                        int e0, int e1, int e2, int e3, int e4, int e5, int e6, int e7) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned o = shape_fdiv((unsigned)i, mW, W);
    int c = c0 + (int)((unsigned)i - o * W);
    const float* p = p7;
    int start = e6, end = e7;
    bool found = false;
    SHAPE_PARTS
    y[(int)o * rowLen + c] = p[(int)o * (end - start) + (c - start)];
}

// shape_split: the inverse of shape_concat: columns [c0, c0+W) of every row
// of dy (outer, rowLen) go to the parts p0..p7. One thread per dy element
// read; grid ceil(outer*W/256) of 256. A pure copy. Matches CPU.Split.
extern "C" __global__ void shape_split(const float* __restrict__ dy, int n, int rowLen, unsigned W, unsigned mW, int c0,
                                       float* p0, float* p1, float* p2, float* p3,
                                       float* p4, float* p5, float* p6, float* p7,
                                       int e0, int e1, int e2, int e3, int e4, int e5, int e6, int e7) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned o = shape_fdiv((unsigned)i, mW, W);
    int c = c0 + (int)((unsigned)i - o * W);
    float* p = p7;
    int start = e6, end = e7;
    bool found = false;
    SHAPE_PARTS
    p[(int)o * (end - start) + (c - start)] = dy[(int)o * rowLen + c];
}

// ---- mean backward -----------------------------------------------------------

// shape_mean_bwd: dx (outer, l, inner) = dy (outer, inner) * inv, inv the
// float32 1/l. li = l*inner and inner come with their magic numbers. One
// thread per dx element; grid ceil(n/256) of 256. Matches CPU.MeanBackward.
extern "C" __global__ void shape_mean_bwd(float* __restrict__ dx, const float* __restrict__ dy, int n,
                                          unsigned li, unsigned mli, unsigned inner, unsigned minner, float inv) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned o = shape_fdiv((unsigned)i, mli, li);
    unsigned in = (unsigned)i - shape_fdiv((unsigned)i, minner, inner) * inner;
    dx[i] = dy[o * inner + in] * inv;
}

// ---- channel scale -------------------------------------------------------------

// shape_chscale: y[i] = x[i]*s[i/sp] for x (N·C rows of sp) and s (N·C);
// msp is sp's magic number. y may be x. One thread per element; grid
// ceil(n/256) of 256. Matches CPU.ChannelScale.
extern "C" __global__ void shape_chscale(float* y, const float* x, const float* __restrict__ s, int n,
                                         unsigned sp, unsigned msp) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    y[i] = x[i] * s[shape_fdiv((unsigned)i, msp, sp)];
}

// shape_chscale_bwd_warp: for each row p of sp elements, dx = dy*s[p]
// (when dx != 0) and ds[p] = Σ dy*x (when ds != 0), the products summed in
// double: lane l takes elements l, l+32, ..., then a fixed shuffle tree
// (deterministic; the CPU adds sequentially). One warp per row; blocks of
// 256 threads (8 rows), grid ceil(nc/8). dx may be dy. Matches
// CPU.ChannelScaleBackward.
extern "C" __global__ void shape_chscale_bwd_warp(float* dx, float* __restrict__ ds, const float* dy, const float* x,
                                                  const float* __restrict__ s, int nc, int sp) {
    int p = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (p >= nc) return; // uniform across the warp
    float f = s[p];
    int base = p * sp;
    double acc = 0.0;
    for (int k = lane; k < sp; k += 32) {
        float g = dy[base + k];
        if (ds != 0) acc += (double)g * (double)x[base + k];
        if (dx != 0) dx[base + k] = g * f;
    }
    if (ds != 0) {
        for (int d = 16; d > 0; d >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, d);
        if (lane == 0) ds[p] = (float)acc;
    }
}

// shape_chscale_bwd_thread: as shape_chscale_bwd_warp for short rows (sp <
// 32): one thread per row, adding in the CPU's order (bit-identical). Grid
// ceil(nc/256) of 256. Matches CPU.ChannelScaleBackward.
extern "C" __global__ void shape_chscale_bwd_thread(float* dx, float* __restrict__ ds, const float* dy, const float* x,
                                                    const float* __restrict__ s, int nc, int sp) {
    int p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= nc) return;
    float f = s[p];
    int base = p * sp;
    double acc = 0.0;
    for (int k = 0; k < sp; k++) {
        float g = dy[base + k];
        if (ds != 0) acc += (double)g * (double)x[base + k];
        if (dx != 0) dx[base + k] = g * f;
    }
    if (ds != 0) ds[p] = (float)acc;
}
