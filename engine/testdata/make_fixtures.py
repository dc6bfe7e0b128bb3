#!/usr/bin/python3
"""Writes engine/testdata/torch/<family>.safetensors: PyTorch reference results
for the ops of gotrain's CPU engine. Run from anywhere:

    /usr/bin/python3 engine/testdata/make_fixtures.py

Deterministic (one thread, hashed inputs). See engine/testdata/README.md.

Every case of a family has a name; its tensors are stored as "<case>/<tensor>"
and the file's __metadata__ maps "<case>" to a JSON object: the op's parameters
plus "op", "inputs" (tensors filled by the hash with name
"<family>/<case>/<tensor>"), "constants" (fixed non-hashed inputs, e.g. class
labels; only where there are some), "outputs" (the PyTorch results) and, where an input is a scaled hash, "input_affine": {tensor: [scale, shift]}
meaning tensor = scale * fill(...) + shift, computed in float32 in that order.
Gradients of an input or parameter <t> are stored as "d<t>", for the upstream
gradient input "dy".
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch")


class Family:
    def __init__(self, name):
        self.name = name
        self.tensors = {}
        self.meta = {}

    def case(self, name, op, **params):
        if "/" in name or name in self.meta:
            raise ValueError("bad or duplicate case name %r" % name)
        return Case(self, name, op, params)

    def write(self):
        path = os.path.join(OUT_DIR, self.name + ".safetensors")
        fixtures.save(path, self.tensors, self.meta)
        # Read back and compare, so the writer can't silently go wrong.
        back, meta = fixtures.load(path)
        assert meta == self.meta, self.name
        assert sorted(back) == sorted(self.tensors), self.name
        for k, t in self.tensors.items():
            assert back[k].dtype == t.dtype and back[k].shape == t.shape, k
            assert torch.equal(back[k], t.detach()), k
        return path


class Case:
    def __init__(self, fam, name, op, params):
        self.fam = fam
        self.name = name
        self.params = dict(params)
        self.params["op"] = op
        self.inputs = []
        self.outputs = []
        self.constants = []
        self.affine = {}

    def fill_name(self, tensor):
        return "%s/%s/%s" % (self.fam.name, self.name, tensor)

    def input(self, tensor, shape, scale=None, shift=None, grad=True):
        """A hashed input tensor, stored, and (by default) requiring grad."""
        t = fixtures.fill(self.fill_name(tensor), shape)
        if scale is not None or shift is not None:
            s = 1.0 if scale is None else float(scale)
            b = 0.0 if shift is None else float(shift)
            t = t * s + b  # float32 mul, then float32 add
            self.affine[tensor] = [s, b]
        self._store(tensor, t, self.inputs)
        t = t.clone()
        if grad:
            t.requires_grad_(True)
        return t

    def output(self, tensor, t):
        self._store(tensor, t, self.outputs)

    def constant(self, tensor, t):
        """A fixed (not hashed) input such as class labels."""
        self._store(tensor, t, self.constants)
        return t

    def _store(self, tensor, t, where):
        if tensor in self.inputs + self.outputs + self.constants:
            raise ValueError("%s: duplicate tensor %r" % (self.name, tensor))
        where.append(tensor)
        self.fam.tensors["%s/%s" % (self.name, tensor)] = t.detach().clone().contiguous()

    def backward(self, y, wrt, dy_name="dy"):
        """Hashed upstream gradient dy; stores d<name> for each (name, tensor) in wrt."""
        dy = self.input(dy_name, y.shape, grad=False)
        grads = torch.autograd.grad(y, [t for _, t in wrt], dy)
        for (name, _), g in zip(wrt, grads):
            self.output("d" + name, g)

    def done(self):
        p = dict(self.params)
        p["inputs"] = self.inputs
        p["outputs"] = self.outputs
        if self.constants:
            p["constants"] = self.constants
        if self.affine:
            p["input_affine"] = self.affine
        self.fam.meta[self.name] = json.dumps(p, sort_keys=True, separators=(",", ":"))


def conv2d():
    fam = Family("conv2d")
    # name, N, Cin, H, W, Cout, k, stride, padding, bias
    cases = [
        ("k3_s1_p0_bias", 2, 3, 7, 7, 5, 3, 1, 0, True),
        ("k3_s1_p1_nobias", 2, 3, 6, 5, 5, 3, 1, 1, False),
        ("k3_s2_p1_bias", 2, 3, 7, 7, 5, 3, 2, 1, True),
        ("k1_s1_p0_bias", 2, 3, 5, 5, 5, 1, 1, 0, True),
        ("k1_s2_p0_nobias", 2, 3, 7, 7, 5, 1, 2, 0, False),
        ("k7_s2_p3_nobias", 1, 3, 11, 11, 4, 7, 2, 3, False),
        ("k4_s4_p0_bias", 2, 3, 8, 8, 6, 4, 4, 0, True),
    ]
    for name, n, cin, h, w, cout, k, s, p, bias in cases:
        c = fam.case(name, "conv2d", in_channels=cin, out_channels=cout,
                     kernel=[k, k], stride=[s, s], padding=[p, p],
                     dilation=[1, 1], groups=1, bias=bias)
        x = c.input("x", (n, cin, h, w))
        wt = c.input("weight", (cout, cin, k, k))
        b = c.input("bias", (cout,)) if bias else None
        y = F.conv2d(x, wt, b, stride=s, padding=p)
        c.output("y", y)
        wrt = [("x", x), ("weight", wt)] + ([("bias", b)] if bias else [])
        c.backward(y, wrt)
        c.done()
    return fam


def batchnorm():
    fam = Family("batchnorm")
    # name, x shape, training, eps
    cases = [
        ("2d_train_eps1e-5", (3, 4, 5, 3), True, 1e-5),
        ("2d_train_eps1e-3", (3, 4, 5, 3), True, 1e-3),
        ("2d_eval", (3, 4, 5, 3), False, 1e-5),
        ("1d_train", (7, 6), True, 1e-5),
        ("1d_eval", (7, 6), False, 1e-5),
    ]
    for name, shape, training, eps in cases:
        ch = shape[1]
        c = fam.case(name, "batch_norm1d" if len(shape) == 2 else "batch_norm2d",
                     num_features=ch, training=training, momentum=0.1, eps=eps)
        x = c.input("x", shape)
        wt = c.input("weight", (ch,))
        b = c.input("bias", (ch,))
        rm = c.input("running_mean", (ch,), grad=False)
        rv = c.input("running_var", (ch,), scale=0.5, shift=1.0, grad=False)
        y = F.batch_norm(x, rm, rv, wt, b, training=training, momentum=0.1, eps=eps)
        c.output("y", y)
        if training:
            # F.batch_norm updated rm/rv in place (unbiased batch variance).
            c.output("running_mean_out", rm)
            c.output("running_var_out", rv)
        c.backward(y, [("x", x), ("weight", wt), ("bias", b)])
        c.done()
    return fam


def fused():
    """The fused ops: batch norm + ReLU (train and eval) and add + ReLU."""
    fam = Family("fused")
    for name, shape, training in [("bn_relu_2d_train", (3, 4, 5, 3), True),
                                  ("bn_relu_2d_eval", (3, 4, 5, 3), False),
                                  ("bn_relu_1d_train", (7, 6), True)]:
        ch = shape[1]
        c = fam.case(name, "batch_norm_relu1d" if len(shape) == 2 else "batch_norm_relu2d",
                     num_features=ch, training=training, momentum=0.1, eps=1e-5)
        x = c.input("x", shape)
        wt = c.input("weight", (ch,))
        b = c.input("bias", (ch,))
        rm = c.input("running_mean", (ch,), grad=False)
        rv = c.input("running_var", (ch,), scale=0.5, shift=1.0, grad=False)
        y = F.relu(F.batch_norm(x, rm, rv, wt, b, training=training, momentum=0.1, eps=1e-5))
        c.output("y", y)
        if training:
            c.output("running_mean_out", rm)
            c.output("running_var_out", rv)
        c.backward(y, [("x", x), ("weight", wt), ("bias", b)])
        c.done()
    # The SE block as the seed writes it: y = x·sigmoid(fc2(relu(fc1(avgpool(x))))) + res.
    for name, res in [("squeeze_excite", True), ("squeeze_excite_no_residual", False)]:
        c = fam.case(name, "squeeze_excite", hidden=3, residual=res)
        x = c.input("x", (2, 8, 5, 4))
        w1 = c.input("w1", (3, 8, 1, 1))
        b1 = c.input("b1", (3,))
        w2 = c.input("w2", (8, 3, 1, 1))
        b2 = c.input("b2", (8,))
        w = F.adaptive_avg_pool2d(x, 1)
        w = torch.sigmoid(F.conv2d(F.relu(F.conv2d(w, w1, b1)), w2, b2))
        y = x * w
        wrt = [("x", x), ("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)]
        if res:
            r = c.input("res", (2, 8, 5, 4))
            y = y + r
            wrt.append(("res", r))
        c.output("y", y)
        c.backward(y, wrt)
        c.done()
    c = fam.case("add_relu", "add_relu")
    a = c.input("a", (2, 3, 5, 7))
    b = c.input("b", (2, 3, 5, 7))
    y = F.relu(a + b)
    c.output("y", y)
    c.backward(y, [("a", a), ("b", b)])
    c.done()
    return fam


def activations():
    fam = Family("activations")
    for name, fn in [("relu", F.relu), ("sigmoid", torch.sigmoid),
                     ("gelu", lambda t: F.gelu(t, approximate="none"))]:
        params = {"approximate": "none"} if name == "gelu" else {}
        c = fam.case(name, name, **params)
        x = c.input("x", (2, 3, 5, 7), scale=4.0)  # cover [-4, 4)
        y = fn(x)
        c.output("y", y)
        c.backward(y, [("x", x)])
        c.done()
    return fam


def pool():
    fam = Family("pool")
    # max_pool2d: name, shape, k, s, p, ceil
    for name, shape, k, s, p, ceil in [
        ("max_k2_s2", (2, 3, 6, 6), 2, 2, 0, False),
        ("max_k3_s2_p1", (2, 3, 7, 7), 3, 2, 1, False),
        ("max_k3_s2_ceil", (2, 3, 8, 8), 3, 2, 0, True),
        ("max_k3_s1_p1_ceil", (2, 3, 5, 5), 3, 1, 1, True),
        ("max_k2_s2_ceil_odd", (2, 3, 7, 7), 2, 2, 0, True),
    ]:
        c = fam.case(name, "max_pool2d", kernel=[k, k], stride=[s, s],
                     padding=[p, p], dilation=[1, 1], ceil_mode=ceil)
        x = c.input("x", shape)
        y = F.max_pool2d(x, k, s, p, ceil_mode=ceil)
        c.output("y", y)
        c.backward(y, [("x", x)])
        c.done()
    for name, shape, k, s, p in [
        ("avg_k2_s2", (2, 3, 6, 6), 2, 2, 0),
        ("avg_k4_s4", (2, 3, 8, 8), 4, 4, 0),
        ("avg_k3_s1_p1", (2, 3, 5, 5), 3, 1, 1),
    ]:
        c = fam.case(name, "avg_pool2d", kernel=[k, k], stride=[s, s],
                     padding=[p, p], ceil_mode=False, count_include_pad=True)
        x = c.input("x", shape)
        y = F.avg_pool2d(x, k, s, p)
        c.output("y", y)
        c.backward(y, [("x", x)])
        c.done()
    for name, shape, out in [
        ("adaptive_avg_1x1", (2, 3, 5, 5), 1),
        ("adaptive_avg_2x2", (2, 3, 5, 5), 2),
    ]:
        c = fam.case(name, "adaptive_avg_pool2d", output_size=[out, out])
        x = c.input("x", shape)
        y = F.adaptive_avg_pool2d(x, out)
        c.output("y", y)
        c.backward(y, [("x", x)])
        c.done()
    return fam


def linear():
    fam = Family("linear")
    for name, xshape, bias in [
        ("2d_bias", (5, 7), True),
        ("2d_nobias", (5, 7), False),
        ("3d_bias", (2, 3, 7), True),
        ("3d_nobias", (2, 3, 7), False),
    ]:
        c = fam.case(name, "linear", in_features=7, out_features=4, bias=bias)
        x = c.input("x", xshape)
        wt = c.input("weight", (4, 7))
        b = c.input("bias", (4,)) if bias else None
        y = F.linear(x, wt, b)
        c.output("y", y)
        c.backward(y, [("x", x), ("weight", wt)] + ([("bias", b)] if bias else []))
        c.done()
    return fam


def shape():
    fam = Family("shape")

    c = fam.case("permute", "permute", perm=[0, 2, 3, 1])
    x = c.input("x", (2, 3, 4, 5))
    y = x.permute(0, 2, 3, 1)
    c.output("y", y)
    c.backward(y, [("x", x)])
    c.done()

    # ViT: "b n (h d qkv) -> qkv b h n d", h=2, qkv=3, d=4.
    c = fam.case("split_qkv", "rearrange", pattern="b n (h d qkv) -> qkv b h n d",
                 h=2, d=4, qkv=3)
    x = c.input("x", (2, 5, 24))
    y = x.view(2, 5, 2, 4, 3).permute(4, 0, 2, 1, 3)
    c.output("y", y)
    c.backward(y, [("x", x)])
    c.done()

    base = [2, 3, 4]
    for dim in range(3):
        c = fam.case("concat_dim%d" % dim, "concat", dim=dim)
        parts = []
        for j, nm in enumerate(["a", "b", "c"]):
            s = list(base)
            s[dim] = j + 1
            parts.append((nm, c.input(nm, s)))
        y = torch.cat([t for _, t in parts], dim=dim)
        c.output("y", y)
        c.backward(y, parts)
        c.done()

    c = fam.case("mean_dim1", "mean", dim=1, keepdim=False)
    x = c.input("x", (2, 5, 6))
    y = x.mean(dim=1)
    c.output("y", y)
    c.backward(y, [("x", x)])
    c.done()

    for name, ashape, bshape in [
        ("add_bcast_4d", (2, 3, 4, 5), (1, 3, 1, 1)),
        ("add_bcast_vec", (2, 5, 6), (6,)),
        ("add_bcast_lead", (2, 5, 6), (1, 5, 6)),
    ]:
        c = fam.case(name, "add")
        a = c.input("a", ashape)
        b = c.input("b", bshape)
        y = a + b
        c.output("y", y)
        c.backward(y, [("a", a), ("b", b)])
        c.done()

    c = fam.case("scale", "scale", alpha=0.37)
    x = c.input("x", (2, 3, 4))
    y = x * 0.37
    c.output("y", y)
    c.backward(y, [("x", x)])
    c.done()

    c = fam.case("channel_scale", "channel_scale")
    x = c.input("x", (2, 4, 3, 3))
    s = c.input("s", (2, 4))
    y = x * s[:, :, None, None]
    c.output("y", y)
    c.backward(y, [("x", x), ("s", s)])
    c.done()
    return fam


def norm():
    fam = Family("norm")
    c = fam.case("layer_norm", "layer_norm", normalized_shape=[8], eps=1e-5)
    x = c.input("x", (2, 5, 8))
    wt = c.input("weight", (8,))
    b = c.input("bias", (8,))
    y = F.layer_norm(x, (8,), wt, b, eps=1e-5)
    c.output("y", y)
    c.backward(y, [("x", x), ("weight", wt), ("bias", b)])
    c.done()

    for name, scale in [("softmax", None), ("softmax_large", 200.0)]:
        c = fam.case(name, "softmax", dim=-1)
        x = c.input("x", (2, 3, 7), scale=scale)
        y = F.softmax(x, dim=-1)
        c.output("y", y)
        c.backward(y, [("x", x)])
        c.done()
    return fam


def matmul():
    fam = Family("matmul")
    for name, ashape, bshape, ta, tb in [
        ("batched", (2, 3, 4, 5), (2, 3, 5, 6), False, False),
        ("batched_bt", (2, 3, 4, 5), (2, 3, 6, 5), False, True),
        ("batched_at", (2, 3, 5, 4), (2, 3, 5, 6), True, False),
    ]:
        c = fam.case(name, "matmul", transpose_a=ta, transpose_b=tb)
        a = c.input("a", ashape)
        b = c.input("b", bshape)
        aa = a.transpose(-1, -2) if ta else a
        bb = b.transpose(-1, -2) if tb else b
        y = torch.matmul(aa, bb)
        c.output("y", y)
        c.backward(y, [("a", a), ("b", b)])
        c.done()
    return fam


def loss():
    fam = Family("loss")
    for name, scale in [("cross_entropy", None), ("cross_entropy_large", 200.0)]:
        c = fam.case(name, "cross_entropy", reduction="mean", num_classes=10)
        logits = c.input("logits", (7, 10), scale=scale)
        labels = c.constant(
            "labels", torch.tensor([i * 3 % 10 for i in range(7)], dtype=torch.int64))
        c.output("log_softmax", F.log_softmax(logits, dim=-1))
        l = F.cross_entropy(logits, labels, reduction="mean")
        c.output("loss", l)  # shape [] (a scalar)
        (g,) = torch.autograd.grad(l, [logits])
        c.output("dlogits", g)
        c.done()
    return fam


def optim():
    fam = Family("optim")
    n, steps = 17, 3
    cases = [
        ("sgd_plain", torch.optim.SGD,
         dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)),
        ("sgd_momentum", torch.optim.SGD,
         dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False)),
        ("sgd_momentum_wd", torch.optim.SGD,
         dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-4, nesterov=False)),
        ("sgd_nesterov", torch.optim.SGD,
         dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=True)),
        ("adadelta_lr0.1", torch.optim.Adadelta,
         dict(lr=0.1, rho=0.9, eps=1e-6, weight_decay=0.0)),
        ("adadelta_lr1_wd", torch.optim.Adadelta,
         dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=1e-4)),
    ]
    for name, cls, hp in cases:
        op = "sgd" if cls is torch.optim.SGD else "adadelta"
        c = fam.case(name, op, steps=steps, **hp)
        p = torch.nn.Parameter(c.input("p0", (n,), grad=False))
        opt = cls([p], **hp)
        grads = [c.input("g%d" % s, (n,), grad=False) for s in range(1, steps + 1)]
        for s in range(1, steps + 1):
            opt.zero_grad()
            p.grad = grads[s - 1].clone()
            opt.step()
            c.output("p%d" % s, p)
        c.done()
    return fam


FAMILIES = [conv2d, batchnorm, activations, pool, linear, shape, norm, matmul, loss, optim, fused]


def main():
    fixtures.selftest()
    torch.manual_seed(0)  # nothing should be random; belt and braces
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for make in FAMILIES:
        fam = make()
        path = fam.write()
        size = os.path.getsize(path)
        total += size
        print("%-40s %7d bytes  %2d cases  %3d tensors"
              % (os.path.relpath(path), size, len(fam.meta), len(fam.tensors)))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
