"""Times a batch-64 training step of the seed's baseline CNN in PyTorch.

The model is the seed's baseline.py Net; the step is what gotrain's
BenchmarkTrainStepCPU/baseline times: batch in, forward, cross-entropy,
backward, Adadelta update. Prints one JSON line.

    /usr/bin/python3 bench/pytorch/baseline_step.py [--threads 2] [--seconds 5]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(2304, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return self.fc2(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = Net()
    opt = torch.optim.Adadelta(model.parameters(), lr=0.1)
    x = torch.randn(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        step()
        n += 1
    secs = time.perf_counter() - start
    print(json.dumps({"framework": "pytorch " + torch.__version__, "model": "baseline", "threads": args.threads,
                      "batch": args.batch, "steps": n, "img_per_sec": n * args.batch / secs}))


if __name__ == "__main__":
    main()
