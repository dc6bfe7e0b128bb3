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

// Free lists of jobs and packing buffers. Unlike a sync.Pool they are not
// per-P (a caller that blocks and resumes on another P still finds its
// buffers) and are not emptied by the garbage collector, so steady-state
// calls allocate nothing. They keep at most freeListCap entries: as many
// as the peak number of concurrent callers.
const freeListCap = 64

var (
	freeJobs = make(chan *job, freeListCap)
	freeBufs = make(chan *buffers, freeListCap)

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
	for i := 0; ; i++ {
		if len(workCh) > 0 {
			select {
			case j := <-workCh:
				return j
			default:
			}
		}
		if i%64 == 63 {
			if time.Since(start) > spinWait {
				return nil
			}
			runtime.Gosched()
		}
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
		select {
		case freeJobs <- j:
		default:
		}
	}
}

func getJob() *job {
	select {
	case j := <-freeJobs:
		return j
	default:
		return &job{fin: make(chan struct{}, 1)}
	}
}

func getBuffers() *buffers {
	select {
	case b := <-freeBufs:
		return b
	default:
		return newBuffers()
	}
}

func putBuffers(b *buffers) {
	select {
	case freeBufs <- b:
	default:
	}
}

// runParallel computes all tiles of p on the caller and up to
// GOMAXPROCS-1 idle helpers.
func runParallel(p *problem, ntiles int) {
	helpers := min(runtime.GOMAXPROCS(0), ntiles) - 1
	ensureWorkers(helpers)
	j := getJob()
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
	buf := getBuffers()
	j.work(buf)
	putBuffers(buf)
	// Wait for the helpers' last tiles by polling first: a caller that
	// parks is woken onto the finishing helper's P and pushes the helper
	// off it, so that the next call would run without it.
	for start := time.Now(); j.done.Load() < j.ntiles && time.Since(start) < spinWait; {
		runtime.Gosched()
	}
	<-j.fin
	j.release()
}
