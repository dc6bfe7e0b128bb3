package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gotrain/gotrain/models"
)

// modelBytes is what spec at widths needs for batches of batch: what the
// model allocates (models.MemoryBytes: its pools, the activations planned)
// and, for training, room for two optimizer states per parameter
// (Adadelta's), with a tenth more for the engine's scratch. Building and
// planning declare tensors only: nothing is allocated.
func modelBytes(spec *models.Spec, widths models.Widths, batch int, train bool) (int64, error) {
	m, err := spec.BuildWidths(batch, widths)
	if err != nil {
		return 0, err
	}
	n, err := m.MemoryBytes(train)
	if err != nil {
		return 0, err
	}
	if train {
		n += 2 * m.Builder.Params.Bytes()
	}
	return n + n/10, nil
}

// availableMemory is the host memory this process may still use (a
// variable for tests).
var availableMemory = hostAvailable

// hostAvailable is the kernel's MemAvailable, less where a cgroup limits
// the process; ok is false when it cannot be told.
func hostAvailable() (int64, bool) {
	avail, ok := memInfo("MemAvailable")
	if max, err := readInt("/sys/fs/cgroup/memory.max"); err == nil {
		if cur, err := readInt("/sys/fs/cgroup/memory.current"); err == nil && (!ok || max-cur < avail) {
			avail, ok = max-cur, true
		}
	}
	return avail, ok
}

func memInfo(key string) (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == key+":" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// hostMemory reports whether a -device value runs on the host's memory
// (the CPU engine), where fitsMemory can tell what is available.
func hostMemory(device string) bool {
	kind, _, err := parseDevice(device)
	return err == nil && (kind == "cpu" || (kind == "auto" && !cudaBuilt()))
}

// fitsDevice is fitsMemory for the device opened for -device (the GPU's
// free memory); on the CPU fitsMemory has checked already.
func fitsDevice(device string, spec *models.Spec, widths models.Widths, batch int, flag string) error {
	if hostMemory(device) {
		return nil
	}
	return fits(deviceFree, "the GPU", spec, widths, batch, flag, true)
}

// fitsMemory fails, with one line naming the bytes wanted and available
// and a batch size that fits, when spec at widths for batches of batch
// cannot fit in the host's memory; flag names the batch-size flag.
func fitsMemory(spec *models.Spec, widths models.Widths, batch int, flag string) error {
	return fits(availableMemory, "", spec, widths, batch, flag, true)
}

func fits(available func() (int64, bool), where string, spec *models.Spec, widths models.Widths, batch int, flag string, train bool) error {
	avail, ok := available()
	if !ok {
		return nil
	}
	if where != "" {
		where = " on " + where
	}
	want, err := modelBytes(spec, widths, batch, train)
	if err != nil || want <= avail {
		return err
	}
	fixed, err := modelBytes(spec, widths, 1, train)
	if err != nil {
		return err
	}
	if fixed > avail || batch <= 1 {
		return fmt.Errorf("model %s needs %d bytes (%d MiB) even at batch 1, %d bytes (%d MiB) are available%s: free memory, or use a GPU",
			spec.Name, fixed, fixed>>20, avail, avail>>20, where)
	}
	per := max((want-fixed)/int64(batch-1), 1)
	fit := max(1+(avail-fixed)/per, 1)
	return fmt.Errorf("model %s at batch %d needs %d bytes (%d MiB), %d bytes (%d MiB) are available%s: use %s %d or less",
		spec.Name, batch, want, want>>20, avail, avail>>20, where, flag, fit)
}

// fitEvalBatch is the largest batch up to batch at which spec at widths can be
// evaluated in the memory available (the host's for the CPU, the GPU's
// otherwise); results do not depend on the evaluation batch. It fails with
// one line when not even batch 1 fits.
func fitEvalBatch(device string, spec *models.Spec, widths models.Widths, batch int) (int, error) {
	available, where := availableMemory, ""
	if !hostMemory(device) {
		available, where = deviceFree, " on the GPU"
	}
	avail, ok := available()
	if !ok {
		return batch, nil
	}
	want, err := modelBytes(spec, widths, batch, false)
	if err != nil || want <= avail {
		return batch, err
	}
	fixed, err := modelBytes(spec, widths, 1, false)
	if err != nil {
		return 0, err
	}
	if fixed > avail {
		return 0, fmt.Errorf("model %s needs %d bytes (%d MiB) to evaluate even at batch 1, %d bytes (%d MiB) are available%s: free memory",
			spec.Name, fixed, fixed>>20, avail, avail>>20, where)
	}
	per := max((want-fixed)/int64(max(batch-1, 1)), 1)
	fit := int(min(int64(batch), max(1+(avail-fixed)/per, 1)))
	// The estimate is linear in the batch; confirm it, stepping down.
	for fit > 1 {
		if w, err := modelBytes(spec, widths, fit, false); err == nil && w <= avail {
			break
		}
		fit = fit * 9 / 10
	}
	return fit, nil
}
