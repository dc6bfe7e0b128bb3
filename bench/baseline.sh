#!/usr/bin/env bash
# The baseline's batch-64 training step on this machine, gotrain beside
# PyTorch (Debian's python3-torch, same thread count), in one run: `make
# bench` for the baseline alone, without the kernel benchmarks. Flags go to
# bench/cmd/benchtable (e.g. -small-benchtime 10s, -count 6).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${GO:-go}" run ./bench/cmd/benchtable -models baseline -kernels=false "$@"
