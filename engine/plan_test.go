package engine

import (
	"strings"
	"testing"
)

// A trace over four tensors of one pool: a and b are live at once, c only
// after both, d never used; p is pinned.
func TestPlanPool(t *testing.T) {
	p := NewPool("acts", Float32)
	a, b, c, d, pin := p.New("a", 100), p.New("b", 50), p.New("c", 120), p.New("d", 1000), p.New("pin", 10)
	r := NewRecorder()
	r.Touch(a)                // 0
	r.Touch(a, b.View(5, 10)) // 1: a view counts as its root
	r.Touch(b)                // 2
	r.Touch(c)                // 3: a and b are dead
	r.Mark()
	r.Touch(b, c) // phase 2: b and c live together
	r.Mark()
	pl, err := PlanPool(p, r, pin)
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Check(); err != nil {
		t.Fatal(err)
	}
	if pl.Placed(d) {
		t.Errorf("d is never used but was placed")
	}
	for _, x := range []*Tensor{a, b, c, pin} {
		if !pl.Placed(x) {
			t.Errorf("%s was not placed", x)
		}
	}
	// Live sets: {a,pin}, {a,b,pin}, {b,pin}, {c,pin}, {b,c,pin}: the peak
	// is b+c+pin = 64+128+16 elements (aligned to 16).
	if got, want := pl.PeakBytes(), int64(4*(64+128+16)); got != want {
		t.Errorf("peak %d bytes, want %d", got, want)
	}
	if pl.Bytes() > pl.PeakBytes()*11/10 {
		t.Errorf("planned %d bytes, more than 10%% over the peak %d", pl.Bytes(), pl.PeakBytes())
	}
	if pl.Bytes() >= pl.NaiveBytes() {
		t.Errorf("planned %d bytes, naive %d: nothing shared", pl.Bytes(), pl.NaiveBytes())
	}
	be := NewCPU(1)
	if err := p.AllocatePlanned(be, pl); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.Storage(); st != nil {
		t.Errorf("d has memory")
	}
	sa, oa := a.Storage()
	sc, oc := c.Storage()
	if sa != sc || sa == nil {
		t.Fatalf("a and c in different storages")
	}
	// c (the largest) is placed first at 0; a, dead when c lives, shares it.
	if oc != 0 || oa != 0 {
		t.Errorf("offsets: a %d, c %d; want both 0", oa, oc)
	}
	t.Logf("planned %d bytes, peak %d, naive %d", pl.Bytes(), pl.PeakBytes(), pl.NaiveBytes())
}

func TestPlanPoolErrors(t *testing.T) {
	p, q := NewPool("p", Float32), NewPool("q", Float32)
	x := q.New("x", 4)
	p.New("y", 4)
	if _, err := PlanPool(p, NewRecorder(), x); err == nil || !strings.Contains(err.Error(), "not in the pool") {
		t.Errorf("pinning another pool's tensor: %v", err)
	}
	if err := p.Allocate(NewCPU(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := PlanPool(p, NewRecorder()); err == nil {
		t.Errorf("planning an allocated pool: no error")
	}
}

// A recorder runs nothing and needs no memory.
func TestRecorderNeedsNoMemory(t *testing.T) {
	p := NewPool("acts", Float32)
	y, x := p.New("y", 8), p.New("x", 8)
	r := NewRecorder()
	r.Relu(y, x)
	r.Concat(y, []*Tensor{x, x}, 0)
	if r.Ops() != 2 || r.Err() != nil || r.Sync() != nil {
		t.Errorf("ops %d err %v", r.Ops(), r.Err())
	}
	if _, err := r.Alloc(Float32, 4); err == nil {
		t.Errorf("a recorder allocated memory")
	}
}

// PlanArena: the fixed pool keeps its offsets at the start of the shared
// allocation; a fixed tensor is live from its first op to the end of the
// phase, an untouched one always; activations use fixed memory only while
// it is not live.
func TestPlanArena(t *testing.T) {
	acts, grads := NewPool("acts", Float32), NewPool("grads", Float32)
	g1, g2, gNever := grads.New("g1", 64), grads.New("g2", 64), grads.New("never", 16)
	early, late := acts.New("early", 64), acts.New("late", 64)
	r := NewRecorder()
	r.Touch(early) // 0: only early is live: it may use g1's and g2's memory
	r.Touch(g1)    // 1: g1 live from here to the end
	r.Touch(late)  // 2: late must avoid g1 (and gNever), may use g2's
	r.Touch(g2)    // 3
	r.Mark()
	pl, err := PlanArena(acts, grads, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Check(); err != nil {
		t.Fatal(err)
	}
	if pl.Fixed() != grads {
		t.Fatalf("fixed pool %v", pl.Fixed())
	}
	be := NewCPU(1)
	if err := acts.AllocatePlanned(be, pl); err != nil {
		t.Fatal(err)
	}
	st, _ := g1.Storage()
	for _, x := range []*Tensor{g1, g2, gNever, early, late} {
		if s, _ := x.Storage(); s != st {
			t.Fatalf("%s is not in the shared allocation", x)
		}
	}
	off := func(x *Tensor) int { _, o := x.Storage(); return o }
	if off(g1) != 0 || off(g2) != 64 || off(gNever) != 128 {
		t.Errorf("gradient offsets %d %d %d, want their own 0 64 128", off(g1), off(g2), off(gNever))
	}
	if off(early) != 0 {
		t.Errorf("early at %d: it should reuse the gradients' memory before they are written", off(early))
	}
	if o := off(late); o != 64 {
		t.Errorf("late at %d: want 64 (g2's memory, free until op 3)", o)
	}
	if pl.Bytes() != 4*144 {
		t.Errorf("arena %d bytes, want the gradients' %d alone", pl.Bytes(), 4*144)
	}
	if f := grads.Flat(); f.Len() != 144 {
		t.Errorf("the gradients' flat view has %d elements", f.Len())
	}
}
