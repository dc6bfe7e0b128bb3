// Command kernellab is gotrain's kernel lab, in the spirit of llm.c's
// dev/cuda: for each op family (conv, gemm, norm, pool, elementwise) it runs
// the CPU engine's reference, then every numbered kernel variant over a
// sweep of problem sizes (each variant is its own launch shape: tile and
// thread count), checks each result against the reference (outputs
// poisoned with NaN first, |gpu - cpu| <= tol + |cpu|·eps), and prints its
// device time, GFLOP/s or GB/s, and the percent of the peaks measured at
// the start of the same run: the mma.sync TF32 and BF16 throughput
// (kernels/lab.cu) and a device-to-device copy. The conv mode's v7 and v8
// are the bf16 implicit GEMMs on an input stored as BFloat16 (the bf16x
// kernels), to set beside v5 and v6; v9 to v12 the forwards that store
// their output y as BFloat16 (bf16y with x float32, bf16xy with x
// BFloat16 too).
//
//	kernellab [-mode all|conv|gemm|norm|pool|elementwise] [-reps N] [-write FILE] [-tiny]
//
// -write FILE writes the variant table (cuda/variants.tsv's format) from
// the conv and gemm sweeps: per op and precision, the fill (large tiles
// per SM) from which the 128×64 tile was at least as fast as the 64×64 one
// on every swept shape. The engine reads the committed table; it never
// times kernels itself. With -tags cuda it runs on GPU 0 (-device N); in a
// build without the tag, on the CPU emulator of kernels/emu, where -tiny
// (small problems) makes it a smoke test (TestLabTiny) and the timings mean
// nothing. The full sweep takes well under 5 minutes on an H100-class GPU
// (most of it the CPU references); every line says what it measured.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gotrain/gotrain/cuda"
	"github.com/gotrain/gotrain/engine"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kernellab:", err)
		os.Exit(1)
	}
}

