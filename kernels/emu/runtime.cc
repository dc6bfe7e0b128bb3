// runtime.cc: the emulator's scheduler. A launch's blocks are shuffled and
// handed out to a pool of worker threads; a worker runs each block's
// threads as fibers (ucontext), in rounds: every ready thread, in an order
// shuffled each round, runs until it reaches __syncthreads, a warp
// collective or its end. A barrier releases when every live thread of the
// block waits at it; a warp collective completes when every lane of its
// mask has reached it, and fails the launch when lanes reach different
// collectives or a named lane has exited. A block in which no thread can
// move is a deadlock and fails the launch.
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "emu.h"
#include "emu_api.h"

// The runtime names the fields, not the kernels' macros.
#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim

// ---- fiber switching -----------------------------------------------------------
// On x86-64 a switch saves the callee-saved registers on the fiber's stack
// and swaps stack pointers (no system call; swapcontext would save the
// signal mask with one). Elsewhere ucontext does it.
#if defined(__x86_64__)
#define EMU_FAST_SWITCH 1
extern "C" void emu_ctx_switch(void** save_sp, void* to_sp);
asm(R"(
    .text
    .p2align 4
    .globl emu_ctx_switch
    .type emu_ctx_switch, @function
emu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_ctx_switch, .-emu_ctx_switch
)");
#endif

