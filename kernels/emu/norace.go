//go:build cgo && !race

package emu

const raceEnabled = false
