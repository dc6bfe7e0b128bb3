package engine_test

// The CPU engine against PyTorch: every case of every fixture file in
// engine/testdata/torch (written by engine/testdata/make_fixtures.py with
// PyTorch 1.13, float32) is run through the matching Backend op(s), forward
// and backward, on engine.NewCPU(0).
//
// For each case:
//   - every hashed input is regenerated with fixture.Fill (through
//     Case.Fill, with its input_affine) and must equal the stored tensor bit
//     for bit, then it is uploaded;
//   - every output buffer (forward results, gradients, saved statistics,
//     momentum buffers, pooling indices) is poisoned first (NaN, or MinInt32
//     for indices), so an element the op does not write fails;
//   - every tensor lives in its own storage between guard bands of
//     sentinels, checked after the case, so a write out of bounds fails;
//   - every stored output is compared, element by element, as
//     |got − want| ≤ atol + rtol·|want| with the family's tolerances below;
//     an output left unchecked, an input left unused or an engine error
//     fails the case.
//
// Tolerances (atol; rtol) per family. The inputs are in [-1, 1) (×4 for the
// activations, ×200 for the _large cases), so outputs are O(1)–O(10) and an
// element's float32 rounding error is about its number of terms × 6e-8 ×
// the size of the terms; cancellation makes relative error meaningless near
// zero, hence the atol. The observed worst errors (logged per case) are 4×
// to 100× below these:
//   - activations, pool, shape, optim, loss, norm:  1e-6; 1e-5
//     (element-wise or short sums: a few ulps);
//   - linear, matmul:                                 1e-5; 1e-5
//     (sums of ≤ 7 products; the weight gradients sum over the batch);
//   - batchnorm, fused (batch norm + ReLU, add + ReLU): 1e-5; 1e-5
//     (statistics over 45 elements, x̂ amplifies by 1/σ);
//   - conv2d:                                         3e-5; 1e-5
//     (sums of up to C·R·S = 147 products forward, dweight sums over
//     N·P·Q = 72 products and dx over K·R·S terms, PyTorch's order differs).
//
// The reported "rel" error of a tensor is max |got−want| / max(|want|,
// atol/rtol): the relative error where the relative term dominates.
//
// log_softmax (loss family) is not an engine op: it is checked through the
// engine's loss and dlogits, which must also match −mean(log_softmax[i, yᵢ])
// and (exp(log_softmax) − onehot)/N computed from the stored log_softmax.
//
// Subtests: TestTorch/<family>/<case>. TestTorchCoverage checks that every
// family file is present and every case has a mapping for its op; TestTorch
// checks, when no subtest filter is given, that every case ran.

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/internal/fixture"
)

// torchFamilies are the fixture files make_fixtures.py writes.
var torchFamilies = []string{"conv2d", "batchnorm", "activations", "pool", "linear",
	"shape", "norm", "matmul", "loss", "optim", "fused"}

type torchTol struct{ atol, rtol float64 }

var torchTols = map[string]torchTol{
	"activations": {1e-6, 1e-5},
	"pool":        {1e-6, 1e-5},
	"shape":       {1e-6, 1e-5},
	"optim":       {1e-6, 1e-5},
	"loss":        {1e-6, 1e-5},
	"norm":        {1e-6, 1e-5},
	"linear":      {1e-5, 1e-5},
	"matmul":      {1e-5, 1e-5},
	"batchnorm":   {1e-5, 1e-5},
	"fused":       {1e-5, 1e-5},
	"conv2d":      {3e-5, 1e-5},
}

// torchOps maps a fixture case's "op" to the engine ops that compute it.
var torchOps = map[string]func(r *torchRun){
	"conv2d":              torchConv2d,
	"batch_norm1d":        torchBatchNorm,
	"batch_norm2d":        torchBatchNorm,
	"batch_norm_relu1d":   torchBatchNormRelu,
	"batch_norm_relu2d":   torchBatchNormRelu,
	"add_relu":            torchAddRelu,
	"squeeze_excite":      torchSqueezeExcite,
	"relu":                torchActivation,
	"sigmoid":             torchActivation,
	"gelu":                torchActivation,
	"max_pool2d":          torchMaxPool,
	"avg_pool2d":          torchAvgPool,
	"adaptive_avg_pool2d": torchAdaptivePool,
	"linear":              torchLinear,
	"permute":             torchPermute,
	"rearrange":           torchRearrange,
	"concat":              torchConcat,
	"mean":                torchMean,
	"add":                 torchAdd,
	"scale":               torchScale,
	"channel_scale":       torchChannelScale,
	"layer_norm":          torchLayerNorm,
	"softmax":             torchSoftmax,
	"matmul":              torchMatMul,
	"cross_entropy":       torchCrossEntropy,
	"sgd":                 torchSGD,
	"adadelta":            torchAdadelta,
}