namespace emu {

thread_local Thread* cur_thread;
thread_local Grid cur_grid;

namespace {

enum State { kReady, kWaitBar, kWaitWarp, kExited, kAborted };

constexpr size_t kStack = 256 << 10;  // fiber stack, plus a guard page below
constexpr int kMaxIn = 12, kMaxOut = 4;

struct Copy {
    void* dst;
    const void* src;
    int size, src_bytes, group;
};

struct Fiber : Thread {
    int linear = 0, lane = 0, warp = 0;
    int state = kReady;
    bool fresh = true;  // needs a new context before it runs
#ifdef EMU_FAST_SWITCH
    void* sp = nullptr;
#else
    ucontext_t ctx;
#endif
    char* stack = nullptr;
    uint32_t out[kMaxOut];
    std::vector<Copy> copies;  // cp.async not yet landed
    int committed = 0;         // cp.async groups committed
};

struct Warp {
    int kind;
    unsigned mask, arrived, exited, exists;
    int param[32];
    uint32_t in[32][kMaxIn];
};

// Worker is one worker thread's state: its fibers and the block it runs.
struct Worker {
    std::vector<Fiber*> fibers;
    std::vector<int> order;
#ifdef EMU_FAST_SWITCH
    void* sched_sp = nullptr;
#else
    ucontext_t sched;
#endif
    int n = 0, live = 0, waiting_bar = 0;
    Warp warps[32];
    const KernelEntry* k = nullptr;
    const uint64_t* args = nullptr;
    bool failed = false;
    std::string err;
    uint64_t rng = 0;
};

thread_local Worker* cur_worker;

uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

template <typename T>
void shuffle(std::vector<T>& v, size_t n, uint64_t& s) {
    for (size_t i = n; i > 1; i--) {
        size_t j = splitmix(s) % i;
        T t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

Fiber* me() { return static_cast<Fiber*>(cur_thread); }

void failf(Worker* w, const char* format, ...) __attribute__((format(printf, 2, 3)));
void failf(Worker* w, const char* format, ...) {
    if (w->failed) return;
    char buf[512];
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    w->failed = true;
    w->err = buf;
}

// yield returns to the worker's scheduler; the fiber resumes when it is
// ready and its turn comes.
void yield(Fiber* f) {
#ifdef EMU_FAST_SWITCH
    emu_ctx_switch(&f->sp, cur_worker->sched_sp);
#else
    swapcontext(&f->ctx, &cur_worker->sched);
#endif
}

// abort_thread ends the calling thread's part in a failed block.
[[noreturn]] void abort_thread(Fiber* f) {
    f->state = kAborted;
    yield(f);
    abort();  // an aborted fiber is never resumed
}

const char* where() {
    static thread_local char buf[128];
    Fiber* f = me();
    snprintf(buf, sizeof buf, "block (%u,%u,%u) thread (%u,%u,%u)", cur_grid.block.x, cur_grid.block.y,
             cur_grid.block.z, f->idx.x, f->idx.y, f->idx.z);
    return buf;
}

void release_barrier(Worker* w) {
    for (int i = 0; i < w->n; i++)
        if (w->fibers[i]->state == kWaitBar) w->fibers[i]->state = kReady;
    w->waiting_bar = 0;
}

void thread_exit(Fiber* f) {
    Worker* w = cur_worker;
    f->state = kExited;
    f->copies.clear();
    w->live--;
    Warp& W = w->warps[f->warp];
    W.exited |= 1u << f->lane;
    if (W.arrived != 0 && (W.mask & (1u << f->lane)))
        failf(w, "%s exited while lanes %08x of its warp wait for it in a warp collective (mask %08x)", where(), W.arrived,
              W.mask);
    if (w->waiting_bar > 0 && w->waiting_bar == w->live) release_barrier(w);
}

void fiber_main() {
    for (;;) {
        Worker* w = cur_worker;
        w->k->thunk(w->args);
        Fiber* f = me();
        thread_exit(f);
        yield(f);
    }
}

const char* coll_name(int kind) {
    switch (kind) {
    case kSyncWarp: return "__syncwarp";
    case kShfl: return "__shfl_sync";
    case kShflUp: return "__shfl_up_sync";
    case kShflDown: return "__shfl_down_sync";
    case kShflXor: return "__shfl_xor_sync";
    case kBallot: return "__ballot_sync";
    case kMatchAny: return "__match_any_sync";
    case kMmaTF32: return "mma.sync.m16n8k8.tf32";
    case kMmaBF16: return "mma.sync.m16n8k16.bf16";
    case kLdmatrix: return "ldmatrix";
    }
    return "?";
}

float bits_f(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}
uint32_t f_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

// mma computes D = A·B + C for a warp's fragments (PTX ISA, "Matrix
// Fragments for mma.m16n8k8" and "mma.m16n8k16"): A 16×K row-major, B K×8,
// products summed in double and rounded once (the hardware's order and
// intermediate precision are unspecified; this is the exact sum).
void complete_mma(Warp& W, Fiber** lanes, bool bf16) {
    const int K = bf16 ? 16 : 8;
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        const uint32_t* in = W.in[l];
        int g = l >> 2, t = l & 3;
        if (bf16) {
            auto lo = [](uint32_t r) { return bits_f(r << 16); };
            auto hi = [](uint32_t r) { return bits_f(r & 0xffff0000u); };
            A[g][2 * t] = lo(in[0]), A[g][2 * t + 1] = hi(in[0]);
            A[g + 8][2 * t] = lo(in[1]), A[g + 8][2 * t + 1] = hi(in[1]);
            A[g][2 * t + 8] = lo(in[2]), A[g][2 * t + 9] = hi(in[2]);
            A[g + 8][2 * t + 8] = lo(in[3]), A[g + 8][2 * t + 9] = hi(in[3]);
            B[2 * t][g] = lo(in[4]), B[2 * t + 1][g] = hi(in[4]);
            B[2 * t + 8][g] = lo(in[5]), B[2 * t + 9][g] = hi(in[5]);
        } else {
            // TF32 operands: the low 13 bits of each register are ignored.
            auto tf = [](uint32_t r) { return bits_f(r & 0xffffe000u); };
            A[g][t] = tf(in[0]), A[g + 8][t] = tf(in[1]);
            A[g][t + 4] = tf(in[2]), A[g + 8][t + 4] = tf(in[3]);
            B[t][g] = tf(in[4]), B[t + 4][g] = tf(in[5]);
        }
        C[g][2 * t] = bits_f(in[6]), C[g][2 * t + 1] = bits_f(in[7]);
        C[g + 8][2 * t] = bits_f(in[8]), C[g + 8][2 * t + 1] = bits_f(in[9]);
    }
    for (int l = 0; l < 32; l++) {
        int g = l >> 2, t = l & 3;
        int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
        for (int r = 0; r < 4; r++) {
            double s = C[rows[r]][cols[r]];
            for (int k = 0; k < K; k++) s += (double)A[rows[r]][k] * (double)B[k][cols[r]];
            lanes[l]->out[r] = f_bits((float)s);
        }
    }
}

// complete runs a warp collective once every lane of its mask arrived.
void complete(Worker* w, Warp& W, Fiber** lanes) {
    const unsigned mask = W.mask;
    switch (W.kind) {
    case kSyncWarp: break;
    case kShfl:
    case kShflUp:
    case kShflDown:
    case kShflXor:
        for (int l = 0; l < 32; l++) {
            if (!(mask & (1u << l))) continue;
            int p = W.param[l] & 0xffff, width = W.param[l] >> 16;
            if (width <= 0 || width > 32 || (width & (width - 1))) {
                failf(w, "%s: width %d is not a power of two up to 32", coll_name(W.kind), width);
                return;
            }
            int seg = l & ~(width - 1), src = l;
            switch (W.kind) {
            case kShfl: src = seg + (p & (width - 1)); break;
            case kShflUp: src = l - seg >= p ? l - p : l; break;
            case kShflDown: src = l - seg + p < width ? l + p : l; break;
            case kShflXor: src = (l ^ p) >= seg + width ? l : (l ^ p); break;
            }
            if (src < 0 || src > 31 || !(mask & (1u << src))) {
                // Reading a lane outside the mask is undefined: poison.
                lanes[l]->out[0] = lanes[l]->out[1] = 0xffffffffu;
            } else {
                lanes[l]->out[0] = W.in[src][0];
                lanes[l]->out[1] = W.in[src][1];
            }
        }
        break;
    case kBallot: {
        unsigned r = 0;
        for (int l = 0; l < 32; l++)
            if ((mask & (1u << l)) && W.in[l][0]) r |= 1u << l;
        for (int l = 0; l < 32; l++)
            if (mask & (1u << l)) lanes[l]->out[0] = r;
        break;
    }
    case kMatchAny:
        for (int l = 0; l < 32; l++) {
            if (!(mask & (1u << l))) continue;
            unsigned r = 0;
            for (int m = 0; m < 32; m++)
                if ((mask & (1u << m)) && W.in[m][0] == W.in[l][0] && W.in[m][1] == W.in[l][1]) r |= 1u << m;
            lanes[l]->out[0] = r;
        }
        break;
    case kMmaTF32:
    case kMmaBF16: complete_mma(W, lanes, W.kind == kMmaBF16); break;
    case kLdmatrix: {
        int n = W.param[0] & 0xff;
        bool trans = W.param[0] >> 8;
        for (int l = 0; l < 32; l++) {
            int row = l >> 2, col = 2 * (l & 3);
            for (int i = 0; i < n; i++) {
                uint16_t e[2];
                for (int h = 0; h < 2; h++) {
                    int r = trans ? col + h : row, c = trans ? row : col + h;
                    uint64_t a = (uint64_t)W.in[8 * i + r][0] | (uint64_t)W.in[8 * i + r][1] << 32;
                    memcpy(&e[h], (const char*)(uintptr_t)a + 2 * c, 2);
                }
                lanes[l]->out[i] = (uint32_t)e[0] | (uint32_t)e[1] << 16;
            }
        }
        break;
    }
    }
}

void run_copies(Fiber* f, int upto_group) {
    size_t keep = 0;
    for (size_t i = 0; i < f->copies.size(); i++) {
        Copy& c = f->copies[i];
        if (c.group < upto_group) {
            memcpy(c.dst, c.src, c.src_bytes);
            memset((char*)c.dst + c.src_bytes, 0, c.size - c.src_bytes);
        } else {
            f->copies[keep++] = c;
        }
    }
    f->copies.resize(keep);
}

// Dynamic shared memory arrays (EMU_DYNAMIC_SHARED), poisoned with NaN
// before every block.
std::mutex dyn_mu;
std::vector<std::pair<void* (*)(), size_t>> dyn_arrays;

// run_block runs one block on the calling worker; false if it failed.
bool run_block(Worker* w, uint3 b) {
    cur_grid.block = b;
    const int n = w->n;
    for (int i = 0; i < n; i++) {
        w->order[i] = i;
        Fiber* f = w->fibers[i];
        f->state = kReady;
        f->copies.clear();
        f->committed = 0;
    }
    for (int i = 0; i < (n + 31) / 32; i++) {
        Warp& W = w->warps[i];
        int lanes = n - 32 * i < 32 ? n - 32 * i : 32;
        W.exists = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
        W.arrived = W.exited = 0;
        W.kind = 0;
    }
    w->live = n;
    w->waiting_bar = 0;
    {
        std::lock_guard<std::mutex> lock(dyn_mu);
        for (auto& d : dyn_arrays) memset(d.first(), 0xff, d.second);
    }
    for (int round = 0;; round++) {
        shuffle(w->order, n, w->rng);
        bool ran = false;
        for (int j = 0; j < n && !w->failed; j++) {
            Fiber* f = w->fibers[w->order[j]];
            if (f->state != kReady) continue;
            ran = true;
            cur_thread = f;
            if (f->fresh) {
#ifdef EMU_FAST_SWITCH
                // A frame that emu_ctx_switch pops: six registers, then
                // fiber_main as the return address, entered with the stack
                // aligned as after a call.
                void** sp = (void**)(((uintptr_t)(f->stack + kStack) & ~(uintptr_t)15) - 64);
                for (int r = 0; r < 6; r++) sp[r] = nullptr;
                sp[6] = (void*)&fiber_main;
                sp[7] = nullptr;
                f->sp = sp;
#else
                getcontext(&f->ctx);
                f->ctx.uc_stack.ss_sp = f->stack;
                f->ctx.uc_stack.ss_size = kStack;
                f->ctx.uc_link = nullptr;
                makecontext(&f->ctx, fiber_main, 0);
#endif
                f->fresh = false;
            }
#ifdef EMU_FAST_SWITCH
            emu_ctx_switch(&w->sched_sp, f->sp);
#else
            swapcontext(&w->sched, &f->ctx);
#endif
        }
        if (!w->failed && w->live == 0) return true;
        if (!w->failed && !ran) {
            int bar = 0, warp = 0, wv = -1;
            for (int i = 0; i < n; i++) {
                if (w->fibers[i]->state == kWaitBar) bar++;
                if (w->fibers[i]->state == kWaitWarp) {
                    warp++;
                    if (wv < 0) wv = w->fibers[i]->warp;
                }
            }
            if (warp > 0)
                failf(w,
                      "deadlock in block (%u,%u,%u): %d threads wait at __syncthreads, %d in warp collectives "
                      "(warp %d: %s with mask %08x, lanes %08x arrived), %d exited",
                      b.x, b.y, b.z, bar, warp, wv, coll_name(w->warps[wv].kind), w->warps[wv].mask,
                      w->warps[wv].arrived, n - w->live);
            else
                failf(w, "deadlock in block (%u,%u,%u): %d threads wait at __syncthreads, %d exited", b.x, b.y, b.z,
                      bar, n - w->live);
        }
        if (w->failed) {
            for (int i = 0; i < n; i++)
                if (w->fibers[i]->state != kExited) w->fibers[i]->fresh = true;
            return false;
        }
    }
}

// ---- the worker pool -------------------------------------------------------

struct Job {
    const KernelEntry* k;
    const uint64_t* args;
    dim3 grid, block;
    uint64_t seed;
    std::vector<uint32_t> order;  // shuffled block indices
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::string err;
    std::mutex err_mu;
    int done_workers = 0;
};

struct Pool {
    std::mutex mu;
    std::condition_variable cv, done_cv;
    std::vector<std::thread> threads;
    Job* job = nullptr;
    uint64_t gen = 0;
    int busy = 0;
};

Pool pool;
std::mutex launch_mu;  // one launch at a time (a stream)
bool inline_mode;      // run launches on the calling thread (emu_set_inline)

bool grow_fibers(Worker* w, int n, std::string& err) {
    while ((int)w->fibers.size() < n) {
        long page = sysconf(_SC_PAGESIZE);
        void* m = mmap(nullptr, kStack + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            err = "emulator: cannot map a fiber stack";
            return false;
        }
        mprotect(m, page, PROT_NONE);  // guard page: a stack overflow faults
        Fiber* f = new Fiber();
        f->stack = (char*)m + page;
        int i = (int)w->fibers.size();
        f->linear = i;
        f->lane = i & 31;
        f->warp = i >> 5;
        w->fibers.push_back(f);
        w->order.push_back(i);
    }
    return true;
}

void run_job(Worker* w, Job* j) {
    cur_worker = w;
    cur_grid.blockDim = j->block;
    cur_grid.gridDim = j->grid;
    const int n = (int)(j->block.x * j->block.y * j->block.z);
    std::string err;
    if (!grow_fibers(w, n, err)) {
        std::lock_guard<std::mutex> lock(j->err_mu);
        if (!j->failed.exchange(true)) j->err = err;
        return;
    }
    w->n = n;
    w->k = j->k;
    w->args = j->args;
    for (int i = 0; i < n; i++) {
        Fiber* f = w->fibers[i];
        f->idx.x = i % j->block.x;
        f->idx.y = (i / j->block.x) % j->block.y;
        f->idx.z = i / (j->block.x * j->block.y);
    }
    const size_t total = j->order.size();
    for (;;) {
        if (j->failed.load()) return;
        size_t i = j->next.fetch_add(1);
        if (i >= total) return;
        uint32_t bi = j->order[i];
        uint3 b = {bi % j->grid.x, (bi / j->grid.x) % j->grid.y, bi / (j->grid.x * j->grid.y)};
        uint64_t s = j->seed ^ ((uint64_t)bi * 0x2545f4914f6cdd1dull);
        w->rng = splitmix(s);
        w->failed = false;
        if (!run_block(w, b)) {
            std::lock_guard<std::mutex> lock(j->err_mu);
            if (!j->failed.exchange(true)) j->err = std::string(w->k->name) + ": " + w->err;
            return;
        }
    }
}

void worker_main(int id) {
    Worker* w = new Worker();
    (void)id;
    uint64_t seen = 0;
    for (;;) {
        Job* j;
        {
            std::unique_lock<std::mutex> lock(pool.mu);
            pool.cv.wait(lock, [&] { return pool.gen != seen; });
            seen = pool.gen;
            j = pool.job;
        }
        run_job(w, j);
        {
            std::lock_guard<std::mutex> lock(pool.mu);
            if (--pool.busy == 0) pool.done_cv.notify_all();
        }
    }
}

int workers() {
    static int n = [] {
        const char* s = getenv("GOTRAIN_EMU_WORKERS");
        int v = s ? atoi(s) : 0;
        if (v <= 0) {
            v = (int)std::thread::hardware_concurrency();
            if (v > 4) v = 4;
            if (v < 1) v = 1;
        }
        return v;
    }();
    return n;
}

}  // namespace

// ---- what kernels call -----------------------------------------------------

void syncthreads() {
    Worker* w = cur_worker;
    Fiber* f = me();
    f->state = kWaitBar;
    if (++w->waiting_bar == w->live) release_barrier(w);
    yield(f);
}

unsigned active_mask() {
    Fiber* f = me();
    Warp& W = cur_worker->warps[f->warp];
    return W.exists & ~W.exited;
}

void trap(const char* what) {
    Fiber* f = me();
    failf(cur_worker, "%s at %s", what, where());
    abort_thread(f);
}

void warp_collective(int kind, unsigned mask, int param, const uint32_t* in, int nin, uint32_t* out, int nout) {
    Worker* w = cur_worker;
    Fiber* f = me();
    Warp& W = w->warps[f->warp];
    const unsigned bit = 1u << f->lane;
    if (!(mask & bit)) {
        failf(w, "%s at %s: the calling lane %d is not in the mask %08x", coll_name(kind), where(), f->lane, mask);
        abort_thread(f);
    }
    if (mask & ~W.exists) {
        failf(w, "%s at %s: mask %08x names lanes the block does not have (warp %d has %08x)", coll_name(kind), where(),
              mask, f->warp, W.exists);
        abort_thread(f);
    }
    if (mask & W.exited) {
        failf(w, "%s at %s: mask %08x names lanes that have exited (%08x)", coll_name(kind), where(), mask,
              mask & W.exited);
        abort_thread(f);
    }
    if (W.arrived == 0) {
        W.kind = kind;
        W.mask = mask;
    } else if (W.kind != kind || W.mask != mask) {
        failf(w, "%s at %s with mask %08x, while lanes %08x of its warp wait in %s with mask %08x", coll_name(kind),
              where(), mask, W.arrived, coll_name(W.kind), W.mask);
        abort_thread(f);
    }
    W.param[f->lane] = param;
    for (int i = 0; i < nin && i < kMaxIn; i++) W.in[f->lane][i] = in[i];
    W.arrived |= bit;
    if (W.arrived == mask) {
        Fiber* lanes[32] = {};
        for (int l = 0; l < 32; l++) {
            int i = f->warp * 32 + l;
            lanes[l] = i < w->n ? w->fibers[i] : f;  // absent lanes are never in a mask
        }
        complete(w, W, lanes);
        if (w->failed) abort_thread(f);
        for (int l = 0; l < 32; l++)
            if ((mask & (1u << l)) && lanes[l]->state == kWaitWarp) lanes[l]->state = kReady;
        W.arrived = 0;
        W.kind = 0;
    } else {
        f->state = kWaitWarp;
    }
    yield(f);
    for (int i = 0; i < nout && i < kMaxOut; i++) out[i] = f->out[i];
}

}  // namespace emu

// ---- the inline PTX of kernels/device.cuh ------------------------------------

void emu_mma_m16n8k8_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    uint32_t in[10] = {a[0], a[1], a[2], a[3], b[0], b[1]}, out[4];
    memcpy(in + 6, d, 16);
    emu::warp_collective(emu::kMmaTF32, 0xffffffffu, 0, in, 10, out, 4);
    memcpy(d, out, 16);
}

