package main

import (
	"errors"
	"strings"

	"github.com/spf13/pflag"
)

var errHelp = errors.New("help shown")

// longDash rewrites single-dash long flags ("-device", "-lr=0.1") as pflag's
// double-dash form, leaving values (such as "-0.5"), "--" and everything
// after it untouched. Only names the flag set knows are rewritten, so a
// shorthand cluster like -h still works.
func longDash(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name := a[1:]
			if k := strings.IndexByte(name, '='); k >= 0 {
				name = name[:k]
			}
			if fs.Lookup(name) != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// parse parses args into fs, mapping pflag's errors to usage errors.
func parse(fs *pflag.FlagSet, args []string) error {
	fs.SetOutput(nil)
	err := fs.Parse(longDash(fs, args))
	if errors.Is(err, pflag.ErrHelp) {
		return errHelp
	}
	if err != nil {
		return usagef("%v (see -help)", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (see -help)", fs.Arg(0))
	}
	return nil
}
