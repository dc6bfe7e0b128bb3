# gotrain: make test (every CPU test and go vet), make build, make bench.
GO ?= go
PYTHON ?= /usr/bin/python3
# go-nvml's C code uses deprecated NVML declarations: quiet gcc about them.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: all build train test vet race bench bench-baseline fixtures winograd-gen clean ptx ptx-check gpu-kit cuda-toolkit

# ---- CUDA kernels ----------------------------------------------------------
# kernels/*.cu compile to PTX for compute_80 with the pinned toolkit,
# Debian 12's nvidia-cuda-toolkit (CUDA 11.8; `make cuda-toolkit` installs
# it). The .ptx files are committed and embedded, so building gotrain never
# needs nvcc; another nvcc version writes other PTX, so ptx-check runs only
# with the pinned one.
NVCC ?= nvcc
PTX_ARCH ?= compute_80
NVCC_FLAGS ?= -ptx -arch=$(PTX_ARCH) -O3 -std=c++14
PINNED_NVCC := release 11.8

all: build

# gotrain's version (config.json's "version") is the commit it is built from.
VERSION ?= $(shell git describe --always --dirty --tags 2>/dev/null)
build:
	$(GO) build -ldflags '-X main.version=$(VERSION)' -o bin/gotrain ./cmd/gotrain

# Train on the best device available: gotrain is built with the CUDA engine
# when an NVIDIA driver and the CUDA headers are present (-device auto then
# picks the first GPU), else CPU-only. ARGS are gotrain's flags.
ARGS ?= -model baseline -epochs 1
CUDA_HEADERS = $(or $(wildcard /usr/include/cuda.h),$(wildcard $(CUDA_HOME)/include/cuda.h))
TRAIN_TAGS ?= $(if $(and $(wildcard /proc/driver/nvidia/version),$(CUDA_HEADERS)),cuda,)
train:
	$(GO) run -tags '$(TRAIN_TAGS)' ./cmd/gotrain $(ARGS)

