package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/gotrain/gotrain/models"
)

// Plan is a pruning decision: which channels of each group stay.
type Plan struct {
	Percent   float64
	Threshold float64 // global |gamma| threshold over the target BNs
	Graph     *Graph
	// Keep lists, per prunable group (same order as Graph.Groups; nil for
	// groups left whole), the kept channel indices in increasing order.
	Keep   [][]int
	byAxis map[Member][]int
}

// Threshold is spec 3.1's global threshold: the |gamma| of every target BN
// concatenated and sorted ascending; the threshold is sorted[int(n·p)]
// (the p quantile; p = 0.04 is the report's setting).
func Threshold(gammas map[string][]float32, p float64) (float64, error) {
	if p < 0 || p >= 1 {
		return 0, fmt.Errorf("prune: percent %g outside [0, 1)", p)
	}
	var all []float64
	for _, g := range gammas {
		for _, v := range g {
			all = append(all, math.Abs(float64(v)))
		}
	}
	if len(all) == 0 {
		return 0, fmt.Errorf("prune: the model has no pruning-target batch norms")
	}
	sort.Float64s(all)
	return all[min(int(float64(len(all))*p), len(all)-1)], nil
}

// NewPlan decides, for each prunable group (not fixed, holding at least one
// target BN), which channels stay. The rule: a channel's score is the mean
// |gamma| of the group's target BNs at that channel (a residual stream has
// one per block that reads it; a block's inner channels one); a channel
// goes when its score is strictly below the global threshold. A group
// always keeps at least its highest-scoring channel, so no layer is ever
// left with zero channels.
func NewPlan(g *Graph, gammas map[string][]float32, percent float64) (*Plan, error) {
	t, err := Threshold(gammas, percent)
	if err != nil {
		return nil, err
	}
	p := &Plan{Percent: percent, Threshold: t, Graph: g, Keep: make([][]int, len(g.Groups)), byAxis: map[Member][]int{}}
	for gi, grp := range g.Groups {
		if grp.Fixed || len(grp.Targets) == 0 {
			continue
		}
		score := make([]float64, grp.Channels)
		for _, name := range grp.Targets {
			gv, ok := gammas[name]
			if !ok || len(gv) != grp.Channels {
				return nil, fmt.Errorf("prune: gamma %s: have %d values, the group has %d channels", name, len(gv), grp.Channels)
			}
			for c, v := range gv {
				score[c] += math.Abs(float64(v))
			}
		}
		for c := range score {
			score[c] /= float64(len(grp.Targets)) // one division: equal gammas score exactly their value
		}
		var keep []int
		best := 0
		for c, s := range score {
			if s >= t {
				keep = append(keep, c)
			}
			if s > score[best] {
				best = c
			}
		}
		if len(keep) == 0 {
			keep = []int{best}
		}
		if len(keep) == grp.Channels {
			continue
		}
		p.Keep[gi] = keep
		for _, m := range grp.Members {
			p.byAxis[m] = keep
		}
	}
	return p, nil
}

// Removed is the number of channels the plan removes, over all groups.
func (p *Plan) Removed() int {
	n := 0
	for gi, k := range p.Keep {
		if k != nil {
			n += p.Graph.Groups[gi].Channels - len(k)
		}
	}
	return n
}

// Kept returns the kept indices of axis of parameter name, or nil when the
// axis is not pruned.
func (p *Plan) Kept(name string, axis int) []int { return p.byAxis[Member{name, axis}] }

// Widths returns the pruned model's widths: each default width whose tensor
// axis the plan prunes becomes that axis's kept count.
func (p *Plan) Widths(spec *models.Spec) (models.Widths, error) {
	if spec.Widths == nil || spec.WidthOf == nil {
		return nil, fmt.Errorf("prune: model %s cannot be built at other widths", spec.Name)
	}
	w := spec.Widths()
	for k := range w {
		name, axis := spec.WidthOf(k)
		if name == "" {
			return nil, fmt.Errorf("prune: model %s: width %q names no tensor", spec.Name, k)
		}
		if keep := p.Kept(name, axis); keep != nil {
			w[k] = len(keep)
		}
	}
	return w, nil
}

// Gather returns the pruned copy of a parameter of the given shape: along
// every pruned axis only the kept indices remain.
func (p *Plan) Gather(name string, shape []int, data []float32) (newShape []int, out []float32) {
	keep := make([][]int, len(shape))
	newShape = append([]int(nil), shape...)
	for a := range shape {
		if k := p.Kept(name, a); k != nil {
			keep[a] = k
			newShape[a] = len(k)
		}
	}
	n := 1
	for _, d := range newShape {
		n *= d
	}
	out = make([]float32, n)
	strides := make([]int, len(shape))
	s := 1
	for a := len(shape) - 1; a >= 0; a-- {
		strides[a] = s
		s *= shape[a]
	}
	idx := make([]int, len(shape))
	for i := range out {
		off := 0
		for a := range shape {
			src := idx[a]
			if keep[a] != nil {
				src = keep[a][src]
			}
			off += src * strides[a]
		}
		out[i] = data[off]
		for a := len(shape) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < newShape[a] {
				break
			}
			idx[a] = 0
		}
	}
	return newShape, out
}

// Mask zeroes, in place, every slice of a parameter that the plan would
// remove: the unpruned model with the removed channels masked computes
// what the pruned model computes. Running variances are set to 1 rather
// than 0.
func (p *Plan) Mask(name string, shape []int, data []float32, fill float32) {
	strides := make([]int, len(shape))
	s := 1
	for a := len(shape) - 1; a >= 0; a-- {
		strides[a] = s
		s *= shape[a]
	}
	for a := range shape {
		keep := p.Kept(name, a)
		if keep == nil {
			continue
		}
		kept := make([]bool, shape[a])
		for _, k := range keep {
			kept[k] = true
		}
		for i := range data {
			if !kept[i/strides[a]%shape[a]] {
				data[i] = fill
			}
		}
	}
}
