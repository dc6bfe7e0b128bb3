"""Makes the PyTorch fixture of cmd/gotrain's eval test (eval_test.go).

    /usr/bin/python3 make_fixture.py [MNIST_DIR]     # default /root/.cache/gotrain/mnist

Trains the seed's baseline (bench/pytorch/seed_models.py) in PyTorch for one
epoch on the first 6,000 MNIST training images (Adadelta, lr 1.0, batch 64,
deterministic: seed 1, 2 threads), then, in eval mode, predicts all 10,000
test images in test-set order. Writes, next to this script:

    baseline.safetensors  the model's state_dict, laid out as
                          safetensors.torch.save_file does (by dtype, then
                          name), metadata {"format": "pt"}
    predictions.csv       index,label,prediction,confidence (max softmax of
                          the logits, 6 decimals), as `gotrain eval` writes it

Needs only torch and numpy (Debian's /usr/bin/python3); the IDX .gz files
are read with gzip + numpy, and safetensors is written by hand
(engine/testdata/fixtures.py).
"""

import gzip
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "pytorch"))
sys.path.insert(0, os.path.join(ROOT, "engine", "testdata"))

import fixtures  # noqa: E402  (the project's safetensors writer)
import seed_models  # noqa: E402

TRAIN_IMAGES = 6000
BATCH = 64
MEAN, STD = 0.1307, 0.3081


def read_idx(path):
    """Reads an IDX file (.gz) as a numpy uint8 array of its shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError("%s: not an IDX file of unsigned bytes" % path)
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError("%s: %d bytes of data, shape %s" % (path, data.size, shape))
    return data.reshape(shape)


def load(folder, prefix):
    images = read_idx(os.path.join(folder, prefix + "-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(folder, prefix + "-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255))
    x = ((x - MEAN) / STD).unsqueeze(1)  # (N, 1, 28, 28)
    return x, torch.from_numpy(labels.astype(np.int64))


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "/root/.cache/gotrain/mnist"
    torch.manual_seed(1)
    torch.set_num_threads(2)

    x_train, y_train = load(folder, "train")
    x_test, y_test = load(folder, "t10k")
    x_train, y_train = x_train[:TRAIN_IMAGES], y_train[:TRAIN_IMAGES]

    model = seed_models.build("baseline")
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    model.train()
    perm = torch.randperm(TRAIN_IMAGES)
    for lo in range(0, TRAIN_IMAGES, BATCH):
        idx = perm[lo : lo + BATCH]
        opt.zero_grad()
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        loss.backward()
        opt.step()

    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x_test[lo : lo + 1000]) for lo in range(0, len(x_test), 1000)])
    probs = torch.softmax(logits.double(), dim=1)
    conf, pred = probs.max(dim=1)
    acc = (pred == y_test).double().mean().item()

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    fixtures.save(os.path.join(HERE, "baseline.safetensors"), state, {"format": "pt"})
    with open(os.path.join(HERE, "predictions.csv"), "w", newline="") as f:
        f.write("index,label,prediction,confidence\n")
        for i in range(len(y_test)):
            f.write("%d,%d,%d,%.6f\n" % (i, y_test[i].item(), pred[i].item(), conf[i].item()))
    print("baseline: %d params, test accuracy %.2f%% on %d images"
          % (sum(v.numel() for v in state.values()), 100 * acc, len(y_test)))


if __name__ == "__main__":
    main()
