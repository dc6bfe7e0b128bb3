//go:build cgo && race

package emu

// raceEnabled: the race detector runs, and launches run on the calling
// thread (emu_set_inline).
const raceEnabled = true
