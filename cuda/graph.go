//go:build cuda || cgo

package cuda

import (
	"errors"
	"fmt"

	"github.com/gotrain/gotrain/engine"
)

// Graph is a captured sequence of the backend's launches, copies and
// fills (a CUDA graph; on the emulator, the recorded operations), replayed
// by Launch as one launch. Kernel arguments are frozen at capture: what
// changes between replays lives in device memory (engine's step
// variables).
type Graph struct {
	b      *Backend
	id     graphID
	nodes  int
	gen    int // the backend's scratch generation at capture
	closed bool
}

// BeginCapture starts capturing the stream: until EndCapture, ops are
// recorded into a graph instead of run. Ops that allocate, copy to or from
// the host, synchronise or time fail the capture (the error surfaces at
// EndCapture): run one step uncaptured first, so that scratch buffers are
// allocated.
func (b *Backend) BeginCapture() error {
	if b.err != nil {
		return fmt.Errorf("cuda: begin capture: %w", b.err)
	}
	if b.capturing {
		return errors.New("cuda: begin capture: already capturing")
	}
	if b.prof != nil {
		return errors.New("cuda: begin capture: a profile is running (its events cannot be captured): stop it first")
	}
	if err := b.drv.beginCapture(); err != nil {
		return fmt.Errorf("cuda: begin capture on %s: %w", b.name, err)
	}
	b.capturing, b.captureNodes = true, 0
	return nil
}

// EndCapture ends the capture and returns the graph (an engine.Graph). An
// op that failed during the capture fails it.
func (b *Backend) EndCapture() (engine.Graph, error) {
	if !b.capturing {
		return nil, errors.New("cuda: end capture: not capturing")
	}
	b.capturing = false
	id, err := b.drv.endCapture()
	if b.err != nil {
		if err == nil {
			b.drv.graphDestroy(id)
		}
		return nil, fmt.Errorf("cuda: capture: %w", b.err)
	}
	if err != nil {
		return nil, fmt.Errorf("cuda: end capture on %s: %w", b.name, err)
	}
	return &Graph{b: b, id: id, nodes: b.captureNodes, gen: b.scratchGen}, nil
}

// Capturing reports whether a capture is in progress.
func (b *Backend) Capturing() bool { return b.capturing }

// Launch queues one replay of the graph on the backend's stream.
func (g *Graph) Launch() error {
	b := g.b
	if g.closed {
		return errors.New("cuda: graph launch: the graph was closed")
	}
	if b.err != nil {
		return b.err
	}
	if g.gen != b.scratchGen {
		return engine.ErrStaleGraph
	}
	if err := b.drv.graphLaunch(g.id); err != nil {
		b.fail("graph launch", "%v", err)
		return b.err
	}
	b.launches++
	return nil
}

// Nodes is the number of launches, copies and fills captured.
func (g *Graph) Nodes() int { return g.nodes }

// Close frees the graph.
func (g *Graph) Close() error {
	if g.closed {
		return nil
	}
	g.closed = true
	if !g.b.open {
		return nil
	}
	return g.b.drv.graphDestroy(g.id)
}

// queued counts one launch, copy or fill: into the graph being captured,
// or into Launches.
func (b *Backend) queued() {
	if b.capturing {
		b.captureNodes++
	} else {
		b.launches++
	}
}

// Launches is the number of kernel launches, uploads, device copies and
// fills the backend queued since it opened (a graph replay counts one;
// downloads, which the host waits for, do not count).
func (b *Backend) Launches() int64 { return b.launches }

// StartTiming records an event on the stream: StopTiming returns the
// device time since.
func (b *Backend) StartTiming() error {
	if b.timer[0] < 0 {
		for i := range b.timer {
			e, err := b.drv.newEvent()
			if err != nil {
				return fmt.Errorf("cuda: timing event: %w", err)
			}
			b.timer[i] = e
		}
	}
	if err := b.drv.record(b.timer[0]); err != nil {
		return fmt.Errorf("cuda: record timing event: %w", err)
	}
	return nil
}

// StopTiming records a second event, waits for the stream and returns the
// device milliseconds between the two events.
func (b *Backend) StopTiming() (float64, error) {
	if b.timer[0] < 0 {
		return 0, errors.New("cuda: stop timing: StartTiming was not called")
	}
	if err := b.drv.record(b.timer[1]); err != nil {
		return 0, fmt.Errorf("cuda: record timing event: %w", err)
	}
	if err := b.Sync(); err != nil {
		return 0, err
	}
	ms, err := b.drv.elapsed(b.timer[0], b.timer[1])
	if err != nil {
		return 0, fmt.Errorf("cuda: timing: %w", err)
	}
	return ms, nil
}

var (
	_ engine.Capturer    = (*Backend)(nil)
	_ engine.StepCounter = (*Backend)(nil)
	_ engine.Graph       = (*Graph)(nil)
)
