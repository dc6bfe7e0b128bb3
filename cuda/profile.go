//go:build cuda || cgo

package cuda

import (
	"fmt"
	"sort"
)

// A profile times every kernel launch between StartProfile and
// StopProfile with a pair of CUDA events, and sums the times per op and
// kernel. The events cost host time per launch: profile to see where the
// device's time goes, not to measure throughput.
type profile struct {
	events []event // start and end of launch i at 2i and 2i+1
	keys   []string
	n      int
}

// ProfileEntry is the device time of one op's kernel over a profile.
type ProfileEntry struct {
	Op, Kernel string
	Launches   int
	Millis     float64
}

// StartProfile starts timing every launch.
func (b *Backend) StartProfile() {
	if b.prof == nil {
		b.prof = &profile{}
	}
	b.prof.n = 0
	b.prof.keys = b.prof.keys[:0]
}

func (p *profile) before(d driver, op, kernel string) error {
	if 2*p.n+1 >= len(p.events) {
		for i := 0; i < 256; i++ {
			e, err := d.newEvent()
			if err != nil {
				return fmt.Errorf("profile: make event: %w", err)
			}
			p.events = append(p.events, e)
		}
	}
	p.keys = append(p.keys, op+"\x00"+kernel)
	return d.record(p.events[2*p.n])
}

func (p *profile) after(d driver) error {
	err := d.record(p.events[2*p.n+1])
	p.n++
	return err
}

// StopProfile waits for the queued work and returns the device time per
// op and kernel, largest first.
func (b *Backend) StopProfile() ([]ProfileEntry, error) {
	p := b.prof
	if p == nil {
		return nil, fmt.Errorf("profile: not started")
	}
	b.prof = nil
	if err := b.Sync(); err != nil {
		return nil, err
	}
	sum := map[string]*ProfileEntry{}
	for i := 0; i < p.n; i++ {
		ms, err := b.drv.elapsed(p.events[2*i], p.events[2*i+1])
		if err != nil {
			return nil, fmt.Errorf("profile: elapsed: %w", err)
		}
		e := sum[p.keys[i]]
		if e == nil {
			var op, k string
			for j := 0; j < len(p.keys[i]); j++ {
				if p.keys[i][j] == 0 {
					op, k = p.keys[i][:j], p.keys[i][j+1:]
				}
			}
			e = &ProfileEntry{Op: op, Kernel: k}
			sum[p.keys[i]] = e
		}
		e.Launches++
		e.Millis += ms
	}
	for _, e := range p.events {
		b.drv.destroyEvent(e)
	}
	out := make([]ProfileEntry, 0, len(sum))
	for _, e := range sum {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Millis > out[j].Millis })
	return out, nil
}
