package engine

// Conv2dParams describes a 2-D convolution (cross-correlation, as PyTorch).
type Conv2dParams struct {
	StrideH, StrideW int
	PadH, PadW       int
}

// ConvOut is the output size of a convolution or pooling window along one
// dimension: floor((in+2·pad-k)/stride)+1.
func ConvOut(in, k, stride, pad int) int { return (in+2*pad-k)/stride + 1 }

// Pool2dParams describes a max or average pooling window.
type Pool2dParams struct {
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	// CeilMode rounds the output size up, as PyTorch's ceil_mode: a last
	// window that starts inside the input (or its left padding) is kept.
	CeilMode bool
	// ExcludePad divides an average by the number of input elements in the
	// window instead of the window size (PyTorch's count_include_pad=False).
	ExcludePad bool
}

// PoolOut is the output size of a pooling window along one dimension, with
// PyTorch's rule for ceil mode.
func PoolOut(in, k, stride, pad int, ceil bool) int {
	num := in + 2*pad - k
	if ceil {
		num += stride - 1
	}
	out := num/stride + 1
	if ceil && (out-1)*stride >= in+pad {
		out--
	}
	return out
}

// DropoutKey selects an independent stream of dropout masks: the same key
// draws the same mask on every backend, and a resumed run draws the masks of
// the uninterrupted one.
type DropoutKey struct {
	Seed  uint64 // the run's seed
	Step  uint32 // the global training step
	Layer uint32 // the layer's index among the model's dropout layers
	// Vars, when set, is a step-variables tensor (stepvars.go): the step
	// is read from its VarStep slot instead of Step.
	Vars *Tensor
}

// SGDParams are torch.optim.SGD's hyper-parameters.
type SGDParams struct {
	LR, Momentum, Dampening, WeightDecay float32
	Nesterov                             bool
	// First marks the first step: the momentum buffer is set to the gradient
	// instead of being decayed, as PyTorch does.
	First bool
	// Vars, when set, is a step-variables tensor: LR and First are read
	// from its VarLR and VarFirst slots.
	Vars *Tensor
}

// AdadeltaParams are torch.optim.Adadelta's hyper-parameters.
type AdadeltaParams struct {
	LR, Rho, Eps, WeightDecay float32
	// Vars, when set, is a step-variables tensor: LR is read from its
	// VarLR slot.
	Vars *Tensor
}

