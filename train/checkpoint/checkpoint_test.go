package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
)

// net is a small model state laid out as testdata/make_fixture.py's Net:
// its state_dict names, order, shapes and dtypes.
type net struct {
	be      *engine.CPU
	entries []layers.Entry
	c1, c2  *int64
}

func newNet(t testing.TB) *net {
	t.Helper()
	n := &net{be: engine.NewCPU(1), c1: new(int64), c2: new(int64)}
	b := layers.NewBuilder(1)
	b.Param("conv1.weight", nil, 2, 1, 3, 3)
	b.Param("conv1.bias", nil, 2)
	b.Param("bn1.weight", nil, 2)
	b.Param("bn1.bias", nil, 2)
	b.Buffer("bn1.running_mean", nil, 2)
	b.Buffer("bn1.running_var", nil, 2)
	b.Counter("bn1.num_batches_tracked", n.c1)
	b.Param("fc.weight", nil, 3, 8)
	b.Param("fc.bias", nil, 3)
	b.Param("bn2.weight", nil, 3)
	b.Param("bn2.bias", nil, 3)
	b.Buffer("bn2.running_mean", nil, 3)
	b.Buffer("bn2.running_var", nil, 3)
	b.Counter("bn2.num_batches_tracked", n.c2)
	require.NoError(t, b.Allocate(n.be))
	n.entries = b.Entries()
	return n
}

// fill sets every value from f(k, i) (k: the float tensor's index in
// state_dict order, i: the flat index) and the counters.
func (n *net) fill(f func(k, i int) float32, c1, c2 int64) {
	k := 0
	for _, e := range n.entries {
		if e.Kind == layers.Counter {
			continue
		}
		v := make([]float32, e.Value.Len())
		for i := range v {
			v[i] = f(k, i)
		}
		n.be.Upload(e.Value, v)
		k++
	}
	*n.c1, *n.c2 = c1, c2
}

func (n *net) random(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	n.fill(func(int, int) float32 { return float32(rng.NormFloat64()) }, int64(rng.Uint32()), -int64(rng.Uint64()>>1))
}

// poison fills every value with a NaN payload nothing else writes.
func (n *net) poison() {
	p := math.Float32frombits(0x7fc0dead)
	n.fill(func(int, int) float32 { return p }, -999, -998)
}

// snapshot is the bits of every value and the counters.
func (n *net) snapshot(t testing.TB) []uint64 {
	t.Helper()
	require.NoError(t, n.be.Sync())
	var s []uint64
	for _, e := range n.entries {
		if e.Kind == layers.Counter {
			s = append(s, uint64(*e.Count))
			continue
		}
		for _, v := range engine.F32(e.Value) {
			s = append(s, uint64(math.Float32bits(v)))
		}
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "best.safetensors")
	src := newNet(t)
	src.random(1)
	meta := map[string]string{"format": "gotrain", "model": "seresnet", "widths": `{"a":1,"b":2}`, "note": "é\n\"q\""}
	require.NoError(t, Save(path, src.be, src.entries, meta))

	dst := newNet(t)
	dst.poison()
	got, err := Load(path, dst.be, dst.entries)
	require.NoError(t, err)
	require.Equal(t, meta, got)
	require.Equal(t, src.snapshot(t), dst.snapshot(t))

	// The layout is safetensors.torch's: counters (I64, 0-d) first, then
	// the F32 tensors, each group by name.
	h := headerOf(t, path)
	var names []string
	for _, ti := range h.tensors {
		names = append(names, ti.name)
		if strings.HasSuffix(ti.name, "num_batches_tracked") {
			require.Equal(t, "I64", ti.dtype)
			require.Equal(t, []int{}, ti.shape)
		} else {
			require.Equal(t, "F32", ti.dtype)
		}
	}
	require.Equal(t, []string{
		"bn1.num_batches_tracked", "bn2.num_batches_tracked",
		"bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.weight",
		"bn2.bias", "bn2.running_mean", "bn2.running_var", "bn2.weight",
		"conv1.bias", "conv1.weight", "fc.bias", "fc.weight",
	}, names)
	require.Equal(t, []int{2, 1, 3, 3}, h.tensors[h.index["conv1.weight"]].shape)
	require.Zero(t, (8+h.n)%8, "data starts 8-byte aligned")
	requireOnly(t, dir, "best.safetensors")
}

