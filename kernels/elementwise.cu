// Element-wise ops, dropout and the optimizer updates.
//
// Layout: flat float32 arrays of n elements. Launch shape for every kernel
// here: 1-D grid-stride loop, 256 threads per block, grid of
// min(ceil(n/256), 32·SMs) blocks (the Go side, cuda/elementwise.go, picks
// it). Each thread handles elements i, i+stride, ... so results do not
// depend on the grid.

#define GRID_STRIDE(i, n) for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// ew_fill: y[i] = v. Matches CPU.Fill (float32).
extern "C" __global__ void ew_fill(float* __restrict__ y, float v, int n) {
    GRID_STRIDE(i, n) y[i] = v;
}

// ew_fill_i32: y[i] = v. Matches CPU.Fill on an Int32 tensor.
extern "C" __global__ void ew_fill_i32(int* __restrict__ y, int v, int n) {
    GRID_STRIDE(i, n) y[i] = v;
}

// ew_scale: y = alpha·x. Matches CPU.Scale.
extern "C" __global__ void ew_scale(float* __restrict__ y, const float* __restrict__ x, float alpha, int n) {
    GRID_STRIDE(i, n) y[i] = alpha * x[i];
}

// ew_axpy: y += alpha·x. Matches CPU.Axpy.
extern "C" __global__ void ew_axpy(float* __restrict__ y, const float* __restrict__ x, float alpha, int n) {
    GRID_STRIDE(i, n) y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i]));
}

// ew_mul: y = a·b. Matches CPU.Mul.
extern "C" __global__ void ew_mul(float* y, const float* a, const float* b, int n) {
    GRID_STRIDE(i, n) y[i] = a[i] * b[i];
}

// ew_relu: y = max(x, 0) (NaN gives 0, as the CPU's !(v > 0)). Matches CPU.Relu. y may be x.
extern "C" __global__ void ew_relu(float* y, const float* x, int n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = v > 0.f ? v : 0.f;
    }
}

