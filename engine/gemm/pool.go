package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// job is one parallel multiplication. Tiles are claimed dynamically; which
// goroutine computes a tile does not affect the result.
type job struct {
	p      problem
	ntiles int64
	next   atomic.Int64 // next tile to claim
	done   atomic.Int64 // tiles finished
	refs   atomic.Int32 // caller + helpers still holding the job
	fin    chan struct{}
}

var (
	jobPool = sync.Pool{New: func() any { return &job{fin: make(chan struct{}, 1)} }}
	bufPool = sync.Pool{New: func() any { return newBuffers() }}

	// workCh feeds jobs to the persistent helper goroutines.
	workCh    = make(chan *job, 64)
	workersMu sync.Mutex
	nworkers  atomic.Int32
)

// ensureWorkers starts helper goroutines until there are at least n.
// Helpers live for the life of the process, each with its own buffers.
func ensureWorkers(n int) {
	if int(nworkers.Load()) >= n {
		return
	}
	workersMu.Lock()
	defer workersMu.Unlock()
	for int(nworkers.Load()) < n {
		nworkers.Add(1)
		go worker()
	}
}

// spinWait is how long an idle helper keeps polling for work before it
// blocks. Waking a parked thread costs tens of microseconds (more in a VM),
// which matters for the many sub-millisecond multiplications of training.
const spinWait = 200 * time.Microsecond

func worker() {
	buf := newBuffers()
	for {
		j := <-workCh
		for j != nil {
			j.work(buf)
			j.release()
			j = spin()
		}
	}
}

// spin polls workCh for up to spinWait, yielding the processor between
// polls; it returns nil if no job arrived.
func spin() *job {
	start := time.Now()
	for {
		select {
		case j := <-workCh:
			return j
		default:
		}
		if time.Since(start) > spinWait {
			return nil
		}
		runtime.Gosched()
	}
}

// work computes tiles until none are left to claim.
func (j *job) work(buf *buffers) {
	for {
		t := j.next.Add(1) - 1
		if t >= j.ntiles {
			return
		}
		j.p.tile(int(t), buf)
		if j.done.Add(1) == j.ntiles {
			j.fin <- struct{}{}
		}
	}
}

// release drops one reference; the last one recycles the job.
func (j *job) release() {
	if j.refs.Add(-1) == 0 {
		j.p = problem{}
		jobPool.Put(j)
	}
}

// runParallel computes all tiles of p on the caller and up to
// GOMAXPROCS-1 idle helpers.
func runParallel(p *problem, ntiles int) {
	helpers := min(runtime.GOMAXPROCS(0), ntiles) - 1
	ensureWorkers(helpers)
	j := jobPool.Get().(*job)
	j.p = *p
	j.ntiles = int64(ntiles)
	j.next.Store(0)
	j.done.Store(0)
	j.refs.Store(int32(helpers + 1))
	sent := 0
send:
	for sent < helpers {
		select {
		case workCh <- j:
			sent++
		default:
			break send // queue full: the caller and others will do the work
		}
	}
	if sent < helpers {
		j.refs.Add(int32(sent - helpers)) // cannot reach 0: the caller holds one
	}
	buf := bufPool.Get().(*buffers)
	j.work(buf)
	bufPool.Put(buf)
	<-j.fin
	j.release()
}