func headerOf(t *testing.T, path string) *header {
	t.Helper()
	f, size, err := openFile(path)
	require.NoError(t, err)
	defer f.Close()
	h, err := readHeader(f, size)
	require.NoError(t, err)
	return h
}

func TestByteStable(t *testing.T) {
	dir := t.TempDir()
	n := newNet(t)
	n.random(2)
	meta := map[string]string{"z": "1", "a": "2", "m": "3", "epoch": "4"}
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	require.NoError(t, Save(a, n.be, n.entries, meta))
	require.NoError(t, Save(b, n.be, n.entries, meta))
	m := newNet(t)
	_, err := Load(b, m.be, m.entries)
	require.NoError(t, err)
	require.NoError(t, Save(c, m.be, m.entries, meta))
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	cb, _ := os.ReadFile(c)
	require.Equal(t, ab, bb)
	require.Equal(t, ab, cb)
}

// TestTorchFixture loads a state_dict written outside Go
// (testdata/make_fixture.py, laid out as safetensors.torch.save_file) and
// saves it back byte for byte.
func TestTorchFixture(t *testing.T) {
	const path = "testdata/torch_state.safetensors"
	n := newNet(t)
	n.poison()
	meta, err := Load(path, n.be, n.entries)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"format": "pt"}, meta)
	require.Equal(t, int64(7), *n.c1)
	require.Equal(t, int64(123456789012), *n.c2)
	k := 0
	for _, e := range n.entries {
		if e.Kind == layers.Counter {
			continue
		}
		for i, v := range engine.F32(e.Value) {
			require.Equal(t, float32(k)+float32(i)/16, v, "%s[%d]", e.Name, i)
		}
		k++
	}

	out := filepath.Join(t.TempDir(), "again.safetensors")
	require.NoError(t, Save(out, n.be, n.entries, meta))
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, want, got, "gotrain's file differs from safetensors.torch's layout")

	m, err := ReadMeta(path)
	require.NoError(t, err)
	require.Equal(t, meta, m)
}

func TestReadMeta(t *testing.T) {
	dir := t.TempDir()
	n := newNet(t)
	with, without := filepath.Join(dir, "with"), filepath.Join(dir, "without")
	meta := map[string]string{"format": "gotrain", "model": "seresnet", "widths": `{"layer1":64,"layer2":128}`}
	require.NoError(t, Save(with, n.be, n.entries, meta))
	require.NoError(t, Save(without, n.be, n.entries, nil))
	got, err := ReadMeta(with)
	require.NoError(t, err)
	require.Equal(t, meta, got)
	got, err = ReadMeta(without)
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Empty(t, got)
	require.NotContains(t, string(readAll(t, without)), metaKey)

	// ReadMeta validates the header as Load does.
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, readAll(t, with)[:200], 0o644))
	_, err = ReadMeta(bad)
	require.ErrorContains(t, err, "checkpoint "+bad+": ")
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// requireOnly checks that dir holds exactly the named files (no temporary
// file left behind).
func requireOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	require.ElementsMatch(t, names, got)
}

