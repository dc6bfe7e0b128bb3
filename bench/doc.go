// Package bench holds gotrain's benchmarks: a training step of each model at
// batch 64 (images per second, reported with b.ReportMetric) and, under
// pytorch/, the same models in PyTorch timed the same way, so that both
// sides are measured in one run on one machine (bench/baseline.sh).
package bench
