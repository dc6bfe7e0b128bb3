// Package checkpoint saves and loads gotrain's weights and training state as
// safetensors files (https://github.com/huggingface/safetensors) that
// PyTorch loads and writes:
//
//	model.load_state_dict(safetensors.torch.load_file("best.safetensors"))
//	safetensors.torch.save_file(model.state_dict(), "best.safetensors")
//
// A model checkpoint holds exactly the seed's state_dict: every parameter
// and buffer as F32 with its shape, every BatchNorm num_batches_tracked as a
// 0-d I64, under the state_dict names, laid out as safetensors.torch lays
// them out (by dtype, then by name), and a string-to-string metadata map.
// The same code saves any named set of tensors (SaveTensors, LoadTensors):
// the optimizer's state.
//
// Save writes atomically: the previous file survives any failure (a full
// disk, a crash) intact. Load is strict and all-or-nothing: it checks the
// whole file against the model (names, dtypes, shapes, offsets) before it
// changes anything, matches tensors by name (never by order), and reports
// the first problem as one line naming the file and the tensor.
//
// The format is read and written by this package's own code, not by
// github.com/nlpodyssey/safetensors: that library parses only a whole file
// held in memory (ReadMeta would read 515 MB to learn a VGG checkpoint's
// widths), accepts a header that names a tensor twice (the last wins),
// replaces invalid UTF-8 silently, reports a bad tensor without its name,
// panics on some invalid values (DType.Size), and writes its header in an
// order and escaping of its own rather than safetensors.torch's. It is
// gotrain's one safetensors implementation: the PyTorch test fixtures are
// read through ParseRaw too.
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"sort"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/layers"
)

// Error is the error of every function of the package: one line naming the
// file, the tensor concerned (if any), and what is wrong.
type Error struct {
	Path   string // the checkpoint file
	Tensor string // the tensor concerned; empty when the problem is the file's
	Reason string // what is wrong
	Err    error  // the underlying error (an I/O error), if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("checkpoint ")
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.Tensor != "" {
		b.WriteString("tensor ")
		b.WriteString(quote(e.Tensor))
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return oneLine(b.String())
}

func (e *Error) Unwrap() error { return e.Err }

// oneLine replaces line breaks and other control characters.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 }

// fileErr makes any error an *Error about path.
func fileErr(path string, err error) error {
	var pe *parseError
	if errors.As(err, &pe) {
		return &Error{Path: path, Tensor: pe.tensor, Reason: pe.reason, Err: pe.err}
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return &Error{Path: path, Reason: pathErr.Op + ": " + pathErr.Err.Error(), Err: err}
	}
	return &Error{Path: path, Reason: err.Error(), Err: err}
}

// slot is one tensor of a checkpoint on gotrain's side: a Float32 or Int32
// tensor on a backend (F32, I32), or an int64 counter on the host (I64,
// 0-d).
type slot struct {
	name  string
	t     *engine.Tensor
	count *int64
}

func (s *slot) dtype() string {
	switch {
	case s.count != nil:
		return "I64"
	case s.t.DType() == engine.Int32:
		return "I32"
	}
	return "F32"
}

func (s *slot) shape() []int {
	if s.count != nil {
		return []int{}
	}
	return s.t.Shape()
}

func (s *slot) bytes() uint64 {
	if s.count != nil {
		return 8
	}
	return 4 * uint64(s.t.Len())
}

// entrySlots lists a model's state: every Param, Buffer and Counter.
func entrySlots(entries []layers.Entry) ([]slot, error) {
	slots := make([]slot, 0, len(entries))
	for _, e := range entries {
		switch e.Kind {
		case layers.Param, layers.Buffer:
			if e.Value == nil {
				return nil, &parseError{tensor: e.Name, reason: "model entry has no tensor"}
			}
			slots = append(slots, slot{name: e.Name, t: e.Value})
		case layers.Counter:
			if e.Count == nil {
				return nil, &parseError{tensor: e.Name, reason: "model counter has no value"}
			}
			slots = append(slots, slot{name: e.Name, count: e.Count})
		default:
			return nil, &parseError{tensor: e.Name, reason: fmt.Sprintf("model entry of unknown kind %d", e.Kind)}
		}
	}
	return slots, nil
}

// mapSlots lists a named set of tensors, sorted by name.
func mapSlots(tensors map[string]*engine.Tensor) ([]slot, error) {
	slots := make([]slot, 0, len(tensors))
	for name, t := range tensors {
		if t == nil {
			return nil, &parseError{tensor: name, reason: "nil tensor"}
		}
		slots = append(slots, slot{name: name, t: t})
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].name < slots[j].name })
	return slots, nil
}

