//go:build cuda || cgo

package cuda

import (
	"fmt"
	"unsafe"

	"github.com/gotrain/gotrain/engine"
)

// What the kernel lab (cmd/kernellab) needs beyond the engine's ops: device
// timing of a piece of work, and the peaks it reports every kernel
// against, measured in the same run.

// Time runs fn reps times between two events and returns the device
// milliseconds per run (on the emulator: its wall time, meaningless as a
// GPU's).
func (b *Backend) Time(reps int, fn func()) (float64, error) {
	if reps < 1 {
		return 0, fmt.Errorf("time: %d repetitions", reps)
	}
	start, err := b.drv.newEvent()
	if err != nil {
		return 0, fmt.Errorf("time: make event: %w", err)
	}
	defer b.drv.destroyEvent(start)
	end, err := b.drv.newEvent()
	if err != nil {
		return 0, fmt.Errorf("time: make event: %w", err)
	}
	defer b.drv.destroyEvent(end)
	if err := b.drv.record(start); err != nil {
		return 0, fmt.Errorf("time: record: %w", err)
	}
	for i := 0; i < reps; i++ {
		fn()
	}
	if err := b.drv.record(end); err != nil {
		return 0, fmt.Errorf("time: record: %w", err)
	}
	if err := b.Sync(); err != nil {
		return 0, err
	}
	ms, err := b.drv.elapsed(start, end)
	if err != nil {
		return 0, fmt.Errorf("time: elapsed: %w", err)
	}
	return ms / float64(reps), nil
}

// MMAPeak launches the mma.sync peak microkernel of precision p (TF32 or
// BF16, kernels/lab.cu) on blocksPerSM blocks of 256 threads per SM, each
// warp running iters rounds of 8 mma.sync, checks every thread's sum, and
// returns its throughput in TFLOP/s (one timed launch after a warm-up).
func (b *Backend) MMAPeak(p engine.Precision, blocksPerSM, iters int) (float64, error) {
	kernel, k := "lab_mma_tf32", 8
	switch p {
	case engine.TF32:
	case engine.BF16:
		kernel, k = "lab_mma_bf16", 16
	default:
		return 0, fmt.Errorf("mma peak: %v has no tensor-core kernel", p)
	}
	if b.cc[0] < 8 {
		return 0, fmt.Errorf("mma peak: %s has compute capability %d.%d (tensor cores need 8.0)", b.name, b.cc[0], b.cc[1])
	}
	const threads, a = 256, 0.5
	grid := max(blocksPerSM, 1) * b.sms
	out, ok := b.scratchBuf("mma peak", scratchReduce, grid*threads)
	if !ok {
		return 0, b.err
	}
	run := func() {
		b.launch("mma peak", kernel, d1(grid), d1(threads), 0, dp(out), f32(a), i32(iters))
	}
	run()
	ms, err := b.Time(1, run)
	if err != nil {
		return 0, err
	}
	got := make([]float32, grid*threads)
	if err := b.drv.copyOut(unsafe.Pointer(unsafe.SliceData(got)), out, int64(len(got))*4); err != nil {
		return 0, fmt.Errorf("mma peak: download: %w", err)
	}
	want := float32(8*4*k*iters) * a
	for i, v := range got {
		if v != want {
			return 0, fmt.Errorf("mma peak %v: thread %d summed %g, want %g", p, i, v, want)
		}
	}
	flops := float64(grid*threads/32) * float64(iters) * 8 * 2 * 16 * 8 * float64(k)
	return flops / (ms * 1e-3) / 1e12, nil
}

// CopyPeak times a device-to-device copy of n floats (after a warm-up
// copy) and returns GB/s counting the bytes read and written.
func (b *Backend) CopyPeak(n, reps int) (float64, error) {
	st1, err := b.Alloc(engine.Float32, n)
	if err != nil {
		return 0, err
	}
	st2, err := b.Alloc(engine.Float32, n)
	if err != nil {
		return 0, err
	}
	src, dst := engine.NewTensor("copy src", st1, 0, n), engine.NewTensor("copy dst", st2, 0, n)
	b.Copy(dst, src)
	ms, err := b.Time(reps, func() { b.Copy(dst, src) })
	if err != nil {
		return 0, err
	}
	return 2 * 4 * float64(n) / (ms * 1e-3) / 1e9, nil
}
