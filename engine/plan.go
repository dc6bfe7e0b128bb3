package engine

import (
	"fmt"
	"sort"
)

// A Plan places the tensors of a pool in memory from their lifetimes: two
// tensors that are never live at the same time may share memory. A tensor
// is live from the first op that touches it to the last, separately in
// each phase of the trace (phases never run at the same time); pinned
// tensors are live throughout (the host writes or reads them between
// steps). Tensors the trace never touches get no memory at all: using one
// fails as a tensor of an unallocated pool does.
type Plan struct {
	pool    *Pool
	fixed   *Pool           // a pool sharing the allocation at its own offsets (PlanArena)
	offsets map[*Tensor]int // element offsets of the placed tensors
	size    int             // elements the pool allocates
	peak    int             // elements live at the busiest op
	naive   int             // elements without sharing (every tensor its own memory)
	spans   map[*Tensor][]span
}

type span struct{ first, last int }

func overlaps(a, b []span) bool {
	for _, x := range a {
		for _, y := range b {
			if x.first <= y.last && y.first <= x.last {
				return true
			}
		}
	}
	return false
}

// PlanPool plans pool p from the trace in r. pinned tensors (of p; views
// allowed) are live at every op.
func PlanPool(p *Pool, r *Recorder, pinned ...*Tensor) (*Plan, error) {
	return PlanArena(p, nil, r, pinned...)
}

// PlanArena plans pool p as PlanPool does, in one allocation shared with
// pool fixed (may be nil), whose tensors keep their own offsets at the
// start of it, so that the fixed pool stays one contiguous range (the
// gradients, which the optimizer updates in one pass). A fixed tensor is
// live from the first op of a phase that touches it to the end of that
// phase (the optimizer reads the gradients after the step), and at every
// op when no op touches it (nothing writes it, so its memory must keep its
// value); p's tensors use the fixed range where it is free.
func PlanArena(p, fixed *Pool, r *Recorder, pinned ...*Tensor) (*Plan, error) {
	if p.st != nil {
		return nil, fmt.Errorf("plan pool %s: already allocated", p.name)
	}
	if fixed != nil && fixed.st != nil {
		return nil, fmt.Errorf("plan pool %s: pool %s is already allocated", p.name, fixed.name)
	}
	mine := make(map[*Tensor]bool, len(p.tensors))
	for _, t := range p.tensors {
		mine[t] = true
	}
	// Phase boundaries: [bounds[i], bounds[i+1]) is phase i.
	bounds := append([]int{0}, r.marks...)
	if bounds[len(bounds)-1] != len(r.ops) {
		bounds = append(bounds, len(r.ops))
	}
	pl := &Plan{pool: p, fixed: fixed, offsets: map[*Tensor]int{}, spans: map[*Tensor][]span{}}
	if fixed != nil {
		fx := make(map[*Tensor]bool, len(fixed.tensors))
		for _, t := range fixed.tensors {
			fx[t] = true
		}
		for ph := 0; ph+1 < len(bounds); ph++ {
			seen := map[*Tensor]bool{}
			for i := bounds[ph]; i < bounds[ph+1]; i++ {
				for _, t := range r.ops[i] {
					if fx[t] && !seen[t] {
						seen[t] = true
						pl.spans[t] = append(pl.spans[t], span{i, bounds[ph+1]})
					}
				}
			}
		}
		for _, t := range fixed.tensors {
			if pl.spans[t] == nil {
				pl.spans[t] = []span{{0, len(r.ops)}}
			}
			pl.offsets[t] = t.off
		}
		pl.size = fixed.size
	}
	for ph := 0; ph+1 < len(bounds); ph++ {
		open := map[*Tensor]int{} // index in spans[t] of t's span in this phase
		for i := bounds[ph]; i < bounds[ph+1]; i++ {
			for _, t := range r.ops[i] {
				if !mine[t] {
					continue
				}
				if k, ok := open[t]; ok {
					pl.spans[t][k].last = i
				} else {
					open[t] = len(pl.spans[t])
					pl.spans[t] = append(pl.spans[t], span{i, i})
				}
			}
		}
	}
	all := []span{{0, len(r.ops)}}
	for _, t := range pinned {
		if t == nil {
			continue
		}
		t = t.Root()
		if !mine[t] {
			return nil, fmt.Errorf("plan pool %s: pinned tensor %s is not in the pool", p.name, t)
		}
		pl.spans[t] = all
	}
	// Largest first, each at the lowest offset free of the tensors placed
	// so far that are live at the same time.
	order := make([]*Tensor, 0, len(pl.spans))
	for _, t := range p.tensors {
		if pl.spans[t] != nil {
			order = append(order, t)
		}
	}
	size := func(t *Tensor) int { return (declared(t) + align - 1) / align * align }
	sort.SliceStable(order, func(i, j int) bool { return size(order[i]) > size(order[j]) })
	type placed struct{ off, end int }
	var done []*Tensor
	if fixed != nil {
		done = append(done, fixed.tensors...)
	}
	for _, t := range order {
		var busy []placed
		for _, u := range done {
			if overlaps(pl.spans[t], pl.spans[u]) {
				o := pl.offsets[u]
				busy = append(busy, placed{o, o + size(u)})
			}
		}
		sort.Slice(busy, func(i, j int) bool { return busy[i].off < busy[j].off })
		off, n := 0, size(t)
		for _, b := range busy {
			if off+n <= b.off {
				break
			}
			if b.end > off {
				off = b.end
			}
		}
		pl.offsets[t] = off
		if off+n > pl.size {
			pl.size = off + n
		}
		done = append(done, t)
	}
	for _, t := range p.tensors {
		pl.naive += size(t)
	}
	if fixed != nil {
		pl.naive += fixed.size
	}
	// The busiest op: the most elements live at once.
	for i := 0; i <= len(r.ops); i++ {
		live := 0
		for t, ss := range pl.spans {
			for _, s := range ss {
				if s.first <= i && i <= s.last {
					live += size(t)
					break
				}
			}
		}
		if live > pl.peak {
			pl.peak = live
		}
	}
	return pl, nil
}

