package engine

import "math"

// The exact GELU, y = x·Φ(x), and its gradient dx = dy·(Φ(x) + x·φ(x)),
// vectorisable: with z = |x|/√2, Φ(x) = ½ + ½·erf(x/√2) by erf's Taylor
// series for z < 1, else 1 − ½·erfc(z) for x ≥ 0 and ½·erfc(z) for x < 0,
// with erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2) and P the degree-9
// polynomial of Numerical Recipes' erfcc (relative error below 1.2e-7 for
// every z ≥ 0, so GELU and its gradient are within about two float32 ulps
// of float64 math.Erfc's), and exp from a rounded
// exponent and a degree-9 Taylor polynomial (relative error below 1e-11;
// 0 below e^−708, so that GELU'(±Inf) is NaN as in PyTorch).
// Everything runs in float64 and rounds to float32 once. On amd64 with
// AVX2 and FMA, cpu_gelu_amd64.s computes the same operations 4 lanes at a
// time, fused multiply-adds where these use math.FMA, so the two give the
// same bits (TestGeluLoops); TestElementwiseReference, the gradient check
// and the PyTorch fixture compare with math.Erf.

const (
	invSqrt2   = 0.7071067811865476
	invSqrt2Pi = 0.3989422804014327
	ln2Hi      = 6.93147180369123816490e-01
	ln2Lo      = 1.90821492927058770002e-10
)

// erfQ are the Taylor coefficients of erf(u)/u in u², the highest first:
// 2/√π·(−1)ⁿ/(n!·(2n+1)) for n = 16 down to 0 (error below 1e-15 for
// |u| < 1).
var erfQ = [17]float64{1.6342614095367152e-15, -2.7835162072109215e-14, 4.4632242632864775e-13, -6.7113668551641105e-12,
	9.422759064650411e-11, -1.2290555301717928e-09, 1.4807192815879218e-08, -1.6365844691234924e-07,
	1.6462114365889248e-06, -1.492565035840625e-05, 0.00012055332981789664, -0.0008548327023450853,
	0.005223977625442188, -0.026866170645131252, 0.11283791670955126, -0.37612638903183754, 1.1283791670955126}

// erfcP are P's coefficients, the highest power first.
var erfcP = [10]float64{0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
	-0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223}

// expTaylor are 1/k! for k = 9 down to 0.
var expTaylor = [10]float64{1.0 / 362880, 1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1}

// expPoly is e^a for a in [−708, 700] (a above 700 gives e^700), 0 below
// −708 (where e^a is subnormal); NaN stays NaN.
func expPoly(a float64) float64 {
	if a < -708 {
		return 0
	}
	if a > 700 {
		a = 700
	}
	n := math.RoundToEven(a * math.Log2E)
	r := math.FMA(-n, ln2Hi, a)
	r = math.FMA(-n, ln2Lo, r)
	p := expTaylor[0]
	for _, c := range expTaylor[1:] {
		p = math.FMA(p, r, c)
	}
	return p * math.Float64frombits(uint64(int64(n)+1023)<<52)
}

// normCDF is Φ(x), the standard normal distribution function: ½ + ½·erf(u)
// by erf's Taylor series where |u| = |x|/√2 < 1 (GELU's gradient cancels
// there, near x = −0.75, so Φ needs more than float32's accuracy), else
// from erfc.
func normCDF(x float64) float64 {
	z := math.Abs(x) * invSqrt2
	if z < 1 {
		u := x * invSqrt2
		w := u * u
		q := erfQ[0]
		for _, c := range erfQ[1:] {
			q = math.FMA(q, w, c)
		}
		return 0.5 + 0.5*(u*q)
	}
	t := 1 / math.FMA(z, 0.5, 1)
	p := erfcP[0]
	for _, c := range erfcP[1:] {
		p = math.FMA(p, t, c)
	}
	h := 0.5 * (t * expPoly(math.FMA(-z, z, p)))
	if math.Signbit(x) {
		return h
	}
	return 1 - h
}

// geluRun writes ys = GELU(xs). ys may be xs.
func geluRun(ys, xs []float32) {
	xs = xs[:len(ys)]
	i := vec8(len(ys))
	if i > 0 {
		geluAVX2(&ys[0], &xs[0], nil, i)
	}
	for ; i < len(ys); i++ {
		x := float64(xs[i])
		ys[i] = float32(x * normCDF(x))
	}
}

// geluBackwardRun writes dxs = dys·GELU'(xs). dxs may be dys or xs.
func geluBackwardRun(dxs, dys, xs []float32) {
	dys, xs = dys[:len(dxs)], xs[:len(dxs)]
	i := vec8(len(dxs))
	if i > 0 {
		geluAVX2(&dxs[0], &xs[0], &dys[0], i)
	}
	for ; i < len(dxs); i++ {
		x := float64(xs[i])
		pdf := invSqrt2Pi * expPoly((x*x)*-0.5)
		dxs[i] = float32(float64(dys[i]) * math.FMA(x, pdf, normCDF(x)))
	}
}

// expRow returns Σ expPoly(float64(x) − shift) over xs (in a fixed order)
// and, when ys is not nil, writes ys = float32(e·mul): softmax's and
// softmax-NLL's exponentials, 8 at a time in expRowAVX2 where the CPU has
// AVX2 (its sum is the same numbers summed in another fixed order).
func expRow(ys, xs []float32, shift, mul float64) float64 {
	var sum float64
	i := vec8(len(xs))
	if i > 0 {
		var y *float32
		if ys != nil {
			y = &ys[0]
		}
		sum = expRowAVX2(y, &xs[0], i, shift, mul)
	}
	for ; i < len(xs); i++ {
		e := expPoly(float64(xs[i]) - shift)
		sum += e
		if ys != nil {
			ys[i] = float32(e * mul)
		}
	}
	return sum
}

// maxRow is the largest of xs ignoring NaNs (−Inf when there is none) and
// whether any is NaN; 8 at a time in maxRowAVX2 where the CPU has AVX2.
func maxRow(xs []float32) (mx float32, nan bool) {
	mx = float32(math.Inf(-1))
	i := vec8(len(xs))
	if i > 0 {
		m, f := maxRowAVX2(&xs[0], i)
		mx, nan = m, f != 0
	}
	for ; i < len(xs); i++ {
		if v := xs[i]; v > mx {
			mx = v
		} else if v != v {
			nan = true
		}
	}
	return mx, nan
}