func TestTensors(t *testing.T) {
	be := engine.NewCPU(1)
	pool := engine.NewPool("state", engine.Float32)
	ipool := engine.NewPool("idx", engine.Int32)
	m1 := pool.New("momentum.0", 2, 3)
	m2 := pool.New("momentum.1", 4)
	sq := pool.New("square_avg.0", 1)
	idx := ipool.New("perm", 5)
	require.NoError(t, pool.Allocate(be))
	require.NoError(t, ipool.Allocate(be))
	be.Upload(m1, []float32{1, 2, 3, 4, 5, 6})
	be.Upload(m2, []float32{-1, -2, -3, -4})
	be.Upload(sq, []float32{0.5})
	be.UploadInt32(idx, []int32{4, 3, 2, 1, -7})
	tensors := map[string]*engine.Tensor{"momentum.0": m1, "momentum.1": m2, "square_avg.0": sq, "perm": idx}
	meta := map[string]string{"epoch": "3", "step": "1200", "flags": "nesterov"}
	path := filepath.Join(t.TempDir(), "state.safetensors")
	require.NoError(t, SaveTensors(path, be, tensors, meta))

	dst := engine.NewPool("dst", engine.Float32)
	dipool := engine.NewPool("didx", engine.Int32)
	d1, d2, d3 := dst.New("a", 2, 3), dst.New("b", 4), dst.New("c", 1)
	didx := dipool.New("d", 5)
	require.NoError(t, dst.Allocate(be))
	require.NoError(t, dipool.Allocate(be))
	got, err := LoadTensors(path, be, map[string]*engine.Tensor{"momentum.0": d1, "momentum.1": d2, "square_avg.0": d3, "perm": didx})
	require.NoError(t, err)
	require.Equal(t, meta, got)
	require.Equal(t, []float32{1, 2, 3, 4, 5, 6}, engine.F32(d1))
	require.Equal(t, []float32{-1, -2, -3, -4}, engine.F32(d2))
	require.Equal(t, []float32{0.5}, engine.F32(d3))
	require.Equal(t, []int32{4, 3, 2, 1, -7}, engine.I32(didx))

	// Strict as Load: a tensor too many or too few, or another shape.
	be.Fill(d1, 42)
	_, err = LoadTensors(path, be, map[string]*engine.Tensor{"momentum.0": d1, "momentum.1": d2})
	require.EqualError(t, err, `checkpoint `+path+`: tensor "perm": in the file but not in the state; the file has 2 tensors the state lacks ("perm", "square_avg.0")`)
	_, err = LoadTensors(path, be, map[string]*engine.Tensor{"momentum.0": d1, "momentum.1": d2, "square_avg.0": d3, "perm": didx, "acc_delta.0": d3})
	require.EqualError(t, err, `checkpoint `+path+`: tensor "acc_delta.0": missing from the file (state wants F32 [1]); 1 of the state's 5 tensors missing`)
	_, err = LoadTensors(path, be, map[string]*engine.Tensor{"momentum.0": d2, "momentum.1": d2, "square_avg.0": d3, "perm": didx})
	require.EqualError(t, err, `checkpoint `+path+`: tensor "momentum.0": shape [2 3], state wants [4]`)
	_, err = LoadTensors(path, be, map[string]*engine.Tensor{"momentum.0": d1, "momentum.1": d2, "square_avg.0": d3, "perm": d1})
	require.ErrorContains(t, err, `tensor "perm": dtype I32, state wants F32`)
	for _, v := range engine.F32(d1) {
		require.Equal(t, float32(42), v)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	n := newNet(t)
	missing := filepath.Join(dir, "nope.safetensors")
	_, err := Load(missing, n.be, n.entries)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.EqualError(t, err, "checkpoint "+missing+": open: no such file or directory")
	_, err = ReadMeta(dir)
	require.EqualError(t, err, "checkpoint "+dir+": not a regular file (d---------)")
}

// TestSaveRefuses: Save checks its inputs and the backend before touching
// the file.
func TestSaveRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "best.safetensors")
	n := newNet(t)
	n.random(3)
	require.NoError(t, Save(path, n.be, n.entries, nil))
	before := readAll(t, path)

	dup := append(append([]layers.Entry(nil), n.entries...), n.entries[1])
	err := Save(path, n.be, dup, nil)
	require.EqualError(t, err, `checkpoint `+path+`: tensor "conv1.bias": declared twice`)

	b := layers.NewBuilder(1)
	b.Param("w", nil, 2)
	err = Save(path, n.be, b.Entries(), nil)
	require.EqualError(t, err, `checkpoint `+path+`: tensor "w": tensor is not allocated`)

	other := newNet(t)
	err = Save(path, n.be, other.entries, nil)
	require.ErrorContains(t, err, `tensor "conv1.weight": tensor lives on cpu`)

	err = Save(path, n.be, n.entries, map[string]string{"k": "\xff"})
	require.ErrorContains(t, err, `metadata "k" is not valid UTF-8`)

	// A backend with a pending error may hold garbage: neither Save nor
	// Load proceeds.
	n.be.Upload(n.entries[0].Value, []float32{1})
	err = Save(path, n.be, n.entries, nil)
	require.ErrorContains(t, err, "backend has a pending error; refusing to save")
	_, err = Load(path, n.be, n.entries)
	require.ErrorContains(t, err, "backend has a pending error; nothing loaded")
	n.be.ClearErr()

	require.Equal(t, before, readAll(t, path))
	requireOnly(t, dir, "best.safetensors")
}

