package models

import (
	"fmt"

	"github.com/gotrain/gotrain/layers"
)

func init() {
	register(&Spec{
		Name:    "vit",
		Summary: "the seed's ViT: patch 4, 768 wide, 12 blocks, 8 heads (85,076,746 params as torchsummary counts)",
		Recipe: Recipe{Optimizer: "sgd", LR: 0.1, StepSize: 10, Gamma: 0.1,
			Epochs: 30, BatchSize: 64, TestBatchSize: 2},
		build: buildViT,
	})
}

// buildViT builds the seed's ViT (spec section 2.7, the "ViT from scratch
// with einops" design at ViT-Base width): a 4x4/4 patch conv (49 tokens), a
// randn cls token prepended and randn position embeddings added; 12
// pre-norm blocks x += MHA(LN(x)); x += FFN(LN(x)) with FFN Linear 768→3072,
// GELU, Linear 3072→768 and every dropout p = 0; then the mean over all 50
// tokens (the cls token included, as the seed does), LayerNorm and a Linear
// to 10. The attention keeps the seed's quirks: qkv split as "(h d qkv)",
// and softmax(q·kᵀ) divided by sqrt(768) after the softmax (see
// layers.MultiHeadAttention).
func buildViT(b *layers.Builder) layers.Module {
	const e, heads, depth = 768, 8, 12
	emb := layers.NewPatchEmbedding(b, "0.", InputShape, 4, e)
	mods := []layers.Module{emb}
	shape := emb.OutShape()
	for i := 0; i < depth; i++ {
		p := fmt.Sprintf("1.%d.", i)
		ln1 := layers.NewLayerNorm(b, p+"0.fn.0", shape, 1e-5)
		att := layers.NewMultiHeadAttention(b, p+"0.fn.1.", shape, heads, 0)
		drop1 := layers.NewDropout(b, p+"0.fn.2", shape, 0)
		res1 := layers.NewResidual(b, p+"0", shape, ln1, att, drop1)
		ln2 := layers.NewLayerNorm(b, p+"1.fn.0", shape, 1e-5)
		fc1 := layers.NewLinear(b, p+"1.fn.1.0", shape, 4*e, true)
		gelu := layers.NewGELU(b, p+"1.fn.1.1", fc1.OutShape())
		drop2 := layers.NewDropout(b, p+"1.fn.1.2", fc1.OutShape(), 0)
		fc2 := layers.NewLinear(b, p+"1.fn.1.3", fc1.OutShape(), e, true)
		drop3 := layers.NewDropout(b, p+"1.fn.2", shape, 0)
		res2 := layers.NewResidual(b, p+"1", shape, ln2, fc1, gelu, drop2, fc2, drop3)
		mods = append(mods, res1, res2)
	}
	mean := layers.NewTokenMean(b, "2.0", shape)
	ln := layers.NewLayerNorm(b, "2.1", mean.OutShape(), 1e-5)
	fc := layers.NewLinear(b, "2.2", ln.OutShape(), Classes, true)
	mods = append(mods, mean, ln, fc)
	return layers.NewSequential(InputShape, mods...)
}
