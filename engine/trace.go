package engine

import "fmt"

// Recorder is a Backend that runs nothing: it records, op by op, which
// tensors each op touches (views as the pool tensors they view). A model's
// step run on a Recorder gives the order of its buffers' uses, from which
// PlanPool places buffers whose lifetimes do not overlap in the same
// memory. Running on it needs no memory: tensors need not be allocated.
type Recorder struct {
	ops   [][]*Tensor // per op, the root tensors it touched
	marks []int       // op counts at each Mark
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Mark ends a phase of the trace (a training step, an evaluation pass):
// PlanPool treats each phase's lifetimes separately, since the phases never
// run at the same time.
func (r *Recorder) Mark() { r.marks = append(r.marks, len(r.ops)) }

// Ops is the number of ops recorded.
func (r *Recorder) Ops() int { return len(r.ops) }

// Touch records an op that uses ts without computing anything: the host
// writing the input batch, or reading the logits.
func (r *Recorder) Touch(ts ...*Tensor) { r.use(ts...) }

func (r *Recorder) use(ts ...*Tensor) {
	op := make([]*Tensor, 0, len(ts))
	for _, t := range ts {
		if t == nil {
			continue
		}
		op = append(op, t.Root())
	}
	r.ops = append(r.ops, op)
}

// Name says what the backend is.
func (r *Recorder) Name() string { return "recorder" }

// Alloc refuses: a recorder holds no memory.
func (r *Recorder) Alloc(dt DType, n int) (Storage, error) {
	return nil, fmt.Errorf("recorder: no memory (alloc of %d %s)", n, dt)
}

// Err is always nil: nothing runs.
func (r *Recorder) Err() error { return nil }

// Sync does nothing.
func (r *Recorder) Sync() error { return nil }

func (r *Recorder) Upload(dst *Tensor, _ []float32)                         { r.use(dst) }
func (r *Recorder) UploadInt32(dst *Tensor, _ []int32)                      { r.use(dst) }
func (r *Recorder) Download(_ []float32, src *Tensor)                       { r.use(src) }
func (r *Recorder) DownloadInt32(_ []int32, src *Tensor)                    { r.use(src) }
func (r *Recorder) Fill(t *Tensor, _ float32)                               { r.use(t) }
func (r *Recorder) Copy(dst, src *Tensor)                                   { r.use(dst, src) }
func (r *Recorder) Scale(y, x *Tensor, _ float32)                           { r.use(y, x) }
func (r *Recorder) Axpy(y *Tensor, _ float32, x *Tensor)                    { r.use(y, x) }
func (r *Recorder) Add(y, a, b *Tensor)                                     { r.use(y, a, b) }
func (r *Recorder) SumTo(y, dy *Tensor)                                     { r.use(y, dy) }
func (r *Recorder) Mul(y, a, b *Tensor)                                     { r.use(y, a, b) }
func (r *Recorder) Relu(y, x *Tensor)                                       { r.use(y, x) }
func (r *Recorder) ReluBackward(dx, dy, y *Tensor)                          { r.use(dx, dy, y) }
func (r *Recorder) Sigmoid(y, x *Tensor)                                    { r.use(y, x) }
func (r *Recorder) SigmoidBackward(dx, dy, y *Tensor)                       { r.use(dx, dy, y) }
func (r *Recorder) Gelu(y, x *Tensor)                                       { r.use(y, x) }
func (r *Recorder) GeluBackward(dx, dy, x *Tensor)                          { r.use(dx, dy, x) }
func (r *Recorder) Dropout(y, x *Tensor, _ float32, _ DropoutKey)           { r.use(y, x) }
func (r *Recorder) DropoutBackward(dx, dy *Tensor, _ float32, _ DropoutKey) { r.use(dx, dy) }
func (r *Recorder) Conv2d(y, x, w, b *Tensor, _ Conv2dParams)               { r.use(y, x, w, b) }
func (r *Recorder) Conv2dBackward(dx, dw, db, dy, x, w *Tensor, _ Conv2dParams) {
	r.use(dx, dw, db, dy, x, w)
}
func (r *Recorder) Linear(y, x, w, b *Tensor)                   { r.use(y, x, w, b) }
func (r *Recorder) LinearBackward(dx, dw, db, dy, x, w *Tensor) { r.use(dx, dw, db, dy, x, w) }
func (r *Recorder) MatMul(c, a, b *Tensor, _, _ bool)           { r.use(c, a, b) }
func (r *Recorder) BatchNormTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *Tensor, _, _ float32) {
	r.use(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta)
}
func (r *Recorder) BatchNormEval(y, x, gamma, beta, runMean, runVar *Tensor, _ float32) {
	r.use(y, x, gamma, beta, runMean, runVar)
}
func (r *Recorder) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *Tensor) {
	r.use(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd)
}
func (r *Recorder) BatchNormEvalBackward(dx, dgamma, dbeta, dy, x, gamma, runMean, runVar *Tensor, _ float32) {
	r.use(dx, dgamma, dbeta, dy, x, gamma, runMean, runVar)
}
func (r *Recorder) BatchNormReluTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *Tensor, _, _ float32) {
	r.use(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta)
}
func (r *Recorder) BatchNormReluEval(y, x, gamma, beta, runMean, runVar *Tensor, _ float32) {
	r.use(y, x, gamma, beta, runMean, runVar)
}
func (r *Recorder) BatchNormReluBackward(dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd *Tensor) {
	r.use(dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd)
}
func (r *Recorder) BatchNormReluEvalBackward(dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar *Tensor, _ float32) {
	r.use(dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar)
}
func (r *Recorder) AddRelu(y, a, b *Tensor) { r.use(y, a, b) }
func (r *Recorder) SqueezeExcite(y, pooled, hidden, scale, x, res, w1, b1, w2, b2 *Tensor) {
	r.use(y, pooled, hidden, scale, x, res, w1, b1, w2, b2)
}
func (r *Recorder) SqueezeExciteBackward(dx, dw1, db1, dw2, db2, dy, x, w1, w2, pooled, hidden, scale *Tensor) {
	r.use(dx, dw1, db1, dw2, db2, dy, x, w1, w2, pooled, hidden, scale)
}
func (r *Recorder) LayerNorm(y, saveMean, saveInvStd, x, gamma, beta *Tensor, _ float32) {
	r.use(y, saveMean, saveInvStd, x, gamma, beta)
}
func (r *Recorder) LayerNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *Tensor) {
	r.use(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd)
}
func (r *Recorder) Softmax(y, x *Tensor)                             { r.use(y, x) }
func (r *Recorder) SoftmaxBackward(dx, dy, y *Tensor)                { r.use(dx, dy, y) }
func (r *Recorder) MaxPool2d(y, idx, x *Tensor, _ Pool2dParams)      { r.use(y, idx, x) }
func (r *Recorder) MaxPool2dBackward(dx, dy, idx *Tensor)            { r.use(dx, dy, idx) }
func (r *Recorder) AvgPool2d(y, x *Tensor, _ Pool2dParams)           { r.use(y, x) }
func (r *Recorder) AvgPool2dBackward(dx, dy *Tensor, _ Pool2dParams) { r.use(dx, dy) }
func (r *Recorder) AdaptiveAvgPool2d(y, x *Tensor)                   { r.use(y, x) }
func (r *Recorder) AdaptiveAvgPool2dBackward(dx, dy *Tensor)         { r.use(dx, dy) }
func (r *Recorder) Permute(y, x *Tensor, _ []int)                    { r.use(y, x) }
func (r *Recorder) Concat(y *Tensor, xs []*Tensor, _ int)            { r.use(append([]*Tensor{y}, xs...)...) }
func (r *Recorder) Split(dxs []*Tensor, dy *Tensor, _ int)           { r.use(append([]*Tensor{dy}, dxs...)...) }
func (r *Recorder) Mean(y, x *Tensor, _ int)                         { r.use(y, x) }
func (r *Recorder) MeanBackward(dx, dy *Tensor, _ int)               { r.use(dx, dy) }
func (r *Recorder) ChannelScale(y, x, s *Tensor)                     { r.use(y, x, s) }
func (r *Recorder) ChannelScaleBackward(dx, ds, dy, x, s *Tensor)    { r.use(dx, ds, dy, x, s) }
func (r *Recorder) CrossEntropy(loss, dlogits, logits, labels *Tensor) {
	r.use(loss, dlogits, logits, labels)
}
func (r *Recorder) AddSign(grad, param *Tensor, _ float32)          { r.use(grad, param) }
func (r *Recorder) SGDStep(params, grads, mom *Tensor, _ SGDParams) { r.use(params, grads, mom) }
func (r *Recorder) AdadeltaStep(params, grads, squareAvg, accDelta *Tensor, _ AdadeltaParams) {
	r.use(params, grads, squareAvg, accDelta)
}

func (r *Recorder) GatherBatch(x, y, images, labels, order, table *Tensor, _ int, vars *Tensor) {
	r.use(x, y, images, labels, order, table, vars)
}
func (r *Recorder) EndStep(vars, window, loss *Tensor, _ int) { r.use(vars, window, loss) }

var _ Backend = (*Recorder)(nil)
