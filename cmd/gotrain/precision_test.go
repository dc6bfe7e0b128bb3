package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// -precision on a device opened by auto: the CPU engine (this test's build
// without a GPU) refuses tf32 and bf16 with one line and accepts fp32 and
// auto.
func TestOpenDevicePrecision(t *testing.T) {
	if cudaBuilt() {
		t.Skip("a CUDA build: auto opens the GPU")
	}
	for _, p := range []string{"auto", "fp32"} {
		be, err := openDevice("auto", 1, p)
		require.NoError(t, err, p)
		require.Contains(t, be.Name(), "cpu")
	}
	for _, p := range []string{"tf32", "bf16"} {
		_, err := openDevice("auto", 1, p)
		require.ErrorContains(t, err, "-precision "+p+" needs a GPU's tensor cores")
		require.ErrorContains(t, err, "use -precision fp32")
	}
}
