package models

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/gotrain/gotrain/layers"
)

func init() {
	register(&Spec{
		Name:    "seresnet",
		Summary: "the seed's SE-ResNet: pre-activation SE basic blocks [3,4,6,3], reduction 16 (21,439,478 params)",
		Recipe: Recipe{Optimizer: "sgd", LR: 0.1, StepSize: 10, Gamma: 0.1,
			Epochs: 30, BatchSize: 64, TestBatchSize: 8},
		Widths:      SEResNetWidths,
		WidthOf:     seWidthOf,
		PruneTarget: sePruneTarget.MatchString,
		buildWidths: func(b *layers.Builder, w Widths) (layers.Module, error) {
			return buildSEResNet(b, w)
		},
	})
}

// sePruneTarget matches the gammas of the 32 block batch norms (bn1 and
// bn2 of every block; not the stem's), the seed's pruning targets.
var sePruneTarget = regexp.MustCompile(`^layer[1-4]\.[0-9]+\.bn[12]\.weight$`)

// seWidthOf maps a width key to a tensor axis of that size.
func seWidthOf(key string) (string, int) {
	switch {
	case strings.HasPrefix(key, "stream"):
		return "layer" + strings.TrimPrefix(key, "stream") + ".0.conv2.weight", 0
	case strings.HasSuffix(key, ".inner"):
		return strings.TrimSuffix(key, ".inner") + ".conv1.weight", 0
	case strings.HasSuffix(key, ".se"):
		return strings.TrimSuffix(key, ".se") + ".fc1.weight", 0
	}
	return "", -1
}

// seBlocks is the SE-ResNet's number of blocks per stage.
var seBlocks = [4]int{3, 4, 6, 3}

// SEResNetWidths is the unpruned SE-ResNet's channel widths: "stream1".."stream4"
// are the residual streams of the four stages (stream1 is also the stem's
// width), "layerS.B.inner" each block's conv1/bn2/conv2-input width, and
// "layerS.B.se" each block's SE hidden width (planes/16, never pruned).
func SEResNetWidths() Widths {
	w := Widths{}
	for s, blocks := range seBlocks {
		planes := 64 << s
		w[fmt.Sprintf("stream%d", s+1)] = planes
		for i := 0; i < blocks; i++ {
			w[fmt.Sprintf("layer%d.%d.inner", s+1, i)] = planes
			w[fmt.Sprintf("layer%d.%d.se", s+1, i)] = planes / 16
		}
	}
	return w
}

// buildSEResNet builds the seed's SE-ResNet (spec section 2.4, kuangliu's
// SENet with PreActBlock) at the given widths: stem conv 3x3 (no bias), BN,
// ReLU at 28x28; four stages of pre-activation SE blocks with strides
// 1,2,2,2, each block
//
//	relu(bn1(x)) → conv1 3x3 → bn2 → relu → conv2 3x3 → SE (reduction 16)
//	+ shortcut (a bias-free 1x1 conv of the pre-activation on the first
//	block of stages 2-4, else x)
//
// Two quirks of the seed are kept: there is no BN after conv2, and no
// ReLU after the residual add; nor is there a final BN+ReLU before the
// 4x4 average pool and the Linear to 10. Every init is PyTorch's default.
func buildSEResNet(b *layers.Builder, w Widths) (layers.Module, error) {
	if err := w.check(SEResNetWidths()); err != nil {
		return nil, err
	}
	in := InputShape
	stem := layers.NewConv2d(b, "conv1", in, w["stream1"], 3, 1, 1, false)
	layers.StoreForBatchNorm(b, stem)
	bn := layers.NewBatchNorm(b, "bn1", stem.OutShape(), 1e-5)
	relu := layers.NewReLU(b, "relu", stem.OutShape())
	b.Functional(relu) // F.relu
	mods := []layers.Module{stem, bn, relu}
	shape := stem.OutShape()
	for stage, blocks := range seBlocks {
		out := w[fmt.Sprintf("stream%d", stage+1)]
		for i := 0; i < blocks; i++ {
			stride := 1
			if i == 0 && stage > 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d.", stage+1, i)
			blk := layers.NewPreActSEBlock(b, p, shape, w[p+"inner"], out, w[p+"se"], stride, i == 0 && stage > 0)
			mods = append(mods, blk)
			shape = blk.OutShape()
		}
	}
	pool := layers.NewAvgPool2d(b, "avgpool", shape, layers.Square(4, 4, 0))
	flat := layers.NewFlatten(b, pool.OutShape())
	fc := layers.NewLinear(b, "linear", flat.OutShape(), Classes, true)
	b.Functional(pool, flat) // F.avg_pool2d, view
	mods = append(mods, pool, flat, fc)
	return layers.NewSequential(in, mods...), nil
}