// Backend runs every op of gotrain on tensors that live where the backend
// keeps them. Layers and models talk only to this interface.
//
// Conventions:
//   - Outputs come first, then inputs, then parameters. Every output is
//     overwritten (never accumulated into) unless the op says otherwise.
//   - Optional operands (a bias, a gradient nobody needs) may be nil.
//   - Ops do not return errors: the first failure (a shape mismatch, a
//     device error) is recorded with the op's name, later ops are skipped,
//     and Err returns it. Check Err at the end of a step: on a device this
//     costs no synchronisation in the hot loop.
//   - Float reductions use a fixed order, so results are reproducible bit
//     for bit on a given backend whatever the number of cores.
type Backend interface {
	// Name says what the backend runs on ("cpu (2 threads)", "cuda:0 NVIDIA H200").
	Name() string
	// Alloc returns zero-filled memory of n elements.
	Alloc(dt DType, n int) (Storage, error)
	// Err returns the first error recorded by an op, if any.
	Err() error
	// Sync waits for queued work and returns Err.
	Sync() error

	// Host transfer. Upload and Download copy t.Len() elements.
	Upload(dst *Tensor, src []float32)
	UploadInt32(dst *Tensor, src []int32)
	Download(dst []float32, src *Tensor)
	DownloadInt32(dst []int32, src *Tensor)

	// The data set on the backend and the step variables (stepvars.go).
	// GatherBatch builds a batch from images held as packed bytes; EndStep
	// stores the step's loss in a window and advances vars.
	GatherBatch(x, y, images, labels, order, table *Tensor, offset int, vars *Tensor)
	EndStep(vars, window, loss *Tensor, batch int)

	// Element-wise and copies.
	Fill(t *Tensor, v float32)
	Copy(dst, src *Tensor)
	// Scale: y = alpha·x.
	Scale(y, x *Tensor, alpha float32)
	// Axpy: y += alpha·x (accumulates into y).
	Axpy(y *Tensor, alpha float32, x *Tensor)
	// Add: y = a + b, each broadcast to y's shape (NumPy rules).
	Add(y, a, b *Tensor)
	// SumTo: y = dy summed over the dimensions in which y was broadcast to
	// dy's shape (the gradient of a broadcast operand of Add).
	SumTo(y, dy *Tensor)
	// Mul: y = a·b element-wise, same shapes.
	Mul(y, a, b *Tensor)

	Relu(y, x *Tensor)
	ReluBackward(dx, dy, y *Tensor)
	Sigmoid(y, x *Tensor)
	SigmoidBackward(dx, dy, y *Tensor)
	// Gelu is the exact form 0.5·x·(1+erf(x/√2)).
	Gelu(y, x *Tensor)
	GeluBackward(dx, dy, x *Tensor)

	// Dropout: y = x·mask/(1-p), mask drawn from key. p=0 copies.
	Dropout(y, x *Tensor, p float32, key DropoutKey)
	DropoutBackward(dx, dy *Tensor, p float32, key DropoutKey)

	// Conv2d: x (N,C,H,W), w (K,C,R,S), b (K) or nil, y (N,K,P,Q).
	Conv2d(y, x, w, b *Tensor, p Conv2dParams)
	// Conv2dBackward writes dx (nil: not needed), dw and db (nil: no bias).
	Conv2dBackward(dx, dw, db, dy, x, w *Tensor, p Conv2dParams)

	// Linear: y = x·wᵀ + b over the last dimension; x (...,in), w (out,in).
	Linear(y, x, w, b *Tensor)
	LinearBackward(dx, dw, db, dy, x, w *Tensor)
	// MatMul: c = op(a)·op(b) batched over the leading dimensions, which must
	// be equal; op transposes the last two dimensions when asked.
	MatMul(c, a, b *Tensor, transA, transB bool)

	// BatchNormTrain normalises x (N,C) or (N,C,...) per channel with the
	// batch statistics, saves the batch mean and 1/sqrt(var+eps) (C each) for
	// the backward pass, and updates the running statistics with momentum
	// (running_var takes the unbiased batch variance, as PyTorch).
	BatchNormTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *Tensor, momentum, eps float32)
	// BatchNormEval normalises with the running statistics.
	BatchNormEval(y, x, gamma, beta, runMean, runVar *Tensor, eps float32)
	// BatchNormBackward is the gradient of BatchNormTrain.
	BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *Tensor)
	// BatchNormEvalBackward is the gradient of BatchNormEval.
	BatchNormEvalBackward(dx, dgamma, dbeta, dy, x, gamma, runMean, runVar *Tensor, eps float32)

	// BatchNormReluTrain is BatchNormTrain followed by ReLU in one pass over
	// y: y = max(BN(x), 0), with the same saved and running statistics.
	BatchNormReluTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *Tensor, momentum, eps float32)
	// BatchNormReluEval is BatchNormEval followed by ReLU.
	BatchNormReluEval(y, x, gamma, beta, runMean, runVar *Tensor, eps float32)
	// BatchNormReluBackward is the gradient of BatchNormReluTrain: y is its
	// output, whose zeros mask dy (dy·[y>0] is the gradient of the batch
	// norm's output), then BatchNormBackward. dx may be dy.
	BatchNormReluBackward(dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd *Tensor)
	// BatchNormReluEvalBackward is the gradient of BatchNormReluEval (y its
	// output).
	BatchNormReluEvalBackward(dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar *Tensor, eps float32)
	// AddRelu: y = max(a + b, 0) element-wise, a, b and y of one shape (no
	// broadcasting): a residual sum and its ReLU in one pass. Its gradient
	// for both a and b is ReluBackward(d, dy, y).
	AddRelu(y, a, b *Tensor)

	// SqueezeExcite is the SE block in one op. With x (N,C,...) of S elements
	// per plane: pooled (N·C) = the mean of each plane; hidden (N·D) =
	// relu(pooled·w1ᵀ + b1) with w1 (D,C,...) (fc1, a 1x1 convolution); scale
	// (N·C) = sigmoid(hidden·w2ᵀ + b2) with w2 (C,D,...) (fc2); y = x·scale +
	// res, res (x's shape) a residual added as y is written, or nil. pooled,
	// hidden and scale are saved for the backward pass; b1, b2 may be nil.
	SqueezeExcite(y, pooled, hidden, scale, x, res, w1, b1, w2, b2 *Tensor)
	// SqueezeExciteBackward is the gradient of SqueezeExcite: dx (through
	// the scale and through the pooled mean; may be dy), dw1, db1, dw2, db2
	// (each may be nil). The gradient of res is dy itself.
	SqueezeExciteBackward(dx, dw1, db1, dw2, db2, dy, x, w1, w2, pooled, hidden, scale *Tensor)

	// LayerNorm over the last dimension; saves mean and 1/std per row.
	LayerNorm(y, saveMean, saveInvStd, x, gamma, beta *Tensor, eps float32)
	LayerNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *Tensor)
	// Softmax over the last dimension.
	Softmax(y, x *Tensor)
	SoftmaxBackward(dx, dy, y *Tensor)

	// MaxPool2d writes y and the flat index (h·W+w) of each maximum in idx
	// (an Int32 tensor shaped like y).
	MaxPool2d(y, idx, x *Tensor, p Pool2dParams)
	MaxPool2dBackward(dx, dy, idx *Tensor)
	AvgPool2d(y, x *Tensor, p Pool2dParams)
	AvgPool2dBackward(dx, dy *Tensor, p Pool2dParams)
	// AdaptiveAvgPool2d pools (N,C,H,W) to y's (P,Q) with PyTorch's windows.
	AdaptiveAvgPool2d(y, x *Tensor)
	AdaptiveAvgPool2dBackward(dx, dy *Tensor)

	// Permute: y = x with dimensions reordered; y's dim i is x's dim perm[i].
	Permute(y, x *Tensor, perm []int)
	// Concat joins xs along axis into y; Split is its gradient.
	Concat(y *Tensor, xs []*Tensor, axis int)
	Split(dxs []*Tensor, dy *Tensor, axis int)
	// Mean over axis: y has x's shape without that dimension (or with it 1).
	Mean(y, x *Tensor, axis int)
	MeanBackward(dx, dy *Tensor, axis int)
	// ChannelScale: y (N,C,...) = x·s with s (N,C) (the SE excite multiply).
	ChannelScale(y, x, s *Tensor)
	ChannelScaleBackward(dx, ds, dy, x, s *Tensor)

	// CrossEntropy is fused log-softmax + NLL, mean over the batch: logits
	// (N,C), labels Int32 (N), loss a 1-element tensor; dlogits (or nil)
	// gets the gradient of the mean loss.
	CrossEntropy(loss, dlogits, logits, labels *Tensor)

	// AddSign adds lambda·sign(param) to grad (sign(0) = 0): the
	// subgradient of an L1 penalty, for network-slimming sparsity training.
	AddSign(grad, param *Tensor, lambda float32)

	// SGDStep updates params from grads (flat tensors of equal length) and
	// the momentum buffer mom (nil when Momentum is 0).
	SGDStep(params, grads, mom *Tensor, p SGDParams)
	// AdadeltaStep updates params from grads with the square_avg and
	// acc_delta state tensors.
	AdadeltaStep(params, grads, squareAvg, accDelta *Tensor, p AdadeltaParams)
}
