package figures

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// niceTicks is a plot.Ticker that places about n labelled ticks at round
// values (1, 2, 2.5 or 5 times a power of ten), with one unlabelled minor
// tick between two labelled ones. With integer set (for counts), the steps
// are whole numbers: 1, 2 or 5 times a power of ten.
type niceTicks struct {
	n       int
	integer bool
}

// Ticks implements plot.Ticker.
func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return nil
	}
	raw, mantissas := (hi-lo)/float64(max(t.n, 1)), []float64{1, 2, 2.5, 5}
	if t.integer {
		raw, mantissas = math.Max(raw, 1), []float64{1, 2, 5}
	}
	step, prec := niceStep(raw, mantissas)
	var ticks []plot.Tick
	first := math.Ceil(lo/step-1e-9) * step
	for i := 0; ; i++ {
		v := first + float64(i)*step
		if v > hi+step*1e-9 {
			break
		}
		if math.Abs(v) < step*1e-9 {
			v = 0 // avoid "-0.00"
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
		if m := v + step/2; m < hi && (!t.integer || step >= 2) {
			ticks = append(ticks, plot.Tick{Value: m})
		}
	}
	if first-step/2 > lo && (!t.integer || step >= 2) {
		ticks = append(ticks, plot.Tick{Value: first - step/2})
	}
	return ticks
}

// niceStep returns the smallest step of the form m*10^k (m in mantissas,
// ascending) that is at least raw, and the number of decimals its multiples
// need.
func niceStep(raw float64, mantissas []float64) (step float64, prec int) {
	k := math.Floor(math.Log10(raw))
	for {
		p := math.Pow(10, k)
		for _, m := range mantissas {
			if s := m * p; s >= raw*(1-1e-9) {
				prec = max(0, -int(k))
				if m != math.Trunc(m) {
					prec++
				}
				return s, prec
			}
		}
		k++
	}
}

// epochTicks is a plot.Ticker for an axis of whole epochs: it labels every
// epoch when there are few, else every 2nd, 5th, 10th, ... epoch, keeping at
// most about maxLabels labels, with unlabelled minor ticks on the others
// while they are not too dense.
type epochTicks struct{ maxLabels int }

// Ticks implements plot.Ticker.
func (t epochTicks) Ticks(lo, hi float64) []plot.Tick {
	first, last := math.Ceil(lo), math.Floor(hi)
	if last < first {
		return nil
	}
	step := 1.0
	if n := last - first + 1; n > float64(t.maxLabels) {
		step, _ = niceStep(n/float64(t.maxLabels), []float64{1, 2, 5})
	}
	var ticks []plot.Tick
	minor := (last - first) <= 100
	for e := first; e <= last; e++ {
		switch {
		case math.Mod(e, step) == 0:
			ticks = append(ticks, plot.Tick{Value: e, Label: strconv.FormatFloat(e, 'f', 0, 64)})
		case minor:
			ticks = append(ticks, plot.Tick{Value: e})
		}
	}
	return ticks
}
