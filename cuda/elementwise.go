//go:build cuda || cgo

package cuda

import (
	"unsafe"

	"github.com/gotrain/gotrain/engine"
)

// ewThreads is the block size of the element-wise kernels.
const ewThreads = 256

// ewGrid is the grid of a grid-stride kernel over n items: enough blocks to
// fill the device, no more than the items need.
func (b *Backend) ewGrid(n int) dim3 {
	g := blocks(n, ewThreads)
	if m := 32 * b.sms; g > m {
		g = m
	}
	return d1(g)
}

// ew launches a grid-stride kernel over n elements.
func (b *Backend) ew(op, kernel string, n int, args ...arg) {
	if n == 0 {
		return
	}
	b.launch(op, kernel, b.ewGrid(n), d1(ewThreads), 0, args...)
}

// Upload copies src into dst, queued after the work before it.
// A BFloat16 tensor takes src rounded to bfloat16 (engine.ToBF16).
func (b *Backend) Upload(dst *engine.Tensor, src []float32) {
	if dst != nil && dst.DType() == engine.BFloat16 {
		h := make([]uint16, len(src))
		for i, v := range src {
			h[i] = engine.ToBF16(v)
		}
		b.upload(engine.BFloat16, dst, unsafe.Pointer(unsafe.SliceData(h)), len(h))
		return
	}
	b.upload(engine.Float32, dst, unsafe.Pointer(unsafe.SliceData(src)), len(src))
}

// UploadInt32 copies src into an Int32 tensor, queued like Upload.
func (b *Backend) UploadInt32(dst *engine.Tensor, src []int32) {
	b.upload(engine.Int32, dst, unsafe.Pointer(unsafe.SliceData(src)), len(src))
}

// upload copies n host elements at src into dst (of element type dt). An
// asynchronous copy from pageable memory returns once the driver has
// staged src: src may be reused at once, and the host does not wait for
// the kernels queued before it.
func (b *Backend) upload(dt engine.DType, dst *engine.Tensor, src unsafe.Pointer, n int) {
	if !b.okAs("upload", dt, dst) {
		return
	}
	if n != dst.Len() {
		b.fail("upload", "%d values for %s", n, dst)
		return
	}
	if n == 0 {
		return
	}
	b.queued()
	if err := b.drv.copyIn(addr(dst), src, int64(n)*int64(dt.Size())); err != nil {
		b.fail("upload", "%s: %v", dst, err)
	}
}

// Download copies src into dst after the queued work (synchronous).
// A BFloat16 tensor's values are widened exactly (engine.FromBF16).
func (b *Backend) Download(dst []float32, src *engine.Tensor) {
	if src != nil && src.DType() == engine.BFloat16 {
		h := make([]uint16, len(dst))
		b.download(engine.BFloat16, unsafe.Pointer(unsafe.SliceData(h)), len(h), src)
		for i, v := range h {
			dst[i] = engine.FromBF16(v)
		}
		return
	}
	b.download(engine.Float32, unsafe.Pointer(unsafe.SliceData(dst)), len(dst), src)
}

// DownloadInt32 copies an Int32 tensor into dst (synchronous).
func (b *Backend) DownloadInt32(dst []int32, src *engine.Tensor) {
	b.download(engine.Int32, unsafe.Pointer(unsafe.SliceData(dst)), len(dst), src)
}

// download copies src (of element type dt) into n host elements at dst.
func (b *Backend) download(dt engine.DType, dst unsafe.Pointer, n int, src *engine.Tensor) {
	if !b.okAs("download", dt, src) {
		return
	}
	if n != src.Len() {
		b.fail("download", "%d values for %s", n, src)
		return
	}
	if n == 0 {
		return
	}
	if err := b.drv.copyOut(dst, addr(src), int64(n)*int64(dt.Size())); err != nil {
		b.fail("download", "%s: %v", src, err)
	}
}

// Fill sets every element to v.
func (b *Backend) Fill(t *engine.Tensor, v float32) {
	if !b.okAs("fill", anyDType, t) {
		return
	}
	switch t.DType() {
	case engine.Int32:
		b.ew("fill", "ew_fill_i32", t.Len(), ptr(t), i32(int(v)), i32(t.Len()))
		return
	case engine.BFloat16:
		b.fail("fill", "tensor %s is bfloat16: no op fills one", t)
		return
	}
	b.ew("fill", "ew_fill", t.Len(), ptr(t), f32(v), i32(t.Len()))
}

// Copy copies src into dst (same element count), on the stream.
func (b *Backend) Copy(dst, src *engine.Tensor) {
	if !b.okAs("copy", dst.DType(), dst, src) || !b.sameLen("copy", dst, src) {
		return
	}
	if dst.Len() == 0 || addr(dst) == addr(src) {
		return
	}
	b.queued()
	if err := b.drv.copyDD(addr(dst), addr(src), int64(dst.Len())*int64(dst.DType().Size())); err != nil {
		b.fail("copy", "%s: %v", dst, err)
	}
}

// Scale computes y = alpha·x.
func (b *Backend) Scale(y, x *engine.Tensor, alpha float32) {
	if !b.ok("scale", y, x) || !b.sameLen("scale", y, x) {
		return
	}
	b.ew("scale", "ew_scale", y.Len(), ptr(y), ptr(x), f32(alpha), i32(y.Len()))
}

// Axpy computes y += alpha·x.
func (b *Backend) Axpy(y *engine.Tensor, alpha float32, x *engine.Tensor) {
	if !b.ok("axpy", y, x) || !b.sameLen("axpy", y, x) {
		return
	}
	b.ew("axpy", "ew_axpy", y.Len(), ptr(y), ptr(x), f32(alpha), i32(y.Len()))
}

