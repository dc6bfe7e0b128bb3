# syntax=docker/dockerfile:1
#
# gotrain's image: built on NVIDIA's CUDA 12 devel image (gorgonia.org/cu
# v0.9.6 does not compile against CUDA 13 headers), run on the matching
# runtime image as a non-root user, with MNIST inside and the run folders
# on a volume.
#
#   docker build -t gotrain .
#   docker run --gpus all -v "$PWD/runs:/runs" gotrain -device cuda:0 -model seresnet
#
# Every RUN is `make <target>` of a target that CI runs too (make
# image-steps); bench/dockerfile_test.go checks that, the base images, the
# user, the volume and the entrypoint.

# ---- build: Go on the CUDA devel image --------------------------------------
FROM nvidia/cuda:12.4.1-devel-ubuntu22.04 AS build
# Go from the official image.
COPY --from=golang:1.26 /usr/local/go /usr/local/go
# GNU make from the Ubuntu release the CUDA image is built on (it needs
# only libc), so that this stage has it whether or not the CUDA image does.
COPY --from=buildpack-deps:jammy /usr/bin/make /usr/bin/make
ENV PATH=/usr/local/go/bin:${PATH} \
    GOPATH=/go \
    GOTOOLCHAIN=local \
    GOFLAGS=-buildvcs=false
WORKDIR /src
# The modules first, in a layer of their own.
COPY go.mod go.sum Makefile ./
RUN make deps
COPY . .
# /out/gotrain: with -tags cuda and the committed PTX (no nvcc step).
RUN make build-image-binary IMAGE_OUT=/out
# /out/mnist: the four MNIST files, fetched and checked at build time.
RUN make mnist DATA=/out/mnist
# /out/runs: the empty run folder.
RUN make image-runs IMAGE_OUT=/out

# ---- run: the matching CUDA runtime image -----------------------------------
FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04
COPY --from=build /out/gotrain /usr/local/bin/gotrain
# gotrain's default MNIST folder is $XDG_CACHE_HOME/gotrain/mnist.
COPY --from=build /out/mnist /opt/gotrain/cache/gotrain/mnist
ENV XDG_CACHE_HOME=/opt/gotrain/cache
COPY --from=build --chown=1000:1000 /out/runs /runs
USER 1000:1000
# Runs land in runs/<model>-<time>/ under the working folder: /runs.
WORKDIR /
VOLUME ["/runs"]
ENTRYPOINT ["/usr/local/bin/gotrain"]
