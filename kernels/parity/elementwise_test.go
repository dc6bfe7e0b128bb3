//go:build cuda || cgo

package parity

import (
	"testing"

	"github.com/gotrain/gotrain/engine"
)

var ewSizes = []int{1, 7, 1000, 4099, 1 << 20}

func TestElementwiseParity(t *testing.T) {
	e := newEnv(t, 1)
	type op struct {
		name     string
		tol, eps float64
		run      func(be engine.Backend, y, a, b *engine.Tensor)
	}
	ops := []op{
		{"scale", 0, 1e-7, func(be engine.Backend, y, a, _ *engine.Tensor) { be.Scale(y, a, -1.7) }},
		{"mul", 0, 1e-7, func(be engine.Backend, y, a, b *engine.Tensor) { be.Mul(y, a, b) }},
		{"relu", 0, 0, func(be engine.Backend, y, a, _ *engine.Tensor) { be.Relu(y, a) }},
		{"relu backward", 0, 0, func(be engine.Backend, y, a, b *engine.Tensor) { be.ReluBackward(y, a, b) }},
		{"sigmoid", 1e-7, 1e-6, func(be engine.Backend, y, a, _ *engine.Tensor) { be.Sigmoid(y, a) }},
		{"sigmoid backward", 1e-7, 1e-6, func(be engine.Backend, y, a, b *engine.Tensor) { be.SigmoidBackward(y, a, b) }},
		{"gelu", 1e-7, 1e-6, func(be engine.Backend, y, a, _ *engine.Tensor) { be.Gelu(y, a) }},
		{"gelu backward", 1e-7, 1e-6, func(be engine.Backend, y, a, b *engine.Tensor) { be.GeluBackward(y, a, b) }},
	}
	for _, o := range ops {
		for _, n := range ewSizes {
			a := e.rand("a", 4, n)
			bb := e.rand("b", 4, n)
			y := e.out("y", n)
			o.run(e.g, y.g, a.g, bb.g)
			o.run(e.c, y.c, a.c, bb.c)
			e.check(o.name, y, o.tol, o.eps)
		}
	}
	// In-place and accumulating ops start from equal outputs.
	for _, n := range ewSizes {
		x := e.rand("x", 2, n)
		y := e.rand("y", 2, n)
		e.g.Axpy(y.g, 0.37, x.g)
		e.c.Axpy(y.c, 0.37, x.c)
		e.check("axpy", y, 1e-7, 1e-6)
		p := e.zeros("p", n)
		pv := make([]float32, n)
		for i := range pv {
			pv[i] = float32(i%3 - 1) // -1, 0, 1: sign(0) adds nothing
		}
		e.set(p, pv)
		g := e.rand("g", 1, n)
		e.g.AddSign(g.g, p.g, 0.01)
		e.c.AddSign(g.c, p.c, 0.01)
		e.check("add sign", g, 0, 1e-7)
		f := e.out("f", n)
		e.g.Fill(f.g, 3.25)
		e.c.Fill(f.c, 3.25)
		e.check("fill", f, 0, 0)
		fi := e.outInt("fill int32", n)
		e.g.Fill(fi.g, -3)
		e.c.Fill(fi.c, -3)
		e.checkInt("fill int32", fi)
		cp := e.out("copy", n)
		e.g.Copy(cp.g, x.g)
		e.c.Copy(cp.c, x.c)
		e.check("copy", cp, 0, 0)
	}
}

func TestDropoutParity(t *testing.T) {
	e := newEnv(t, 2)
	keys := []engine.DropoutKey{{Seed: 1, Step: 0, Layer: 0}, {Seed: 0xdeadbeefcafe, Step: 12345, Layer: 3}}
	for _, n := range ewSizes {
		for _, k := range keys {
			for _, p := range []float32{0, 0.1, 0.5} {
				x := e.rand("x", 1, n)
				y := e.out("y", n)
				e.g.Dropout(y.g, x.g, p, k)
				e.c.Dropout(y.c, x.c, p, k)
				e.check("dropout", y, 0, 1e-7)
				dx := e.out("dx", n)
				e.g.DropoutBackward(dx.g, x.g, p, k)
				e.c.DropoutBackward(dx.c, x.c, p, k)
				e.check("dropout backward", dx, 0, 1e-7)
			}
		}
	}
}

func TestOptimizerParity(t *testing.T) {
	e := newEnv(t, 3)
	sgd := []engine.SGDParams{
		{LR: 0.1},
		{LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4, First: true},
		{LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4},
		{LR: 0.01, Momentum: 0.9, Dampening: 0.1, Nesterov: true},
	}
	for _, n := range []int{5, 4099, 1 << 20} {
		for _, prm := range sgd {
			p, g, m := e.rand("p", 1, n), e.rand("g", 1, n), e.rand("mom", 1, n)
			var mg, mc *engine.Tensor
			if prm.Momentum != 0 {
				mg, mc = m.g, m.c
			}
			for step := 0; step < 3; step++ {
				e.g.SGDStep(p.g, g.g, mg, prm)
				e.c.SGDStep(p.c, g.c, mc, prm)
			}
			e.check("sgd params", p, 1e-7, 1e-6)
			if mg != nil {
				e.check("sgd momentum", m, 1e-7, 1e-6)
			}
		}
		prm := engine.AdadeltaParams{LR: 1, Rho: 0.9, Eps: 1e-6, WeightDecay: 1e-4}
		p, g := e.rand("p", 1, n), e.rand("g", 1, n)
		sq, acc := e.randRange("sq", 0, 1, n), e.randRange("acc", 0, 1, n)
		for step := 0; step < 3; step++ {
			e.g.AdadeltaStep(p.g, g.g, sq.g, acc.g, prm)
			e.c.AdadeltaStep(p.c, g.c, sq.c, acc.c, prm)
		}
		e.check("adadelta params", p, 1e-6, 1e-5)
		e.check("adadelta square avg", sq, 1e-7, 1e-5)
		e.check("adadelta acc delta", acc, 1e-7, 1e-5)
	}
}

func TestErrorsRecorded(t *testing.T) {
	e := newEnv(t, 4)
	a, b := e.zeros("a", 3), e.zeros("b", 4)
	e.g.Scale(a.g, b.g, 1)
	if e.g.Err() == nil {
		t.Fatal("scale of mismatched lengths recorded no error")
	}
	t.Logf("ok mismatched lengths: %v", e.g.Err())
	e.g.ClearErr()
	e.g.Relu(a.g, a.c) // a CPU tensor on the GPU backend
	if e.g.Err() == nil {
		t.Fatal("a CPU tensor on the GPU backend recorded no error")
	}
	t.Logf("ok foreign tensor: %v", e.g.Err())
	e.g.ClearErr()
}