void emu_mma_m16n8k16_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    uint32_t in[10] = {a[0], a[1], a[2], a[3], b[0], b[1]}, out[4];
    memcpy(in + 6, d, 16);
    emu::warp_collective(emu::kMmaBF16, 0xffffffffu, 0, in, 10, out, 4);
    memcpy(d, out, 16);
}

void emu_ldmatrix(unsigned* r, int n, bool trans, const void* row) {
    uint64_t a = (uint64_t)(uintptr_t)row;
    if (a % 16 != 0) emu::trap("ldmatrix: row address not 16-byte aligned");
    uint32_t in[2] = {(uint32_t)a, (uint32_t)(a >> 32)};
    emu::warp_collective(emu::kLdmatrix, 0xffffffffu, n | (trans ? 256 : 0), in, 2, r, n);
}

void emu_cp_async(void* dst, const void* src, int size, int src_bytes) {
    if ((uintptr_t)dst % size || (uintptr_t)src % size) emu::trap("cp.async: address not aligned to the copy size");
    if (src_bytes < 0 || src_bytes > size) emu::trap("cp.async: src-size outside [0, cp-size]");
    emu::Fiber* f = emu::me();
    f->copies.push_back({dst, src, size, src_bytes, f->committed});
}

void emu_cp_async_commit() { emu::me()->committed++; }

