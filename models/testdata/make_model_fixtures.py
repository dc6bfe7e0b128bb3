"""Writes models/testdata/torch/<model>.safetensors: one PyTorch training
step of each seed model, for gotrain's model-level parity test
(models/torch_test.go).

    /usr/bin/python3 models/testdata/make_model_fixtures.py [model ...]

Needs only Debian's torch 1.13 and numpy. Deterministic (one thread): a rerun
with the same torch gives byte-identical files. About 1.5 minutes (most of
it the float64 runs of VGG and ViT), ~4 GB of memory at the peak (VGG).

The models are bench/pytorch/seed_models.py; their state_dict keys, shapes
and order are asserted equal to models/testdata/state_dict/<model>.txt. Every
state entry is overwritten by the shared parameter rule of
engine/testdata/params.py (Go: fixture.ParamValues), hash name
"<model>/<state_dict key>", so no weights are stored: Go regenerates them.

Each file uses the fixture format of engine/testdata (README.md there) with
one case, "step":

- inputs: "x" (N,1,28,28) = fill("<model>/step/x"); constants: "labels" (I64).
- Train mode, every nn.Dropout set to p = 0 (gotrain's dropout masks differ
  from torch's by design; with p = 0 both are the identity):
  "logits", "loss" (F.cross_entropy on the model's output: for VGG that
  output is already a softmax, as in the seed), then after loss.backward():
  "grad/<param>" for a few parameters, and "state/<bn>.running_mean" /
  "state/<bn>.running_var" of a few batch norms after the step's update.
  Big gradients are subsampled by rows: metadata "grad_row_step" maps
  <param> to s, and the stored tensor is grad.view(shape[0], -1)[::s]
  reshaped to (rows, *shape[1:]) (s = 1: the whole gradient).
- Then eval mode (running statistics as updated by the train step):
  "eval_logits".
- "param/<key>": a few regenerated state entries, for Go to check the
  shared rule bit for bit.
- Metadata also records the torch version, the parameter rule, and
  "f32_err": per output, max |float32 torch - float64 torch| (the same step
  run in float64), a yardstick for the Go test's tolerances.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "engine", "testdata"))
sys.path.insert(0, os.path.join(ROOT, "bench", "pytorch"))

import fixtures  # noqa: E402
import params  # noqa: E402
import seed_models  # noqa: E402

CASE = "step"

# Per model: batch, the batch norms whose running stats are stored, the
# parameters whose gradients are stored ({key: row step}), and the state
# entries stored for the bit-exact check of the parameter rule.
#
# Batch sizes: batch norm over few values per channel is ill-conditioned
# (the deepest stages run at 1x1 or 2x2, so a BN there normalises N or 4N
# values), so GoogLeNet uses N=16 (at N=4 its float32 gradients are only
# good to ~1e-3) and the light resnet N=8; N=2 is degenerate for the
# ResNet-50s (BN over 2 values at 1x1: gradients of 1e4..1e7 and float32
# noise larger than the signal).
PLAN = {
    "baseline": dict(
        batch=4, bns=[],
        grads={"conv1.weight": 1, "conv1.bias": 1, "conv2.weight": 1, "fc1.weight": 64,
               "fc1.bias": 1, "fc2.weight": 1, "fc2.bias": 1},
        samples=["conv1.weight", "conv1.bias"]),
    "resnet": dict(
        batch=4, bns=["bn1", "layer2.0.bn2", "layer4.2.bn3"],
        grads={"conv1.weight": 1, "bn1.weight": 1, "layer1.0.conv3.weight": 1, "layer2.0.bn2.weight": 1,
               "layer3.0.downsample.1.bias": 1, "layer4.2.bn3.weight": 1, "fc.weight": 1, "fc.bias": 1},
        samples=["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"]),
    "lightresnet": dict(
        batch=8, bns=["bn1", "layer2.1.bn2", "layer4.2.bn3"],
        grads={"conv1.weight": 1, "bn1.weight": 1, "layer1.0.conv1.weight": 1, "layer2.1.bn2.weight": 1,
               "layer3.0.downsample.0.weight": 64, "layer4.2.bn3.weight": 1, "fc.weight": 1, "fc.bias": 1},
        samples=["conv1.weight", "layer1.0.bn1.running_var"]),
    "seresnet": dict(
        batch=4, bns=["bn1", "layer2.0.bn1", "layer4.2.bn2"],
        grads={"conv1.weight": 1, "bn1.weight": 1, "layer1.0.bn1.weight": 1, "layer2.0.shortcut.0.weight": 1,
               "layer3.1.fc1.weight": 1, "layer3.1.fc2.bias": 1, "layer4.2.bn2.weight": 1,
               "linear.weight": 1, "linear.bias": 1},
        samples=["layer3.1.fc1.weight", "layer3.1.fc1.bias"]),
    "vgg": dict(
        # No fc1.bias or fc2.bias gradient: a BN follows each, which cancels
        # any per-feature shift, so those gradients are exactly zero in exact
        # arithmetic and pure rounding noise in float32.
        batch=4, bns=["conv3_64.1", "conv3_512b.4", "bn2"],
        grads={"conv3_64.0.weight": 1, "conv3_256.1.weight": 1, "conv3_512b.4.weight": 1,
               "bn1.weight": 1, "bn1.bias": 1, "bn2.bias": 1, "fc2.weight": 512,
               "fc3.weight": 1, "fc3.bias": 1},
        samples=["conv3_64.0.weight", "bn2.running_var"]),
    "googlenet": dict(
        batch=16, bns=["conv1.bn", "inception3b.branch2.1.bn", "inception5b.branch1.bn"],
        grads={"conv1.conv.weight": 1, "conv1.bn.weight": 1, "inception3a.branch3.1.conv.weight": 1,
               "inception4c.branch2.1.bn.weight": 1, "inception4e.branch4.1.conv.weight": 1,
               "inception5b.branch4.1.bn.bias": 1, "fc.weight": 1, "fc.bias": 1},
        samples=["conv1.conv.weight", "conv1.bn.running_mean"]),
    "vit": dict(
        batch=2, bns=[],
        grads={"0.cls_token": 1, "0.positions": 7, "0.projection.0.weight": 1, "0.projection.0.bias": 1,
               "1.5.0.fn.0.weight": 1, "1.5.0.fn.1.qkv.weight": 97, "1.5.0.fn.1.qkv.bias": 1,
               "1.11.1.fn.1.3.weight": 101, "2.1.weight": 1, "2.2.weight": 1, "2.2.bias": 1},
        samples=["0.cls_token", "0.positions", "1.0.0.fn.0.weight"]),
}


def labels_for(n):
    return torch.tensor([(7 * i + 3) % 10 for i in range(n)], dtype=torch.int64)


def check_state_dict(name, model):
    path = os.path.join(HERE, "state_dict", name + ".txt")
    want = [ln.split("\t") for ln in open(path).read().splitlines() if ln and not ln.startswith("#")]
    got = [[k, "[%s]" % ",".join(str(d) for d in v.shape), str(v.dtype).replace("torch.", "")]
           for k, v in model.state_dict().items()]
    if want != got:
        for i, (w, g) in enumerate(zip(want, got)):
            if w != g:
                raise AssertionError("%s: state_dict entry %d is %s, %s wants %s" % (name, i, g, path, w))
        raise AssertionError("%s: %d state_dict entries, %s has %d" % (name, len(got), path, len(want)))


def rows(t, step):
    """t.view(shape[0], -1)[::step], reshaped to (rows, *shape[1:])."""
    if step == 1:
        return t
    return t.reshape(t.shape[0], -1)[::step].reshape(-1, *t.shape[1:])


def run_step(name, plan, model, x, y):
    """One train step and an eval pass; returns {output name: tensor}."""
    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    out = {"logits": logits.detach().clone(), "loss": loss.detach().clone()}
    named = dict(model.named_parameters())
    for p, step in plan["grads"].items():
        out["grad/" + p] = rows(named[p].grad, step).clone()
    sd = model.state_dict()
    for bn in plan["bns"]:
        out["state/%s.running_mean" % bn] = sd[bn + ".running_mean"].clone()
        out["state/%s.running_var" % bn] = sd[bn + ".running_var"].clone()
        assert int(sd[bn + ".num_batches_tracked"]) == 1
    model.eval()
    with torch.no_grad():
        out["eval_logits"] = model(x).clone()
    return out


def make(name, outdir):
    plan = PLAN[name]
    n = plan["batch"]
    torch.manual_seed(0)  # only the construction draws; every value is overwritten
    model = seed_models.build(name)
    check_state_dict(name, model)
    seed_models.set_dropout(model, 0.0)
    prefix = name + "/"
    params.fill_state(model, prefix)
    x = fixtures.fill("%s/%s/x" % (name, CASE), (n, 1, 28, 28))
    y = labels_for(n)

    out = run_step(name, plan, model, x, y)

    # The same step in float64, from the same (float32-exact) values.
    params.fill_state(model, prefix)
    ref = run_step(name, plan, model.double(), x.double(), y)
    del model
    f32_err = {k: float((out[k].double() - ref[k]).abs().max()) for k in out}

    tensors = {CASE + "/x": x, CASE + "/labels": y}
    for k, v in out.items():
        tensors[CASE + "/" + k] = v.float().contiguous()
    sd_shapes = _shapes(name)
    for key in plan["samples"]:
        tensors[CASE + "/param/" + key] = torch.from_numpy(params.param_values_np(prefix + key, sd_shapes[key]))

    meta = {
        "op": "model_step",
        "model": name,
        "batch": n,
        "inputs": ["x"],
        "constants": ["labels"],
        "outputs": list(out.keys()),
        "param_samples": ["param/" + k for k in plan["samples"]],
        "param_prefix": prefix,
        "param_rule": params.PARAM_RULE,
        "grad_row_step": plan["grads"],
        "batch_norms": plan["bns"],
        "mode": "train step (batch statistics; running stats updated, momentum 0.1), "
                "then eval_logits in eval mode with the updated running statistics",
        "dropout": "every nn.Dropout p = 0 (train and eval)",
        "loss": "F.cross_entropy(model(x), labels), mean over the batch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "f32_err": f32_err,
    }
    path = os.path.join(outdir, name + ".safetensors")
    fixtures.save(path, tensors, {CASE: json.dumps(meta, sort_keys=True, separators=(",", ":"))})
    worst = max(f32_err, key=lambda k: f32_err[k] / max(float(ref[k].abs().max()), 1e-30))
    print("%-12s %7d bytes  loss %.6f  worst f32-vs-f64: %s %.3g (max |ref| %.3g)" % (
        name, os.path.getsize(path), float(out["loss"]), worst, f32_err[worst], float(ref[worst].abs().max())))


_shape_cache = {}


def _shapes(name):
    if name not in _shape_cache:
        path = os.path.join(HERE, "state_dict", name + ".txt")
        d = {}
        for ln in open(path).read().splitlines():
            if ln and not ln.startswith("#"):
                k, s, _ = ln.split("\t")
                d[k] = tuple(int(v) for v in s.strip("[]").split(",") if v)
        _shape_cache[name] = d
    return _shape_cache[name]


def main():
    torch.set_num_threads(1)
    fixtures.selftest()
    params.selftest()
    outdir = os.path.join(HERE, "torch")
    os.makedirs(outdir, exist_ok=True)
    names = sys.argv[1:] or seed_models.NAMES
    for name in names:
        if name not in PLAN:
            raise SystemExit("unknown model %r (known: %s)" % (name, ", ".join(PLAN)))
        make(name, outdir)


if __name__ == "__main__":
    main()