// checkSlots checks gotrain's side: unique valid names, tensors of a
// supported type allocated on be.
func checkSlots(be engine.Backend, slots []slot) error {
	seen := make(map[string]bool, len(slots))
	for i := range slots {
		s := &slots[i]
		switch {
		case !utf8.ValidString(s.name):
			return &parseError{tensor: s.name, reason: "name is not valid UTF-8"}
		case s.name == metaKey:
			return &parseError{tensor: s.name, reason: "name is reserved by the safetensors format"}
		case seen[s.name]:
			return &parseError{tensor: s.name, reason: "declared twice"}
		}
		seen[s.name] = true
		if s.t == nil {
			continue
		}
		if dt := s.t.DType(); dt != engine.Float32 && dt != engine.Int32 {
			return &parseError{tensor: s.name, reason: fmt.Sprintf("element type %s cannot be saved", dt)}
		}
		st, _ := s.t.Storage()
		if st == nil {
			return &parseError{tensor: s.name, reason: "tensor is not allocated"}
		}
		if st.Backend() != be {
			return &parseError{tensor: s.name, reason: fmt.Sprintf("tensor lives on %s, not on %s", st.Backend().Name(), be.Name())}
		}
	}
	return nil
}

// Save writes a model's state (layers.Entry, in state_dict order) and meta
// to path as a safetensors file that safetensors.torch.load_file reads as
// the model's state_dict. It replaces path atomically: on any error the
// previous file is left as it was and no temporary file remains. It holds
// at most 16 MB of tensor data in host memory at a time.
func Save(path string, be engine.Backend, entries []layers.Entry, meta map[string]string) error {
	slots, err := entrySlots(entries)
	if err != nil {
		return fileErr(path, err)
	}
	return save(path, be, slots, meta)
}

// SaveTensors is Save for any named set of Float32 or Int32 tensors (the
// optimizer's state).
func SaveTensors(path string, be engine.Backend, tensors map[string]*engine.Tensor, meta map[string]string) error {
	slots, err := mapSlots(tensors)
	if err != nil {
		return fileErr(path, err)
	}
	return save(path, be, slots, meta)
}

// Load reads a safetensors file (gotrain's, or PyTorch's
// safetensors.torch.save_file(model.state_dict(), path)) into a model's
// state and returns its metadata. The file must hold exactly the entries,
// by name, each with the entry's shape, F32 for parameters and buffers and
// 0-d I64 for counters; otherwise Load changes nothing and returns an
// *Error naming the file and the first offending tensor.
//
// Load reads the whole data (the model's size) into host memory before it
// uploads anything, so that a read error cannot leave a model half loaded.
func Load(path string, be engine.Backend, entries []layers.Entry) (map[string]string, error) {
	slots, err := entrySlots(entries)
	if err != nil {
		return nil, fileErr(path, err)
	}
	return load(path, be, slots, "model")
}

// LoadTensors is Load for a named set of tensors saved by SaveTensors.
func LoadTensors(path string, be engine.Backend, tensors map[string]*engine.Tensor) (map[string]string, error) {
	slots, err := mapSlots(tensors)
	if err != nil {
		return nil, fileErr(path, err)
	}
	return load(path, be, slots, "state")
}

// ReadMeta returns a checkpoint's metadata (its model and widths, to build
// the model before loading it). It reads only the header, which it
// validates as Load does.
func ReadMeta(path string) (map[string]string, error) {
	f, size, err := openFile(path)
	if err != nil {
		return nil, fileErr(path, err)
	}
	defer f.Close()
	h, err := readHeader(f, size)
	if err != nil {
		return nil, fileErr(path, err)
	}
	return h.meta, nil
}

func openFile(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	return f, fi.Size(), nil
}

// littleEndian is the host's byte order: the format's on every machine Go
// runs gotrain on, where tensor bytes are copied without conversion.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func f32s(w []uint32) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(w))), len(w))
}
func i32s(w []uint32) []int32 {
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(w))), len(w))
}
func wordBytes(w []uint32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), 4*len(w))
}

// swapWords converts 4-byte words between the host's order and the
// format's (nothing to do on a little-endian host).
func swapWords(w []uint32) {
	if littleEndian {
		return
	}
	for i, v := range w {
		w[i] = bits.ReverseBytes32(v)
	}
}