// TestAtomicWrite: a save that fails at any step leaves the previous file
// byte-identical and no temporary file behind.
func TestAtomicWrite(t *testing.T) {
	n := newNet(t)
	for _, tc := range []struct {
		step  string
		after int // fail the step's (after+1)-th occurrence
		want  string
	}{
		{"create", 0, "create temporary file: no space left on device"},
		{"write", 0, "write: no space left on device"},
		{"sync", 0, "sync: input/output error"},
		{"close", 0, "close: input/output error"},
		{"rename", 0, "rename: input/output error"},
	} {
		t.Run(tc.step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "best.safetensors")
			n.random(4)
			require.NoError(t, Save(path, n.be, n.entries, map[string]string{"v": "old"}))
			before := readAll(t, path)

			n.random(5)
			seen := 0
			fault = func(step string) error {
				if step != tc.step {
					return nil
				}
				seen++
				if seen <= tc.after {
					return nil
				}
				if step == "create" || step == "write" {
					return &fs.PathError{Op: step, Path: "/tmp/x", Err: errENOSPC}
				}
				return &fs.PathError{Op: step, Path: "/tmp/x", Err: errEIO}
			}
			defer func() { fault = nil }()
			err := Save(path, n.be, n.entries, map[string]string{"v": "new"})
			require.EqualError(t, err, "checkpoint "+path+": "+tc.want+" (the previous file is unchanged)")
			require.Equal(t, before, readAll(t, path))
			requireOnly(t, dir, "best.safetensors")
		})
	}

	// A disk that fills up in the middle of a large tensor.
	t.Run("write mid-file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.safetensors")
		be := engine.NewCPU(1)
		pool := engine.NewPool("state", engine.Float32)
		big := pool.New("momentum.0", 3<<20)
		require.NoError(t, pool.Allocate(be))
		tensors := map[string]*engine.Tensor{"momentum.0": big}
		require.NoError(t, SaveTensors(path, be, tensors, nil))
		before := readAll(t, path)
		be.Fill(big, 1)
		writes := 0
		fault = func(step string) error {
			if step == "write" {
				if writes++; writes == 2 {
					return errENOSPC
				}
			}
			return nil
		}
		defer func() { fault = nil }()
		err := SaveTensors(path, be, tensors, nil)
		require.EqualError(t, err, "checkpoint "+path+": write: no space left on device (the previous file is unchanged)")
		require.Equal(t, 2, writes)
		require.Equal(t, before, readAll(t, path))
		requireOnly(t, dir, "state.safetensors")
	})

	t.Run("syncdir", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "best.safetensors")
		fault = func(step string) error {
			if step == "syncdir" {
				return errEIO
			}
			return nil
		}
		defer func() { fault = nil }()
		err := Save(path, n.be, n.entries, nil)
		require.EqualError(t, err, "checkpoint "+path+": saved, but flushing its folder failed (a crash now may lose the new file): input/output error")
		requireOnly(t, dir, "best.safetensors")
		m := newNet(t)
		_, err = Load(path, m.be, m.entries)
		require.NoError(t, err)
	})

	t.Run("no folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gone", "best.safetensors")
		err := Save(path, n.be, n.entries, nil)
		require.EqualError(t, err, "checkpoint "+path+": create temporary file: no such file or directory (the previous file is unchanged)")
	})

	t.Run("target is a folder", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "best.safetensors")
		require.NoError(t, os.Mkdir(path, 0o755))
		err := Save(path, n.be, n.entries, nil)
		require.EqualError(t, err, "checkpoint "+path+": exists and is not a regular file")
		requireOnly(t, dir, "best.safetensors")
	})

	t.Run("read-only folder", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes into read-only folders")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "best.safetensors")
		require.NoError(t, Save(path, n.be, n.entries, nil))
		before := readAll(t, path)
		require.NoError(t, os.Chmod(dir, 0o555))
		defer os.Chmod(dir, 0o755)
		n.random(6)
		err := Save(path, n.be, n.entries, nil)
		require.ErrorContains(t, err, "permission denied (the previous file is unchanged)")
		require.Equal(t, before, readAll(t, path))
		requireOnly(t, dir, "best.safetensors")
	})

	t.Run("keeps permissions", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "best.safetensors")
		require.NoError(t, os.WriteFile(path, nil, 0o600))
		require.NoError(t, Save(path, n.be, n.entries, nil))
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	})
}

