package main

import (
	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/engine"
)

// precisionUsage is the -precision flag's help, shared by every command
// that opens a device.
const precisionUsage = "GEMM arithmetic of convolutions, linear layers and matmuls: fp32, tf32 or bf16 (default auto: tf32 on GPUs of compute capability 8.0+, else fp32; the CPU engine runs fp32 only)"

// precisionFlag adds -precision to fs.
func precisionFlag(fs *pflag.FlagSet) *string {
	return fs.String("precision", "auto", precisionUsage)
}

// checkPrecision validates a -precision value before anything is opened:
// a known name, and fp32 (or auto) with -device cpu.
func checkPrecision(s, device string) error {
	p, auto, err := engine.ParsePrecision(s)
	if err != nil {
		return usagef("-precision: %v", err)
	}
	if device == "cpu" && !auto && p != engine.FP32 {
		return usagef("-precision %s -device cpu: the CPU engine runs fp32 only (tf32 and bf16 need a GPU's tensor cores): use -precision fp32 or a GPU", p)
	}
	return nil
}

// checkDevice validates -device and -precision together, before anything
// is opened.
func checkDevice(device, precision string) error {
	if _, _, err := parseDevice(device); err != nil {
		return err
	}
	return checkPrecision(precision, device)
}