// ---- per-case harness --------------------------------------------------

const torchGuard = 16 // sentinel elements on each side of every tensor

var (
	torchSentinelF = float32(-7.25e30)
	torchSentinelI = int32(-0x5a5a5a5a)
)

type torchGuarded struct {
	name string
	all  *engine.Tensor // the whole storage, guards included
	n    int
}

// torchRun runs one case.
type torchRun struct {
	t        *testing.T
	be       *engine.CPU
	c        *fixture.Case
	tol      torchTol
	used     map[string]bool // inputs and constants read
	compared map[string]bool // outputs checked
	guards   []torchGuarded
	maxAbs   float64
	maxRel   float64
	budget   float64 // worst |got−want| / (atol + rtol·|want|)
}

func (r *torchRun) alloc(name string, dt engine.DType, shape []int) *engine.Tensor {
	r.t.Helper()
	n := engine.Numel(shape)
	st, err := r.be.Alloc(dt, n+2*torchGuard)
	if err != nil {
		r.t.Fatal(err)
	}
	all := engine.NewTensor(name+"+guards", st, 0, n+2*torchGuard)
	if dt == engine.Int32 {
		s := engine.I32(all)
		for i := range s {
			s[i] = torchSentinelI
		}
	} else {
		s := engine.F32(all)
		for i := range s {
			s[i] = torchSentinelF
		}
	}
	r.guards = append(r.guards, torchGuarded{name, all, n})
	return engine.NewTensor(name, st, torchGuard, shape...)
}

// in uploads hashed input name after checking that the hash regenerates
// the stored tensor bit for bit.
func (r *torchRun) in(name string) *engine.Tensor {
	r.t.Helper()
	if !slices.Contains(r.c.Inputs, name) {
		r.t.Fatalf("%q is not an input of the case (inputs %v)", name, r.c.Inputs)
	}
	r.used[name] = true
	st := r.c.T(name)
	if st.DType != "F32" {
		r.t.Fatalf("input %s: dtype %s", name, st.DType)
	}
	v := r.c.Fill(name, st.Len())
	for i := range v {
		if math.Float32bits(v[i]) != math.Float32bits(st.F32[i]) {
			r.t.Fatalf("input %s[%d]: stored %v, fixture.Fill(%q) gives %v", name, i, st.F32[i], r.c.FillName(name), v[i])
		}
	}
	x := r.alloc(name, engine.Float32, st.Shape)
	copy(engine.F32(x), v)
	return x
}

// zeros returns a zero-filled float32 tensor (optimizer state).
func (r *torchRun) zeros(name string, shape ...int) *engine.Tensor {
	x := r.alloc(name, engine.Float32, shape)
	clear(engine.F32(x))
	return x
}

// nans returns a NaN-poisoned float32 tensor for the op to overwrite.
func (r *torchRun) nans(name string, shape ...int) *engine.Tensor {
	x := r.alloc(name, engine.Float32, shape)
	s := engine.F32(x)
	for i := range s {
		s[i] = float32(math.NaN())
	}
	return x
}

// out returns a NaN-poisoned tensor shaped like stored output name.
func (r *torchRun) out(name string) *engine.Tensor {
	r.t.Helper()
	if !slices.Contains(r.c.Outputs, name) {
		r.t.Fatalf("%q is not an output of the case (outputs %v)", name, r.c.Outputs)
	}
	return r.nans(name, r.c.T(name).Shape...)
}

// check compares got with stored output name.
func (r *torchRun) check(name string, got *engine.Tensor) {
	r.t.Helper()
	if err := r.be.Err(); err != nil {
		r.t.Fatalf("engine error before checking %s: %v", name, err)
	}
	want := r.c.T(name)
	if r.compared[name] {
		r.t.Fatalf("output %s checked twice", name)
	}
	r.compared[name] = true
	if want.DType != "F32" {
		r.t.Fatalf("output %s: dtype %s", name, want.DType)
	}
	if !slices.Equal(got.Shape(), want.Shape) {
		r.t.Errorf("%s: engine shape %v, PyTorch %v", name, got.Shape(), want.Shape)
		return
	}
	r.compare(name, engine.F32(got), want.F32)
}

