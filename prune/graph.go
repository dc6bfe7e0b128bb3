// Package prune implements network-slimming channel pruning (Liu et al.,
// 2017) of gotrain's models: a global threshold over the |gamma| of the
// pruning-target batch norms, decisions per group of coupled channels, and
// physical removal into a model of the same code at smaller widths.
//
// The channel-coupling graph is not written per model: it is traced from
// one forward pass through a recording backend, the way torch_pruning
// traces autograd. Every op maps its tensors' channel axes onto channel
// spaces: a convolution starts a new space for its output; batch norm,
// activations and pooling keep their input's; an element-wise Add of equal
// shapes joins its operands' spaces into one (a residual stream) and so
// does the SE excite multiply; a Linear reading a flattened C×1×1 map
// couples its input columns to the channels. Each parameter axis lies in
// the space of the channels it reads or writes. A space the model's input
// or output touches, or one that meets an op that mixes channels (a
// concatenation, a permutation, a matmul), is fixed and never pruned. An op
// the tracer does not model at all fails the trace, naming the op.
package prune

import (
	"fmt"
	"sort"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
)

// Member is one parameter axis that lies in a channel space.
type Member struct {
	Name string // state entry name ("layer1.0.conv2.weight")
	Axis int
}

// Group is a set of coupled channels: removing channel c of the group
// removes index c along every member's axis.
type Group struct {
	Channels int
	Members  []Member
	// Targets are the pruning-target BN weights (gammas) in the group.
	Targets []string
	Fixed   bool
}

// Graph is a model's channel-coupling graph.
type Graph struct {
	Groups []*Group
}

type space struct {
	parent   *space
	channels int
	fixed    bool
	members  []Member
	targets  []string
}

func (s *space) root() *space {
	for s.parent != nil {
		s = s.parent
	}
	return s
}

type tkey struct {
	st  engine.Storage
	off int
}

// tracer is a backend that runs the ops it models on the CPU and records
// how they couple channel axes; its base refuses every other op.
type tracer struct {
	*traceBase
	names    map[*engine.Tensor]string
	isTarget func(string) bool
	spaces   map[tkey]*space
	all      []*space
}

func key(t *engine.Tensor) tkey {
	st, off := t.Storage()
	return tkey{st, off}
}

func (tr *tracer) newSpace(channels int) *space {
	s := &space{channels: channels}
	tr.all = append(tr.all, s)
	return s
}

// of returns the space of t's channel axis (dim 1), or nil when unknown.
func (tr *tracer) of(t *engine.Tensor) *space {
	s := tr.spaces[key(t)]
	if s == nil {
		return nil
	}
	return s.root()
}

func (tr *tracer) set(t *engine.Tensor, s *space) {
	if s != nil {
		tr.spaces[key(t)] = s
	} else {
		delete(tr.spaces, key(t))
	}
}

func (tr *tracer) fix(s *space) {
	if s != nil {
		s.root().fixed = true
	}
}

func (tr *tracer) union(a, b *space) *space {
	if a == nil || b == nil {
		tr.fix(a)
		tr.fix(b)
		return nil
	}
	a, b = a.root(), b.root()
	if a == b {
		return a
	}
	if a.channels != b.channels {
		tr.fail("joining channel spaces of %d and %d channels", a.channels, b.channels)
		a.fixed, b.fixed = true, true
	}
	b.parent = a
	a.fixed = a.fixed || b.fixed
	a.members = append(a.members, b.members...)
	a.targets = append(a.targets, b.targets...)
	return a
}

// attach records that axis of parameter p lies in space s.
func (tr *tracer) attach(s *space, p *engine.Tensor, axis int) {
	if p == nil {
		return
	}
	name, ok := tr.names[p]
	if !ok {
		return
	}
	if s == nil {
		return // an unknown space: the axis is never pruned
	}
	s = s.root()
	if p.Dim(axis) != s.channels {
		tr.fail("%s axis %d has %d, its space %d channels", name, axis, p.Dim(axis), s.channels)
		s.fixed = true
		return
	}
	s.members = append(s.members, Member{Name: name, Axis: axis})
	if axis == 0 && p.Rank() == 1 && tr.isTarget(name) {
		s.targets = append(s.targets, name)
	}
}

func (tr *tracer) same(y, x *engine.Tensor) { tr.set(y, tr.of(x)) }

