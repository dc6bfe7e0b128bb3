package models

import (
	"fmt"

	"github.com/gotrain/gotrain/layers"
)

func init() {
	register(&Spec{
		Name:    "seresnet",
		Summary: "the seed's SE-ResNet: pre-activation SE basic blocks [3,4,6,3], reduction 16 (21,439,478 params)",
		Recipe: Recipe{Optimizer: "sgd", LR: 0.1, StepSize: 10, Gamma: 0.1,
			Epochs: 30, BatchSize: 64, TestBatchSize: 8},
		build: func(b *layers.Builder) layers.Module { return buildSEResNet(b, SEResNetWidths()) },
	})
}

// SEResNetWidths is the unpruned SE-ResNet's per-stage widths.
func SEResNetWidths() [4]int { return [4]int{64, 128, 256, 512} }

// buildSEResNet builds the seed's SE-ResNet (spec section 2.4, kuangliu's
// SENet with PreActBlock): stem conv 3x3 (no bias), BN, ReLU at 28x28;
// four stages of pre-activation SE blocks with strides 1,2,2,2, each block
//
//	relu(bn1(x)) → conv1 3x3 → bn2 → relu → conv2 3x3 → SE (reduction 16)
//	+ shortcut (a bias-free 1x1 conv of the pre-activation when the shape
//	changes, else x)
//
// Two quirks of the seed are kept: there is no BN after conv2, and no
// ReLU after the residual add; nor is there a final BN+ReLU before the
// 4x4 average pool and the Linear to 10. Every init is PyTorch's default.
func buildSEResNet(b *layers.Builder, widths [4]int) layers.Module {
	in := InputShape
	stem := layers.NewConv2d(b, "conv1", in, widths[0], 3, 1, 1, false)
	bn := layers.NewBatchNorm(b, "bn1", stem.OutShape(), 1e-5)
	relu := layers.NewReLU(b, "relu", stem.OutShape())
	b.Functional(relu) // F.relu
	mods := []layers.Module{stem, bn, relu}
	shape := stem.OutShape()
	for stage, blocks := range []int{3, 4, 6, 3} {
		for i := 0; i < blocks; i++ {
			stride := 1
			if i == 0 && stage > 0 {
				stride = 2
			}
			blk := layers.NewPreActSEBlock(b, fmt.Sprintf("layer%d.%d.", stage+1, i), shape, widths[stage], stride, 16)
			mods = append(mods, blk)
			shape = blk.OutShape()
		}
	}
	pool := layers.NewAvgPool2d(b, "avgpool", shape, layers.Square(4, 4, 0))
	flat := layers.NewFlatten(b, pool.OutShape())
	fc := layers.NewLinear(b, "linear", flat.OutShape(), Classes, true)
	b.Functional(pool, flat) // F.avg_pool2d, view
	mods = append(mods, pool, flat, fc)
	return layers.NewSequential(in, mods...)
}