var (
	errENOSPC = errors.New("no space left on device")
	errEIO    = errors.New("input/output error")
)

// spec is one tensor of a hand-made file; its data are zeros unless data
// is set.
type spec struct {
	name, dtype string
	shape       []int
	data        []byte
}

// specs is the header the net's state gets from Save (data order).
func (n *net) specs(t *testing.T) []spec {
	path := filepath.Join(t.TempDir(), "x")
	require.NoError(t, Save(path, n.be, n.entries, nil))
	h := headerOf(t, path)
	raw := readAll(t, path)[8+h.n:]
	var out []spec
	for _, ti := range h.tensors {
		out = append(out, spec{name: ti.name, dtype: ti.dtype, shape: ti.shape, data: raw[ti.begin:ti.end]})
	}
	return out
}

// mkfile lays out specs contiguously in the given order.
func mkfile(meta map[string]string, specs []spec) []byte {
	var infos []tensorInfo
	var data []byte
	for _, s := range specs {
		d := s.data
		if d == nil {
			nb, _ := byteLen(s.dtype, s.shape)
			d = make([]byte, nb)
		}
		infos = append(infos, tensorInfo{name: s.name, dtype: s.dtype, shape: s.shape, begin: uint64(len(data)), end: uint64(len(data) + len(d))})
		data = append(data, d...)
	}
	return rawFile(string(encodeHeader(meta, infos)), data)
}

// rawFile is a file of the given header text and data.
func rawFile(hdr string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, data...)
}

