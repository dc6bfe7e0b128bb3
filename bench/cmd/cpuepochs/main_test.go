package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEpochRate(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
		want       float64
		err        string
	}{
		{"last epoch", `{"epoch":1,"images_per_sec":100.5}` + "\n" + `{"epoch":2,"images_per_sec":250}` + "\n", 250, ""},
		{"empty", "", 0, "no epoch with images_per_sec"},
		{"no rate", `{"epoch":1}` + "\n", 0, "no epoch with images_per_sec"},
		{"bad json", "{", 0, "metrics.jsonl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"), "metrics.jsonl")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := epochRate(p)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
	if _, err := epochRate(filepath.Join(dir, "missing.jsonl")); err == nil || !strings.Contains(err.Error(), "gotrain's metrics") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestWriteTable(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "table")
	if err != nil {
		t.Fatal(err)
	}
	rows := []row{{model: "baseline", n: 60000, gotrain: 5000, torch: 2500}, {model: "vit", n: 192, gotrain: 5.5, note: "no PyTorch"}}
	if err := writeTable(f, rows); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, want := range []string{"gotrain / PyTorch", "baseline", "60000", "2.00x", "vit", "n/a", "no PyTorch"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