void emu_cp_async_wait(int n) {
    emu::Fiber* f = emu::me();
    emu::run_copies(f, f->committed - n);
}

// ---- the C API (emu_api.h) -----------------------------------------------------

namespace {
std::mutex table_mu;
std::vector<const emu::KernelEntry*> table;
}  // namespace

extern "C" void emu_register(const emu::KernelEntry* ks, int n) {
    std::lock_guard<std::mutex> lock(table_mu);
    for (int i = 0; i < n; i++) table.push_back(&ks[i]);
}

extern "C" void emu_register_dynamic_shared(void* (*addr)(), size_t bytes) {
    std::lock_guard<std::mutex> lock(emu::dyn_mu);
    emu::dyn_arrays.push_back({addr, bytes});
}

extern "C" int emu_kernel_count(void) {
    std::lock_guard<std::mutex> lock(table_mu);
    return (int)table.size();
}

extern "C" const char* emu_kernel_name(int i) { return table[i]->name; }
extern "C" const char* emu_kernel_sig(int i) { return table[i]->sig; }

extern "C" int emu_launch(int kernel, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                          unsigned shmem, const uint64_t* args, int nargs, uint64_t seed, char* err, int errlen) {
    auto fail = [&](const std::string& s) {
        snprintf(err, errlen, "%s", s.c_str());
        return 1;
    };
    if (kernel < 0 || kernel >= emu_kernel_count()) return fail("no such kernel");
    const emu::KernelEntry* k = table[kernel];
    char buf[256];
    if (nargs != k->nargs) {
        snprintf(buf, sizeof buf, "%s takes %d parameters, launched with %d", k->name, k->nargs, nargs);
        return fail(buf);
    }
    unsigned long long threads = (unsigned long long)bx * by * bz;
    if (bx == 0 || by == 0 || bz == 0 || threads > 1024 || bz > 64) {
        snprintf(buf, sizeof buf, "%s: block (%u,%u,%u) is not a valid block (at most 1024 threads, z at most 64)",
                 k->name, bx, by, bz);
        return fail(buf);
    }
    if (gx == 0 || gy == 0 || gz == 0 || gx > 0x7fffffffu || gy > 65535 || gz > 65535) {
        snprintf(buf, sizeof buf, "%s: grid (%u,%u,%u) is not a valid grid", k->name, gx, gy, gz);
        return fail(buf);
    }
    if (shmem > 49152) {
        snprintf(buf, sizeof buf, "%s: %u bytes of dynamic shared memory (at most 49152 without opting in)", k->name,
                 shmem);
        return fail(buf);
    }
    unsigned long long total = (unsigned long long)gx * gy * gz;
    if (total > (1ull << 28)) {
        snprintf(buf, sizeof buf, "%s: grid (%u,%u,%u) has too many blocks for the emulator", k->name, gx, gy, gz);
        return fail(buf);
    }
    std::lock_guard<std::mutex> launch(emu::launch_mu);
    emu::Job j;
    j.k = k;
    j.args = args;
    j.grid = dim3{gx, gy, gz};
    j.block = dim3{bx, by, bz};
    j.seed = seed;
    j.order.resize(total);
    for (size_t i = 0; i < total; i++) j.order[i] = (uint32_t)i;
    uint64_t s = seed;
    emu::shuffle(j.order, total, s);
    if (emu::inline_mode) {
        // Fibers are per OS thread: the calling thread keeps its own.
        static thread_local emu::Worker* w = new emu::Worker();
        emu::run_job(w, &j);
        if (j.failed.load()) return fail(j.err);
        return 0;
    }
    {
        std::unique_lock<std::mutex> lock(emu::pool.mu);
        while ((int)emu::pool.threads.size() < emu::workers()) {
            int id = (int)emu::pool.threads.size();
            emu::pool.threads.emplace_back(emu::worker_main, id);
            emu::pool.threads.back().detach();
        }
        emu::pool.job = &j;
        emu::pool.busy = (int)emu::pool.threads.size();
        emu::pool.gen++;
        emu::pool.cv.notify_all();
        emu::pool.done_cv.wait(lock, [] { return emu::pool.busy == 0; });
        emu::pool.job = nullptr;
    }
    if (j.failed.load()) return fail(j.err);
    return 0;
}

