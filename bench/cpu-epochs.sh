#!/usr/bin/env bash
# Real CPU training against PyTorch (issue 16's second check): for each
# model, one `gotrain -device cpu` epoch of the first N images (its
# images_per_sec) beside N/batch PyTorch training steps of the same model
# and recipe (bench/pytorch/step.py), same thread count, in one table.
# About 10 minutes on 2 cores for all seven models. `make bench-epochs`;
# flags go to bench/cmd/cpuepochs (-models baseline,googlenet, -threads N,
# -scale 0.5, -python none, -out DIR to keep the run folders).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${GO:-go}" run ./bench/cmd/cpuepochs "$@"