// compare checks got against want with the case's tolerances and records
// the errors.
func (r *torchRun) compare(name string, got, want []float32) {
	r.t.Helper()
	floor := r.tol.atol / r.tol.rtol
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		d := math.Abs(g - w)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		r.maxAbs = max(r.maxAbs, d)
		r.maxRel = max(r.maxRel, d/max(math.Abs(w), floor))
		r.budget = max(r.budget, d/(r.tol.atol+r.tol.rtol*math.Abs(w)))
	}
	if err := fixture.AllClose(got, want, r.tol.atol, r.tol.rtol); err != nil {
		r.t.Errorf("%s: %v", name, err)
	}
}

// finish checks the guards, that every input and output was used, and logs
// the verdict.
func (r *torchRun) finish() {
	r.t.Helper()
	if err := r.be.Err(); err != nil {
		r.t.Errorf("engine error: %v", err)
	}
	for _, g := range r.guards {
		ok := true
		if g.all.DType() == engine.Int32 {
			s := engine.I32(g.all)
			for i := range s {
				if (i < torchGuard || i >= torchGuard+g.n) && s[i] != torchSentinelI {
					ok = false
				}
			}
		} else {
			s := engine.F32(g.all)
			for i := range s {
				if (i < torchGuard || i >= torchGuard+g.n) && s[i] != torchSentinelF {
					ok = false
				}
			}
		}
		if !ok {
			r.t.Errorf("%s: an op wrote outside the tensor (guard band changed)", g.name)
		}
	}
	for _, in := range slices.Concat(r.c.Inputs, r.c.Constants) {
		if !r.used[in] {
			r.t.Errorf("input %s of the case was never used", in)
		}
	}
	var checked []string
	for _, out := range r.c.Outputs {
		if !r.compared[out] {
			r.t.Errorf("output %s of the case was never compared", out)
			continue
		}
		checked = append(checked, out)
	}
	verdict := "ok"
	if r.t.Failed() {
		verdict = "FAIL"
	}
	r.t.Logf("%s/%s %s: max abs err %.2e, max rel err %.2e, %.0f%% of tolerance (atol %g rtol %g) over %v",
		r.c.File.Family, r.c.Name, verdict, r.maxAbs, r.maxRel, 100*r.budget, r.tol.atol, r.tol.rtol, checked)
}

func torchPair(c *fixture.Case, key string) (int, int) {
	v := c.Ints(key)
	if len(v) != 2 {
		panic(fmt.Sprintf("%s/%s: %s %v is not a pair", c.File.Family, c.Name, key, v))
	}
	return v[0], v[1]
}

// torchWant fails the case when a parameter is outside what the Backend
// interface can express.
func torchWant(r *torchRun, cond bool, format string, args ...any) {
	r.t.Helper()
	if !cond {
		r.t.Fatalf("cannot be expressed with the Backend interface: "+format+" (%s)", append(args, r.c.JSON)...)
	}
}

