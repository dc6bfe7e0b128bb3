package gpuinfo

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCUDAVersion(t *testing.T) {
	for _, tc := range []struct {
		in   int
		want string
	}{{12020, "12.2"}, {11080, "11.8"}, {13000, "13.0"}, {0, ""}} {
		require.Equal(t, tc.want, cudaVersion(tc.in), "%d", tc.in)
	}
}

// TestListHere lists this machine's GPUs: without a driver the error says so.
func TestListHere(t *testing.T) {
	devs, drv, err := List()
	if err != nil {
		require.True(t, isNoDriverOrNoCgo(err), "%v", err)
		require.Empty(t, devs)
		return
	}
	require.NotEmpty(t, drv.Version)
	for i, d := range devs {
		require.Equal(t, i, d.Index)
		require.NotEmpty(t, d.Name)
		require.LessOrEqual(t, d.MemoryFree, d.MemoryTotal)
		require.Positive(t, d.ComputeCapability.Major)
	}
}
