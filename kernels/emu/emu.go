//go:build cgo

// Package emu runs gotrain's CUDA kernels on the CPU: kernels/*.cu compiled
// by g++ with emu.h, which gives a kernel what CUDA C does (thread and block
// indices, __shared__ memory per block, __syncthreads, warp shuffles, votes
// and __match_any_sync with their masks, atomics, the math intrinsics) and C
// versions of the inline PTX of kernels/device.cuh (mma.sync TF32 m16n8k8
// and BF16 m16n8k16 with their fragment layouts, cvt.rna.tf32.f32,
// ldmatrix, cp.async with its groups), following the PTX ISA.
//
// A launch runs its blocks in a shuffled order on a few worker threads, and
// a block's threads as fibers that each run until a barrier or a warp
// collective, in an order shuffled every round: a missing __syncthreads
// reads data not yet written (or last block's), and the test that checks
// the result fails. Barriers and collectives that cannot complete (a
// deadlock, lanes at different collectives, a lane that exited) fail the
// launch with the block and thread. Memory is C heap blocks with red zones
// of 0xff bytes (NaN as float32): a read past the end of an allocation
// reads NaN, and a write there fails the launch that made it.
//
// The CUDA engine (package cuda) runs on this emulator when it is built
// without the cuda tag, so its argument packing, grid shapes and scratch
// handling are tested on every machine. The emulator needs cgo and a C++
// compiler; the kernel tables (kernels_*.cc, register.cc) are generated
// from the kernels' sources and PTX by `go generate` (make ptx runs it).
package emu

/*
#cgo CXXFLAGS: -std=c++17 -O2 -fno-strict-aliasing -Wno-unknown-pragmas
#cgo LDFLAGS: -lstdc++ -lpthread
#include <stdlib.h>
#include "emu_api.h"
*/
import "C"

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"unsafe"
)

//go:generate go run ./gen .

// Kernel is one emulated kernel.
type Kernel struct {
	Name string
	// Sig has one letter per parameter: p (pointer or 64-bit integer), i
	// (32-bit integer), f (float32), d (float64), as kernels.Sig.
	Sig string
	id  C.int
}

var (
	initOnce sync.Once
	table    []Kernel
	byName   map[string]Kernel
)

func load() {
	initOnce.Do(func() {
		if raceEnabled {
			C.emu_set_inline(1)
		}
		C.emu_register_all()
		n := int(C.emu_kernel_count())
		byName = make(map[string]Kernel, n)
		for i := 0; i < n; i++ {
			k := Kernel{Name: C.GoString(C.emu_kernel_name(C.int(i))), Sig: C.GoString(C.emu_kernel_sig(C.int(i))), id: C.int(i)}
			table = append(table, k)
			byName[k.Name] = k
		}
	})
}

// Kernels lists every emulated kernel (the self-test kernels, named
// emutest_*, included), in registration order.
func Kernels() []Kernel {
	load()
	return append([]Kernel(nil), table...)
}

// Lookup finds a kernel by name.
func Lookup(name string) (Kernel, bool) {
	load()
	k, ok := byName[name]
	return k, ok
}

// ---- memory ------------------------------------------------------------------

type block struct {
	p     uint64
	bytes int64
}

var (
	memMu  sync.Mutex
	blocks []block // sorted by p
	held   int64
)

// Alloc returns a zero-filled block of bytes (256-byte aligned, red zones
// around it).
func Alloc(bytes int64) (uint64, error) {
	if bytes < 0 {
		return 0, fmt.Errorf("emu: alloc of %d bytes", bytes)
	}
	p := uint64(C.emu_alloc(C.size_t(bytes)))
	if p == 0 {
		return 0, fmt.Errorf("emu: out of memory allocating %d bytes", bytes)
	}
	memMu.Lock()
	defer memMu.Unlock()
	i := sort.Search(len(blocks), func(i int) bool { return blocks[i].p > p })
	blocks = append(blocks, block{})
	copy(blocks[i+1:], blocks[i:])
	blocks[i] = block{p, bytes}
	held += bytes
	return p, nil
}

// Free releases a block from Alloc, failing if its red zones were written.
func Free(p uint64) error {
	memMu.Lock()
	i, ok := find(p)
	if !ok || blocks[i].p != p {
		memMu.Unlock()
		return fmt.Errorf("emu: free of %#x, which Alloc did not return", p)
	}
	b := blocks[i]
	blocks = append(blocks[:i], blocks[i+1:]...)
	held -= b.bytes
	memMu.Unlock()
	err := damage(b)
	C.emu_free(C.uint64_t(p))
	return err
}

// Held is the bytes allocated and not freed.
func Held() int64 {
	memMu.Lock()
	defer memMu.Unlock()
	return held
}

// find returns the block holding address p (one past its end included).
// memMu must be held.
func find(p uint64) (int, bool) {
	i := sort.Search(len(blocks), func(i int) bool { return blocks[i].p > p }) - 1
	if i < 0 || p > blocks[i].p+uint64(blocks[i].bytes) {
		return i, false
	}
	return i, true
}

