package prune

import (
	"fmt"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
	"github.com/gotrain/gotrain/models"
)

// TraceModel traces the channel-coupling graph of spec built at widths
// (nil: its defaults).
func TraceModel(spec *models.Spec, widths models.Widths) (*Graph, error) {
	if spec.PruneTarget == nil {
		return nil, fmt.Errorf("prune: model %s has no pruning targets (only seresnet is prunable)", spec.Name)
	}
	return Trace(func(n int) (*layers.Builder, func(*layers.Ctx), error) {
		m, err := spec.BuildWidths(n, widths)
		if err != nil {
			return nil, nil, err
		}
		return m.Builder, func(ctx *layers.Ctx) {
			m.Forward(ctx)
			m.ComputeLoss(ctx, false)
		}, nil
	}, spec.PruneTarget)
}

// Gammas downloads the gammas of a model's pruning-target batch norms.
func Gammas(be engine.Backend, m *models.Model) (map[string][]float32, error) {
	out := map[string][]float32{}
	for _, e := range m.Builder.Entries() {
		if e.Kind == layers.Param && m.Spec.PruneTarget != nil && m.Spec.PruneTarget(e.Name) {
			v := make([]float32, e.Value.Len())
			be.Download(v, e.Value)
			out[e.Name] = v
		}
	}
	if err := be.Sync(); err != nil {
		return nil, fmt.Errorf("prune: read gammas: %w", err)
	}
	return out, nil
}

// Apply builds the pruned model on be, for batches of at most maxBatch, at
// the plan's widths, and copies into it the kept part of every tensor of
// src (parameters, running statistics and counters).
func Apply(be engine.Backend, src *models.Model, plan *Plan, maxBatch int) (*models.Model, error) {
	widths, err := plan.Widths(src.Spec)
	if err != nil {
		return nil, err
	}
	dst, err := src.Spec.BuildWidths(maxBatch, widths)
	if err != nil {
		return nil, err
	}
	if err := dst.Allocate(be, 1); err != nil {
		return nil, err
	}
	old := map[string]layers.Entry{}
	for _, e := range src.Builder.Entries() {
		old[e.Name] = e
	}
	for _, e := range dst.Builder.Entries() {
		o, ok := old[e.Name]
		if !ok {
			return nil, fmt.Errorf("prune: the pruned model has %s, the source has not", e.Name)
		}
		if e.Kind == layers.Counter {
			*e.Count = *o.Count
			continue
		}
		st, _ := o.Value.Storage()
		host := make([]float32, o.Value.Len())
		st.Backend().Download(host, o.Value)
		if err := st.Backend().Sync(); err != nil {
			return nil, fmt.Errorf("prune: read %s: %w", e.Name, err)
		}
		shape, data := plan.Gather(e.Name, o.Value.Shape(), host)
		if !engine.SameShape(shape, e.Value.Shape()) {
			return nil, fmt.Errorf("prune: %s: pruned to %v, the model at widths %v wants %v", e.Name, shape, widths, e.Value.Shape())
		}
		be.Upload(e.Value, data)
	}
	if err := be.Sync(); err != nil {
		return nil, fmt.Errorf("prune: write the pruned model: %w", err)
	}
	return dst, nil
}
