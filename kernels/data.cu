// The data set on the device and the step variables.
//
// The training images live on the device as bytes (packed four to a
// 32-bit word, little-endian, image k at byte k·pixels), the labels as
// int32, the epoch's shuffled order as int32 indices, uploaded once per
// epoch. A training step's batch is gathered and normalised here, inside a
// captured graph, from the batch's offset in the order, read from the step
// variables (engine/stepvars.go), which step_end advances at the end of
// the step. Matches CPU.GatherBatch and CPU.EndStep.

#define VAR_STEP 1
#define VAR_FIRST 2
#define VAR_OFFSET 3
#define VAR_SLOT 4
#define VAR_DIVERGED 5

// data_gather: for example b < batch and pixel j < pixels (one thread per
// (b, j), grid-stride over batch·pixels, 256 threads per block),
// k = order[off+b], x[b·pixels+j] = table[images[k·pixels+j]], and the
// thread with j == 0 writes y[b] = labels[k]. off = vars[VAR_OFFSET] when
// vars is not null, else offset. Positions past the order's end or indices
// outside [0, nImages) leave the example unwritten (the CPU engine reports
// them; on the device the offset is not known to the host).
extern "C" __global__ void data_gather(float* __restrict__ x, int* __restrict__ y, const unsigned char* __restrict__ images,
                                       const int* __restrict__ labels, const int* __restrict__ order,
                                       const float* __restrict__ table, int offset, const int* vars, int batch,
                                       int pixels, int nImages, int orderLen) {
    int off = vars ? vars[VAR_OFFSET] : offset;
    int total = batch * pixels;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
        int b = i / pixels;
        int j = i - b * pixels;
        int pos = off + b;
        if (pos < 0 || pos >= orderLen) continue;
        int k = order[pos];
        if (k < 0 || k >= nImages) continue;
        x[i] = table[images[(long long)k * pixels + j]];
        if (j == 0) y[b] = labels[k];
    }
}

// step_end: one thread. window[vars[VAR_SLOT] mod windowLen] = loss[0];
// a non-finite loss sets vars[VAR_DIVERGED] = 1 + vars[VAR_STEP] unless
// already set; then step+1, first = 0, offset += batch, slot+1. Launch
// <<<1, 1>>>. Matches CPU.EndStep.
extern "C" __global__ void step_end(int* vars, float* window, const float* loss, int windowLen, int batch) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    float l = loss[0];
    unsigned int slot = (unsigned int)vars[VAR_SLOT];
    window[slot % (unsigned int)windowLen] = l;
    if (!isfinite(l) && vars[VAR_DIVERGED] == 0) vars[VAR_DIVERGED] = vars[VAR_STEP] + 1;
    vars[VAR_STEP] += 1;
    vars[VAR_FIRST] = 0;
    vars[VAR_OFFSET] += batch;
    vars[VAR_SLOT] = (int)(slot + 1);
}
