package models

import (
	"math/rand/v2"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
)

func init() {
	register(&Spec{
		Name:    "googlenet",
		Summary: "the seed's GoogLeNet: torchvision's, 1-channel input, no aux classifiers (5,603,882 params)",
		Recipe: Recipe{Optimizer: "sgd", LR: 1.0, StepSize: 1, Gamma: 0.9,
			Epochs: 30, BatchSize: 64, TestBatchSize: 2},
		build: buildGoogLeNet,
	})
}

// buildGoogLeNet builds torchvision's GoogLeNet as the seed does (spec
// section 2.6): a 1-channel conv1, 10 classes, no aux classifiers,
// transform_input off. BasicConv2d is conv (no bias) + BN (eps 0.001) +
// ReLU. The "5x5" branch of each Inception block is a 3x3, torchvision's
// known bug, kept for the parameter count. On a 28x28 input the spatial
// sizes are 14, 7, 7, 3 (inception 3), 1 (inception 4 and 5). Conv and
// Linear weights start from a normal truncated at ±2σ, σ = 0.01; the
// Linear bias keeps PyTorch's default; BNs weight 1, bias 0.
func buildGoogLeNet(b *layers.Builder) layers.Module {
	trunc := layers.TruncNormal(0.01)
	b.ConvWeightInit = func(out, in, k int) func([]float32, *rand.Rand) { return trunc }
	b.LinearWeightInit = func(out, in int) func([]float32, *rand.Rand) { return trunc }
	defer func() { b.ConvWeightInit, b.LinearWeightInit = nil, nil }()
	ceil := func(k, s, p int) engine.Pool2dParams {
		q := layers.Square(k, s, p)
		q.CeilMode = true
		return q
	}
	in := InputShape
	conv1 := layers.NewBasicConv2d(b, "conv1.", in, 64, 7, 2, 3)
	pool1 := layers.NewMaxPool2d(b, "maxpool1", conv1.OutShape(), ceil(3, 2, 0))
	conv2 := layers.NewBasicConv2d(b, "conv2.", pool1.OutShape(), 64, 1, 1, 0)
	conv3 := layers.NewBasicConv2d(b, "conv3.", conv2.OutShape(), 192, 3, 1, 1)
	pool2 := layers.NewMaxPool2d(b, "maxpool2", conv3.OutShape(), ceil(3, 2, 0))
	mods := []layers.Module{conv1, pool1, conv2, conv3, pool2}
	shape := pool2.OutShape()
	inc := func(name string, c1, c3r, c3, c5r, c5, pp int) {
		m := layers.NewInception(b, name+".", shape, c1, c3r, c3, c5r, c5, pp)
		mods = append(mods, m)
		shape = m.OutShape()
	}
	pool := func(name string, k, s int) {
		m := layers.NewMaxPool2d(b, name, shape, ceil(k, s, 0))
		mods = append(mods, m)
		shape = m.OutShape()
	}
	inc("inception3a", 64, 96, 128, 16, 32, 32)
	inc("inception3b", 128, 128, 192, 32, 96, 64)
	pool("maxpool3", 3, 2)
	inc("inception4a", 192, 96, 208, 16, 48, 64)
	inc("inception4b", 160, 112, 224, 24, 64, 64)
	inc("inception4c", 128, 128, 256, 24, 64, 64)
	inc("inception4d", 112, 144, 288, 32, 64, 64)
	inc("inception4e", 256, 160, 320, 32, 128, 128)
	pool("maxpool4", 2, 2)
	inc("inception5a", 256, 160, 320, 32, 128, 128)
	inc("inception5b", 384, 192, 384, 48, 128, 128)
	avg := layers.NewAdaptiveAvgPool2d(b, "avgpool", shape, 1, 1)
	flat := layers.NewFlatten(b, avg.OutShape())
	b.Functional(flat) // torch.flatten
	drop := layers.NewDropout(b, "dropout", flat.OutShape(), 0.2)
	fc := layers.NewLinear(b, "fc", drop.OutShape(), Classes, true)
	mods = append(mods, avg, flat, drop, fc)
	return layers.NewSequential(in, mods...)
}