type options struct {
	mode   string
	reps   int
	write  string
	tiny   bool
	device int
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("kernellab", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.mode, "mode", "all", "op family: all, conv, gemm, norm, pool or elementwise")
	fs.IntVar(&o.reps, "reps", 0, "timed runs per case (default 10; 1 with -tiny)")
	fs.StringVar(&o.write, "write", "", "write the measured variant table to FILE (needs the conv and gemm modes)")
	fs.BoolVar(&o.tiny, "tiny", false, "small problems (a smoke test, e.g. on the emulator)")
	fs.IntVar(&o.device, "device", 0, "GPU ordinal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	modes := map[string]bool{}
	for _, m := range strings.Split(o.mode, ",") {
		switch m {
		case "all":
			for _, f := range families {
				modes[f] = true
			}
		case "conv", "gemm", "norm", "pool", "elementwise":
			modes[m] = true
		default:
			return fmt.Errorf("-mode %q: use all, conv, gemm, norm, pool or elementwise", m)
		}
	}
	if o.write != "" && !(modes["conv"] && modes["gemm"]) {
		return fmt.Errorf("-write needs the conv and gemm modes (-mode all or conv,gemm)")
	}
	if o.reps == 0 {
		o.reps = 10
		if o.tiny {
			o.reps = 1
		}
	}
	start := time.Now()
	b, err := cuda.Open(o.device)
	if err != nil {
		return err
	}
	defer b.Close()
	l := &lab{o: o, w: w, g: b, c: engine.NewCPU(0), rng: rand.New(rand.NewPCG(1, 2)), sms: b.Multiprocessors()}
	if err := l.peaks(); err != nil {
		return err
	}
	for _, f := range families {
		if !modes[f] {
			continue
		}
		fmt.Fprintf(w, "\n== %s\n", f)
		switch f {
		case "conv":
			l.convs()
		case "gemm":
			l.gemms()
		case "norm":
			l.norms()
		case "pool":
			l.pools()
		case "elementwise":
			l.elementwise()
		}
		if err := b.Err(); err != nil {
			return err
		}
	}
	if o.write != "" {
		if err := os.WriteFile(o.write, []byte(l.table()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nwrote the variant table to %s\n", o.write)
	}
	fmt.Fprintf(w, "\nkernellab: %d checks ok, %d failed, %.1f s on %s\n", l.ok, l.failed, time.Since(start).Seconds(), b.Name())
	if l.failed > 0 {
		return fmt.Errorf("%d checks failed", l.failed)
	}
	return nil
}

var families = []string{"conv", "gemm", "norm", "pool", "elementwise"}

type lab struct {
	o          options
	w          io.Writer
	g          *cuda.Backend
	c          *engine.CPU
	rng        *rand.Rand
	sms        int
	tf32, bf16 float64 // TFLOP/s
	copyGBs    float64
	ok, failed int
	timings    []timing // conv and gemm, for the variant table
}

// timing is one variant's time on one shape, for the table.
type timing struct {
	op      string
	prec    engine.Precision
	variant string
	fill    float64
	ms      float64
}

func (l *lab) peaks() error {
	blocks, iters, copyN := 8, 512, 1<<26
	if l.o.tiny {
		blocks, iters, copyN = 1, 2, 1<<12
	}
	var err error
	if l.tf32, err = l.g.MMAPeak(engine.TF32, blocks, iters); err != nil {
		return err
	}
	if l.bf16, err = l.g.MMAPeak(engine.BF16, blocks, iters); err != nil {
		return err
	}
	if l.copyGBs, err = l.g.CopyPeak(copyN, l.o.reps); err != nil {
		return err
	}
	fmt.Fprintf(l.w, "device %s, %d SMs\npeaks measured now: mma.sync TF32 %.1f TFLOP/s, BF16 %.1f TFLOP/s; device copy %.1f GB/s (%d MiB)\n",
		l.g.Name(), l.sms, l.tf32, l.bf16, l.copyGBs, copyN*4>>20)
	return nil
}

// ---- tensors on both engines ---------------------------------------------

type pair struct{ g, c *engine.Tensor }

func (l *lab) zeros(shape ...int) pair {
	n := engine.Numel(shape)
	gs, err := l.g.Alloc(engine.Float32, n)
	if err != nil {
		panic(err)
	}
	cs, _ := l.c.Alloc(engine.Float32, n)
	return pair{engine.NewTensor("g", gs, 0, shape...), engine.NewTensor("c", cs, 0, shape...)}
}

// toBF16 is a BFloat16 copy of p on the GPU (Upload rounds to nearest even).
func (l *lab) toBF16(p pair) *engine.Tensor {
	v := make([]float32, p.c.Len())
	l.c.Download(v, p.c)
	gs, err := l.g.Alloc(engine.BFloat16, len(v))
	if err != nil {
		panic(err)
	}
	t := engine.NewTensor("g", gs, 0, p.c.Shape()...)
	l.g.Upload(t, v)
	return t
}

// roundBF16 is a BFloat16 copy of p on the GPU beside a CPU copy of p
// rounded to bfloat16 (engine.RoundBF16): a bfloat16 output and its
// reference.
func (l *lab) roundBF16(p pair) pair {
	v := make([]float32, p.c.Len())
	l.c.Download(v, p.c)
	for i := range v {
		v[i] = engine.RoundBF16(v[i])
	}
	cs, _ := l.c.Alloc(engine.Float32, len(v))
	c := engine.NewTensor("c", cs, 0, p.c.Shape()...)
	l.c.Upload(c, v)
	return pair{l.toBF16(p), c}
}

func (l *lab) rand(scale float32, shape ...int) pair {
	p := l.zeros(shape...)
	v := make([]float32, p.g.Len())
	for i := range v {
		v[i] = scale * (2*l.rng.Float32() - 1)
	}
	l.g.Upload(p.g, v)
	l.c.Upload(p.c, v)
	return p
}

func (l *lab) poison(t *engine.Tensor) {
	v := make([]float32, t.Len())
	for i := range v {
		v[i] = float32(math.NaN())
	}
	l.g.Upload(t, v)
}

// compare checks the GPU tensor against the CPU one and returns the worst
// element's ratio to its tolerance (> 1: a failure; NaN: never passes).
func (l *lab) compare(g, c *engine.Tensor, tol, eps float64) float64 {
	gv, cv := make([]float32, g.Len()), make([]float32, c.Len())
	l.g.Download(gv, g)
	l.c.Download(cv, c)
	worst := 0.0
	for i := range gv {
		d := math.Abs(float64(gv[i]) - float64(cv[i]))
		r := 0.0
		if d != 0 || math.IsNaN(d) {
			r = d / (tol + math.Abs(float64(cv[i]))*eps)
		}
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return math.Inf(1)
		}
		worst = math.Max(worst, r)
	}
	return worst
}

// precTol is kernels/parity's tolerance of a k-long reduction on inputs
// in [-1,1): TF32 2e-3·√k, BF16 1.6e-2·√k (four times the operands' unit
// roundoff times √k), float32 2e-6·k + 1e-5 relative.
func precTol(p engine.Precision, k int) (tol, eps float64) {
	switch p {
	case engine.TF32:
		return 2e-3 * math.Sqrt(float64(k)), 0
	case engine.BF16:
		return 1.6e-2 * math.Sqrt(float64(k)), 0
	}
	return 2e-6 * float64(k), 1e-5
}

// measure runs the variant once into poisoned outputs, checks them, then
// times it, and prints one line.
func (l *lab) measure(label string, outs []pair, tol, eps float64, run func(), flops, bytes float64, prec engine.Precision) float64 {
	for _, o := range outs {
		l.poison(o.g)
	}
	run()
	worst := 0.0
	for _, o := range outs {
		worst = math.Max(worst, l.compare(o.g, o.c, tol, eps))
	}
	verdict := fmt.Sprintf("ok %.2f", worst)
	if !(worst <= 1) {
		verdict = fmt.Sprintf("FAIL %.3g", worst)
		l.failed++
	} else {
		l.ok++
	}
	ms, err := l.g.Time(l.o.reps, run)
	if err != nil {
		fmt.Fprintf(l.w, "%-58s %s of tol; timing failed: %v\n", label, verdict, err)
		l.failed++
		return 0
	}
	rate := ""
	switch {
	case flops > 0:
		gf := flops / (ms * 1e-3) / 1e9
		peak := map[engine.Precision]float64{engine.TF32: l.tf32, engine.BF16: l.bf16}[prec]
		rate = fmt.Sprintf("%9.1f GFLOP/s", gf)
		if peak > 0 {
			rate += fmt.Sprintf(" %3.0f%% of %v mma peak", 100*gf/(peak*1e3), prec)
		}
	case bytes > 0:
		gb := bytes / (ms * 1e-3) / 1e9
		rate = fmt.Sprintf("%9.1f GB/s %3.0f%% of copy", gb, 100*gb/l.copyGBs)
	}
	fmt.Fprintf(l.w, "%-58s %-10s of tol %9.4f ms %s\n", label, verdict, ms, rate)
	return ms
}

// ---- convolutions ----------------------------------------------------------

type convShape struct {
	name                string
	n, c, h, w, k, r, s int
	p                   engine.Conv2dParams
}

type variant struct {
	id    int
	prec  engine.Precision
	kv    string // cuda.SetKernelVariant: im2col, l, s ("" the fp32 path)
	bf16x bool   // the input x stored as BFloat16 (the bf16x kernels; forward and weight gradient)
	bf16y bool   // the output y stored as BFloat16 (the bf16y and bf16xy kernels; forward only)
}

func (v variant) String() string {
	name := map[string]string{"": "im2col+gemm", "im2col": "im2col+gemm", "l": "igemm 128x64", "s": "igemm 64x64"}[v.kv]
	prec := v.prec.String()
	switch {
	case v.bf16x && v.bf16y:
		prec = "bf16xy"
	case v.bf16x:
		prec = "bf16x"
	case v.bf16y:
		prec = "bf16y"
	}
	return fmt.Sprintf("v%d %s %s", v.id, prec, name)
}

// convVariants: v7 and v8 are v5 and v6 with the input stored as
// BFloat16, as a model at -precision bf16 stores the fused batch norm +
// ReLU outputs that only convolutions read: beside v5 and v6 they measure
// what the halved input traffic gains. The products are those of v5 and
// v6 (the mma rounds x to bfloat16 the same way), so the same reference
// and tolerance apply; the backward-data pass does not read x and is not
// repeated. v9 and v10 (x float32) and v11 and v12 (x BFloat16) are the
// forward of v5 and v6 storing y as BFloat16, as a model at -precision
// bf16 stores a convolution output that only a batch norm reads: the
// reference is the CPU's y rounded to bfloat16, within the same tolerance
// plus one bfloat16 ulp of the value (2^-7·|y|). The table's timings come
// from float32 inputs and outputs only (v1 to v6).
var convVariants = []variant{
	{0, engine.FP32, "", false, false}, {1, engine.TF32, "im2col", false, false}, {2, engine.TF32, "l", false, false},
	{3, engine.TF32, "s", false, false}, {4, engine.BF16, "im2col", false, false}, {5, engine.BF16, "l", false, false},
	{6, engine.BF16, "s", false, false}, {7, engine.BF16, "l", true, false}, {8, engine.BF16, "s", true, false},
	{9, engine.BF16, "l", false, true}, {10, engine.BF16, "s", false, true}, {11, engine.BF16, "l", true, true},
	{12, engine.BF16, "s", true, true},
}

func (l *lab) convShapes() []convShape {
	s1 := engine.Conv2dParams{StrideH: 1, StrideW: 1}
	p1 := engine.Conv2dParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	s2 := engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	if l.o.tiny {
		return []convShape{
			{"3x3 p1", 2, 8, 8, 8, 12, 3, 3, p1},
			{"1x1", 2, 16, 6, 6, 8, 1, 1, s1},
			{"7x7/2", 2, 1, 12, 12, 8, 7, 7, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}},
		}
	}
	return []convShape{
		{"seresnet 64@28 3x3", 64, 64, 28, 28, 64, 3, 3, p1},
		{"seresnet 128@14 3x3", 64, 128, 14, 14, 128, 3, 3, p1},
		{"seresnet 256@7 3x3", 64, 256, 7, 7, 256, 3, 3, p1},
		{"seresnet 512@4 3x3", 64, 512, 4, 4, 512, 3, 3, p1},
		{"seresnet 64->128 3x3/2", 64, 64, 28, 28, 128, 3, 3, s2},
		{"seresnet 64->128 1x1/2", 64, 64, 28, 28, 128, 1, 1, engine.Conv2dParams{StrideH: 2, StrideW: 2}},
		{"seresnet 256->256 1x1", 64, 256, 7, 7, 256, 1, 1, s1},
		{"baseline conv1 1->32", 64, 1, 28, 28, 32, 3, 3, s1},
		{"baseline conv2 32->64", 64, 32, 26, 26, 64, 3, 3, s1},
		{"stem 7x7/2 1->64", 64, 1, 28, 28, 64, 7, 7, engine.Conv2dParams{StrideH: 2, StrideW: 2, PadH: 3, PadW: 3}},
		{"vit patches 4x4/4 1->768", 64, 1, 28, 28, 768, 4, 4, engine.Conv2dParams{StrideH: 4, StrideW: 4}},
	}
}

func tiles(m, n int) int { return (m + 127) / 128 * ((n + 63) / 64) }

func (l *lab) convs() {
	defer l.g.SetKernelVariant(l.g.SetKernelVariant(""))
	defer l.g.SetPrecision(l.g.Precision())
	for _, sh := range l.convShapes() {
		p, q := engine.ConvOut(sh.h, sh.r, sh.p.StrideH, sh.p.PadH), engine.ConvOut(sh.w, sh.s, sh.p.StrideW, sh.p.PadW)
		x, w := l.rand(1, sh.n, sh.c, sh.h, sh.w), l.rand(0.5, sh.k, sh.c, sh.r, sh.s)
		xb := l.toBF16(x)
		dy := l.rand(1, sh.n, sh.k, p, q)
		y, dx, dw := l.zeros(sh.n, sh.k, p, q), l.zeros(sh.n, sh.c, sh.h, sh.w), l.zeros(sh.k, sh.c, sh.r, sh.s)
		l.c.Conv2d(y.c, x.c, w.c, nil, sh.p)
		yb := l.roundBF16(y) // the bf16y variants' output and reference
		l.c.Conv2dBackward(dx.c, nil, nil, dy.c, x.c, w.c, sh.p)
		l.c.Conv2dBackward(nil, dw.c, nil, dy.c, x.c, w.c, sh.p)
		crs, npq := sh.c*sh.r*sh.s, sh.n*p*q
		flops := 2 * float64(sh.k) * float64(crs) * float64(npq)
		fmt.Fprintf(l.w, "-- conv %s: n%d c%d %dx%d k%d %dx%d s%d p%d (%.2f GFLOP per pass)\n", sh.name, sh.n, sh.c, sh.h,
			sh.w, sh.k, sh.r, sh.s, sh.p.StrideH, sh.p.PadH, flops/1e9)
		ops := []struct {
			op   string
			out  pair
			k    int
			fill float64
			run  func(x *engine.Tensor)
		}{
			{"conv_fwd", y, crs, float64(tiles(sh.k, npq)) / float64(l.sms), func(x *engine.Tensor) { l.g.Conv2d(y.g, x, w.g, nil, sh.p) }},
			{"conv_dgrad", dx, sh.k * sh.r * sh.s, float64(tiles(sh.c, sh.n*sh.h*sh.w)) / float64(l.sms),
				func(x *engine.Tensor) { l.g.Conv2dBackward(dx.g, nil, nil, dy.g, x, w.g, sh.p) }},
			{"conv_wgrad", dw, npq, float64(tiles(sh.k, crs)) / float64(l.sms),
				func(x *engine.Tensor) { l.g.Conv2dBackward(nil, dw.g, nil, dy.g, x, w.g, sh.p) }},
		}
		for _, op := range ops {
			for _, v := range convVariants {
				in := x.g
				if v.bf16x {
					if op.op == "conv_dgrad" {
						continue
					}
					in = xb
				}
				out, run := op.out, func() { op.run(in) }
				if v.bf16y {
					if op.op != "conv_fwd" {
						continue
					}
					out, run = yb, func() { l.g.Conv2d(yb.g, in, w.g, nil, sh.p) }
				}
				if err := l.g.SetPrecision(v.prec); err != nil {
					fmt.Fprintf(l.w, "%s %v: skipped: %v\n", op.op, v, err)
					continue
				}
				l.g.SetKernelVariant(v.kv)
				tol, eps := precTol(v.prec, op.k)
				if op.op != "conv_wgrad" {
					tol /= 2 // as kernels/parity/conv_test.go
				}
				if v.bf16y {
					eps += 1.0 / 128 // one bfloat16 ulp: a sum may round to the neighbouring bfloat16
				}
				label := fmt.Sprintf("%-10s %s", op.op, v)
				ms := l.measure(label, []pair{out}, tol, eps, run, flops, 0, v.prec)
				if v.prec != engine.FP32 && !v.bf16x && !v.bf16y && ms > 0 { // the table's tiles: float32 tensors
					l.timings = append(l.timings, timing{op.op, v.prec, v.kv, op.fill, ms})
				}
			}
		}
	}
}

// ---- GEMMs ---------------------------------------------------------------

var gemmVariants = []variant{{0, engine.FP32, "", false, false}, {1, engine.TF32, "l", false, false},
	{2, engine.TF32, "s", false, false}, {3, engine.BF16, "l", false, false}, {4, engine.BF16, "s", false, false}}

func (l *lab) gemms() {
	defer l.g.SetKernelVariant(l.g.SetKernelVariant(""))
	defer l.g.SetPrecision(l.g.Precision())
	shapes := []struct {
		name    string
		m, n, k int
		tb      bool
	}{{"4096^3", 4096, 4096, 4096, false}, {"1024^3", 1024, 1024, 1024, false},
		{"vit qkv 12608x2304x768", 12608, 2304, 768, true}, {"baseline fc1 64x128x9216", 64, 128, 9216, true}}
	if l.o.tiny {
		shapes = shapes[:0]
		shapes = append(shapes, struct {
			name    string
			m, n, k int
			tb      bool
		}{"64^3", 64, 64, 64, false}, struct {
			name    string
			m, n, k int
			tb      bool
		}{"ragged 37x29x19 (b transposed)", 37, 29, 19, true})
	}
	for _, sh := range shapes {
		a := l.rand(1, sh.m, sh.k)
		bs := []int{sh.k, sh.n}
		if sh.tb {
			bs = []int{sh.n, sh.k}
		}
		bm, c := l.rand(1, bs...), l.zeros(sh.m, sh.n)
		l.c.MatMul(c.c, a.c, bm.c, false, sh.tb)
		flops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k)
		fmt.Fprintf(l.w, "-- gemm %s (%.2f GFLOP)\n", sh.name, flops/1e9)
		fill := float64(tiles(sh.m, sh.n)) / float64(l.sms)
		for _, v := range gemmVariants {
			if err := l.g.SetPrecision(v.prec); err != nil {
				fmt.Fprintf(l.w, "gemm %v: skipped: %v\n", v, err)
				continue
			}
			l.g.SetKernelVariant(v.kv)
			tol, eps := precTol(v.prec, sh.k)
			name := strings.Replace(v.String(), "igemm", "tc", 1)
			if v.prec == engine.FP32 {
				name = "v0 fp32 simt 128/64"
			}
			ms := l.measure(fmt.Sprintf("%-10s %s", "gemm", name), []pair{c}, tol, eps,
				func() { l.g.MatMul(c.g, a.g, bm.g, false, sh.tb) }, flops, 0, v.prec)
			if v.prec != engine.FP32 && ms > 0 {
				l.timings = append(l.timings, timing{"gemm", v.prec, v.kv, fill, ms})
			}
		}
	}
}