// ---- memory ------------------------------------------------------------------

namespace {
constexpr size_t kRed = 256;
}

extern "C" uint64_t emu_alloc(size_t bytes) {
    void* m = nullptr;
    if (posix_memalign(&m, kRed, bytes + 2 * kRed) != 0) return 0;
    memset(m, 0xff, kRed);
    memset((char*)m + kRed, 0, bytes);
    memset((char*)m + kRed + bytes, 0xff, kRed);
    return (uint64_t)(uintptr_t)m + kRed;
}

extern "C" void emu_free(uint64_t p) {
    if (p != 0) free((void*)(uintptr_t)(p - kRed));
}

extern "C" long long emu_redzone_damage(uint64_t p, size_t bytes) {
    const unsigned char* b = (const unsigned char*)(uintptr_t)p;
    for (size_t i = 0; i < kRed; i++)
        if (b[-(long long)kRed + (long long)i] != 0xff) return -(long long)kRed + (long long)i;
    for (size_t i = 0; i < kRed; i++)
        if (b[bytes + i] != 0xff) return (long long)(bytes + i);
    return 0;
}

extern "C" void emu_memset32(uint64_t p, uint32_t v, size_t n) {
    uint32_t* d = (uint32_t*)(uintptr_t)p;
    for (size_t i = 0; i < n; i++) d[i] = v;
}

extern "C" void emu_copy(uint64_t dst, uint64_t src, size_t bytes) {
    memmove((void*)(uintptr_t)dst, (const void*)(uintptr_t)src, bytes);
}

extern "C" void emu_copy_in(uint64_t dst, const void* src, size_t bytes) { memcpy((void*)(uintptr_t)dst, src, bytes); }

extern "C" void emu_copy_out(void* dst, uint64_t src, size_t bytes) { memcpy(dst, (const void*)(uintptr_t)src, bytes); }

extern "C" void emu_repair_redzone(uint64_t p, size_t bytes) {
    memset((char*)(uintptr_t)p - kRed, 0xff, kRed);
    memset((char*)(uintptr_t)p + bytes, 0xff, kRed);
}

extern "C" uint32_t emu_tf32(float x) { return emu_cvt_rna_tf32(x); }

extern "C" void emu_set_inline(int on) {
    std::lock_guard<std::mutex> launch(emu::launch_mu);
    emu::inline_mode = on != 0;
}
