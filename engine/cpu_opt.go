package engine

import "math"

// The optimizers' element-wise updates, one contiguous run at a time. The
// scalar functions are the reference (torch.optim's formulas, each
// operation rounded to float32 in the order written, no fused
// multiply-add); on amd64 with AVX2 the first len &^ 7 elements run 8 at a
// time in cpu_opt_amd64.s with the same operations in the same order, so
// the results are the scalar ones bit for bit (VSQRTPS is correctly
// rounded, as float32(math.Sqrt(float64(v))) is).

// SGD flags for sgdAVX2.
const (
	sgdDecay    = 1 << iota // add WeightDecay·param to the gradient
	sgdMomentum             // keep a momentum buffer
	sgdFirst                // the buffer's first step: set it to the gradient
	sgdNesterov             // Nesterov momentum
)

func sgdFlags(p SGDParams) int {
	f := 0
	if p.WeightDecay != 0 {
		f |= sgdDecay
	}
	if p.Momentum != 0 {
		f |= sgdMomentum
		if p.First {
			f |= sgdFirst
		}
		if p.Nesterov {
			f |= sgdNesterov
		}
	}
	return f
}

// sgdOne updates element i (ms is nil without momentum).
func sgdOne(ps, gs, ms []float32, i int, p SGDParams) {
	g := gs[i]
	if p.WeightDecay != 0 {
		g += p.WeightDecay * ps[i]
	}
	if p.Momentum != 0 {
		b := g
		if !p.First {
			b = p.Momentum*ms[i] + (1-p.Dampening)*g
		}
		ms[i] = b
		if p.Nesterov {
			g += p.Momentum * b
		} else {
			g = b
		}
	}
	ps[i] -= p.LR * g
}

// sgdRun is torch.optim.SGD's update of one run (ms is nil without
// momentum, else as long as ps).
func sgdRun(ps, gs, ms []float32, p SGDParams) {
	gs = gs[:len(ps)]
	i := vec8(len(ps))
	if i > 0 {
		var m *float32
		if p.Momentum != 0 {
			m = &ms[0]
		}
		sgdAVX2(&ps[0], &gs[0], m, i, p.LR, p.WeightDecay, p.Momentum, 1-p.Dampening, sgdFlags(p))
	}
	for ; i < len(ps); i++ {
		sgdOne(ps, gs, ms, i, p)
	}
}

// adadeltaOne updates element i.
func adadeltaOne(ps, gs, sq, ad []float32, i int, p AdadeltaParams) {
	g := gs[i]
	if p.WeightDecay != 0 {
		g += p.WeightDecay * ps[i]
	}
	s := p.Rho*sq[i] + (1-p.Rho)*g*g
	sq[i] = s
	std := float32(math.Sqrt(float64(s + p.Eps)))
	delta := float32(math.Sqrt(float64(ad[i]+p.Eps))) / std * g
	ad[i] = p.Rho*ad[i] + (1-p.Rho)*delta*delta
	ps[i] -= p.LR * delta
}

// adadeltaRun is torch.optim.Adadelta's update of one run.
func adadeltaRun(ps, gs, sq, ad []float32, p AdadeltaParams) {
	gs, sq, ad = gs[:len(ps)], sq[:len(ps)], ad[:len(ps)]
	i := vec8(len(ps))
	if i > 0 {
		adadeltaAVX2(&ps[0], &gs[0], &sq[0], &ad[0], i, p.LR, p.Rho, p.Eps, p.WeightDecay, flag(p.WeightDecay != 0))
	}
	for ; i < len(ps); i++ {
		adadeltaOne(ps, gs, sq, ad, i, p)
	}
}