func torchFlag(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// ---- the tests ---------------------------------------------------------

// TestTorchCoverage checks that every fixture file is there and that every
// case has an engine mapping: a new case with a new op fails here.
func TestTorchCoverage(t *testing.T) {
	got, err := fixture.Families()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range torchFamilies {
		if !slices.Contains(got, fam) {
			t.Errorf("fixture file %s.safetensors is missing", fam)
		}
	}
	for _, fam := range got {
		if _, ok := torchTols[fam]; !ok {
			t.Errorf("fixture family %s has no tolerances in torch_test.go (a new family needs a test)", fam)
		}
		f := fixture.MustLoadFamily(t, fam)
		if len(f.Cases()) == 0 {
			t.Errorf("%s: no cases", fam)
		}
		for _, name := range f.Cases() {
			c := fixture.MustCase(t, f, name)
			if torchOps[c.Op] == nil {
				t.Errorf("%s/%s: op %q has no engine mapping in torch_test.go", fam, name, c.Op)
			}
		}
	}
}

// TestTorch runs every case of every fixture file on the CPU engine.
func TestTorch(t *testing.T) {
	fams, err := fixture.Families()
	if err != nil {
		t.Fatal(err)
	}
	be := engine.NewCPU(0)
	total, ran := 0, 0
	for _, fam := range fams {
		f := fixture.MustLoadFamily(t, fam)
		tol, ok := torchTols[fam]
		if !ok {
			t.Errorf("fixture family %s has no test", fam)
			continue
		}
		total += len(f.Cases())
		t.Run(fam, func(t *testing.T) {
			for _, name := range f.Cases() {
				t.Run(name, func(t *testing.T) {
					ran++
					be.ClearErr()
					c := fixture.MustCase(t, f, name)
					op := torchOps[c.Op]
					if op == nil {
						t.Fatalf("op %q has no engine mapping", c.Op)
					}
					r := &torchRun{t: t, be: be, c: c, tol: tol, used: map[string]bool{}, compared: map[string]bool{}}
					op(r)
					r.finish()
				})
			}
		})
	}
	// With a subtest filter (-run TestTorch/x/y) only some cases run.
	if !strings.Contains(torchFlag("test.run"), "/") && torchFlag("test.skip") == "" && ran != total {
		t.Errorf("ran %d of the %d fixture cases", ran, total)
	}
	t.Logf("%d of %d fixture cases in %d families on %s", ran, total, len(fams), be.Name())
}

// ---- the mappings ------------------------------------------------------

func torchConv2d(r *torchRun) {
	c := r.c
	dh, dw := torchPair(c, "dilation")
	torchWant(r, dh == 1 && dw == 1 && c.Int("groups") == 1, "dilation or groups")
	sh, sw := torchPair(c, "stride")
	ph, pw := torchPair(c, "padding")
	p := engine.Conv2dParams{StrideH: sh, StrideW: sw, PadH: ph, PadW: pw}
	x, w := r.in("x"), r.in("weight")
	kh, kw := torchPair(c, "kernel")
	torchWant(r, w.Dim(2) == kh && w.Dim(3) == kw, "kernel %dx%d, weight %v", kh, kw, w.Shape())
	var b, db *engine.Tensor
	if c.Bool("bias") {
		b, db = r.in("bias"), r.out("dbias")
	}
	y := r.out("y")
	r.be.Conv2d(y, x, w, b, p)
	r.check("y", y)
	dy := r.in("dy")
	dx, dwt := r.out("dx"), r.out("dweight")
	r.be.Conv2dBackward(dx, dwt, db, dy, x, w, p)
	r.check("dx", dx)
	r.check("dweight", dwt)
	if db != nil {
		r.check("dbias", db)
	}
}

func torchBatchNorm(r *torchRun)     { torchBN(r, false) }
func torchBatchNormRelu(r *torchRun) { torchBN(r, true) }

// torchBN checks batch norm (relu: the fused batch norm + ReLU ops, against
// F.relu(F.batch_norm(...))) in training or eval mode, and its gradient.
func torchBN(r *torchRun, relu bool) {
	c := r.c
	eps, mom := float32(c.Float("eps")), float32(c.Float("momentum"))
	x, gamma, beta := r.in("x"), r.in("weight"), r.in("bias")
	rm, rv := r.in("running_mean"), r.in("running_var")
	torchWant(r, x.Dim(1) == c.Int("num_features"), "num_features")
	ch := x.Dim(1)
	y, dx, dg, db := r.out("y"), r.out("dx"), r.out("dweight"), r.out("dbias")
	dy := r.in("dy")
	if c.Bool("training") {
		sm, si := r.nans("save_mean", ch), r.nans("save_invstd", ch)
		if relu {
			r.be.BatchNormReluTrain(y, sm, si, rm, rv, x, gamma, beta, mom, eps)
		} else {
			r.be.BatchNormTrain(y, sm, si, rm, rv, x, gamma, beta, mom, eps)
		}
		r.check("y", y)
		r.check("running_mean_out", rm)
		r.check("running_var_out", rv)
		if relu {
			r.be.BatchNormReluBackward(dx, dg, db, dy, y, x, gamma, sm, si)
		} else {
			r.be.BatchNormBackward(dx, dg, db, dy, x, gamma, sm, si)
		}
	} else {
		if relu {
			r.be.BatchNormReluEval(y, x, gamma, beta, rm, rv, eps)
		} else {
			r.be.BatchNormEval(y, x, gamma, beta, rm, rv, eps)
		}
		r.check("y", y)
		if relu {
			r.be.BatchNormReluEvalBackward(dx, dg, db, dy, y, x, gamma, rm, rv, eps)
		} else {
			r.be.BatchNormEvalBackward(dx, dg, db, dy, x, gamma, rm, rv, eps)
		}
		// Eval mode leaves the running statistics alone.
		r.compare("running_mean (unchanged)", engine.F32(rm), r.c.T("running_mean").F32)
		r.compare("running_var (unchanged)", engine.F32(rv), r.c.T("running_var").F32)
	}
	r.check("dx", dx)
	r.check("dweight", dg)
	r.check("dbias", db)
}

// torchAddRelu checks AddRelu and its gradient (ReluBackward for both
// operands) against F.relu(a + b).
func torchAddRelu(r *torchRun) {
	a, b, y := r.in("a"), r.in("b"), r.out("y")
	r.be.AddRelu(y, a, b)
	r.check("y", y)
	dy, da, db := r.in("dy"), r.out("da"), r.out("db")
	r.be.ReluBackward(da, dy, y)
	r.be.ReluBackward(db, dy, y)
	r.check("da", da)
	r.check("db", db)
}

// torchSqueezeExcite checks SqueezeExcite against the seed's SE block
// (adaptive pooling, 1x1 convolutions, relu, sigmoid, multiply, + res).
func torchSqueezeExcite(r *torchRun) {
	x, w1, b1, w2, b2 := r.in("x"), r.in("w1"), r.in("b1"), r.in("w2"), r.in("b2")
	n, ch, d := x.Dim(0), x.Dim(1), r.c.Int("hidden")
	var res *engine.Tensor
	if r.c.Bool("residual") {
		res = r.in("res")
	}
	y := r.out("y")
	pooled, hidden, scale := r.nans("pooled", n, ch), r.nans("hidden", n, d), r.nans("scale", n, ch)
	r.be.SqueezeExcite(y, pooled, hidden, scale, x, res, w1, b1, w2, b2)
	r.check("y", y)
	dy := r.in("dy")
	dx, dw1, db1, dw2, db2 := r.out("dx"), r.out("dw1"), r.out("db1"), r.out("dw2"), r.out("db2")
	r.be.SqueezeExciteBackward(dx, dw1, db1, dw2, db2, dy, x, w1, w2, pooled, hidden, scale)
	r.check("dx", dx)
	r.check("dw1", dw1)
	r.check("db1", db1)
	r.check("dw2", dw2)
	r.check("db2", db2)
	if res != nil {
		dres := r.out("dres")
		r.be.Copy(dres, dy) // the residual's gradient is dy
		r.check("dres", dres)
	}
}

func torchActivation(r *torchRun) {
	x := r.in("x")
	y := r.out("y")
	switch r.c.Op {
	case "relu":
		r.be.Relu(y, x)
	case "sigmoid":
		r.be.Sigmoid(y, x)
	case "gelu":
		torchWant(r, r.c.String("approximate") == "none", "gelu approximation")
		r.be.Gelu(y, x)
	}
	r.check("y", y)
	dy, dx := r.in("dy"), r.out("dx")
	switch r.c.Op {
	case "relu":
		r.be.ReluBackward(dx, dy, y)
	case "sigmoid":
		r.be.SigmoidBackward(dx, dy, y)
	case "gelu":
		r.be.GeluBackward(dx, dy, x)
	}
	r.check("dx", dx)
}

func torchPoolParams(r *torchRun, ceil, countPad bool) engine.Pool2dParams {
	kh, kw := torchPair(r.c, "kernel")
	sh, sw := torchPair(r.c, "stride")
	ph, pw := torchPair(r.c, "padding")
	return engine.Pool2dParams{KH: kh, KW: kw, StrideH: sh, StrideW: sw, PadH: ph, PadW: pw,
		CeilMode: ceil, ExcludePad: !countPad}
}

func torchMaxPool(r *torchRun) {
	dh, dw := torchPair(r.c, "dilation")
	torchWant(r, dh == 1 && dw == 1, "dilation")
	p := torchPoolParams(r, r.c.Bool("ceil_mode"), true)
	x, y := r.in("x"), r.out("y")
	idx := r.alloc("indices", engine.Int32, y.Shape())
	for i, s := 0, engine.I32(idx); i < len(s); i++ {
		s[i] = math.MinInt32
	}
	r.be.MaxPool2d(y, idx, x, p)
	r.check("y", y)
	// The indices are not stored by the fixture: each must point, inside
	// its plane, at the maximum it reports.
	hw, ohw := x.Dim(2)*x.Dim(3), y.Dim(2)*y.Dim(3)
	xs, ys := engine.F32(x), engine.F32(y)
	for o, k := range engine.I32(idx) {
		if k < 0 || int(k) >= hw || xs[o/ohw*hw+int(k)] != ys[o] {
			r.t.Errorf("indices[%d] = %d does not point at y[%d] = %v", o, k, o, ys[o])
			break
		}
	}
	dy, dx := r.in("dy"), r.out("dx")
	r.be.MaxPool2dBackward(dx, dy, idx)
	r.check("dx", dx)
}

func torchAvgPool(r *torchRun) {
	_, hasDiv := r.c.Params["divisor_override"]
	torchWant(r, !hasDiv, "divisor_override")
	p := torchPoolParams(r, r.c.Bool("ceil_mode"), r.c.Bool("count_include_pad"))
	x, y := r.in("x"), r.out("y")
	r.be.AvgPool2d(y, x, p)
	r.check("y", y)
	dy, dx := r.in("dy"), r.out("dx")
	r.be.AvgPool2dBackward(dx, dy, p)
	r.check("dx", dx)
}

func torchAdaptivePool(r *torchRun) {
	x, y := r.in("x"), r.out("y")
	oh, ow := torchPair(r.c, "output_size")
	torchWant(r, y.Dim(2) == oh && y.Dim(3) == ow, "output_size %v, y %v", r.c.Ints("output_size"), y.Shape())
	r.be.AdaptiveAvgPool2d(y, x)
	r.check("y", y)
	dy, dx := r.in("dy"), r.out("dx")
	r.be.AdaptiveAvgPool2dBackward(dx, dy)
	r.check("dx", dx)
}

func torchLinear(r *torchRun) {
	x, w := r.in("x"), r.in("weight")
	torchWant(r, w.Dim(0) == r.c.Int("out_features") && w.Dim(1) == r.c.Int("in_features"), "features")
	var b, db *engine.Tensor
	if r.c.Bool("bias") {
		b, db = r.in("bias"), r.out("dbias")
	}
	y := r.out("y")
	r.be.Linear(y, x, w, b)
	r.check("y", y)
	dy, dx, dw := r.in("dy"), r.out("dx"), r.out("dweight")
	r.be.LinearBackward(dx, dw, db, dy, x, w)
	r.check("dx", dx)
	r.check("dweight", dw)
	if db != nil {
		r.check("dbias", db)
	}
}

func torchInverse(perm []int) []int {
	inv := make([]int, len(perm))
	for i, p := range perm {
		inv[p] = i
	}
	return inv
}

func torchPermute(r *torchRun) {
	perm := r.c.Ints("perm")
	x, y := r.in("x"), r.out("y")
	r.be.Permute(y, x, perm)
	r.check("y", y)
	dy, dx := r.in("dy"), r.out("dx")
	r.be.Permute(dx, dy, torchInverse(perm))
	r.check("dx", dx)
}

// torchRearrange is the ViT qkv split "b n (h d qkv) -> qkv b h n d": a view
// of x as (b, n, h, d, qkv) permuted by (4, 0, 2, 1, 3).
func torchRearrange(r *torchRun) {
	c := r.c
	torchWant(r, c.String("pattern") == "b n (h d qkv) -> qkv b h n d", "pattern %q", c.String("pattern"))
	h, d, qkv := c.Int("h"), c.Int("d"), c.Int("qkv")
	x, y := r.in("x"), r.out("y")
	torchWant(r, x.Rank() == 3 && x.Dim(2) == h*d*qkv, "x %v", x.Shape())
	b, n := x.Dim(0), x.Dim(1)
	perm := []int{4, 0, 2, 1, 3}
	r.be.Permute(y, x.View(b, n, h, d, qkv), perm)
	r.check("y", y)
	dy, dx := r.in("dy"), r.out("dx")
	r.be.Permute(dx.View(b, n, h, d, qkv), dy, torchInverse(perm))
	r.check("dx", dx)
}

func torchConcat(r *torchRun) {
	axis := r.c.Int("dim")
	var parts []string
	for _, in := range r.c.Inputs {
		if in != "dy" {
			parts = append(parts, in)
		}
	}
	xs := make([]*engine.Tensor, len(parts))
	dxs := make([]*engine.Tensor, len(parts))
	for i, p := range parts {
		xs[i] = r.in(p)
	}
	y := r.out("y")
	r.be.Concat(y, xs, axis)
	r.check("y", y)
	dy := r.in("dy")
	for i, p := range parts {
		dxs[i] = r.out("d" + p)
	}
	r.be.Split(dxs, dy, axis)
	for i, p := range parts {
		r.check("d"+p, dxs[i])
	}
}

func torchMean(r *torchRun) {
	axis := r.c.Int("dim")
	x, y := r.in("x"), r.out("y")
	torchWant(r, y.Rank() == x.Rank()-1 || r.c.Bool("keepdim"), "keepdim")
	r.be.Mean(y, x, axis)
	r.check("y", y)
	dy, dx := r.in("dy"), r.out("dx")
	r.be.MeanBackward(dx, dy, axis)
	r.check("dx", dx)
}

func torchAdd(r *torchRun) {
	a, b, y := r.in("a"), r.in("b"), r.out("y")
	r.be.Add(y, a, b)
	r.check("y", y)
	dy, da, db := r.in("dy"), r.out("da"), r.out("db")
	r.be.SumTo(da, dy)
	r.be.SumTo(db, dy)
	r.check("da", da)
	r.check("db", db)
}

func torchScale(r *torchRun) {
	alpha := float32(r.c.Float("alpha"))
	x, y := r.in("x"), r.out("y")
	r.be.Scale(y, x, alpha)
	r.check("y", y)
	dy, dx := r.in("dy"), r.out("dx")
	r.be.Scale(dx, dy, alpha)
	r.check("dx", dx)
}

func torchChannelScale(r *torchRun) {
	x, s, y := r.in("x"), r.in("s"), r.out("y")
	r.be.ChannelScale(y, x, s)
	r.check("y", y)
	dy, dx, ds := r.in("dy"), r.out("dx"), r.out("ds")
	r.be.ChannelScaleBackward(dx, ds, dy, x, s)
	r.check("dx", dx)
	r.check("ds", ds)
}

func torchLayerNorm(r *torchRun) {
	x, w, b := r.in("x"), r.in("weight"), r.in("bias")
	ns := r.c.Ints("normalized_shape")
	torchWant(r, len(ns) == 1 && ns[0] == x.Dim(-1), "normalized_shape %v for x %v", ns, x.Shape())
	rows := x.Len() / x.Dim(-1)
	sm, si, y := r.nans("save_mean", rows), r.nans("save_invstd", rows), r.out("y")
	r.be.LayerNorm(y, sm, si, x, w, b, float32(r.c.Float("eps")))
	r.check("y", y)
	dy, dx, dw, db := r.in("dy"), r.out("dx"), r.out("dweight"), r.out("dbias")
	r.be.LayerNormBackward(dx, dw, db, dy, x, w, sm, si)
	r.check("dx", dx)
	r.check("dweight", dw)
	r.check("dbias", db)
}

func torchSoftmax(r *torchRun) {
	x, y := r.in("x"), r.out("y")
	dim := r.c.Int("dim")
	torchWant(r, dim == -1 || dim == x.Rank()-1, "softmax over dim %d of %v", dim, x.Shape())
	r.be.Softmax(y, x)
	r.check("y", y)
	dy, dx := r.in("dy"), r.out("dx")
	r.be.SoftmaxBackward(dx, dy, y)
	r.check("dx", dx)
}

// torchMatMul: with C = op(A)·op(B) and G = dC,
//
//	A·B:   dA = G·Bᵀ,   dB = Aᵀ·G
//	A·Bᵀ:  dA = G·B,    dB = Gᵀ·A
//	Aᵀ·B:  dA = B·Gᵀ,   dB = A·G
//	Aᵀ·Bᵀ: dA = Bᵀ·Gᵀ,  dB = Gᵀ·Aᵀ
func torchMatMul(r *torchRun) {
	ta, tb := r.c.Bool("transpose_a"), r.c.Bool("transpose_b")
	a, b, y := r.in("a"), r.in("b"), r.out("y")
	r.be.MatMul(y, a, b, ta, tb)
	r.check("y", y)
	g, da, db := r.in("dy"), r.out("da"), r.out("db")
	switch {
	case !ta && !tb:
		r.be.MatMul(da, g, b, false, true)
		r.be.MatMul(db, a, g, true, false)
	case !ta && tb:
		r.be.MatMul(da, g, b, false, false)
		r.be.MatMul(db, g, a, true, false)
	case ta && !tb:
		r.be.MatMul(da, b, g, false, true)
		r.be.MatMul(db, a, g, false, false)
	default:
		r.be.MatMul(da, b, g, true, true)
		r.be.MatMul(db, g, a, true, true)
	}
	r.check("da", da)
	r.check("db", db)
}

func torchCrossEntropy(r *torchRun) {
	c := r.c
	torchWant(r, c.String("reduction") == "mean", "reduction %q", c.String("reduction"))
	logits := r.in("logits")
	n, k := logits.Dim(0), logits.Dim(1)
	torchWant(r, logits.Rank() == 2 && k == c.Int("num_classes"), "logits %v", logits.Shape())
	r.used["labels"] = true
	lt := c.T("labels")
	labels := r.alloc("labels", engine.Int32, lt.Shape)
	for i, v := range lt.I64 {
		if v < 0 || v >= int64(k) {
			r.t.Fatalf("label %d of row %d outside [0,%d)", v, i, k)
		}
		engine.I32(labels)[i] = int32(v)
	}
	loss, dl := r.out("loss"), r.out("dlogits")
	r.be.CrossEntropy(loss, dl, logits, labels)
	r.check("loss", loss)
	r.check("dlogits", dl)

	// log_softmax, through the engine's results: loss = −mean(ls[i, yᵢ]) and
	// dlogits = (exp(ls) − onehot)/N.
	ls := c.T("log_softmax")
	r.compared["log_softmax"] = true
	var sum float64
	want := make([]float32, n*k)
	for i := 0; i < n; i++ {
		y := int(lt.I64[i])
		sum -= float64(ls.F32[i*k+y])
		for j := 0; j < k; j++ {
			p := math.Exp(float64(ls.F32[i*k+j]))
			if j == y {
				p--
			}
			want[i*k+j] = float32(p / float64(n))
		}
	}
	r.compare("loss vs log_softmax", engine.F32(loss), []float32{float32(sum / float64(n))})
	r.compare("dlogits vs log_softmax", engine.F32(dl), want)
}

// torchOptim runs the case's steps: p0 is the parameter, g1..gN the
// gradients, p1..pN the parameters after each step.
func torchOptim(r *torchRun, step func(p, g *engine.Tensor, first bool)) {
	steps := r.c.Int("steps")
	p := r.in("p0")
	for s := 1; s <= steps; s++ {
		g := r.in(fmt.Sprintf("g%d", s))
		step(p, g, s == 1)
		r.check(fmt.Sprintf("p%d", s), p)
	}
}

func torchSGD(r *torchRun) {
	c := r.c
	hp := engine.SGDParams{LR: float32(c.Float("lr")), Momentum: float32(c.Float("momentum")),
		Dampening: float32(c.Float("dampening")), WeightDecay: float32(c.Float("weight_decay")),
		Nesterov: c.Bool("nesterov")}
	var mom *engine.Tensor
	if hp.Momentum != 0 {
		// PyTorch creates the buffer on the first step: First must overwrite it.
		mom = r.nans("momentum_buffer", r.c.T("p0").Shape...)
	}
	torchOptim(r, func(p, g *engine.Tensor, first bool) {
		hp.First = first
		r.be.SGDStep(p, g, mom, hp)
	})
}

func torchAdadelta(r *torchRun) {
	c := r.c
	hp := engine.AdadeltaParams{LR: float32(c.Float("lr")), Rho: float32(c.Float("rho")),
		Eps: float32(c.Float("eps")), WeightDecay: float32(c.Float("weight_decay"))}
	shape := r.c.T("p0").Shape
	sq, acc := r.zeros("square_avg", shape...), r.zeros("acc_delta", shape...)
	torchOptim(r, func(p, g *engine.Tensor, _ bool) {
		r.be.AdadeltaStep(p, g, sq, acc, hp)
	})
}