// ---- memory-bound families -----------------------------------------------

func (l *lab) memShape() []int {
	if l.o.tiny {
		return []int{2, 8, 6, 6}
	}
	return []int{64, 64, 28, 28}
}

func (l *lab) norms() {
	sh := l.memShape()
	n, ch := engine.Numel(sh), sh[1]
	x, gamma, beta := l.rand(1, sh...), l.rand(1, ch), l.rand(1, ch)
	dy := l.rand(1, sh...)
	y, mean, inv := l.zeros(sh...), l.zeros(ch), l.zeros(ch)
	rm, rv := l.zeros(ch), l.zeros(ch)
	dx, dg, db := l.zeros(sh...), l.zeros(ch), l.zeros(ch)
	fmt.Fprintf(l.w, "-- batch norm %v\n", sh)
	l.c.BatchNormTrain(y.c, mean.c, inv.c, rm.c, rv.c, x.c, gamma.c, beta.c, 0.1, 1e-5)
	l.c.BatchNormBackward(dx.c, dg.c, db.c, dy.c, x.c, gamma.c, mean.c, inv.c)
	l.measure("batchnorm_train v0 fp32", []pair{y, mean, inv}, 1e-5, 1e-4, func() {
		l.g.BatchNormTrain(y.g, mean.g, inv.g, rm.g, rv.g, x.g, gamma.g, beta.g, 0.1, 1e-5)
	}, 0, 2*4*float64(n), engine.FP32)
	l.measure("batchnorm_backward v0 fp32", []pair{dx, dg, db}, 1e-4, 1e-4, func() {
		l.g.BatchNormBackward(dx.g, dg.g, db.g, dy.g, x.g, gamma.g, mean.g, inv.g)
	}, 0, 3*4*float64(n), engine.FP32)
	// The fused batch norm + ReLU with its output y in float32 (v1) and in
	// bfloat16 (v2: a convolution operand at -precision bf16, the _ybf16
	// kernels), forward and backward (y read back as the ReLU's mask).
	yr, dxr := l.zeros(sh...), l.zeros(sh...)
	l.c.BatchNormReluTrain(yr.c, mean.c, inv.c, rm.c, rv.c, x.c, gamma.c, beta.c, 0.1, 1e-5)
	l.c.BatchNormReluBackward(dxr.c, dg.c, db.c, dy.c, yr.c, x.c, gamma.c, mean.c, inv.c)
	y16 := pair{l.toBF16(yr), yr.c}
	l.measure("batchnorm_relu_train v1 fp32", []pair{yr, mean, inv}, 1e-5, 1e-4, func() {
		l.g.BatchNormReluTrain(yr.g, mean.g, inv.g, rm.g, rv.g, x.g, gamma.g, beta.g, 0.1, 1e-5)
	}, 0, 2*4*float64(n), engine.FP32)
	// bfloat16 y against the float32 reference: within half an ulp (2^-8).
	l.measure("batchnorm_relu_train v2 ybf16", []pair{y16, mean, inv}, 1e-5, 1.0/256, func() {
		l.g.BatchNormReluTrain(y16.g, mean.g, inv.g, rm.g, rv.g, x.g, gamma.g, beta.g, 0.1, 1e-5)
	}, 0, (4+2)*float64(n), engine.FP32)
	l.measure("batchnorm_relu_backward v1 fp32", []pair{dxr, dg, db}, 1e-4, 1e-4, func() {
		l.g.BatchNormReluBackward(dxr.g, dg.g, db.g, dy.g, yr.g, x.g, gamma.g, mean.g, inv.g)
	}, 0, 4*4*float64(n), engine.FP32)
	l.measure("batchnorm_relu_backward v2 ybf16", []pair{dxr, dg, db}, 1e-4, 1e-4, func() {
		l.g.BatchNormReluBackward(dxr.g, dg.g, db.g, dy.g, y16.g, x.g, gamma.g, mean.g, inv.g)
	}, 0, (3*4+2)*float64(n), engine.FP32)
}

