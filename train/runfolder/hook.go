package runfolder

import (
	"os"
	"strings"
	"syscall"
)

// Test hooks, read from the environment so that tests can drive a real
// gotrain process; unset (always, outside tests) they cost a string compare.
//
//	GOTRAIN_TEST_KILL=POINT   the process kills itself (SIGKILL) at POINT,
//	                          e.g. "wrote:last.safetensors@2" (see killPoint)
//	GOTRAIN_TEST_FAIL=SUFFIX  writing a file whose path ends in SUFFIX fails
//	                          as a full disk does (ENOSPC)
var (
	killAt = os.Getenv("GOTRAIN_TEST_KILL")
	failAt = os.Getenv("GOTRAIN_TEST_FAIL")
)

// KillPoints are the named points of an epoch's commit, in order, where a
// test may kill the process (GOTRAIN_TEST_KILL=POINT@EPOCH).
var KillPoints = []string{
	"begin",
	"wrote:" + MetricsJSONL, "wrote:" + MetricsCSV, "wrote:" + LastWeights, "wrote:" + BestWeights, "wrote:" + StateFile,
	"synced", "committed",
	"published:" + MetricsJSONL, "published:" + MetricsCSV, "published:" + LastWeights, "published:" + BestWeights, "published:" + StateFile,
	"cleaned",
}

// killPoint kills the process when GOTRAIN_TEST_KILL names point.
func killPoint(point string) {
	if killAt != "" && killAt == point {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// injected fails a write of path when GOTRAIN_TEST_FAIL names it.
func injected(path string) error {
	if failAt != "" && strings.HasSuffix(path, failAt) {
		return syscall.ENOSPC
	}
	return nil
}