// Fixed is the pool sharing the plan's allocation (PlanArena), or nil.
func (pl *Plan) Fixed() *Pool { return pl.fixed }

// Bytes is the memory the planned pool allocates (with the fixed pool's).
func (pl *Plan) Bytes() int64 { return int64(pl.size) * int64(pl.pool.dtype.Size()) }

// PeakBytes is the memory live at the busiest op: no placement does better.
func (pl *Plan) PeakBytes() int64 { return int64(pl.peak) * int64(pl.pool.dtype.Size()) }

// NaiveBytes is the memory every tensor of the pool in its own place takes.
func (pl *Plan) NaiveBytes() int64 { return int64(pl.naive) * int64(pl.pool.dtype.Size()) }

// Placed reports whether t (or the tensor it views) has memory in the plan.
func (pl *Plan) Placed(t *Tensor) bool {
	_, ok := pl.offsets[t.Root()]
	return ok
}

// Check verifies the plan: every placed tensor lies inside the pool's
// memory, and no two tensors live at the same time share an element.
func (pl *Plan) Check() error {
	ts := make([]*Tensor, 0, len(pl.offsets))
	for t := range pl.offsets {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return pl.offsets[ts[i]] < pl.offsets[ts[j]] })
	for i, t := range ts {
		a0, a1 := pl.offsets[t], pl.offsets[t]+declared(t)
		if a0 < 0 || a1 > pl.size {
			return fmt.Errorf("plan %s: %s at [%d,%d) outside the pool's %d elements", pl.pool.name, t, a0, a1, pl.size)
		}
		for _, u := range ts[i+1:] {
			b0, b1 := pl.offsets[u], pl.offsets[u]+declared(u)
			if b0 >= a1 {
				break
			}
			if a0 < b1 && b0 < a1 && overlaps(pl.spans[t], pl.spans[u]) {
				return fmt.Errorf("plan %s: %s [%d,%d) and %s [%d,%d) share memory while both are live", pl.pool.name, t, a0, a1, u, b0, b1)
			}
		}
	}
	return nil
}

// AllocatePlanned makes the pool's single allocation of the plan's size on
// b and binds each placed tensor at its planned offset; tensors the plan
// did not place stay unbound (an op using one fails). A plan from
// PlanArena binds its fixed pool to the same allocation, at the start.
func (p *Pool) AllocatePlanned(b Backend, pl *Plan) error {
	if pl.pool != p {
		return fmt.Errorf("pool %s: the plan is for pool %s", p.name, pl.pool.name)
	}
	if p.st != nil {
		return fmt.Errorf("pool %s: already allocated", p.name)
	}
	if pl.fixed != nil && (pl.fixed.st != nil || pl.fixed.dtype != p.dtype) {
		return fmt.Errorf("pool %s: pool %s is allocated already or of another type", p.name, pl.fixed.name)
	}
	st, err := b.Alloc(p.dtype, pl.size)
	if err != nil {
		return fmt.Errorf("pool %s: %w", p.name, err)
	}
	p.st = st
	p.size = pl.size
	for _, t := range p.tensors {
		if off, ok := pl.offsets[t]; ok {
			t.st, t.off = st, off
		}
	}
	if f := pl.fixed; f != nil {
		f.st = st
		for _, t := range f.tensors {
			t.st = st
		}
	}
	return nil
}

// declared is the number of elements t was declared with: a batched
// tensor's at its largest batch, whatever batch it is set to now.
func declared(t *Tensor) int {
	if t.rowsPerSample > 0 && len(t.shape) > 0 {
		return t.maxRows * Numel(t.shape[1:])
	}
	return Numel(t.shape)
}
