package models

import (
	"fmt"

	"github.com/gotrain/gotrain/layers"
)

func init() {
	register(&Spec{
		Name:                 "vgg",
		Summary:              "the seed's VGG: 8 conv-BN-ReLU layers [1,1,2,2,2], 3 FC layers with BN1d, softmax inside (128,825,290 params)",
		OutputsProbabilities: true,
		Recipe: Recipe{Optimizer: "sgd", LR: 1.0, StepSize: 1, Gamma: 0.9,
			Epochs: 30, BatchSize: 64, TestBatchSize: 2},
		build: buildVGG,
	})
}

// buildVGG builds the seed's VGG (spec section 2.5): stages of [1,1,2,2,2]
// conv 3x3 (no bias) + BN + ReLU modules with 64, 128, 256, 512, 512
// channels; max pool 2 after the first two stages only (so stages 3-5 run
// at 7x7); flatten to 25,088; fc1 → BN1d → ReLU → fc2 → BN1d → ReLU → fc3.
//
// The seed applies a softmax inside the model and then F.cross_entropy on
// these probabilities: a double softmax, whose test loss plateaus near
// -log(e/(e+9)) ≈ 1.461. gotrain keeps it, so that Table 1 compares like
// with like: the model's output is the softmax, the loss treats it as
// logits, and a prediction's confidence is the max of this output (no
// second softmax). PyTorch default init throughout.
func buildVGG(b *layers.Builder) layers.Module {
	in := InputShape
	var mods []layers.Module
	shape := in
	for stage, n := range []int{1, 1, 2, 2, 2} {
		ch := []int{64, 128, 256, 512, 512}[stage]
		name := []string{"conv3_64", "conv3_128", "conv3_256", "conv3_512a", "conv3_512b"}[stage]
		for i := 0; i < n; i++ {
			conv := layers.NewConv2d(b, fmt.Sprintf("%s.%d", name, 3*i), shape, ch, 3, 1, 1, false)
			bn := layers.NewBatchNorm(b, fmt.Sprintf("%s.%d", name, 3*i+1), conv.OutShape(), 1e-5)
			layers.StoreForBatchNorm(b, conv)
			relu := layers.NewReLU(b, fmt.Sprintf("%s.%d", name, 3*i+2), conv.OutShape())
			mods = append(mods, conv, bn, relu)
			shape = conv.OutShape()
		}
		if stage < 2 {
			pool := layers.NewMaxPool2d(b, fmt.Sprintf("pool%d", stage+1), shape, layers.Square(2, 2, 0))
			b.Functional(pool) // F.max_pool2d
			mods = append(mods, pool)
			shape = pool.OutShape()
		}
	}
	flat := layers.NewFlatten(b, shape)
	// Declared in the seed's order (fc1, bn1, bn2, fc2, fc3) for the state_dict.
	fc1 := layers.NewLinear(b, "fc1", flat.OutShape(), 4096, true)
	bn1 := layers.NewBatchNorm(b, "bn1", fc1.OutShape(), 1e-5)
	bn2 := layers.NewBatchNorm(b, "bn2", []int{4096}, 1e-5)
	relu1 := layers.NewReLU(b, "relu1", fc1.OutShape())
	fc2 := layers.NewLinear(b, "fc2", relu1.OutShape(), 4096, true)
	relu2 := layers.NewReLU(b, "relu2", fc2.OutShape())
	fc3 := layers.NewLinear(b, "fc3", relu2.OutShape(), Classes, true)
	soft := layers.NewSoftmax(b, "softmax", fc3.OutShape())
	b.Functional(flat, relu1, relu2, soft) // view, F.relu, F.softmax
	mods = append(mods, flat, fc1, bn1, relu1, fc2, bn2, relu2, fc3, soft)
	return layers.NewSequential(in, mods...)
}
