"""Shared helpers for gotrain's PyTorch fixtures.

fill(name, shape) gives the deterministic name-and-index hash values that
package github.com/gotrain/gotrain/internal/fixture computes in Go (Fill/Value);
save(path, tensors, metadata) writes a safetensors file; load(path) reads one
back. Run with /usr/bin/python3 (Debian's torch + numpy); no other package is
needed: the safetensors format is written by hand.

Hash, for element i (flat, row-major) of the tensor called name:
    h = FNV-1a 64 of the UTF-8 bytes of name
    z = h + (i+1) * 0x9E3779B97F4A7C15                      (mod 2^64)
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9                 (mod 2^64)
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB                 (mod 2^64)
    z ^= z >> 31
    value = float32(z >> 40) / 2^23 - 1      # exact float32 in [-1, 1)
"""

import json
import struct

import numpy as np
import torch

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for b in name.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & _M64
    return h


def value(name, i):
    """Scalar reference implementation (plain Python ints)."""
    z = (fnv1a64(name) + (i + 1) * _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * _MIX1) & _M64
    z = ((z ^ (z >> 27)) * _MIX2) & _M64
    z ^= z >> 31
    return float(np.float32(z >> 40) / np.float32(1 << 23) - np.float32(1))


def fill_np(name, n):
    """n hash values for name as a float32 numpy vector (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(fnv1a64(name)) + i * np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
        z = z ^ (z >> np.uint64(31))
    k = (z >> np.uint64(40)).astype(np.float32)
    return k / np.float32(1 << 23) - np.float32(1)


def fill(name, shape):
    """A torch.float32 tensor of the given shape filled by the hash of name."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    return torch.from_numpy(fill_np(name, n).reshape(shape))


# Values pinned in internal/fixture/fixture_test.go too: (name, index, float32 bits).
PINNED = [
    ("", 0, 0x3F0702F8),
    ("", 1, 0xBF5FE64C),
    ("a", 0, 0xBE8358F8),
    ("conv2d/k3_s1_p0_bias/x", 0, 0x3E97BE4C),
    ("conv2d/k3_s1_p0_bias/x", 293, 0xBDD14810),
    ("optim/sgd_plain/g3", 16, 0xBED6BA84),
    ("\u00e9t\u00e9/\u4e2d", 7, 0x3F69BBDE),
    ("x", 123456789, 0xBCD7CB80),
]


def selftest():
    """Checks numpy fill against the scalar version and the pinned values."""
    bad = []
    for name, i, bits in PINNED:
        v = np.float32(value(name, i))
        got = struct.unpack("<I", struct.pack("<f", v))[0]
        if got != bits:
            bad.append("value(%r, %d) bits 0x%08X, pinned 0x%08X" % (name, i, got, bits))
        if i < 1000 and fill_np(name, i + 1)[i] != v:
            bad.append("fill_np(%r)[%d] != value" % (name, i))
    for name in ["conv2d/x", "q", ""]:
        vec = fill_np(name, 300)
        for i in range(300):
            if vec[i] != np.float32(value(name, i)):
                bad.append("fill_np(%r)[%d] disagrees with value()" % (name, i))
                break
    if bad:
        raise AssertionError("fixture hash self-test failed:\n" + "\n".join(bad))


# safetensors dtype names, item sizes, and alignment rank (safetensors orders
# tensors by dtype, largest first, then by name; the rank mirrors its enum).
_DTYPES = {
    torch.bool: ("BOOL", 0),
    torch.uint8: ("U8", 1),
    torch.int8: ("I8", 2),
    torch.int16: ("I16", 5),
    torch.float16: ("F16", 7),
    torch.bfloat16: ("BF16", 8),
    torch.int32: ("I32", 9),
    torch.float32: ("F32", 11),
    torch.float64: ("F64", 12),
    torch.int64: ("I64", 13),
}

_NP_LE = {
    torch.bool: "|b1",
    torch.uint8: "|u1",
    torch.int8: "|i1",
    torch.int16: "<i2",
    torch.float16: "<f2",
    torch.int32: "<i4",
    torch.float32: "<f4",
    torch.float64: "<f8",
    torch.int64: "<i8",
}


def _tobytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(_NP_LE[t.dtype]).tobytes()


def save(path, tensors, metadata=None):
    """Writes tensors (dict name -> torch.Tensor) and metadata (dict str -> str)
    as a safetensors file, laid out as the safetensors library does: data
    ordered by dtype (widest first) then name, header padded with spaces to a
    multiple of 8 bytes. The output is byte-for-byte deterministic."""
    items = []
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError("tensor name %r is not a str" % (name,))
        if t.dtype not in _DTYPES:
            raise TypeError("%s: unsupported dtype %s" % (name, t.dtype))
        items.append((name, t))
    items.sort(key=lambda nt: (-_DTYPES[nt[1].dtype][1], nt[0]))

    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("metadata must map str to str, got %r: %r" % (k, v))
        header["__metadata__"] = dict(sorted(metadata.items()))
    blobs = []
    offset = 0
    for name, t in items:
        b = _tobytes(t)
        header[name] = {
            "dtype": _DTYPES[t.dtype][0],
            "shape": [int(s) for s in t.shape],
            "data_offsets": [offset, offset + len(b)],
        }
        blobs.append(b)
        offset += len(b)
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


_FROM_NAME = {
    "BOOL": (torch.bool, "|b1"),
    "U8": (torch.uint8, "|u1"),
    "I8": (torch.int8, "|i1"),
    "I16": (torch.int16, "<i2"),
    "F16": (torch.float16, "<f2"),
    "I32": (torch.int32, "<i4"),
    "F32": (torch.float32, "<f4"),
    "F64": (torch.float64, "<f8"),
    "I64": (torch.int64, "<i8"),
}


def load(path):
    """Reads a safetensors file: returns (dict name -> tensor, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    metadata = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        s, e = info["data_offsets"]
        dt, npdt = _FROM_NAME[info["dtype"]]
        arr = np.frombuffer(data[s:e], dtype=npdt).copy()
        out[name] = torch.from_numpy(arr).reshape(info["shape"]).to(dt)
    return out, metadata
