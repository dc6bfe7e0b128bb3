package checkpoint

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the header parser as a whole file. It
// must never panic, must fail with one line, and what it accepts must be a
// consistent layout that survives being written again. The seed corpus is
// testdata/fuzz/FuzzParse (valid and invalid files); `go test` runs it.
func FuzzParse(f *testing.F) {
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readHeader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			msg := fileErr("f.safetensors", err).Error()
			if strings.ContainsAny(msg, "\n\r") || len(msg) > 2000 {
				t.Fatalf("error is not one short line: %q", msg)
			}
			return
		}
		if 8+h.n+h.dataLen != uint64(len(data)) {
			t.Fatalf("header %d + data %d != file %d", h.n, h.dataLen, len(data))
		}
		pos := uint64(0)
		for i, ti := range h.tensors {
			if h.index[ti.name] != i {
				t.Fatalf("index of %q is %d, not %d", ti.name, h.index[ti.name], i)
			}
			n, ok := byteLen(ti.dtype, ti.shape)
			if !ok || ti.begin != pos || ti.end-ti.begin != n || ti.end > h.dataLen {
				t.Fatalf("tensor %q: %s %v [%d %d] accepted at %d of %d", ti.name, ti.dtype, ti.shape, ti.begin, ti.end, pos, h.dataLen)
			}
			pos = ti.end
		}
		if pos != h.dataLen || len(h.index) != len(h.tensors) {
			t.Fatalf("tensors end at %d of %d; %d names for %d tensors", pos, h.dataLen, len(h.index), len(h.tensors))
		}

		// Written again (as Save writes headers), it parses the same.
		hdr := encodeHeader(h.meta, h.tensors)
		again := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
		again = append(append(again, hdr...), data[8+h.n:]...)
		h2, err := readHeader(bytes.NewReader(again), int64(len(again)))
		if err != nil {
			t.Fatalf("re-encoded header fails: %v\n%s", err, hdr)
		}
		if len(h2.meta) != len(h.meta) || len(h2.tensors) != len(h.tensors) {
			t.Fatalf("re-encoded header differs: %s", hdr)
		}
		for k, v := range h.meta {
			if h2.meta[k] != v {
				t.Fatalf("metadata %q: %q became %q", k, v, h2.meta[k])
			}
		}
		for i, a := range h.tensors {
			b := h2.tensors[i]
			if a.name != b.name || a.dtype != b.dtype || a.begin != b.begin || a.end != b.end || !sameInts(a.shape, b.shape) {
				t.Fatalf("tensor %d: %+v became %+v", i, a, b)
			}
		}
	})
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFuzzCorpus checks that the committed seeds are what their names say.
func TestFuzzCorpus(t *testing.T) {
	paths, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	if err != nil || len(paths) < 8 {
		t.Fatalf("seed corpus: %d files, %v", len(paths), err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte(")
		if !ok {
			continue // a fuzzer-found input of another form
		}
		s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		_, err = readHeader(strings.NewReader(s), int64(len(s)))
		switch base := filepath.Base(p); {
		case strings.HasPrefix(base, "valid_") && err != nil:
			t.Errorf("%s: %v", base, err)
		case strings.HasPrefix(base, "bad_") && err == nil:
			t.Errorf("%s parses", base)
		}
	}
}
