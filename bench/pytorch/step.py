"""Times a training step of one seed model in PyTorch, the way gotrain's
BenchmarkTrainStep does, and prints one JSON line.

The models are bench/pytorch/seed_models.py's: the same seven models as
gotrain's, with the same state_dict names, checked to give gotrain's
outputs, gradients and running statistics on shared weights by
models/torch_test.go (fixtures from models/testdata/make_model_fixtures.py).

A step is what gotrain's step is: the batch copied in, forward,
F.cross_entropy, backward, the recipe's optimizer update (make bench passes
the recipe of models/<name>.go). It runs warm-up steps, then either --steps
steps or steps for --seconds, and reports images per second.

Modes: eager, and compiled = torch.compile(model, mode="reduce-overhead")
(PyTorch >= 2; on older versions it prints {"available": false} and make
bench shows n/a). The compile warm-up (the first steps, which compile and
record CUDA graphs) is reported as warmup_seconds. On CUDA, --tf32 lets
convolutions and matmuls use TF32 tensor cores, as gotrain does by default
(scripts/gpu-check.sh compares with it).

Peak memory, measured in a fresh process per (model, mode):
  - CPU: growth of the resident set from just before the model is built to
    its high-water mark after the timed steps. The high-water mark (VmHWM)
    is reset to the current RSS by writing 5 to /proc/self/clear_refs (Linux
    >= 4.0) once torch is imported and the batch exists, so the import's own
    peak does not count; where that file cannot be written, ru_maxrss is
    used instead (method "ru_maxrss-growth", an underestimate when the
    import peaked higher). This counts what the allocator really holds:
    parameters, gradients, optimizer state, autograd's saved activations,
    oneDNN/MKL workspaces and allocator slack. No tracemalloc (it does not
    see torch's C++ allocations).
  - CUDA: torch.cuda.max_memory_allocated() after resetting the peak
    statistics before the model is built.

    /usr/bin/python3 bench/pytorch/step.py --model baseline --steps 20
    /usr/bin/python3 bench/pytorch/step.py --info
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_models  # noqa: E402


def compile_available():
    major = int(torch.__version__.split(".")[0])
    return major >= 2 and hasattr(torch, "compile")


def blas_library():
    """The BLAS library torch's CPU matmuls load (after one matmul), or ""."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                name = os.path.basename(path)
                if any(k in name for k in ("blas", "mkl_rt", "mkl_core", "blis")):
                    return os.path.realpath(path)
    except OSError:
        pass
    # A BLAS linked statically (MKL in the official wheels) loads no
    # library of its own: report the build configuration's BLAS_INFO.
    for item in torch.__config__.show().replace(",", " ").split():
        if item.startswith("BLAS_INFO=") and item != "BLAS_INFO=generic":
            return item
    return ""


def info():
    return {"torch": torch.__version__, "compile": compile_available(), "cuda": torch.cuda.is_available(),
            "threads": torch.get_num_threads(), "blas": blas_library()}


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class CPUMemory:
    """Peak resident-set growth from start() to peak()."""

    def start(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = "rss-hwm-growth"
            self.base = _status_kib("VmRSS") * 1024
        except OSError:
            self.method = "ru_maxrss-growth"
            self.base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def peak(self):
        if self.method == "rss-hwm-growth":
            top = _status_kib("VmHWM") * 1024
        else:
            top = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(0, top - self.base)


class CUDAMemory:
    method = "cuda-max-memory-allocated"

    def __init__(self, device):
        self.device = device

    def start(self):
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self.base = torch.cuda.memory_allocated(self.device)

    def peak(self):
        return max(0, torch.cuda.max_memory_allocated(self.device) - self.base)


def make_optimizer(args, params):
    if args.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=args.lr, rho=0.9, eps=1e-6, weight_decay=args.weight_decay)
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                               nesterov=args.nesterov)
    raise ValueError("unknown optimizer %r" % args.optimizer)


def run(args):
    out = {"framework": "pytorch", "torch": torch.__version__, "model": args.model, "mode": args.mode,
           "device": args.device, "threads": args.threads, "batch": args.batch, "tf32": args.tf32}
    if args.mode == "compiled" and not compile_available():
        out.update(available=False, reason="torch.compile needs PyTorch >= 2 (this is %s)" % torch.__version__)
        return out
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        # FP32 on both sides unless --tf32 (gotrain's default on a GPU:
        # TF32 tensor cores in convolutions and matmuls, as PyTorch's
        # convolutions default to).
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.manual_seed(1)
    x_host = torch.randn(args.batch, 1, 28, 28)
    y_host = torch.randint(0, 10, (args.batch,))
    x = torch.empty_like(x_host, device=device)
    y = torch.empty_like(y_host, device=device)
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)

    mem = CUDAMemory(device) if cuda else CPUMemory()
    mem.start()
    model = seed_models.build(args.model).to(device).train()
    opt = make_optimizer(args, model.parameters())
    fwd = torch.compile(model, mode="reduce-overhead") if args.mode == "compiled" else model

    def step():
        x.copy_(x_host)
        y.copy_(y_host)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(fwd(x), y)
        loss.backward()
        opt.step()

    warmup = args.warmup if args.mode == "eager" else max(args.warmup, 3)
    t = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    warm_secs = time.perf_counter() - t
    n, start, cpu0 = 0, time.perf_counter(), time.process_time()
    while True:
        step()
        n += 1
        if args.steps > 0:
            if n >= args.steps:
                break
        elif time.perf_counter() - start >= args.seconds:
            break
    sync()
    secs = time.perf_counter() - start
    # CPU time of every thread of the process over the timed steps: on a
    # shared machine img per CPU-second is steadier than img/s.
    cpu = time.process_time() - cpu0
    out.update(available=True, steps=n, seconds=secs, warmup_steps=warmup, warmup_seconds=warm_secs,
               cpu_seconds=cpu, img_per_cpu_sec=n * args.batch / cpu if cpu > 0 else 0,
               ns_per_step=secs / n * 1e9, img_per_sec=n * args.batch / secs,
               peak_bytes=mem.peak(), memory_method=mem.method)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--info", action="store_true", help="print torch's version and capabilities and exit")
    ap.add_argument("--model", choices=seed_models.NAMES)
    ap.add_argument("--mode", choices=["eager", "compiled"], default="eager")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (compiled: at least 3)")
    ap.add_argument("--steps", type=int, default=0, help="timed steps (0: use --seconds)")
    ap.add_argument("--seconds", type=float, default=3.0, help="time the steps for this long (at least one step)")
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adadelta"])
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--tf32", action="store_true",
                    help="CUDA: allow TF32 in convolutions and matmuls (gotrain's default); else FP32")
    args = ap.parse_args()
    if args.info:
        print(json.dumps(info()))
        return
    if not args.model:
        ap.error("--model is required")
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
