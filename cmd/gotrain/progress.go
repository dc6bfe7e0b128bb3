package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// barProgress draws a progress bar per epoch on a terminal: batch i/n,
// images per second, the running loss, the ETA and, on a GPU, the device
// memory in use.
type barProgress struct {
	bar    *progressbar.ProgressBar
	start  time.Time
	epoch  int
	epochs int
	memory func() string // device memory in use; nil on the CPU
}

func (p *barProgress) Start(epoch, epochs, steps int) {
	p.epoch, p.epochs, p.start = epoch, epochs, time.Now()
	p.bar = progressbar.NewOptions(steps,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *barProgress) Update(step, images int, loss float32) {
	rate := float64(images) / time.Since(p.start).Seconds()
	desc := fmt.Sprintf("epoch %d/%d  loss %.4f  %.0f img/s", p.epoch, p.epochs, loss, rate)
	if p.memory != nil {
		desc += "  " + p.memory()
	}
	p.bar.Describe(desc)
	_ = p.bar.Set(step)
}

func (p *barProgress) Done() {
	_ = p.bar.Finish()
}
