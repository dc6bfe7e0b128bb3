package engine

import "errors"

// ErrStaleGraph is what Graph.Launch returns when memory the graph's
// kernels use was reallocated since the capture (a scratch buffer grew for
// a larger op outside the graph): capture the ops again.
var ErrStaleGraph = errors.New("the graph is stale: a scratch buffer it uses was reallocated since the capture; capture it again")

// Graph is a captured sequence of a backend's ops (CUDA graphs), replayed
// as one launch. Arguments are frozen at capture: what changes between
// replays must live in device memory (the step variables, stepvars.go).
type Graph interface {
	// Launch queues one replay of the captured ops (ErrStaleGraph: capture
	// them again).
	Launch() error
	// Nodes is the number of ops (kernel launches, copies, fills) captured.
	Nodes() int
	// Close frees the graph.
	Close() error
}

// Capturer is a backend that can capture its ops into a Graph (the CUDA
// engine; the CPU engine has no graphs). Between BeginCapture and
// EndCapture ops are recorded, not run; an op that would allocate, copy
// to or from the host or wait for the device fails the capture.
type Capturer interface {
	BeginCapture() error
	EndCapture() (Graph, error)
}

// StepCounter is a backend that counts what it queues on the device and
// times it: the engine's launches (kernels, uploads, device copies and
// fills, a graph replay counting one; not the downloads the host waits
// for) and the device time between StartTiming and StopTiming.
type StepCounter interface {
	// Launches is the number of launches queued since the backend opened.
	Launches() int64
	// StartTiming records a device event at the current point of the stream.
	StartTiming() error
	// StopTiming records a second event, waits for it and returns the
	// device milliseconds since StartTiming.
	StopTiming() (float64, error)
}