func (tr *tracer) Relu(y, x *engine.Tensor) { tr.cpu.Relu(y, x); tr.same(y, x) }
func (tr *tracer) Sigmoid(y, x *engine.Tensor) {
	tr.cpu.Sigmoid(y, x)
	tr.same(y, x)
}
func (tr *tracer) Gelu(y, x *engine.Tensor)             { tr.cpu.Gelu(y, x); tr.same(y, x) }
func (tr *tracer) Copy(y, x *engine.Tensor)             { tr.cpu.Copy(y, x); tr.same(y, x) }
func (tr *tracer) Scale(y, x *engine.Tensor, a float32) { tr.cpu.Scale(y, x, a); tr.same(y, x) }
func (tr *tracer) Dropout(y, x *engine.Tensor, p float32, k engine.DropoutKey) {
	tr.cpu.Dropout(y, x, p, k)
	tr.same(y, x)
}
func (tr *tracer) MaxPool2d(y, idx, x *engine.Tensor, p engine.Pool2dParams) {
	tr.cpu.MaxPool2d(y, idx, x, p)
	tr.same(y, x)
}
func (tr *tracer) AvgPool2d(y, x *engine.Tensor, p engine.Pool2dParams) {
	tr.cpu.AvgPool2d(y, x, p)
	tr.same(y, x)
}
func (tr *tracer) AdaptiveAvgPool2d(y, x *engine.Tensor) {
	tr.cpu.AdaptiveAvgPool2d(y, x)
	tr.same(y, x)
}

func (tr *tracer) Conv2d(y, x, w, b *engine.Tensor, p engine.Conv2dParams) {
	tr.cpu.Conv2d(y, x, w, b, p)
	tr.attach(tr.of(x), w, 1)
	out := tr.newSpace(w.Dim(0))
	tr.attach(out, w, 0)
	tr.attach(out, b, 0)
	tr.set(y, out)
}

func (tr *tracer) bn(y, x, gamma, beta, runMean, runVar *engine.Tensor) {
	s := tr.of(x)
	for _, t := range []*engine.Tensor{gamma, beta, runMean, runVar} {
		tr.attach(s, t, 0)
	}
	tr.set(y, s)
}

func (tr *tracer) BatchNormTrain(y, sm, si, rm, rv, x, g, b *engine.Tensor, mom, eps float32) {
	tr.cpu.BatchNormTrain(y, sm, si, rm, rv, x, g, b, mom, eps)
	tr.bn(y, x, g, b, rm, rv)
}

func (tr *tracer) BatchNormEval(y, x, g, b, rm, rv *engine.Tensor, eps float32) {
	tr.cpu.BatchNormEval(y, x, g, b, rm, rv, eps)
	tr.bn(y, x, g, b, rm, rv)
}

// BatchNormReluTrain couples channels as batch norm does (the ReLU keeps
// them).
func (tr *tracer) BatchNormReluTrain(y, sm, si, rm, rv, x, g, b *engine.Tensor, mom, eps float32) {
	tr.cpu.BatchNormReluTrain(y, sm, si, rm, rv, x, g, b, mom, eps)
	tr.bn(y, x, g, b, rm, rv)
}

func (tr *tracer) BatchNormReluEval(y, x, g, b, rm, rv *engine.Tensor, eps float32) {
	tr.cpu.BatchNormReluEval(y, x, g, b, rm, rv, eps)
	tr.bn(y, x, g, b, rm, rv)
}

// AddRelu couples its operands' channels as Add does.
func (tr *tracer) AddRelu(y, a, b *engine.Tensor) {
	tr.cpu.AddRelu(y, a, b)
	tr.sum(y, a, b)
}

// SqueezeExcite couples channels as its parts do: fc1's input axis and
// fc2's output axis and bias lie in x's space (the channel scale joins it
// with fc2's output), fc1's output axis and bias and fc2's input axis in a
// new hidden space, and the residual add joins x's space with res's.
func (tr *tracer) SqueezeExcite(y, pooled, hidden, scale, x, res, w1, b1, w2, b2 *engine.Tensor) {
	tr.cpu.SqueezeExcite(y, pooled, hidden, scale, x, res, w1, b1, w2, b2)
	in := tr.of(x)
	tr.attach(in, w1, 1)
	h := tr.newSpace(w1.Dim(0))
	tr.attach(h, w1, 0)
	tr.attach(h, b1, 0)
	tr.attach(h, w2, 1)
	tr.attach(in, w2, 0)
	tr.attach(in, b2, 0)
	if res == nil {
		tr.set(y, in)
		return
	}
	tr.set(y, tr.union(in, tr.of(res)))
}

func (tr *tracer) Add(y, a, b *engine.Tensor) {
	tr.cpu.Add(y, a, b)
	tr.sum(y, a, b)
}