// ew_relu_backward: dx = y > 0 ? dy : 0. Matches CPU.ReluBackward. dx may be dy.
extern "C" __global__ void ew_relu_backward(float* dx, const float* dy, const float* y, int n) {
    GRID_STRIDE(i, n) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

// ew_sigmoid: y = 1/(1+exp(-x)), computed in double as the CPU. Matches CPU.Sigmoid.
extern "C" __global__ void ew_sigmoid(float* y, const float* x, int n) {
    GRID_STRIDE(i, n) y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}

// ew_sigmoid_backward: dx = dy·y·(1-y). Matches CPU.SigmoidBackward.
extern "C" __global__ void ew_sigmoid_backward(float* dx, const float* dy, const float* y, int n) {
    GRID_STRIDE(i, n) {
        float s = y[i];
        dx[i] = __fmul_rn(__fmul_rn(dy[i], s), 1.f - s);
    }
}

// ew_gelu: y = 0.5·x·(1+erf(x/√2)) in double. Matches CPU.Gelu.
extern "C" __global__ void ew_gelu(float* y, const float* x, int n) {
    GRID_STRIDE(i, n) {
        double v = x[i];
        y[i] = (float)(0.5 * v * (1.0 + erf(v * 0.70710678118654752440)));
    }
}

// ew_gelu_backward: dx = dy·(Φ(x) + x·φ(x)) in double. Matches CPU.GeluBackward.
extern "C" __global__ void ew_gelu_backward(float* dx, const float* dy, const float* x, int n) {
    GRID_STRIDE(i, n) {
        double v = x[i];
        double cdf = 0.5 * (1.0 + erf(v * 0.70710678118654752440));
        double pdf = 0.3989422804014327 * exp(-0.5 * v * v);
        dx[i] = (float)((double)dy[i] * (cdf + v * pdf));
    }
}

// Philox4x32-10, as engine.Philox.
__device__ __forceinline__ uint4 philox(uint4 c, uint2 k) {
    #pragma unroll
    for (int r = 0; r < 10; r++) {
        unsigned int hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k.x += 0x9E3779B9u;
        k.y += 0xBB67AE85u;
    }
    return c;
}

// ew_dropout: y[i] = u_i < p ? 0 : x[i]·scale, u_i = engine.DropoutUniform:
// word i%4 of the Philox block at counter (i/4 low, i/4 high, layer, step)
// under key (seed low, seed high), top 24 bits. One thread per 4-element
// group q (grid-stride over ceil(n/4) groups). Matches CPU.Dropout and
// CPU.DropoutBackward (the same mask applied to dy). vars, when not null,
// is the step-variables array (engine/stepvars.go): the step is read from
// vars[VAR_STEP] instead of the argument, so a captured graph draws each
// step's mask.
#define VAR_LR 0
#define VAR_STEP 1
#define VAR_FIRST 2
extern "C" __global__ void ew_dropout(float* y, const float* x, float p, float scale, int n,
                                      unsigned int seedLo, unsigned int seedHi, unsigned int layer, unsigned int step,
                                      const int* vars) {
    if (vars) step = (unsigned int)vars[VAR_STEP];
    int groups = (n + 3) / 4;
    GRID_STRIDE(q, groups) {
        uint4 r = philox(make_uint4((unsigned int)q, 0u, layer, step), make_uint2(seedLo, seedHi));
        unsigned int w[4] = {r.x, r.y, r.z, r.w};
        #pragma unroll
        for (int j = 0; j < 4; j++) {
            int i = q * 4 + j;
            if (i < n) {
                float u = (float)(w[j] >> 8) * (1.0f / 16777216.0f);
                y[i] = u < p ? 0.f : __fmul_rn(x[i], scale);
            }
        }
    }
}

// ew_add_sign: g += lambda·sign(p). Matches CPU.AddSign.
extern "C" __global__ void ew_add_sign(float* g, const float* p, float lambda, int n) {
    GRID_STRIDE(i, n) {
        float v = p[i];
        if (v > 0.f) g[i] = g[i] + lambda;
        else if (v < 0.f) g[i] = g[i] - lambda;
    }
}

// optim_sgd: torch.optim.SGD's update, in float32 with the CPU's operation
// order (no fused multiply-add). mom may be null when momentum is 0.
// first != 0: the momentum buffer takes the gradient. vars, when not null,
// gives lr (vars[VAR_LR], float bits) and first (vars[VAR_FIRST]) instead
// of the arguments. One launch over every parameter of the model (the
// parameter pool is one allocation). Matches CPU.SGDStep.
extern "C" __global__ void optim_sgd(float* p, const float* g, float* mom, float lr, float momentum,
                                     float dampening, float wd, int nesterov, int first, int n, const int* vars) {
    if (vars) {
        lr = __int_as_float(vars[VAR_LR]);
        first = vars[VAR_FIRST];
    }
    GRID_STRIDE(i, n) {
        float gi = g[i];
        if (wd != 0.f) gi = __fadd_rn(gi, __fmul_rn(wd, p[i]));
        if (momentum != 0.f) {
            float b = gi;
            if (!first) b = __fadd_rn(__fmul_rn(momentum, mom[i]), __fmul_rn(1.f - dampening, gi));
            mom[i] = b;
            if (nesterov) gi = __fadd_rn(gi, __fmul_rn(momentum, b));
            else gi = b;
        }
        p[i] = __fsub_rn(p[i], __fmul_rn(lr, gi));
    }
}

// optim_adadelta: torch.optim.Adadelta's update, with the CPU's rounding
// (square roots in double, rounded to float); lr from vars[VAR_LR] when
// vars is not null. Matches CPU.AdadeltaStep.
extern "C" __global__ void optim_adadelta(float* p, const float* g, float* sq, float* acc, float lr, float rho,
                                          float eps, float wd, int n, const int* vars) {
    if (vars) lr = __int_as_float(vars[VAR_LR]);
    GRID_STRIDE(i, n) {
        float gi = g[i];
        if (wd != 0.f) gi = __fadd_rn(gi, __fmul_rn(wd, p[i]));
        float s = __fadd_rn(__fmul_rn(rho, sq[i]), __fmul_rn(__fmul_rn(1.f - rho, gi), gi));
        sq[i] = s;
        float std = (float)sqrt((double)__fadd_rn(s, eps));
        float a = acc[i];
        float delta = __fmul_rn(__fdiv_rn((float)sqrt((double)__fadd_rn(a, eps)), std), gi);
        acc[i] = __fadd_rn(__fmul_rn(rho, a), __fmul_rn(__fmul_rn(1.f - rho, delta), delta));
        p[i] = __fsub_rn(p[i], __fmul_rn(lr, delta));
    }
}