func (l *lab) pools() {
	sh := l.memShape()
	x := l.rand(1, sh...)
	pp := engine.Pool2dParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	oh, ow := engine.ConvOut(sh[2], 2, 2, 0), engine.ConvOut(sh[3], 2, 2, 0)
	out := []int{sh[0], sh[1], oh, ow}
	y, ya := l.zeros(out...), l.zeros(out...)
	dy := l.rand(1, out...)
	dx := l.zeros(sh...)
	ig, _ := l.g.Alloc(engine.Int32, engine.Numel(out))
	ic, _ := l.c.Alloc(engine.Int32, engine.Numel(out))
	idx := pair{engine.NewTensor("idx", ig, 0, out...), engine.NewTensor("idx", ic, 0, out...)}
	n, m := float64(engine.Numel(sh)), float64(engine.Numel(out))
	fmt.Fprintf(l.w, "-- pooling 2x2/2 %v\n", sh)
	l.c.MaxPool2d(y.c, idx.c, x.c, pp)
	l.c.MaxPool2dBackward(dx.c, dy.c, idx.c)
	l.c.AvgPool2d(ya.c, x.c, pp)
	l.measure("maxpool v0 fp32", []pair{y}, 0, 0, func() { l.g.MaxPool2d(y.g, idx.g, x.g, pp) }, 0, 4*(n+2*m), engine.FP32)
	l.measure("maxpool_backward v0 fp32", []pair{dx}, 0, 0, func() { l.g.MaxPool2dBackward(dx.g, dy.g, idx.g) }, 0,
		4*(n+2*m), engine.FP32)
	l.measure("avgpool v0 fp32", []pair{ya}, 1e-6, 1e-6, func() { l.g.AvgPool2d(ya.g, x.g, pp) }, 0, 4*(n+m), engine.FP32)
}

