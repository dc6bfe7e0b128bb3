package models

import "github.com/gotrain/gotrain/layers"

// The baseline CNN (seed baseline.py, spec section 2.1): the PyTorch MNIST
// example with channels cut to 8/16/64. It outputs raw logits; 149,418
// parameters.
//
//	conv1 1→8 3x3 → ReLU → conv2 8→16 3x3 → ReLU → max_pool 2 → Dropout(0.25)
//	→ flatten 2304 → fc1 2304→64 → ReLU → Dropout(0.5) → fc2 64→10
func init() {
	register(&Spec{
		Name:    "baseline",
		Summary: "baseline CNN: 2 convs, max pool, 2 FCs, dropout (149,418 params)",
		Recipe: Recipe{Optimizer: "adadelta", LR: 0.1, StepSize: 1, Gamma: 0.7,
			Epochs: 30, BatchSize: 64, TestBatchSize: 1000},
		build: buildBaseline,
	})
}

func buildBaseline(b *layers.Builder) layers.Module {
	in := InputShape
	conv1 := layers.NewConv2d(b, "conv1", in, 8, 3, 1, 0, true)
	relu1 := layers.NewReLU(b, "relu1", conv1.OutShape())
	conv2 := layers.NewConv2d(b, "conv2", relu1.OutShape(), 16, 3, 1, 0, true)
	relu2 := layers.NewReLU(b, "relu2", conv2.OutShape())
	pool := layers.NewMaxPool2d(b, "pool", relu2.OutShape(), layers.Square(2, 2, 0))
	drop1 := layers.NewDropout(b, "dropout1", pool.OutShape(), 0.25)
	flat := layers.NewFlatten(b, drop1.OutShape())
	fc1 := layers.NewLinear(b, "fc1", flat.OutShape(), 64, true)
	relu3 := layers.NewReLU(b, "relu3", fc1.OutShape())
	drop2 := layers.NewDropout(b, "dropout2", relu3.OutShape(), 0.5)
	fc2 := layers.NewLinear(b, "fc2", drop2.OutShape(), 10, true)
	b.Functional(relu1, relu2, pool, flat, relu3) // F.relu, F.max_pool2d, torch.flatten
	return layers.NewSequential(in, conv1, relu1, conv2, relu2, pool, drop1, flat, fc1, relu3, drop2, fc2)
}