vet:
	$(GO) vet ./...
	@if [ -f /usr/include/cuda.h ] || [ -f $(CUDA_HOME)/include/cuda.h ]; then \
		echo "go vet -tags cuda ./..."; $(GO) vet -tags cuda ./...; \
	else echo "go vet -tags cuda: skipped (no cuda.h; make cuda-toolkit installs it)"; fi
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every CPU test; about 8 minutes on 2 cores (the emulated parity tests
# take 5: a package may take past go test's default 10-minute limit on a
# slower machine).
test: vet ptx-check
	$(GO) test -count=1 -timeout 30m ./...

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

# Real CPU training against PyTorch: one `gotrain -device cpu` epoch of N
# images per model (metrics.jsonl's images_per_sec) beside N/batch PyTorch
# training steps, same threads, one table; about 10 minutes on 2 cores.
# MODELS=baseline,googlenet selects models; THREADS sets both sides'
# threads; PYTHON=none times gotrain alone.
.PHONY: bench-epochs
bench-epochs:
	bench/cpu-epochs.sh -models '$(MODELS)' -python '$(PYTHON)' $(if $(THREADS),-threads '$(THREADS)')

# The pinned CUDA toolkit (Debian 12's non-free nvidia-cuda-toolkit, CUDA
# 11.8) and gcc for cgo; adds contrib non-free to the apt sources; does
# nothing when they are installed.
cuda-toolkit:
	scripts/install-cuda-toolkit.sh

# make ptx also regenerates the CPU emulator's kernel tables
# (kernels/emu/kernels_*.cc) from the sources and the new PTX.
ptx:
	@for f in kernels/*.cu; do \
		echo "$(NVCC) $(NVCC_FLAGS) $$f"; \
		(cd kernels && $(NVCC) $(NVCC_FLAGS) -o $$(basename $${f%.cu}).ptx $$(basename $$f)) || exit 1; \
	done
	$(GO) generate ./kernels/emu

# Fails when a committed .ptx differs from what the pinned nvcc makes of its
# .cu (or a .cu has no .ptx); skipped with another nvcc or none.
ptx-check:
	@if ! command -v $(NVCC) >/dev/null; then echo "ptx-check: skipped (no nvcc)"; exit 0; fi; \
	if ! $(NVCC) --version | grep -q '$(PINNED_NVCC)'; then echo "ptx-check: skipped ($$($(NVCC) --version | grep release) is not the pinned $(PINNED_NVCC))"; exit 0; fi; \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cp kernels/*.cu kernels/*.cuh "$$tmp"/ 2>/dev/null; \
	status=0; for f in kernels/*.cu; do b=$$(basename $${f%.cu}); \
		(cd "$$tmp" && $(NVCC) $(NVCC_FLAGS) -o $$b.ptx $$b.cu) || exit 1; \
		if ! cmp -s "$$tmp/$$b.ptx" kernels/$$b.ptx; then echo "ptx-check: kernels/$$b.ptx is stale: run make ptx and commit it"; status=1; fi; \
	done; \
	for p in kernels/*.ptx; do [ -f "$${p%.ptx}.cu" ] || { echo "ptx-check: $$p has no .cu"; status=1; }; done; \
	[ $$status = 0 ] && echo "ptx-check: kernels/*.ptx match their sources"; exit $$status

# Everything a GPU machine without Go needs to check the CUDA engine, in
# $(GPU_KIT) (git-ignored, about 60 MB): the cuda-tagged test binaries of
# cuda/, kernels/parity/, models/ (with its PyTorch fixtures) and bench/
# (stripped), gotrain and the kernel lab (cmd/kernellab) built with CUDA,
# test2json (the GPU machine has no Go: gpu-check.sh reads the tests'
# -test.v=test2json events through it), bench/pytorch's step timer, the
# gzipped MNIST files and gpu-check.sh, which runs them all (see
# scripts/gpu-check.sh).
GPU_KIT ?= bin/gpu
gpu-kit:
	@mkdir -p '$(GPU_KIT)/mnist' '$(GPU_KIT)/testdata'
	$(GO) test -c -tags cuda -ldflags '-s -w' -o '$(GPU_KIT)/cuda.test' ./cuda
	$(GO) test -c -tags cuda -ldflags '-s -w' -o '$(GPU_KIT)/parity.test' ./kernels/parity
	$(GO) test -c -tags cuda -ldflags '-s -w' -o '$(GPU_KIT)/models.test' ./models
	cp -r models/testdata/torch '$(GPU_KIT)/testdata/' 
	$(GO) test -c -tags cuda -ldflags '-s -w' -o '$(GPU_KIT)/bench.test' ./bench
	$(GO) build -tags cuda -ldflags '-s -w' -o '$(GPU_KIT)/gotrain' ./cmd/gotrain
	$(GO) build -tags cuda -ldflags '-s -w' -o '$(GPU_KIT)/kernellab' ./cmd/kernellab
	$(MAKE) --no-print-directory mnist DATA='$(abspath $(GPU_KIT))/mnist'
	$(GO) build -ldflags '-s -w' -o '$(GPU_KIT)/test2json' cmd/test2json
	@mkdir -p '$(GPU_KIT)/pytorch'
	cp bench/pytorch/step.py bench/pytorch/seed_models.py '$(GPU_KIT)/pytorch/'
	cp scripts/gpu-check.sh '$(GPU_KIT)/'
	@du -sh '$(GPU_KIT)'

# Regenerate the PyTorch fixtures (needs Debian's python3-torch).
fixtures:
	$(PYTHON) engine/testdata/make_fixtures.py

# Regenerate the CPU engine's Winograd transforms (AVX-512 assembly) and
# matrices; TestWinogradGenerated checks they are current.
winograd-gen:
	$(PYTHON) engine/winograd_gen.py

clean:
	rm -rf bin

# ---- The Docker image ------------------------------------------------------
# Every RUN of the Dockerfile is one of these targets, and CI runs them all
# with `make image-steps` (bench/dockerfile_test.go checks both).
.PHONY: image-steps deps build-image-binary mnist image-runs

# Where the image's files are staged (/out in the Dockerfile's build stage).
IMAGE_OUT ?= bin/image
# The image's gotrain is built with -tags cuda when the CUDA headers are
# present (the devel image has them), else without (a CPU-only gotrain).
CUDA_HOME ?= /usr/local/cuda
IMAGE_TAGS ?= $(if $(wildcard $(CUDA_HOME)/include/cuda.h),cuda,)
# MNIST folder for `make mnist` (empty: gotrain's default, ~/.cache/gotrain/mnist).
DATA ?=

image-steps: deps build-image-binary mnist image-runs

# The Go modules, in their own layer of the image.
deps:
	$(GO) mod download

# gotrain for the image: $(IMAGE_OUT)/gotrain, with the committed PTX (no nvcc).
# A CUDA build links against the devel image's libcuda stub; the driver's
# libcuda.so.1 is mounted into the container at run time (--gpus).
build-image-binary:
	@mkdir -p '$(IMAGE_OUT)'
	@echo "gotrain for the image: tags '$(IMAGE_TAGS)'$(if $(IMAGE_TAGS),, (no $(CUDA_HOME)/include/cuda.h: CPU-only))"
	CGO_ENABLED=$(if $(IMAGE_TAGS),1,0) $(if $(IMAGE_TAGS),CGO_LDFLAGS='-L$(CUDA_HOME)/lib64/stubs',) \
		$(GO) build -trimpath -tags '$(IMAGE_TAGS)' -o '$(IMAGE_OUT)/gotrain' ./cmd/gotrain

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
