package gemm

import (
	"fmt"
	"os"
)

func init() {
	if v := os.Getenv("GEMM_MODES"); v != "" {
		fmt.Sscanf(v, "%d,%d,%d", &directAMode, &directBMode, &rowMajorMode)
	}
}