// sum joins the channel spaces of a and b (same shapes) into y's; a
// broadcast sum fixes both.
func (tr *tracer) sum(y, a, b *engine.Tensor) {
	if !engine.SameShape(a.Shape(), b.Shape()) || a.Rank() < 2 {
		tr.fix(tr.of(a))
		tr.fix(tr.of(b))
		tr.set(y, nil)
		return
	}
	tr.set(y, tr.union(tr.of(a), tr.of(b)))
}

func (tr *tracer) ChannelScale(y, x, s *engine.Tensor) {
	tr.cpu.ChannelScale(y, x, s)
	tr.set(y, tr.union(tr.of(x), tr.of(s)))
}

func (tr *tracer) Linear(y, x, w, b *engine.Tensor) {
	tr.cpu.Linear(y, x, w, b)
	in := tr.of(x)
	if in != nil && in.channels == w.Dim(1) {
		tr.attach(in, w, 1)
	} else {
		tr.fix(in)
	}
	out := tr.newSpace(w.Dim(0))
	tr.attach(out, w, 0)
	tr.attach(out, b, 0)
	tr.set(y, out)
}

func (tr *tracer) CrossEntropy(loss, dlogits, logits, labels *engine.Tensor) {
	tr.cpu.CrossEntropy(loss, dlogits, logits, labels)
	tr.fix(tr.of(logits))
}

// Ops that move or mix channels in ways the tracer does not model fix
// every space they touch.
func (tr *tracer) fixAll(ts ...*engine.Tensor) {
	for _, t := range ts {
		if t != nil {
			tr.fix(tr.of(t))
			tr.set(t, nil)
		}
	}
}

func (tr *tracer) Concat(y *engine.Tensor, xs []*engine.Tensor, axis int) {
	tr.cpu.Concat(y, xs, axis)
	tr.fixAll(append([]*engine.Tensor{y}, xs...)...)
}

func (tr *tracer) Permute(y, x *engine.Tensor, perm []int) {
	tr.cpu.Permute(y, x, perm)
	tr.fixAll(y, x)
}

func (tr *tracer) MatMul(c, a, b *engine.Tensor, ta, tb bool) {
	tr.cpu.MatMul(c, a, b, ta, tb)
	tr.fixAll(c, a, b)
}

func (tr *tracer) Mean(y, x *engine.Tensor, axis int) {
	tr.cpu.Mean(y, x, axis)
	tr.fixAll(y, x)
}

func (tr *tracer) LayerNorm(y, sm, si, x, g, b *engine.Tensor, eps float32) {
	tr.cpu.LayerNorm(y, sm, si, x, g, b, eps)
	tr.fixAll(y, x)
}

func (tr *tracer) Softmax(y, x *engine.Tensor) {
	tr.cpu.Softmax(y, x)
	tr.fixAll(y, x)
}

func (tr *tracer) Mul(y, a, b *engine.Tensor) {
	tr.cpu.Mul(y, a, b)
	tr.fixAll(y, a, b)
}

// Trace runs one forward pass of a model built with build (on batch 2 of
// zeros, in eval mode) through the recording backend and returns its
// channel-coupling graph. isTarget says which parameters are the pruning
// targets' gammas.
func Trace(build func(maxBatch int) (*layers.Builder, func(ctx *layers.Ctx), error), isTarget func(string) bool) (*Graph, error) {
	tr := &tracer{traceBase: &traceBase{cpu: engine.NewCPU(1)}, names: map[*engine.Tensor]string{}, isTarget: isTarget, spaces: map[tkey]*space{}}
	b, forward, err := build(2)
	if err != nil {
		return nil, err
	}
	if err := b.Allocate(tr); err != nil {
		return nil, err
	}
	for _, e := range b.Entries() {
		if e.Value != nil {
			tr.names[e.Value] = e.Name
		}
	}
	b.SetBatch(2)
	forward(&layers.Ctx{B: tr})
	if err := tr.cpu.Err(); err != nil {
		return nil, fmt.Errorf("prune: trace: %w", err)
	}
	if tr.err != nil {
		return nil, tr.err
	}
	g := &Graph{}
	for _, s := range tr.all {
		if s.parent != nil || len(s.members) == 0 {
			continue
		}
		grp := &Group{Channels: s.channels, Members: s.members, Targets: s.targets, Fixed: s.fixed}
		sort.Slice(grp.Members, func(i, j int) bool {
			if grp.Members[i].Name != grp.Members[j].Name {
				return grp.Members[i].Name < grp.Members[j].Name
			}
			return grp.Members[i].Axis < grp.Members[j].Axis
		})
		sort.Strings(grp.Targets)
		g.Groups = append(g.Groups, grp)
	}
	return g, nil
}
