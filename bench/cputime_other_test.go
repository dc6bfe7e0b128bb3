//go:build !unix

package bench

// cpuSeconds is 0 where getrusage is not available: no img/cpu-s metric.
func cpuSeconds() float64 { return 0 }
