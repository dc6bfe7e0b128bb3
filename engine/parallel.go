package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// workers runs the chunks of a loop on a fixed set of goroutines. The chunk
// boundaries depend only on the loop's length and grain, never on the
// number of goroutines, so that anything computed per chunk (a partial sum)
// is the same whatever GOMAXPROCS is.
type workers struct {
	n    int
	jobs chan *job
	free sync.Pool
}

type job struct {
	fn     func(lo, hi int)
	n      int
	grain  int
	chunks int64
	next   atomic.Int64
	wg     sync.WaitGroup
}

func newWorkers(n int) *workers {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	w := &workers{n: n, jobs: make(chan *job, n)}
	w.free.New = func() any { return new(job) }
	for i := 1; i < n; i++ {
		go w.loop()
	}
	return w
}

func (w *workers) loop() {
	for j := range w.jobs {
		j.run()
		j.wg.Done()
	}
}

func (j *job) run() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.chunks {
			return
		}
		lo := int(c) * j.grain
		hi := min(lo+j.grain, j.n)
		j.fn(lo, hi)
	}
}

// chunks is the number of chunks For splits n into.
func chunks(n, grain int) int {
	if grain < 1 {
		grain = 1
	}
	return (n + grain - 1) / grain
}

// For calls fn(lo, hi) on the chunks [k·grain, min((k+1)·grain, n)) of
// [0, n), in parallel, and returns when all are done.
func (w *workers) For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	nc := chunks(n, grain)
	if nc == 1 || w.n == 1 {
		for lo := 0; lo < n; lo += grain {
			fn(lo, min(lo+grain, n))
		}
		return
	}
	j := w.free.Get().(*job)
	j.fn, j.n, j.grain, j.chunks = fn, n, grain, int64(nc)
	j.next.Store(0)
	helpers := min(w.n, nc) - 1
	j.wg.Add(helpers)
	for i := 0; i < helpers; i++ {
		w.jobs <- j
	}
	j.run()
	j.wg.Wait()
	j.fn = nil
	w.free.Put(j)
}

// grainFor picks a chunk size so that each chunk does about work units of
// cost each, given cost per item: a function of the problem only.
func grainFor(costPerItem, target int) int {
	if costPerItem < 1 {
		costPerItem = 1
	}
	g := target / costPerItem
	if g < 1 {
		g = 1
	}
	return g
}
