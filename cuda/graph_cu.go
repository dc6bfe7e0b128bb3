//go:build cuda

package cuda

/*
#cgo LDFLAGS: -lcuda
#include <stdlib.h>
#include <cuda.h>

// gt_launch launches fn on stream with the kernel parameters in argp (an
// array of pointers into argv, both C memory allocated once).
static CUresult gt_launch(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                          unsigned shmem, CUstream stream, void** argp) {
	return cuLaunchKernel(fn, gx, gy, gz, bx, by, bz, shmem, stream, argp, NULL);
}

static CUresult gt_begin_capture(CUstream s) {
	// Global mode: a call anywhere in the process that is unsafe during a
	// capture (a synchronisation, an allocation) fails instead of racing it.
	return cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

static CUresult gt_end_capture(CUstream s, CUgraph* g) { return cuStreamEndCapture(s, g); }

static CUresult gt_instantiate(CUgraphExec* exec, CUgraph g) {
#if CUDA_VERSION >= 11040
	return cuGraphInstantiateWithFlags(exec, g, 0);
#else
	return cuGraphInstantiate(exec, g, NULL, NULL, 0);
#endif
}

static CUresult gt_graph_launch(CUgraphExec exec, CUstream s) { return cuGraphLaunch(exec, s); }
static CUresult gt_graph_exec_destroy(CUgraphExec exec) { return cuGraphExecDestroy(exec); }
static CUresult gt_graph_destroy(CUgraph g) { return cuGraphDestroy(g); }

static const char* gt_error_name(CUresult r) {
	const char* s = NULL;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL) return "unknown CUDA error";
	return s;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// The CUDA driver calls gorgonia.org/cu v0.9.6 does not wrap: stream
// capture, graph instantiation and launch, and a kernel launch whose
// argument arrays live in C memory allocated once (cu's Launch allocates
// and frees two arrays per launch). Called from the OS thread that owns
// the context, like every driver call.

func cuResult(what string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("%s: %s (%d)", what, C.GoString(C.gt_error_name(r)), int(r))
}

// cStream is the CUstream inside a cu.Stream (a struct of one C handle).
func cStream(s cu.Stream) C.CUstream { return *(*C.CUstream)(unsafe.Pointer(&s)) }

// cFunction is the CUfunction inside a cu.Function.
func cFunction(f cu.Function) C.CUfunction { return *(*C.CUfunction)(unsafe.Pointer(&f)) }

// launchArgs is the C memory a launch passes its parameters in: maxArgs
// 8-byte slots and an array of pointers to them.
type launchArgs struct {
	argv *[maxArgs]uint64
	argp *[maxArgs]unsafe.Pointer
}

func newLaunchArgs() launchArgs {
	a := launchArgs{
		argv: (*[maxArgs]uint64)(C.calloc(maxArgs, 8)),
		argp: (*[maxArgs]unsafe.Pointer)(C.calloc(maxArgs, C.size_t(unsafe.Sizeof(unsafe.Pointer(nil))))),
	}
	for i := range a.argp {
		a.argp[i] = unsafe.Pointer(&a.argv[i])
	}
	return a
}

func (a *launchArgs) free() {
	if a.argv != nil {
		C.free(unsafe.Pointer(a.argv))
		C.free(unsafe.Pointer(a.argp))
		a.argv, a.argp = nil, nil
	}
}

func cuLaunch(fn cu.Function, grid, block dim3, shmem int, s cu.Stream, a launchArgs) error {
	return cuResult("cuLaunchKernel", C.gt_launch(cFunction(fn), C.uint(grid.x), C.uint(grid.y), C.uint(grid.z),
		C.uint(block.x), C.uint(block.y), C.uint(block.z), C.uint(shmem), cStream(s), (*unsafe.Pointer)(unsafe.Pointer(a.argp))))
}

// cuGraph is a captured and instantiated graph.
type cuGraph struct {
	g    C.CUgraph
	exec C.CUgraphExec
}

func cuBeginCapture(s cu.Stream) error {
	return cuResult("cuStreamBeginCapture", C.gt_begin_capture(cStream(s)))
}

// cuEndCapture ends the capture and instantiates the graph.
func cuEndCapture(s cu.Stream) (*cuGraph, error) {
	g := &cuGraph{}
	if err := cuResult("cuStreamEndCapture", C.gt_end_capture(cStream(s), &g.g)); err != nil {
		if g.g != nil {
			C.gt_graph_destroy(g.g)
		}
		return nil, err
	}
	if err := cuResult("cuGraphInstantiate", C.gt_instantiate(&g.exec, g.g)); err != nil {
		C.gt_graph_destroy(g.g)
		return nil, err
	}
	return g, nil
}

func (g *cuGraph) launch(s cu.Stream) error {
	return cuResult("cuGraphLaunch", C.gt_graph_launch(g.exec, cStream(s)))
}

func (g *cuGraph) destroy() error {
	err := cuResult("cuGraphExecDestroy", C.gt_graph_exec_destroy(g.exec))
	if e := cuResult("cuGraphDestroy", C.gt_graph_destroy(g.g)); err == nil {
		err = e
	}
	return err
}
