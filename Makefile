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

bench: bench-baseline

# Regenerate the PyTorch fixtures (needs Debian's python3-torch).
fixtures:
	$(PYTHON) engine/testdata/make_fixtures.py

clean:
	rm -rf bin