// edit returns specs with the named tensor changed (or removed, when f
// returns false).
func edit(specs []spec, name string, f func(*spec) bool) []spec {
	var out []spec
	for _, s := range specs {
		if s.name == name {
			s.data = nil
			if !f(&s) {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

func TestBadFiles(t *testing.T) {
	n := newNet(t)
	n.random(7)
	specs := n.specs(t)
	good := mkfile(nil, specs)
	// Offsets of the good file, for hand-edited headers.
	h, err := readHeader(bytes.NewReader(good), int64(len(good)))
	require.NoError(t, err)
	infos := h.tensors
	hdrWith := func(f func([]tensorInfo)) []byte {
		in := append([]tensorInfo(nil), infos...)
		f(in)
		return rawFile(string(encodeHeader(nil, in)), good[8+h.n:])
	}
	last := infos[len(infos)-1].name // fc.weight
	setShape := func(shape ...int) func(*spec) bool {
		return func(s *spec) bool { s.shape = shape; return true }
	}
	zip := append([]byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), make([]byte, 100)...)
	oneTensor := func(body string) []byte {
		hdr := `{"conv1.bias":` + body + `}`
		return rawFile(hdr, make([]byte, 8))
	}
	widths := map[string]string{"model": "seresnet", "widths": `{"conv1":4}`}

	for _, tc := range []struct {
		name   string
		file   []byte
		tensor string // the tensor the message names, "" for none
		want   string
	}{
		{"empty", nil, "", "0 bytes: too short for a safetensors file"},
		{"short", good[:5], "", "5 bytes: too short"},
		{"truncated header", good[:40], "", "runs past the end of the file (40 bytes): truncated"},
		{"truncated data", good[:len(good)-5], last, "run past the end of the data"},
		{"torch.save zip", zip, "", "exceeds the 100000000-byte limit: not a safetensors file"},
		{"absurd header length", append(binary.LittleEndian.AppendUint64(nil, maxHeader+1), "{}"...), "", "header length 100000001 exceeds the 100000000-byte limit"},
		{"header length 2^63", append(binary.LittleEndian.AppendUint64(nil, 1<<63), "{}"...), "", "header length 9223372036854775808 exceeds"},
		{"header length 0", rawFile("", nil), "", "header length 0: too short"},
		{"not json", rawFile("hello, world!!!!", nil), "", "does not start with '{'"},
		{"corrupt json", rawFile(`{"conv1.bias":{"dtype":"F32",`, nil), "conv1.bias", "corrupt header: unexpected end of JSON"},
		{"bad json syntax", rawFile(`{"a" 1}`, nil), "a", "corrupt header: invalid character '1' after object key"},
		{"not utf8", rawFile("{\"\xff\":1}", nil), "", "not valid UTF-8"},
		{"trailing junk", rawFile(`{} {}`, nil), "", "corrupt header: after the header object"},
		{"nul padding", rawFile("{}\x00\x00", nil), "", "corrupt header"},
		{"array header", rawFile(`[]`, nil), "", "does not start with '{'"},
		{"duplicate tensor", rawFile(`{"conv1.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"conv1.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)), "conv1.bias", "listed twice in the header"},
		{"duplicate metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), "", "lists __metadata__ twice"},
		{"overlap", hdrWith(func(in []tensorInfo) { in[3].begin -= 4; in[3].end -= 4 }), infos[3].name, "overlap tensor " + quote(infos[2].name)},
		{"gap", hdrWith(func(in []tensorInfo) { in[3].begin += 4; in[3].end += 4 }), infos[3].name, "leave 4 bytes unused after tensor " + quote(infos[2].name)},
		{"gap at start", hdrWith(func(in []tensorInfo) { in[0].begin += 8; in[0].end += 8 }), infos[0].name, "leave 8 bytes unused at the start of the data"},
		{"out of range", hdrWith(func(in []tensorInfo) { in[len(in)-1].begin += 1 << 40; in[len(in)-1].end += 1 << 40 }), last, "run past the end of the data"},
		{"offsets reversed", hdrWith(func(in []tensorInfo) { in[2].begin, in[2].end = in[2].end, in[2].begin }), infos[2].name, "end before they begin"},
		{"size mismatch", hdrWith(func(in []tensorInfo) { in[2].shape = []int{3} }), infos[2].name, "F32 [3] takes 12 bytes, but data_offsets [16 24] hold 8"},
		{"shape overflow", oneTensor(`{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}`), "conv1.bias", "shape [4294967296 4294967296] of F32 overflows"},
		{"huge rank", oneTensor(`{"dtype":"F32","shape":[` + strings.Repeat("1,", 64) + `1],"data_offsets":[0,8]}`), "conv1.bias", "shape has more than 64 numbers"},
		{"trailing data", append(append([]byte(nil), good...), 1, 2, 3, 4), "", "4 bytes of data follow the last tensor " + quote(last)},
		{"data but no tensors", rawFile(`{}      `, make([]byte, 8)), "", "the header lists no tensors but 8 bytes of data follow it"},
		{"unknown dtype", oneTensor(`{"dtype":"Q8","shape":[2],"data_offsets":[0,8]}`), "conv1.bias", `unknown dtype "Q8"`},
		{"dtype not string", oneTensor(`{"dtype":4,"shape":[2],"data_offsets":[0,8]}`), "conv1.bias", "dtype is number 4, not a string"},
		{"negative dim", oneTensor(`{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}`), "conv1.bias", "shape holds -2, not a natural number"},
		{"float offset", oneTensor(`{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}`), "conv1.bias", "data_offsets holds 8.0, not a natural number"},
		{"three offsets", oneTensor(`{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}`), "conv1.bias", "data_offsets has more than 2 numbers"},
		{"one offset", oneTensor(`{"dtype":"F32","shape":[2],"data_offsets":[8]}`), "conv1.bias", "data_offsets has 1 number(s), not 2"},
		{"shape not array", oneTensor(`{"dtype":"F32","shape":2,"data_offsets":[0,8]}`), "conv1.bias", "shape is number 2, not an array"},
		{"nested shape", oneTensor(`{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}`), "conv1.bias", `shape holds "[", not a natural number`},
		{"extra field", oneTensor(`{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]}`), "conv1.bias", `unknown field "offsets"`},
		{"missing field", oneTensor(`{"dtype":"F32","shape":[2]}`), "conv1.bias", `header entry has no "data_offsets"`},
		{"repeated field", oneTensor(`{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}`), "conv1.bias", `lists "dtype" twice`},
		{"entry not object", oneTensor(`[1]`), "conv1.bias", `corrupt header: found "[" where "{" was expected`},
		{"metadata not string", rawFile(`{"__metadata__":{"epoch":3}}`, nil), "", `__metadata__ key "epoch" holds number 3, not a string`},
		{"metadata null", rawFile(`{"__metadata__":null}`, nil), "", `corrupt header: __metadata__: found null where "{" was expected`},
		{"missing tensor", mkfile(nil, edit(specs, "fc.bias", func(*spec) bool { return false })), "fc.bias", "missing from the file (model wants F32 [3]); 1 of the model's 14 tensors missing"},
		{"unexpected tensor", mkfile(nil, append(specs, spec{name: "fc.extra", dtype: "F32", shape: []int{1}})), "fc.extra", `in the file but not in the model; the file has 1 tensor the model lacks ("fc.extra")`},
		{"hostile name", mkfile(nil, append(specs, spec{name: "evil\nname\u2028", dtype: "F32", shape: []int{1}})), "evil\nname\u2028", `("evil\nname\u2028")`},
		{"F64 param", mkfile(nil, edit(specs, "conv1.bias", func(s *spec) bool { s.dtype = "F64"; return true })), "conv1.bias", "dtype F64, model wants F32 (save it as float32)"},
		{"F16 param", mkfile(nil, edit(specs, "fc.weight", func(s *spec) bool { s.dtype = "F16"; return true })), "fc.weight", "dtype F16, model wants F32"},
		{"BF16 param", mkfile(nil, edit(specs, "fc.weight", func(s *spec) bool { s.dtype = "BF16"; return true })), "fc.weight", "dtype BF16, model wants F32"},
		{"F32 counter", mkfile(nil, edit(specs, "bn2.num_batches_tracked", func(s *spec) bool { s.dtype = "F32"; return true })), "bn2.num_batches_tracked", "dtype F32, model wants I64 (a 0-d int64 counter"},
		{"I32 counter", mkfile(nil, edit(specs, "bn1.num_batches_tracked", func(s *spec) bool { s.dtype = "I32"; return true })), "bn1.num_batches_tracked", "dtype I32, model wants I64"},
		{"1-d counter", mkfile(nil, edit(specs, "bn1.num_batches_tracked", setShape(1))), "bn1.num_batches_tracked", "shape [1], model wants [] (a 0-d int64 counter)"},
		{"0-d param", mkfile(nil, edit(specs, "conv1.bias", setShape())), "conv1.bias", "shape [], model wants [2]"},
		{"other widths", mkfile(widths, edit(specs, "conv1.weight", setShape(4, 1, 3, 3))), "conv1.weight", `shape [4 1 3 3], model wants [2 1 3 3] (a checkpoint of other widths? see its metadata: widths {"conv1":4})`},
		{"transposed", mkfile(nil, edit(specs, "fc.weight", setShape(8, 3))), "fc.weight", "shape [8 3], model wants [3 8]"},
		{"another model", mkfile(map[string]string{"model": "vgg"}, []spec{
			{name: "features.0.weight", dtype: "F32", shape: []int{64, 1, 3, 3}},
			{name: "features.0.bias", dtype: "F32", shape: []int{64}},
			{name: "classifier.0.weight", dtype: "F32", shape: []int{10, 64}},
			{name: "classifier.0.bias", dtype: "F32", shape: []int{10}},
			{name: "classifier.1.bias", dtype: "F32", shape: []int{10}},
		}), "conv1.weight", `missing from the file (model wants F32 [2 1 3 3]); 14 of the model's 14 tensors missing and the file has 5 tensors it lacks ("classifier.0.bias", "classifier.0.weight", "classifier.1.bias", "features.0.bias", ... 1 more); a checkpoint of another model? its metadata says model vgg`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "bad.safetensors")
			require.NoError(t, os.WriteFile(path, tc.file, 0o644))
			m := newNet(t)
			m.poison()
			before := m.snapshot(t)
			_, err := Load(path, m.be, m.entries)
			require.Error(t, err)
			msg := err.Error()
			t.Log(msg)
			require.NotContains(t, msg, "\n")
			require.True(t, strings.HasPrefix(msg, "checkpoint "+path+": "), msg)
			var ce *Error
			require.True(t, errors.As(err, &ce))
			require.Equal(t, tc.tensor, ce.Tensor)
			if tc.tensor != "" {
				require.Contains(t, msg, "tensor "+quote(tc.tensor)+": ")
			}
			require.Contains(t, msg, tc.want)
			require.Equal(t, before, m.snapshot(t), "a failed load changed the model")

			// ReadMeta fails alike on a file whose header is bad.
			if _, herr := readHeader(bytes.NewReader(tc.file), int64(len(tc.file))); herr != nil {
				_, err := ReadMeta(path)
				require.Equal(t, msg, err.Error())
			}
		})
	}
}

// TestEmptyState: a state with no tensors is a valid file.
func TestEmptyState(t *testing.T) {
	be := engine.NewCPU(1)
	path := filepath.Join(t.TempDir(), "empty.safetensors")
	require.NoError(t, SaveTensors(path, be, nil, nil))
	require.Equal(t, rawFile("{}      ", nil), readAll(t, path))
	meta, err := LoadTensors(path, be, map[string]*engine.Tensor{})
	require.NoError(t, err)
	require.Empty(t, meta)
}

// TestLargeTensor: Save downloads a large tensor in chunks; they land in
// order.
func TestLargeTensor(t *testing.T) {
	be := engine.NewCPU(1)
	pool := engine.NewPool("p", engine.Float32)
	w := pool.New("classifier.weight", 3, chunkLen/2+7)
	back := engine.NewPool("q", engine.Float32)
	w2 := back.New("w2", 3, chunkLen/2+7)
	require.NoError(t, pool.Allocate(be))
	require.NoError(t, back.Allocate(be))
	v := make([]float32, w.Len())
	for i := range v {
		v[i] = float32(i)
	}
	be.Upload(w, v)
	require.Greater(t, len(chunks(w)), 1)
	path := filepath.Join(t.TempDir(), "big.safetensors")
	require.NoError(t, SaveTensors(path, be, map[string]*engine.Tensor{"classifier.weight": w}, nil))
	_, err := LoadTensors(path, be, map[string]*engine.Tensor{"classifier.weight": w2})
	require.NoError(t, err)
	require.True(t, slices.Equal(v, engine.F32(w2)))
}
