package figures

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot"
)

// labelled returns the labels of the labelled ticks of tk over [lo, hi].
func labelled(tk plot.Ticker, lo, hi float64) []string {
	var out []string
	for _, t := range tk.Ticks(lo, hi) {
		if t.Label != "" {
			out = append(out, t.Label)
		}
	}
	return out
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ticks  func() []string
		labels []string
	}{
		{"1 epoch", func() []string { return labelled(epochTicks{15}, 0.5, 1.5) }, []string{"1"}},
		{"10 epochs", func() []string { return labelled(epochTicks{15}, 0.5, 10.5) }, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}},
		{"30 epochs", func() []string { return labelled(epochTicks{15}, 0.5, 30.5) }, []string{"2", "4", "6", "8", "10", "12", "14", "16", "18", "20", "22", "24", "26", "28", "30"}},
		{"100 epochs", func() []string { return labelled(epochTicks{15}, 0.5, 100.5) }, []string{"10", "20", "30", "40", "50", "60", "70", "80", "90", "100"}},
		{"loss", func() []string { return labelled(niceTicks{n: 6}, 0, 0.5) }, []string{"0.0", "0.1", "0.2", "0.3", "0.4", "0.5"}},
		{"accuracy", func() []string { return labelled(niceTicks{n: 5}, 0.9495, 0.9535) }, []string{"0.950", "0.951", "0.952", "0.953"}},
		{"accuracy 2.5", func() []string { return labelled(niceTicks{n: 4}, 0.9, 1) }, []string{"0.900", "0.925", "0.950", "0.975", "1.000"}},
		{"counts", func() []string { return labelled(niceTicks{n: 6, integer: true}, 0, 1135) }, []string{"0", "200", "400", "600", "800", "1000"}},
		{"few counts", func() []string { return labelled(niceTicks{n: 6, integer: true}, 0, 3) }, []string{"0", "1", "2", "3"}},
		{"zero counts", func() []string { return labelled(niceTicks{n: 6, integer: true}, 0, 1) }, []string{"0", "1"}},
		{"empty range", func() []string { return labelled(niceTicks{n: 6}, 1, 1) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.labels, tc.ticks())
		})
	}
}
