package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/gotrain/gotrain/layers"
)

func init() {
	register(&Spec{
		Name: "resnet",
		Summary: "the seed's \"resnet\": ResNet-50 layout [3,4,6,3] with [3x3, 1x1] bottlenecks " +
			"(no leading 1x1) (46,833,226 params)",
		Recipe: Recipe{Optimizer: "adadelta", LR: 0.1, StepSize: 10, Gamma: 0.1,
			Epochs: 30, BatchSize: 64, TestBatchSize: 64},
		build: func(b *layers.Builder) layers.Module { return buildResNet(b, false) },
	})
	register(&Spec{
		Name:    "lightresnet",
		Summary: "the seed's \"light resnet\": torchvision ResNet-50 (v1.5) with a 1-channel stem (23,522,250 params)",
		Recipe: Recipe{Optimizer: "sgd", LR: 0.1, StepSize: 10, Gamma: 0.1,
			Epochs: 30, BatchSize: 64, TestBatchSize: 64},
		build: func(b *layers.Builder) layers.Module { return buildResNet(b, true) },
	})
}

// buildResNet builds the seed's two ResNet-50 variants (spec sections 2.2
// and 2.3): a 7x7/2 stem with BN, ReLU and a 3x3/2 max pool; stages of
// [3,4,6,3] bottlenecks of width 64·2^i and expansion 4, the stride on the
// 3x3; a projection shortcut (1x1 conv with the stage's stride, then BN) on
// each stage's first block only; adaptive average pool and a Linear to 10.
// standard selects torchvision's [1x1, 3x3, 1x1] bottleneck (the light
// resnet); otherwise the seed's "resnet" block drops the leading 1x1 and
// names its convs conv2 (3x3) and conv3 (1x1). Conv weights start from
// Kaiming normal (fan-out, ReLU); BNs from weight 1, bias 0;
// zero_init_residual is off; the Linear keeps PyTorch's default init.
func buildResNet(b *layers.Builder, standard bool) layers.Module {
	b.ConvWeightInit = func(out, in, k int) func([]float32, *rand.Rand) {
		return layers.KaimingNormalFanOut(out * k * k)
	}
	in := InputShape
	stem := layers.NewConv2d(b, "conv1", in, 64, 7, 2, 3, false)
	layers.StoreForBatchNorm(b, stem)
	bn := layers.NewBatchNorm(b, "bn1", stem.OutShape(), 1e-5)
	relu := layers.NewReLU(b, "relu", stem.OutShape())
	pool := layers.NewMaxPool2d(b, "maxpool", relu.OutShape(), layers.Square(3, 2, 1))
	mods := []layers.Module{stem, bn, relu, pool}
	shape := pool.OutShape()
	inplanes := 64
	for stage, blocks := range []int{3, 4, 6, 3} {
		planes := 64 << stage
		for i := 0; i < blocks; i++ {
			stride := 1
			if i == 0 && stage > 0 {
				stride = 2
			}
			var stages []layers.ConvBN
			if standard {
				stages = []layers.ConvBN{
					{Conv: "conv1", BN: "bn1", Out: planes, K: 1, Stride: 1},
					{Conv: "conv2", BN: "bn2", Out: planes, K: 3, Stride: stride, Pad: 1},
					{Conv: "conv3", BN: "bn3", Out: 4 * planes, K: 1, Stride: 1},
				}
			} else {
				stages = []layers.ConvBN{
					{Conv: "conv2", BN: "bn2", Out: planes, K: 3, Stride: stride, Pad: 1},
					{Conv: "conv3", BN: "bn3", Out: 4 * planes, K: 1, Stride: 1},
				}
			}
			var down *layers.ConvBN
			if i == 0 && (stride != 1 || inplanes != 4*planes) {
				down = &layers.ConvBN{Conv: "downsample.0", BN: "downsample.1", Out: 4 * planes, K: 1, Stride: stride}
			}
			blk := layers.NewBottleneck(b, fmt.Sprintf("layer%d.%d.", stage+1, i), shape, stages, down, 1e-5)
			mods = append(mods, blk)
			shape = blk.OutShape()
			inplanes = 4 * planes
		}
	}
	b.ConvWeightInit = nil
	avg := layers.NewAdaptiveAvgPool2d(b, "avgpool", shape, 1, 1)
	flat := layers.NewFlatten(b, avg.OutShape())
	b.Functional(flat) // torch.flatten
	fc := layers.NewLinear(b, "fc", flat.OutShape(), Classes, true)
	mods = append(mods, avg, flat, fc)
	return layers.NewSequential(in, mods...)
}