func load(path string, be engine.Backend, slots []slot, what string) (map[string]string, error) {
	if err := checkSlots(be, slots); err != nil {
		return nil, fileErr(path, err)
	}
	f, size, err := openFile(path)
	if err != nil {
		return nil, fileErr(path, err)
	}
	defer f.Close()
	h, err := readHeader(f, size)
	if err != nil {
		return nil, fileErr(path, err)
	}
	if err := match(h, slots, what); err != nil {
		return nil, fileErr(path, err)
	}

	// Every tensor of the file is a slot's and they tile the data, so the
	// data is the state's size and every tensor is 4-byte aligned in it.
	words := make([]uint32, h.dataLen/4)
	if _, err := io.ReadFull(f, wordBytes(words)); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, &Error{Path: path, Reason: "file shrank while being read", Err: err}
		}
		return nil, fileErr(path, err)
	}
	if err := be.Sync(); err != nil {
		return nil, &Error{Path: path, Reason: "backend has a pending error; nothing loaded: " + err.Error(), Err: err}
	}
	counts := make([]int64, len(slots))
	for i := range slots {
		s := &slots[i]
		info := &h.tensors[h.index[s.name]]
		w := words[info.begin/4 : info.end/4]
		switch s.dtype() {
		case "I64":
			counts[i] = int64(binary.LittleEndian.Uint64(wordBytes(w)))
		case "I32":
			swapWords(w)
			be.UploadInt32(s.t, i32s(w))
		default:
			swapWords(w)
			be.Upload(s.t, f32s(w))
		}
	}
	if err := be.Sync(); err != nil {
		return nil, &Error{Path: path, Reason: "upload failed; the " + what + " may be partly loaded: " + err.Error(), Err: err}
	}
	for i := range slots {
		if slots[i].count != nil {
			*slots[i].count = counts[i]
		}
	}
	return h.meta, nil
}

// match checks that the file holds exactly the slots, by name, with their
// dtypes and shapes.
func match(h *header, slots []slot, what string) error {
	var missing []string
	var first error
	want := make(map[string]bool, len(slots))
	for i := range slots {
		s := &slots[i]
		want[s.name] = true
		j, ok := h.index[s.name]
		if !ok {
			missing = append(missing, s.name)
			continue
		}
		if first != nil {
			continue
		}
		t := &h.tensors[j]
		dt, shape := s.dtype(), s.shape()
		switch {
		case t.dtype != dt && s.count != nil:
			first = tensorf(s.name, "dtype %s, %s wants I64 (a 0-d int64 counter such as num_batches_tracked)", t.dtype, what)
		case t.dtype != dt:
			first = tensorf(s.name, "dtype %s, %s wants %s (save it as float32)", t.dtype, what, dt)
		case !engine.SameShape(t.shape, shape) && s.count != nil:
			first = tensorf(s.name, "shape %s, %s wants [] (a 0-d int64 counter)", shapeStr(t.shape), what)
		case !engine.SameShape(t.shape, shape):
			first = tensorf(s.name, "shape %s, %s wants %s%s", shapeStr(t.shape), what, shapeStr(shape), widthsHint(h.meta))
		}
	}
	var extra []string
	for i := range h.tensors {
		if !want[h.tensors[i].name] {
			extra = append(extra, h.tensors[i].name)
		}
	}
	sort.Strings(extra)
	switch {
	case len(missing) > 0:
		s := &slots[indexOf(slots, missing[0])]
		msg := fmt.Sprintf("missing from the file (%s wants %s %s); %d of the %s's %s missing", what, s.dtype(), shapeStr(s.shape()), len(missing), what, count(len(slots), "tensor"))
		if len(extra) > 0 {
			msg += fmt.Sprintf(" and the file has %s it lacks (%s)", count(len(extra), "tensor"), nameList(extra))
		}
		return tensorf(missing[0], "%s%s", msg, modelHint(h.meta))
	case len(extra) > 0:
		return tensorf(extra[0], "in the file but not in the %s; the file has %s the %s lacks (%s)%s", what, count(len(extra), "tensor"), what, nameList(extra), modelHint(h.meta))
	}
	return first
}

// count is "1 tensor", "2 tensors".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func indexOf(slots []slot, name string) int {
	for i := range slots {
		if slots[i].name == name {
			return i
		}
	}
	return -1
}

// nameList lists up to 4 names.
func nameList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i == 4 {
			fmt.Fprintf(&b, ", ... %d more", len(names)-4)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(n))
	}
	return b.String()
}

