package engine_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

func TestRegistry(t *testing.T) {
	if names := engine.Names(); len(names) == 0 || names[0] != "cpu" {
		t.Fatalf("Names() = %v, want cpu first", names)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0)) // opening with threads sets it
	be, err := engine.Open("cpu", engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := be.(*engine.CPU); !ok || c.Threads() != 1 {
		t.Fatalf("Open(cpu, 1 thread) = %s", be.Name())
	}
	if _, err := engine.Open("tpu", engine.Options{}); err == nil || !strings.Contains(err.Error(), "registered: cpu") {
		t.Fatalf("Open(tpu) error = %v, want one listing the registered backends", err)
	}
	if _, err := engine.Open("cpu", engine.Options{Threads: -1}); err == nil {
		t.Fatal("Open(cpu, -1 threads) succeeded")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering cpu twice did not panic")
		}
	}()
	engine.Register("cpu", nil)
}
