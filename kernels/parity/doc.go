// Package parity holds the parity tests of the CUDA engine (package cuda):
// every kernel, run through the engine's ops, against the CPU engine on
// random inputs, and one training step of the models on both engines. With
// the cuda build tag they run on a GPU; without it, on the CPU emulator of
// package kernels/emu, in every `make test`. The suite ends with one line
// per kernel of the embedded PTX (`emulated <kernel>: ok (<n> checks)`, or
// `gpu ...`) and fails when a kernel had no passing check. It has no
// non-test code.
package parity
