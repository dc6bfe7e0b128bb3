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
