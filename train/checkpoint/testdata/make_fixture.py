"""Writes torch_state.safetensors: a real PyTorch state_dict, saved as
safetensors.torch.save_file(model.state_dict(), path, {"format": "pt"})
lays it out, for package github.com/gotrain/gotrain/train/checkpoint.

Debian has no safetensors Python package, so the format is written here by
hand, the way the reference (Rust) writer does it: tensors sorted by dtype
(I64 before F32, the order of its Dtype enum, widest first) then by name,
a compact JSON header with __metadata__ first and the tensors in data
order, padded with spaces to a multiple of 8 bytes.

Values are exact in float32 so that the Go test can recompute them: the
k-th float tensor of the state_dict (k from 0, state_dict order) holds
k + i/16 at flat index i; bn1.num_batches_tracked is 7 and
bn2.num_batches_tracked is 123456789012 (more than an int32 holds).

Run: /usr/bin/python3 train/checkpoint/testdata/make_fixture.py
"""

import json
import os
import struct

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "torch_state.safetensors")

# Rank of each dtype in the reference writer's Dtype enum.
RANK = {torch.float32: 11, torch.int64: 13}
NAME = {torch.float32: "F32", torch.int64: "I64"}
NP = {torch.float32: "<f4", torch.int64: "<i8"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3)
        self.bn1 = nn.BatchNorm2d(2)
        self.fc = nn.Linear(8, 3)
        self.bn2 = nn.BatchNorm1d(3)


def state():
    model = Net()
    sd = model.state_dict()
    k = 0
    with torch.no_grad():
        for name, t in sd.items():
            if t.dtype == torch.float32:
                n = t.numel()
                t.copy_((k + torch.arange(n, dtype=torch.float64) / 16).float().reshape(t.shape))
                k += 1
    sd["bn1.num_batches_tracked"].fill_(7)
    sd["bn2.num_batches_tracked"].fill_(123456789012)
    return model, sd


def save_file(tensors, path, metadata):
    items = sorted(tensors.items(), key=lambda kv: (-RANK[kv[1].dtype], kv[0]))
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, off = [], 0
    for name, t in items:
        b = t.detach().contiguous().numpy().astype(NP[t.dtype]).tobytes()
        header[name] = {
            "dtype": NAME[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [off, off + len(b)],
        }
        blobs.append(b)
        off += len(b)
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def load_file(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__")
    out = {}
    for name, info in header.items():
        s, e = info["data_offsets"]
        dt = {"F32": torch.float32, "I64": torch.int64}[info["dtype"]]
        arr = np.frombuffer(raw[8 + n + s : 8 + n + e], dtype=NP[dt]).copy()
        out[name] = torch.from_numpy(arr).reshape(info["shape"])
    return out, meta


def main():
    model, sd = state()
    save_file(sd, OUT, {"format": "pt"})
    # The file loads back, strictly, into the model it came from.
    back, meta = load_file(OUT)
    fresh = Net()
    fresh.load_state_dict(back, strict=True)
    for name, t in fresh.state_dict().items():
        assert torch.equal(t, sd[name]), name
        assert t.dtype == sd[name].dtype and t.shape == sd[name].shape, name
    assert back["bn1.num_batches_tracked"].dim() == 0
    assert meta == {"format": "pt"}
    print("wrote %s (%d bytes, %d tensors)" % (OUT, os.path.getsize(OUT), len(sd)))


if __name__ == "__main__":
    main()
