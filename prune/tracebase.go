package prune

import (
	"fmt"

	"github.com/gotrain/gotrain/engine"
)

// traceBase is the tracer's base backend. It passes through what building
// a model needs (allocation, transfers, Fill, errors) to a one-thread CPU
// engine and refuses every op: an op the tracer does not model (its own
// method in graph.go) records an error naming it instead of running
// silently with no channel coupling recorded. TestBackendContract (engine)
// checks each op's tracer decision against these methods.
type traceBase struct {
	cpu *engine.CPU
	err error
}

func (b *traceBase) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("prune: trace: "+format, args...)
	}
}

// refuse records that the traced model ran an op the tracer does not model.
func (b *traceBase) refuse(op string) {
	b.fail("%s is not modelled by the channel tracer: model it in prune/graph.go (which channel spaces it keeps, joins or fixes) and give it a tracer decision in engine/contract_test.go", op)
}

// Passed through: building and loading a model.

func (b *traceBase) Name() string                                         { return "prune tracer over " + b.cpu.Name() }
func (b *traceBase) Alloc(dt engine.DType, n int) (engine.Storage, error) { return b.cpu.Alloc(dt, n) }
func (b *traceBase) Err() error {
	if b.err != nil {
		return b.err
	}
	return b.cpu.Err()
}
func (b *traceBase) Sync() error                                   { return b.Err() }
func (b *traceBase) Upload(dst *engine.Tensor, src []float32)      { b.cpu.Upload(dst, src) }
func (b *traceBase) UploadInt32(dst *engine.Tensor, src []int32)   { b.cpu.UploadInt32(dst, src) }
func (b *traceBase) Download(dst []float32, src *engine.Tensor)    { b.cpu.Download(dst, src) }
func (b *traceBase) DownloadInt32(dst []int32, src *engine.Tensor) { b.cpu.DownloadInt32(dst, src) }
func (b *traceBase) Fill(t *engine.Tensor, v float32)              { b.cpu.Fill(t, v) }

// Refused: every op graph.go's tracer does not model.
func (b *traceBase) Axpy(y *engine.Tensor, alpha float32, x *engine.Tensor) { b.refuse("Axpy") }
func (b *traceBase) SumTo(y, dy *engine.Tensor)                             { b.refuse("SumTo") }
func (b *traceBase) ReluBackward(dx, dy, y *engine.Tensor)                  { b.refuse("ReluBackward") }
func (b *traceBase) SigmoidBackward(dx, dy, y *engine.Tensor)               { b.refuse("SigmoidBackward") }
func (b *traceBase) GeluBackward(dx, dy, x *engine.Tensor)                  { b.refuse("GeluBackward") }
func (b *traceBase) DropoutBackward(dx, dy *engine.Tensor, p float32, key engine.DropoutKey) {
	b.refuse("DropoutBackward")
}
func (b *traceBase) Conv2dBackward(dx, dw, db, dy, x, w *engine.Tensor, p engine.Conv2dParams) {
	b.refuse("Conv2dBackward")
}
func (b *traceBase) LinearBackward(dx, dw, db, dy, x, w *engine.Tensor) { b.refuse("LinearBackward") }
func (b *traceBase) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *engine.Tensor) {
	b.refuse("BatchNormBackward")
}
func (b *traceBase) BatchNormEvalBackward(dx, dgamma, dbeta, dy, x, gamma, runMean, runVar *engine.Tensor, eps float32) {
	b.refuse("BatchNormEvalBackward")
}
func (b *traceBase) LayerNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *engine.Tensor) {
	b.refuse("LayerNormBackward")
}
func (b *traceBase) SoftmaxBackward(dx, dy, y *engine.Tensor)     { b.refuse("SoftmaxBackward") }
func (b *traceBase) MaxPool2dBackward(dx, dy, idx *engine.Tensor) { b.refuse("MaxPool2dBackward") }
func (b *traceBase) AvgPool2dBackward(dx, dy *engine.Tensor, p engine.Pool2dParams) {
	b.refuse("AvgPool2dBackward")
}
func (b *traceBase) AdaptiveAvgPool2dBackward(dx, dy *engine.Tensor) {
	b.refuse("AdaptiveAvgPool2dBackward")
}
func (b *traceBase) Split(dxs []*engine.Tensor, dy *engine.Tensor, axis int) { b.refuse("Split") }
func (b *traceBase) MeanBackward(dx, dy *engine.Tensor, axis int)            { b.refuse("MeanBackward") }
func (b *traceBase) ChannelScaleBackward(dx, ds, dy, x, s *engine.Tensor) {
	b.refuse("ChannelScaleBackward")
}
func (b *traceBase) AddSign(grad, param *engine.Tensor, lambda float32) { b.refuse("AddSign") }
func (b *traceBase) SGDStep(params, grads, mom *engine.Tensor, p engine.SGDParams) {
	b.refuse("SGDStep")
}
func (b *traceBase) AdadeltaStep(params, grads, squareAvg, accDelta *engine.Tensor, p engine.AdadeltaParams) {
	b.refuse("AdadeltaStep")
}
func (b *traceBase) BatchNormReluBackward(dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd *engine.Tensor) {
	b.refuse("BatchNormReluBackward")
}
func (b *traceBase) BatchNormReluEvalBackward(dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar *engine.Tensor, eps float32) {
	b.refuse("BatchNormReluEvalBackward")
}
func (b *traceBase) SqueezeExciteBackward(dx, dw1, db1, dw2, db2, dy, x, w1, w2, pooled, hidden, scale *engine.Tensor) {
	b.refuse("SqueezeExciteBackward")
}
func (b *traceBase) GatherBatch(x, y, images, labels, order, table *engine.Tensor, offset int, vars *engine.Tensor) {
	b.refuse("GatherBatch")
}
func (b *traceBase) EndStep(vars, window, loss *engine.Tensor, batch int) { b.refuse("EndStep") }
