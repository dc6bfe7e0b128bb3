package models

import (
	"fmt"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
)

// Plan places the model's activations (and their gradients) in memory by
// lifetime. It runs the model on an engine.Recorder at its largest batch,
// a training step (forward, loss, backward) when train and then an
// evaluation pass (forward and loss), and plans the activations' pool from
// the order of the ops. The input, the logits and the loss stay live
// throughout, since the host writes or reads them between steps; every
// other activation lives from its first op to its last within a step or a
// pass, and two that never live at the same time share memory. An
// activation that neither runs uses (the gradients, in evaluation) gets
// none. For training the parameters' gradients share the allocation
// (engine.PlanArena) when that takes less memory: a gradient is live from
// the backward op that writes it to the optimizer's step, so the forward
// pass's activations use the gradients' memory while it is free. The model
// must not be allocated yet.
func (m *Model) Plan(train bool) (*engine.Plan, error) {
	acts, _, err := m.plans(train)
	return acts, err
}

// plans traces the model once and plans the activations (as Plan) and the
// narrow activations' pool (layers.Builder.Narrow: empty until they are
// stored in bfloat16), each by its tensors' lifetimes.
func (m *Model) plans(train bool) (acts, narrow *engine.Plan, err error) {
	b := m.Builder
	n := b.Acts.MaxBatch()
	if n <= 0 {
		n = b.MaxBatch
	}
	b.SetBatch(n)
	counters := map[*int64]int64{}
	for _, e := range b.Entries() {
		if e.Kind == layers.Counter {
			counters[e.Count] = *e.Count
		}
	}
	rec := engine.NewRecorder()
	ctx := &layers.Ctx{B: rec, Train: true, Seed: 1}
	if train {
		rec.Touch(m.Input, m.Labels)
		m.Forward(ctx)
		m.ComputeLoss(ctx, true)
		m.Backward(ctx)
		rec.Touch(m.Logits, m.Loss)
		rec.Mark()
	}
	ctx.Train = false
	rec.Touch(m.Input, m.Labels)
	m.Forward(ctx)
	m.ComputeLoss(ctx, false)
	rec.Touch(m.Logits, m.Loss)
	rec.Mark()
	// Tracing ran the layers' host-side bookkeeping (BN's batch counters).
	for c, v := range counters {
		*c = v
	}
	pins := []*engine.Tensor{m.Input, m.Logits, m.Loss}
	narrow, err = engine.PlanPool(b.Narrow, rec)
	if err != nil {
		return nil, nil, fmt.Errorf("plan narrow activations: %w", err)
	}
	plan, err := engine.PlanPool(b.Acts, rec, pins...)
	if err != nil {
		return nil, nil, fmt.Errorf("plan activations: %w", err)
	}
	if train {
		// With the gradients when that takes less memory than apart (it
		// does for the models whose activations dwarf their gradients least:
		// the ViT).
		arena, err := engine.PlanArena(b.Acts, b.Grads, rec, pins...)
		if err != nil {
			return nil, nil, fmt.Errorf("plan activations and gradients: %w", err)
		}
		if arena.Bytes() < plan.Bytes()+b.Grads.Bytes() {
			plan = arena
		}
	}
	return plan, narrow, nil
}

// MemoryBytes is what Allocate (train) or AllocateEval allocates for the
// model: its pools, the activations as planned, no gradients for
// evaluation. Nothing is allocated to tell. The narrow activations count
// as float32 activations until StoreNarrow (an Allocate at -precision
// bf16, or SetNarrowDType) moved them to the bfloat16 Narrow pool.
func (m *Model) MemoryBytes(train bool) (int64, error) {
	b := m.Builder
	plan, narrow, err := m.plans(train)
	if err != nil {
		return 0, err
	}
	n := plan.Bytes() + narrow.Bytes()
	for _, p := range b.Pools() {
		if p == b.Acts || p == b.Narrow || p == plan.Fixed() || (p == b.Grads && !train) {
			continue
		}
		n += p.Bytes()
	}
	return n, nil
}
