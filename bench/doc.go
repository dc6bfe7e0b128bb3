// Package bench holds gotrain's benchmarks and the driver behind `make
// bench`.
//
//   - BenchmarkTrainStep/<engine>/<model>: a training step (batch 64, or
//     -gotrain.batch) of every model: the batch in, forward, loss,
//     backward, the recipe's optimizer update. It reports img/s, pool-B
//     (the bytes of the model's pools and the optimizer state) and heap-B
//     (the live Go heap's growth over building and stepping the model).
//   - BenchmarkKernel/<engine>/<kernel>/<pass>: convolutions 3x3 and 1x1,
//     batch norm and the fused softmax-NLL at the SE-ResNet's shapes (and
//     three convolutions of the light ResNet's small maps), in
//     GFLOP/s or GB/s; BenchmarkPeak/<engine>/{gemm512,memcpy}: the peaks
//     they are compared with, measured in the same run.
//
// Engines come from Backends, which reads engine's registry: the CPU
// engine, and in a build with -tags cuda the CUDA engine (cuda, cuda-tf32).
//
// pytorch/ holds the same models in PyTorch (seed_models.py, checked
// against gotrain's by models/torch_test.go) and step.py, which times them
// the same way. cmd/benchtable runs both sides and prints one table
// (table.go formats it; table_test.go tests that on canned input).
// dockerfile_test.go checks the repository's Dockerfile.
package bench
