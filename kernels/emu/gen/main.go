// Command gen writes the emulator's kernel tables: for each kernels/F.cu
// with a committed F.ptx, kernels/emu/kernels_F.cc compiles F.cu for the
// CPU (with emu.h) and registers every kernel the PTX defines, and
// kernels/emu/register.cc registers every family. Run it with `go generate
// ./kernels/emu` (make ptx does) after changing a .cu file: the tables carry
// the sha256 of the sources they include, because the Go build cache does
// not notice changes to files #included from outside the package's folder.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gotrain/gotrain/kernels/emu/gentables"
)

func main() {
	out := "."
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	files, err := gentables.Generate(filepath.Join(out, ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(out, name), []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}
