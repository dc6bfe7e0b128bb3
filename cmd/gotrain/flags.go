package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

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

// checkNames finds the first flag in args that fs does not know and names
// it as typed, with the nearest known flag: pflag would call -epoch a
// cluster of unknown shorthands. Values of flags that take one are skipped.
func checkNames(fs *pflag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name, hasValue := strings.TrimLeft(a, "-"), false
		if k := strings.IndexByte(name, '='); k >= 0 {
			name, hasValue = name[:k], true
		}
		f := fs.Lookup(name)
		if f == nil && len(name) == 1 && a[1] != '-' {
			f = fs.ShorthandLookup(name)
		}
		if f == nil {
			if name == "help" || name == "h" {
				continue
			}
			var known []string
			fs.VisitAll(func(f *pflag.Flag) { known = append(known, f.Name) })
			return usagef("unknown flag %s%s (see -help)", strings.SplitN(a, "=", 2)[0], didYouMean(name, known, "-%s"))
		}
		if !hasValue && f.NoOptDefVal == "" {
			i++ // its value
		}
	}
	return nil
}

// parse parses args into fs, mapping pflag's errors to usage errors.
func parse(fs *pflag.FlagSet, args []string) error {
	fs.SetOutput(nil)
	if err := checkNames(fs, args); err != nil {
		return err
	}
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

// changedFlags maps each flag set on the command line to its value as the
// flag prints it.
func changedFlags(fs *pflag.FlagSet) map[string]string {
	set := map[string]string{}
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = f.Value.String() })
	return set
}

// outDir is a run folder flag's value, or runs/<name>-<YYYYMMDD-HHMMSS>
// when it is empty.
func outDir(out, name string) string {
	if out != "" {
		return out
	}
	return filepath.Join("runs", fmt.Sprintf("%s-%s", name, time.Now().Format("20060102-150405")))
}
