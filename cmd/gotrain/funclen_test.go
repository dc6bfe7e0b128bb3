package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuncLines is the longest a function of cmd/ and bench/cmd may be:
// commands parse flags and call the package that owns the work.
const maxFuncLines = 80

// TestThinCommands fails on a function of cmd/ or bench/cmd (tests
// included) longer than maxFuncLines lines.
func TestThinCommands(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	for _, root := range []string{"..", "../../bench/cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				fd, ok := decl.(*ast.FuncDecl)
				if !ok {
					continue
				}
				checked++
				lines := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
				if lines > maxFuncLines {
					t.Errorf("%s: %s is %d lines, more than %d: move the work into the package that owns it", path, fd.Name.Name, lines, maxFuncLines)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 50 {
		t.Fatalf("checked only %d functions: wrong folders?", checked)
	}
}
