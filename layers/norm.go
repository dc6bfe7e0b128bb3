package layers

import "github.com/gotrain/gotrain/engine"

// BatchNorm is nn.BatchNorm1d/2d: weight and bias (trained), running_mean
// and running_var (buffers), num_batches_tracked (an int64 counter), with
// momentum 0.1 and a per-layer eps. In training mode it normalises with the
// batch statistics and updates the running ones; in eval mode it uses the
// running ones.
type BatchNorm struct {
	W, DW, B, DB    *engine.Tensor
	RunMean, RunVar *engine.Tensor
	BatchesTracked  int64
	Eps, Momentum   float32
	mean, invStd    *engine.Tensor
	x, y, dx        *engine.Tensor
	shape           []int
	trainedLastPass bool
	relu            bool // applies the ReLU after it (FuseBatchNormReLU)
}

// NewBatchNorm declares batch norm over per-sample shape (C) or (C,H,W).
func NewBatchNorm(b *Builder, name string, shape []int, eps float32) *BatchNorm {
	c := shape[0]
	l := &BatchNorm{Eps: eps, Momentum: 0.1, shape: shape}
	l.W, l.DW = b.Param(name+".weight", Const(1), c)
	l.B, l.DB = b.Param(name+".bias", Const(0), c)
	l.RunMean = b.Buffer(name+".running_mean", Const(0), c)
	l.RunVar = b.Buffer(name+".running_var", Const(1), c)
	b.Counter(name+".num_batches_tracked", &l.BatchesTracked)
	l.mean = b.Acts.New(name+".save_mean", c)
	l.invStd = b.Acts.New(name+".save_invstd", c)
	l.y = b.Act(name+".out", shape...)
	l.dx = b.Act(name+".dx", shape...)
	class := "BatchNorm2d"
	if len(shape) == 1 {
		class = "BatchNorm1d"
	}
	b.Record(l, class, shape, 2*c)
	return l
}

// OutShape is the input shape.
func (l *BatchNorm) OutShape() []int { return l.shape }

// Forward normalises x.
func (l *BatchNorm) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	l.x = x
	l.trainedLastPass = ctx.Train
	switch {
	case ctx.Train && l.relu:
		ctx.B.BatchNormReluTrain(l.y, l.mean, l.invStd, l.RunMean, l.RunVar, x, l.W, l.B, l.Momentum, l.Eps)
	case ctx.Train:
		ctx.B.BatchNormTrain(l.y, l.mean, l.invStd, l.RunMean, l.RunVar, x, l.W, l.B, l.Momentum, l.Eps)
	case l.relu:
		ctx.B.BatchNormReluEval(l.y, x, l.W, l.B, l.RunMean, l.RunVar, l.Eps)
	default:
		ctx.B.BatchNormEval(l.y, x, l.W, l.B, l.RunMean, l.RunVar, l.Eps)
	}
	if ctx.Train {
		l.BatchesTracked++
	}
	return l.y
}

// Backward writes DW, DB and returns dx.
func (l *BatchNorm) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	switch {
	case l.trainedLastPass && l.relu:
		ctx.B.BatchNormReluBackward(l.dx, l.DW, l.DB, dy, l.y, l.x, l.W, l.mean, l.invStd)
	case l.trainedLastPass:
		ctx.B.BatchNormBackward(l.dx, l.DW, l.DB, dy, l.x, l.W, l.mean, l.invStd)
	case l.relu:
		ctx.B.BatchNormReluEvalBackward(l.dx, l.DW, l.DB, dy, l.y, l.x, l.W, l.RunMean, l.RunVar, l.Eps)
	default:
		ctx.B.BatchNormEvalBackward(l.dx, l.DW, l.DB, dy, l.x, l.W, l.RunMean, l.RunVar, l.Eps)
	}
	return l.dx
}

// FuseBatchNormReLU makes bn apply the ReLU that follows it (the engine's
// fused BatchNormRelu ops: one pass over memory instead of two, and one
// activation less), and relu pass its input and gradient through. Call it
// only where relu reads nothing but bn's output and nothing else reads
// that output. The modules keep their names and summary rows. It returns
// false (and changes nothing) when relu is not a ReLU of bn's shape.
func FuseBatchNormReLU(bn *BatchNorm, relu *ReLU) bool {
	if relu == nil || relu.class != "ReLU" || relu.fused || bn.relu || !engine.SameShape(bn.shape, relu.shape) {
		return false
	}
	bn.relu, relu.fused = true, true
	return true
}

// StoreForConvs makes a fused batch norm + ReLU's output narrow
// (Builder.NarrowAct), bfloat16 at -precision bf16: call it after
// FuseBatchNormReLU when only convolutions read the output. The activation
// declared for it in Acts is then never used and gets no memory.
func StoreForConvs(b *Builder, bn *BatchNorm) {
	if !bn.relu {
		panic("layers: StoreForConvs of a batch norm without a fused ReLU: " + bn.y.Name())
	}
	bn.y = b.NarrowAct(bn.y.Name(), bn.shape...)
}

// LayerNorm is nn.LayerNorm over the last dimension.
type LayerNorm struct {
	W, DW, B, DB *engine.Tensor
	Eps          float32
	mean, invStd *engine.Tensor
	x, y, dx     *engine.Tensor
	shape        []int
}

// NewLayerNorm declares layer norm over per-sample shape (..., D).
func NewLayerNorm(b *Builder, name string, shape []int, eps float32) *LayerNorm {
	d := shape[len(shape)-1]
	rows := engine.Numel(shape) / d
	l := &LayerNorm{Eps: eps, shape: shape}
	l.W, l.DW = b.Param(name+".weight", Const(1), d)
	l.B, l.DB = b.Param(name+".bias", Const(0), d)
	l.mean = b.Acts.NewBatchedRows(name+".save_mean", b.MaxBatch, rows)
	l.invStd = b.Acts.NewBatchedRows(name+".save_invstd", b.MaxBatch, rows)
	l.y = b.Act(name+".out", shape...)
	l.dx = b.Act(name+".dx", shape...)
	b.Record(l, "LayerNorm", shape, 2*d)
	return l
}

// OutShape is the input shape.
func (l *LayerNorm) OutShape() []int { return l.shape }

// Forward normalises each row.
func (l *LayerNorm) Forward(ctx *Ctx, x *engine.Tensor) *engine.Tensor {
	l.x = x
	ctx.B.LayerNorm(l.y, l.mean, l.invStd, x, l.W, l.B, l.Eps)
	return l.y
}

// Backward writes DW, DB and returns dx.
func (l *LayerNorm) Backward(ctx *Ctx, dy *engine.Tensor) *engine.Tensor {
	ctx.B.LayerNormBackward(l.dx, l.DW, l.DB, dy, l.x, l.W, l.mean, l.invStd)
	return l.dx
}