// Mul computes y = a·b element-wise.
func (b *Backend) Mul(y, a, c *engine.Tensor) {
	if !b.ok("mul", y, a, c) || !b.sameLen("mul", y, a, c) {
		return
	}
	b.ew("mul", "ew_mul", y.Len(), ptr(y), ptr(a), ptr(c), i32(y.Len()))
}

// unary runs a two-operand element-wise kernel after its checks.
func (b *Backend) unary(op, kernel string, y, x *engine.Tensor) {
	if !b.ok(op, y, x) || !b.sameLen(op, y, x) {
		return
	}
	b.ew(op, kernel, y.Len(), ptr(y), ptr(x), i32(y.Len()))
}

// binary runs a three-operand element-wise kernel after its checks.
func (b *Backend) binary(op, kernel string, y, x1, x2 *engine.Tensor) {
	if !b.ok(op, y, x1, x2) || !b.sameLen(op, y, x1, x2) {
		return
	}
	b.ew(op, kernel, y.Len(), ptr(y), ptr(x1), ptr(x2), i32(y.Len()))
}

// Relu computes y = max(x, 0).
func (b *Backend) Relu(y, x *engine.Tensor) { b.unary("relu", "ew_relu", y, x) }

// ReluBackward computes dx = dy where y > 0, else 0.
func (b *Backend) ReluBackward(dx, dy, y *engine.Tensor) {
	b.binary("relu backward", "ew_relu_backward", dx, dy, y)
}

// Sigmoid computes y = 1/(1+exp(-x)).
func (b *Backend) Sigmoid(y, x *engine.Tensor) { b.unary("sigmoid", "ew_sigmoid", y, x) }

// SigmoidBackward computes dx = dy·y·(1-y).
func (b *Backend) SigmoidBackward(dx, dy, y *engine.Tensor) {
	b.binary("sigmoid backward", "ew_sigmoid_backward", dx, dy, y)
}

// Gelu computes 0.5·x·(1+erf(x/√2)).
func (b *Backend) Gelu(y, x *engine.Tensor) { b.unary("gelu", "ew_gelu", y, x) }

// GeluBackward computes dx = dy·(Φ(x) + x·φ(x)).
func (b *Backend) GeluBackward(dx, dy, x *engine.Tensor) {
	b.binary("gelu backward", "ew_gelu_backward", dx, dy, x)
}

func (b *Backend) dropout(op string, dst, src *engine.Tensor, p float32, key engine.DropoutKey) {
	if !b.ok(op, dst, src) || !b.sameLen(op, dst, src) {
		return
	}
	if p < 0 || p >= 1 {
		b.fail(op, "probability %g outside [0,1)", p)
		return
	}
	if p == 0 {
		b.Copy(dst, src)
		return
	}
	if !b.varsOK(op, key.Vars) {
		return
	}
	n := dst.Len()
	b.launch(op, "ew_dropout", b.ewGrid((n+3)/4), d1(ewThreads), 0,
		ptr(dst), ptr(src), f32(p), f32(1/(1-p)), i32(n),
		u32(uint32(key.Seed)), u32(uint32(key.Seed>>32)), u32(uint32(key.Layer)), u32(uint32(key.Step)), ptr(key.Vars))
}

// Dropout zeroes each element with probability p (the CPU engine's masks)
// and scales the rest by 1/(1-p).
func (b *Backend) Dropout(y, x *engine.Tensor, p float32, key engine.DropoutKey) {
	b.dropout("dropout", y, x, p, key)
}

// DropoutBackward applies the same mask and scale to dy.
func (b *Backend) DropoutBackward(dx, dy *engine.Tensor, p float32, key engine.DropoutKey) {
	b.dropout("dropout backward", dx, dy, p, key)
}

// AddSign adds lambda·sign(param) to grad.
func (b *Backend) AddSign(grad, param *engine.Tensor, lambda float32) {
	if !b.ok("add sign", grad, param) || !b.sameLen("add sign", grad, param) {
		return
	}
	b.ew("add sign", "ew_add_sign", grad.Len(), ptr(grad), ptr(param), f32(lambda), i32(grad.Len()))
}

// SGDStep is torch.optim.SGD's update, on the device.
func (b *Backend) SGDStep(params, grads, mom *engine.Tensor, p engine.SGDParams) {
	const op = "sgd step"
	if !b.ok(op, params, grads, mom) || !b.sameLen(op, params, grads, mom) {
		return
	}
	if p.Momentum != 0 && mom == nil {
		b.fail(op, "momentum %g needs a momentum buffer", p.Momentum)
		return
	}
	nest, first := 0, 0
	if p.Nesterov {
		nest = 1
	}
	if p.First {
		first = 1
	}
	if !b.varsOK(op, p.Vars) {
		return
	}
	n := params.Len()
	b.ew(op, "optim_sgd", n, ptr(params), ptr(grads), ptr(mom), f32(p.LR), f32(p.Momentum),
		f32(p.Dampening), f32(p.WeightDecay), i32(nest), i32(first), i32(n), ptr(p.Vars))
}

// AdadeltaStep is torch.optim.Adadelta's update, on the device.
func (b *Backend) AdadeltaStep(params, grads, squareAvg, accDelta *engine.Tensor, p engine.AdadeltaParams) {
	const op = "adadelta step"
	if !b.ok(op, params, grads, squareAvg, accDelta) || !b.sameLen(op, params, grads, squareAvg, accDelta) {
		return
	}
	if !b.varsOK(op, p.Vars) {
		return
	}
	n := params.Len()
	b.ew(op, "optim_adadelta", n, ptr(params), ptr(grads), ptr(squareAvg), ptr(accDelta),
		f32(p.LR), f32(p.Rho), f32(p.Eps), f32(p.WeightDecay), i32(n), ptr(p.Vars))
}
