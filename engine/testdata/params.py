"""Deterministic model parameters from the fixture hash, shared with Go.

A whole network's state (every state_dict entry) is regenerated from the
name-and-index hash of fixtures.py, scaled so that deep networks stay well
conditioned. Go has the same rule: ParamAffine / ParamValues in package
github.com/gotrain/gotrain/internal/fixture (internal/fixture/params.go); both
pin the values in PARAMS_PINNED.

The entry called `name` (the hash name, e.g. "vgg/fc1.weight": model prefix
plus the state_dict key) with shape `shape` is

    value[i] = float32(scale * fill(name)[i]) + shift       (float32 ops)

where (scale, shift) depends on the last dot-separated part of the name
(`leaf`) and on the shape:

    leaf                    rank   scale                     shift
    weight                  >= 2   1/sqrt(prod(shape[1:]))   0     (conv, linear: 1/sqrt(fan_in))
    weight                  1      0.1                       1     (BN, LayerNorm gamma)
    bias                    any    0.1                       0
    running_mean            any    0.1                       0
    running_var             any    0.5                       1     (in [0.5, 1.5): positive)
    num_batches_tracked     any    0                         0
    anything else           any    1                         0     (ViT cls_token, positions)

scale is the float64 value rounded to float32 (1/sqrt in float64 first).
"""

import math

import numpy as np
import torch

import fixtures

PARAM_RULE = (
    "value = float32(scale*fill(name)[i]) + shift (float32 ops), name = '<model>/<state_dict key>', "
    "by the key's last dotted part: weight rank>=2: scale 1/sqrt(prod(shape[1:])); weight rank 1: 0.1, +1; "
    "bias: 0.1; running_mean: 0.1; running_var: 0.5, +1; num_batches_tracked: 0; else (cls_token, positions): 1"
)


def param_affine(name, shape):
    """(scale, shift) as numpy float32 for the entry called name."""
    leaf = name.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
    if leaf == "weight" and len(shape) >= 2:
        fan_in = int(np.prod(shape[1:], dtype=np.int64))
        return np.float32(1.0 / math.sqrt(fan_in)), np.float32(0)
    table = {
        "weight": (0.1, 1.0),
        "bias": (0.1, 0.0),
        "running_mean": (0.1, 0.0),
        "running_var": (0.5, 1.0),
        "num_batches_tracked": (0.0, 0.0),
    }
    scale, shift = table.get(leaf, (1.0, 0.0))
    return np.float32(scale), np.float32(shift)


def param_values_np(name, shape):
    """The entry's values as a float32 numpy array of the given shape."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    scale, shift = param_affine(name, shape)
    v = fixtures.fill_np(name, n)
    v *= scale  # float32 multiply, rounded
    v += shift  # then float32 add: no fused multiply-add
    return v.reshape(shape)


def fill_state(model, prefix):
    """Overwrites every state_dict entry of model with param_values(prefix +
    key); integer entries (num_batches_tracked) become 0."""
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                t.copy_(torch.from_numpy(param_values_np(prefix + key, t.shape)))
            else:
                t.zero_()


# (name, shape, index, float32 bits); pinned in internal/fixture/params_test.go too.
PARAMS_PINNED = [
    ("vgg/fc1.weight", (4096, 25088), 0, 0x3B2C4D7F),
    ("vgg/fc1.weight", (4096, 25088), 102760447, 0x3B6046ED),
    ("resnet/conv1.weight", (64, 1, 7, 7), 5, 0x3DC2E4B7),
    ("resnet/bn1.weight", (64,), 3, 0x3F83E9DE),
    ("resnet/bn1.bias", (64,), 3, 0x3CC40E3A),
    ("resnet/bn1.running_mean", (64,), 7, 0xBDBD79F8),
    ("resnet/bn1.running_var", (64,), 7, 0x3FA3A554),
    ("vit/0.cls_token", (1, 1, 768), 767, 0xBDE51E80),
    ("vit/1.5.0.fn.1.qkv.weight", (2304, 768), 1000, 0x3B25D11A),
]


def selftest():
    """Checks param_values_np against PARAMS_PINNED."""
    bad = []
    for name, shape, i, bits in PARAMS_PINNED:
        scale, shift = param_affine(name, shape)
        v = np.float32(np.float32(fixtures.value(name, i)) * scale) + shift
        got = int(np.array([v], dtype=np.float32).view(np.uint32)[0])
        if got != bits:
            bad.append("%s[%d]: bits 0x%08X, pinned 0x%08X" % (name, i, got, bits))
        if np.prod(shape) <= 1 << 20 and param_values_np(name, shape).reshape(-1)[i] != v:
            bad.append("param_values_np(%s)[%d] disagrees with the scalar rule" % (name, i))
    if bad:
        raise AssertionError("param self-test failed:\n" + "\n".join(bad))


if __name__ == "__main__":
    for name, shape, i, _ in PARAMS_PINNED:
        scale, shift = param_affine(name, shape)
        v = np.float32(np.float32(fixtures.value(name, i)) * scale) + shift
        print('("%s", %s, %d, 0x%08X),' % (name, shape, i, int(np.array([v], dtype=np.float32).view(np.uint32)[0])))
