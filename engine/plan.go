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
	if p.st != nil {
		return nil, fmt.Errorf("plan pool %s: already allocated", p.name)
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
	pl := &Plan{pool: p, offsets: map[*Tensor]int{}, spans: map[*Tensor][]span{}}
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
	size := func(t *Tensor) int { return (Numel(t.shape) + align - 1) / align * align }
	sort.SliceStable(order, func(i, j int) bool { return size(order[i]) > size(order[j]) })
	type placed struct{ off, end int }
	var done []*Tensor
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

// Bytes is the memory the planned pool allocates.
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
		a0, a1 := pl.offsets[t], pl.offsets[t]+Numel(t.shape)
		if a0 < 0 || a1 > pl.size {
			return fmt.Errorf("plan %s: %s at [%d,%d) outside the pool's %d elements", pl.pool.name, t, a0, a1, pl.size)
		}
		for _, u := range ts[i+1:] {
			b0, b1 := pl.offsets[u], pl.offsets[u]+Numel(u.shape)
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
// did not place stay unbound (an op using one fails).
func (p *Pool) AllocatePlanned(b Backend, pl *Plan) error {
	if pl.pool != p {
		return fmt.Errorf("pool %s: the plan is for pool %s", p.name, pl.pool.name)
	}
	if p.st != nil {
		return fmt.Errorf("pool %s: already allocated", p.name)
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
	return nil
}