// modelHint points at the metadata when the tensors do not match the model.
func modelHint(meta map[string]string) string {
	if m, ok := meta["model"]; ok {
		return "; a checkpoint of another model? its metadata says model " + clip(m, 100)
	}
	return ""
}

// widthsHint points at the metadata when a shape does not match.
func widthsHint(meta map[string]string) string {
	if w, ok := meta["widths"]; ok {
		return " (a checkpoint of other widths? see its metadata: widths " + clip(w, 300) + ")"
	}
	if m, ok := meta["model"]; ok {
		return " (its metadata says model " + clip(m, 100) + ")"
	}
	return ""
}

// chunkLen is the most elements Save downloads at a time (16 MB).
const chunkLen = 1 << 22

// chunks splits a tensor into consecutive views of at most chunkLen
// elements, so that Save holds only one chunk of a large tensor (a VGG
// classifier weight) in host memory. A batched tensor is not split.
func chunks(t *engine.Tensor) []*engine.Tensor {
	n := t.Len()
	if n <= chunkLen || t.Batched() {
		return []*engine.Tensor{t}
	}
	flat := t.View(n)
	var parts []*engine.Tensor
	for lo := 0; lo < n; lo += chunkLen {
		parts = append(parts, flat.Slice(lo, min(lo+chunkLen, n)))
	}
	return parts
}

func save(path string, be engine.Backend, slots []slot, meta map[string]string) error {
	if err := checkSlots(be, slots); err != nil {
		return fileErr(path, err)
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return &Error{Path: path, Reason: fmt.Sprintf("metadata %s is not valid UTF-8", quote(k))}
		}
	}
	// Lay the tensors out as safetensors.torch does.
	order := make([]*slot, len(slots))
	for i := range slots {
		order[i] = &slots[i]
	}
	sort.Slice(order, func(i, j int) bool {
		ri, rj := dtypeRank[order[i].dtype()], dtypeRank[order[j].dtype()]
		if ri != rj {
			return ri > rj
		}
		return order[i].name < order[j].name
	})
	infos := make([]tensorInfo, len(order))
	pos, maxWords := uint64(0), 0
	for i, s := range order {
		n := s.bytes()
		infos[i] = tensorInfo{name: s.name, dtype: s.dtype(), shape: s.shape(), begin: pos, end: pos + n}
		pos += n
		if s.t != nil {
			maxWords = max(maxWords, min(s.t.Len(), chunkLen))
			if s.t.Batched() {
				maxWords = max(maxWords, s.t.Len())
			}
		}
	}
	hdr := encodeHeader(meta, infos)
	if err := be.Sync(); err != nil {
		return &Error{Path: path, Reason: "backend has a pending error; refusing to save possibly corrupt state: " + err.Error(), Err: err}
	}
	return atomicWrite(path, func(w io.Writer) error {
		var pre [8]byte
		binary.LittleEndian.PutUint64(pre[:], uint64(len(hdr)))
		if _, err := w.Write(pre[:]); err != nil {
			return err
		}
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		scratch := make([]uint32, maxWords)
		for _, s := range order {
			if s.count != nil {
				binary.LittleEndian.PutUint64(pre[:], uint64(*s.count))
				if _, err := w.Write(pre[:]); err != nil {
					return err
				}
				continue
			}
			for _, part := range chunks(s.t) {
				buf := scratch[:part.Len()]
				if part.DType() == engine.Int32 {
					be.DownloadInt32(i32s(buf), part)
				} else {
					be.Download(f32s(buf), part)
				}
				if err := be.Sync(); err != nil {
					return &parseError{tensor: s.name, reason: "download: " + err.Error(), err: err}
				}
				swapWords(buf)
				if _, err := w.Write(wordBytes(buf)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Raw is one tensor of a safetensors file as stored: its dtype name
// ("F32", "I64", ...), shape and little-endian row-major bytes.
type Raw struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// ParseRaw decodes a whole safetensors file held in buf, validated as Load
// validates a file: its metadata and every tensor as stored, in data
// order, whatever its dtype (the PyTorch fixtures' reader uses it).
func ParseRaw(buf []byte) (map[string]string, []Raw, error) {
	h, err := readHeader(bytes.NewReader(buf), int64(len(buf)))
	if err != nil {
		return nil, nil, err
	}
	data := buf[8+h.n:]
	out := make([]Raw, len(h.tensors))
	for i, t := range h.tensors {
		out[i] = Raw{Name: t.name, DType: t.dtype, Shape: t.shape, Data: data[t.begin:t.end]}
	}
	return h.meta, out, nil
}