// Owner returns the start and size of the allocation holding p.
func Owner(p uint64) (start uint64, bytes int64, ok bool) {
	memMu.Lock()
	defer memMu.Unlock()
	i, ok := find(p)
	if !ok {
		return 0, 0, false
	}
	return blocks[i].p, blocks[i].bytes, true
}

func damage(b block) error {
	if off := int64(C.emu_redzone_damage(C.uint64_t(b.p), C.size_t(b.bytes))); off != 0 {
		where := "past its end"
		if off < 0 {
			where = "before its start"
		}
		return fmt.Errorf("a write %s: byte %d of the %d-byte allocation at %#x", where, off, b.bytes, b.p)
	}
	return nil
}

// check must pass a range of bytes inside one allocation.
func check(what string, p uint64, bytes int64) error {
	memMu.Lock()
	defer memMu.Unlock()
	i, ok := find(p)
	if !ok || p+uint64(bytes) > blocks[i].p+uint64(blocks[i].bytes) {
		return fmt.Errorf("emu: %s of %d bytes at %#x is outside every allocation", what, bytes, p)
	}
	return nil
}

// Memset32 sets n 32-bit words at p to v.
func Memset32(p uint64, v uint32, n int64) error {
	if err := check("memset", p, 4*n); err != nil {
		return err
	}
	C.emu_memset32(C.uint64_t(p), C.uint32_t(v), C.size_t(n))
	return nil
}

// CopyIn copies bytes from host memory src to p.
func CopyIn(p uint64, src unsafe.Pointer, bytes int64) error {
	if err := check("copy to device", p, bytes); err != nil {
		return err
	}
	C.emu_copy_in(C.uint64_t(p), src, C.size_t(bytes))
	return nil
}

// CopyOut copies bytes at p to host memory dst.
func CopyOut(dst unsafe.Pointer, p uint64, bytes int64) error {
	if err := check("copy from device", p, bytes); err != nil {
		return err
	}
	C.emu_copy_out(dst, C.uint64_t(p), C.size_t(bytes))
	return nil
}

// Copy copies bytes from src to dst (both allocated).
func Copy(dst, src uint64, bytes int64) error {
	if err := check("copy destination", dst, bytes); err != nil {
		return err
	}
	if err := check("copy source", src, bytes); err != nil {
		return err
	}
	C.emu_copy(C.uint64_t(dst), C.uint64_t(src), C.size_t(bytes))
	return nil
}

// ---- launches ------------------------------------------------------------------

// Launch runs kernel k over grid blocks of threads with shmem bytes of dynamic
// shared memory and the arguments in 8-byte slots (as cuLaunchKernel reads
// them), and returns when every block has run. Every pointer argument must
// be 0 or inside an allocation, and afterwards the red zones of the
// allocations the pointers name must be intact. seed shuffles the order of
// blocks and threads.
func Launch(k Kernel, grid, threads [3]int, shmem int, args []uint64, seed uint64) error {
	if len(args) != len(k.Sig) {
		return fmt.Errorf("%s takes %d parameters (%s), launched with %d", k.Name, len(k.Sig), k.Sig, len(args))
	}
	var owners []block
	memMu.Lock()
	for i, a := range args {
		if k.Sig[i] != 'p' || a == 0 {
			continue
		}
		j, ok := find(a)
		if !ok {
			memMu.Unlock()
			return fmt.Errorf("%s: parameter %d is a pointer, and %#x is in no allocation", k.Name, i, a)
		}
		owners = append(owners, blocks[j])
	}
	memMu.Unlock()
	for _, v := range append(grid[:], threads[:]...) {
		if v <= 0 || v > 1<<31-1 {
			return fmt.Errorf("%s: grid %v block %v", k.Name, grid, threads)
		}
	}
	if shmem < 0 {
		return fmt.Errorf("%s: %d bytes of shared memory", k.Name, shmem)
	}
	var errbuf [512]C.char
	var argp *C.uint64_t
	if len(args) > 0 {
		argp = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	rc := C.emu_launch(k.id, C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]), C.uint(threads[0]), C.uint(threads[1]), C.uint(threads[2]),
		C.uint(shmem), argp, C.int(len(args)), C.uint64_t(seed), &errbuf[0], C.int(len(errbuf)))
	if rc != 0 {
		return fmt.Errorf("%s", C.GoString(&errbuf[0]))
	}
	for _, b := range owners {
		if err := damage(b); err != nil {
			return fmt.Errorf("%s: %w", k.Name, err)
		}
	}
	return nil
}

// tf32Emu is the emulator's cvt.rna.tf32.f32 (for its test).
func tf32Emu(x float32) float32 { return math.Float32frombits(uint32(C.emu_tf32(C.float(x)))) }

// repairRedzone restores the red zones of the allocation at p (for tests
// that damage them on purpose).
func repairRedzone(p uint64, bytes int64) { C.emu_repair_redzone(C.uint64_t(p), C.size_t(bytes)) }
