# gotrain: make test (every CPU test and go vet), make build, make bench.
GO ?= go
PYTHON ?= /usr/bin/python3

.PHONY: all build test vet race bench bench-baseline fixtures clean

all: build

build:
	$(GO) build -o bin/gotrain ./cmd/gotrain

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every CPU test; a few minutes on 2 cores.
test: vet
	$(GO) test -count=1 ./...

race:
	$(GO) test -count=1 -short -race ./...

# The baseline's training step, gotrain beside PyTorch on this machine.
bench-baseline:
	bench/baseline.sh

# Every model's batch-$(BATCH) training step on each engine, gotrain beside
# PyTorch (eager, and torch.compile where PyTorch >= 2) on the same cores,
# plus per-kernel benchmarks against this machine's measured peaks: one
# table, and results in bench/results/<date>-<host>.json and .txt (benchstat).
# About 10 minutes on 2 cores. MODELS=baseline,googlenet selects models;
# TAGS=cuda adds the CUDA engine; BENCH_OUT=FILE.json sets the output.
MODELS ?=
BATCH ?= 64
TAGS ?=
BENCH_OUT ?=
bench:
	$(GO) run ./bench/cmd/benchtable -models '$(MODELS)' -batch '$(BATCH)' -tags '$(TAGS)' -python '$(PYTHON)' \
		-out '$(BENCH_OUT)'

# Regenerate the PyTorch fixtures (needs Debian's python3-torch).
fixtures:
	$(PYTHON) engine/testdata/make_fixtures.py

clean:
	rm -rf bin

# ---- The Docker image ------------------------------------------------------
# Every RUN of the Dockerfile is one of these targets, and CI runs them all
# with `make image-steps` (bench/dockerfile_test.go checks both).
.PHONY: image-steps deps build-image-binary mnist image-runs

# Where the image's files are staged (/out in the Dockerfile's build stage).
IMAGE_OUT ?= bin/image
# The image's gotrain is built with -tags cuda when the repository has the
# CUDA engine (a cuda/ package) and the CUDA headers are present (the
# devel image has them), else without (a CPU-only gotrain).
CUDA_HOME ?= /usr/local/cuda
IMAGE_TAGS ?= $(if $(and $(wildcard cuda/*.go),$(wildcard $(CUDA_HOME)/include/cuda.h)),cuda,)
# MNIST folder for `make mnist` (empty: gotrain's default, ~/.cache/gotrain/mnist).
DATA ?=

image-steps: deps build-image-binary mnist image-runs

# The Go modules, in their own layer of the image.
deps:
	$(GO) mod download

# gotrain for the image: $(IMAGE_OUT)/gotrain, with the committed PTX (no nvcc).
build-image-binary:
	@mkdir -p '$(IMAGE_OUT)'
	@echo "gotrain for the image: tags '$(IMAGE_TAGS)'$(if $(wildcard cuda/*.go),$(if $(IMAGE_TAGS),, (cuda/ exists but $(CUDA_HOME)/include/cuda.h does not: CPU-only)),)"
	CGO_ENABLED=$(if $(IMAGE_TAGS),1,0) $(GO) build -trimpath -tags '$(IMAGE_TAGS)' -o '$(IMAGE_OUT)/gotrain' ./cmd/gotrain

# Fetch MNIST into $(DATA): gotrain trains 0 epochs there (it fetches the
# four files when missing and checks them), with a CPU-only build so that
# no GPU is needed.
mnist:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) run ./cmd/gotrain -device cpu -epochs 0 -limit-train 64 -limit-test 64 $(if $(DATA),-data '$(DATA)') -out "$$tmp/run" >/dev/null && \
	echo "MNIST: $(or $(DATA),gotrain's default folder) is ready"

# The image's run folder, /runs (copied into the image owned by its user).
image-runs:
	mkdir -p '$(IMAGE_OUT)/runs'
