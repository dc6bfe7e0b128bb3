//go:build cuda || cgo

package cuda

import (
	"strings"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

func alloc(t *testing.T, b *Backend, dt engine.DType, n int) *engine.Tensor {
	t.Helper()
	st, err := b.Alloc(dt, n)
	if err != nil {
		t.Fatal(err)
	}
	return engine.NewTensor("t", st, 0, n)
}

// A captured graph replays its launches, copies and step-variable reads:
// three replays of "x = 2x + 1 (a copy and an axpy); advance the step
// variables" give what three uncaptured passes give, and count one launch
// each.
func TestGraphReplays(t *testing.T) {
	b := dev(t)
	const n = 1000
	x, one, tmp := alloc(t, b, engine.Float32, n), alloc(t, b, engine.Float32, n), alloc(t, b, engine.Float32, n)
	vars := alloc(t, b, engine.Int32, engine.NumStepVars)
	win, loss := alloc(t, b, engine.Float32, 4), alloc(t, b, engine.Float32, 1)
	b.Fill(x, 1)
	b.Fill(one, 1)
	b.UploadInt32(vars, engine.StepVarsValues(0.5, 10, true, 0))
	pass := func() {
		b.Copy(tmp, x)
		b.Axpy(x, 1, tmp)
		b.Axpy(x, 1, one)
		b.Copy(loss, x.Slice(0, 1))
		b.EndStep(vars, win, loss, 64)
	}
	if err := b.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	pass()
	g, err := b.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Nodes() != 5 {
		t.Errorf("graph of 5 ops has %d nodes", g.Nodes())
	}
	got := make([]float32, n)
	b.Download(got, x)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if got[0] != 1 {
		t.Fatalf("capture ran the ops: x = %g, want 1", got[0])
	}
	before := b.Launches()
	for range 3 {
		if err := g.Launch(); err != nil {
			t.Fatal(err)
		}
	}
	if d := b.Launches() - before; d != 3 {
		t.Errorf("3 replays counted %d launches", d)
	}
	b.Download(got, x)
	v := make([]int32, engine.NumStepVars)
	w := make([]float32, 4)
	b.DownloadInt32(v, vars)
	b.Download(w, win)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if g != 15 {
			t.Fatalf("after 3 replays x[%d] = %g, want 15", i, g)
		}
	}
	if v[engine.VarStep] != 13 || v[engine.VarFirst] != 0 || v[engine.VarOffset] != 192 || v[engine.VarSlot] != 3 {
		t.Errorf("after 3 replays the step variables are %v", v)
	}
	if w[0] != 3 || w[1] != 7 || w[2] != 15 {
		t.Errorf("after 3 replays the loss window is %v, want [3 7 15 0]", w)
	}
	t.Logf("ok graph of %d nodes: 3 replays, 3 launches, x = 15, step variables %v", g.Nodes(), v)
}

// What CUDA refuses inside a capture fails it, on the emulator too.
func TestCaptureRefuses(t *testing.T) {
	b := dev(t)
	x := alloc(t, b, engine.Float32, 16)
	host := make([]float32, 16)
	for _, c := range []struct {
		name string
		op   func()
		want string
	}{
		{"download", func() { b.Download(host, x) }, "copy to the host"},
		{"upload", func() { b.Upload(x, host) }, "copy from the host"},
		{"sync", func() { b.Sync() }, "synchronize"},
		{"alloc", func() {
			if _, err := b.Alloc(engine.Float32, 4); err != nil {
				b.fail("alloc", "%v", err)
			}
		}, "while capturing"},
	} {
		if err := b.BeginCapture(); err != nil {
			t.Fatal(err)
		}
		c.op()
		g, err := b.EndCapture()
		if err == nil {
			g.Close()
			t.Errorf("%s inside a capture: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s inside a capture: %v (want it to say %q)", c.name, err, c.want)
		}
		t.Logf("ok %s inside a capture: %v", c.name, err)
		b.ClearErr()
	}
}