func (l *lab) elementwise() {
	sh := l.memShape()
	a, b := l.rand(1, sh...), l.rand(1, sh...)
	y, r := l.zeros(sh...), l.zeros(sh...)
	n := float64(engine.Numel(sh))
	fmt.Fprintf(l.w, "-- elementwise %v\n", sh)
	l.c.Add(y.c, a.c, b.c)
	l.c.Relu(r.c, a.c)
	l.measure("add v0 fp32", []pair{y}, 0, 0, func() { l.g.Add(y.g, a.g, b.g) }, 0, 3*4*n, engine.FP32)
	l.measure("relu v0 fp32", []pair{r}, 0, 0, func() { l.g.Relu(r.g, a.g) }, 0, 2*4*n, engine.FP32)
}

// ---- the variant table ----------------------------------------------------

// table writes cuda/variants.tsv's format from the conv and gemm timings:
// per op and precision, the smallest fill from which the large tile was at
// least as fast as the small one on every swept shape at or above it (the
// small tile below), and im2col first where it beat both tiles on every
// shape.
func (l *lab) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# gotrain kernel variant table, measured by cmd/kernellab on %s (%d SMs), %s.\n", l.g.Name(), l.sms,
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "# Peaks in the same run: mma.sync TF32 %.1f TFLOP/s, BF16 %.1f TFLOP/s, device copy %.1f GB/s.\n",
		l.tf32, l.bf16, l.copyGBs)
	if l.o.tiny {
		b.WriteString("# -tiny: small problems (a smoke test); not a measurement to commit.\n")
	}
	b.WriteString("#\n# Columns: op, precision, fill (large 128x64 tiles per SM from which the row applies), variant (l, s, im2col).\n# The first matching row wins; a launch no row matches runs s.\n")
	for _, op := range []string{"gemm", "conv_fwd", "conv_dgrad", "conv_wgrad"} {
		for _, p := range []engine.Precision{engine.TF32, engine.BF16} {
			// shape key: fill (distinct per shape in practice) -> variant -> ms
			byFill := map[float64]map[string]float64{}
			for _, t := range l.timings {
				if t.op == op && t.prec == p {
					if byFill[t.fill] == nil {
						byFill[t.fill] = map[string]float64{}
					}
					byFill[t.fill][t.variant] = t.ms
				}
			}
			if len(byFill) == 0 {
				continue
			}
			fills := make([]float64, 0, len(byFill))
			for f := range byFill {
				fills = append(fills, f)
			}
			sort.Sort(sort.Reverse(sort.Float64Slice(fills)))
			im2colAll := op != "gemm"
			threshold := math.Inf(1)
			for _, f := range fills {
				v := byFill[f]
				if im, ok := v["im2col"]; !ok || im >= v["l"] || im >= v["s"] {
					im2colAll = false
				}
			}
			for _, f := range fills { // descending: extend while l keeps winning
				v := byFill[f]
				if v["l"] > v["s"] {
					break
				}
				threshold = f
			}
			if im2colAll {
				fmt.Fprintf(&b, "%s\t%v\t0\tim2col\n", op, p)
				continue
			}
			if !math.IsInf(threshold, 1) {
				fmt.Fprintf(&b, "%s\t%v\t%.3g\tl\n", op, p, threshold)
			}
			fmt.Fprintf(&b, "%s\t%v\t0\ts\n", op, p)
		}
	}
	return b.String()
}
