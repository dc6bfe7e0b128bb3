package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The safetensors format (https://github.com/huggingface/safetensors):
//
//	8 bytes   N, little-endian uint64: the header's length
//	N bytes   the header: a UTF-8 JSON object, padded with spaces
//	rest      the data: every tensor's bytes, little-endian, row-major
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets"}
// (offsets into the data, [begin, end)) and the reserved key "__metadata__"
// to a string-to-string map. The tensors must tile the data exactly: sorted
// by offset, each begins where the previous ends, and the last ends at the
// end of the file.
//
// This file is gotrain's own reader and writer of that format. The limits
// and rules are those of the reference (Rust) implementation, plus a few
// that it leaves loose: a name listed twice, a field listed twice or
// unknown, or invalid UTF-8 are errors here.

const (
	// maxHeader is the reference implementation's limit on N.
	maxHeader = 100_000_000
	// maxRank bounds a shape's length (a lying header could list millions).
	maxRank = 64
	// metaKey is the header key of the string-to-string metadata.
	metaKey = "__metadata__"
)

// dtypeSize is the element size of every safetensors dtype this reader
// knows. Only F32, I32 and I64 are ever loaded; the others are recognised so
// that an error can say what a file holds.
var dtypeSize = map[string]uint64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"F64": 8, "I64": 8, "U64": 8,
}

// dtypeRank orders the dtypes gotrain writes as the reference writer does
// (its Dtype enum): tensors are laid out by descending rank, then by name.
var dtypeRank = map[string]int{"I32": 9, "F32": 11, "I64": 13}

// tensorInfo is one tensor of a header.
type tensorInfo struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64 // offsets into the data section
}

// header is a parsed, validated safetensors header.
type header struct {
	meta    map[string]string // never nil
	tensors []tensorInfo      // sorted by offset
	index   map[string]int    // name -> position in tensors
	n       uint64            // header length N
	dataLen uint64            // bytes of data after the header
}

// parseError is an error found while reading a file, before its path is
// known to the reader; the caller makes it an *Error.
type parseError struct {
	tensor string
	reason string
	err    error
}

func (e *parseError) Error() string {
	if e.tensor != "" {
		return "tensor " + quote(e.tensor) + ": " + e.reason
	}
	return e.reason
}

func failf(format string, args ...any) error {
	return &parseError{reason: fmt.Sprintf(format, args...)}
}

func tensorf(name, format string, args ...any) error {
	return &parseError{tensor: name, reason: fmt.Sprintf(format, args...)}
}

// readHeader reads and validates the header of a safetensors file of size
// bytes from r, which must be at the start of the file; r is left at the
// start of the data. It allocates at most N bytes (after checking that the
// file holds them) and never panics.
func readHeader(r io.Reader, size int64) (*header, error) {
	if size < 8 {
		return nil, failf("%d bytes: too short for a safetensors file (empty or truncated)", size)
	}
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, &parseError{reason: "read header length: " + err.Error(), err: err}
	}
	n := binary.LittleEndian.Uint64(pre[:])
	if n > maxHeader {
		return nil, failf("header length %d exceeds the %d-byte limit: not a safetensors file", n, maxHeader)
	}
	if n > uint64(size-8) {
		return nil, failf("header length %d runs past the end of the file (%d bytes): truncated or not a safetensors file", n, size)
	}
	if n < 2 {
		return nil, failf("header length %d: too short for a JSON object; not a safetensors file", n)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, &parseError{reason: "read header: " + err.Error(), err: err}
	}
	h, err := parseHeaderJSON(hb)
	if err != nil {
		return nil, err
	}
	h.n = n
	h.dataLen = uint64(size) - 8 - n
	if err := h.validate(); err != nil {
		return nil, err
	}
	return h, nil
}

// parseHeaderJSON decodes the header's JSON, strictly.
func parseHeaderJSON(hb []byte) (*header, error) {
	if !utf8.Valid(hb) {
		return nil, failf("header is not valid UTF-8: not a safetensors file")
	}
	if hb[0] != '{' {
		return nil, failf("header does not start with '{': not a safetensors file")
	}
	dec := json.NewDecoder(bytes.NewReader(hb))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, jsonErr("", err)
	}
	h := &header{meta: map[string]string{}, index: map[string]int{}}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr("", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, jsonErr("", fmt.Errorf("unexpected %v", tok))
		}
		if key == metaKey {
			if seenMeta {
				return nil, failf("header lists %s twice", metaKey)
			}
			seenMeta = true
			if err := parseMeta(dec, h.meta); err != nil {
				return nil, err
			}
			continue
		}
		if _, dup := h.index[key]; dup {
			return nil, tensorf(key, "listed twice in the header")
		}
		info, err := parseInfo(dec, key)
		if err != nil {
			return nil, err
		}
		h.index[key] = len(h.tensors)
		h.tensors = append(h.tensors, info)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, jsonErr("", err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %v", tok)
		}
		return nil, jsonErr("", fmt.Errorf("after the header object: %w", err))
	}
	return h, nil
}

func jsonErr(tensor string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("unexpected end of JSON")
	}
	return &parseError{tensor: tensor, reason: "corrupt header: " + err.Error()}
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("found %s where %q was expected", tokenStr(tok), string(want))
	}
	return nil
}

// tokenStr describes a JSON token briefly.
func tokenStr(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return strconv.Quote(string(v))
	case string:
		return "string " + quote(v)
	case json.Number:
		return "number " + clip(string(v), 40)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

func parseMeta(dec *json.Decoder, meta map[string]string) error {
	if err := expectDelim(dec, '{'); err != nil {
		return jsonErr("", fmt.Errorf("%s: %w", metaKey, err))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonErr("", err)
		}
		k, ok := tok.(string)
		if !ok {
			return jsonErr("", fmt.Errorf("%s: unexpected %v", metaKey, tok))
		}
		tok, err = dec.Token()
		if err != nil {
			return jsonErr("", err)
		}
		v, ok := tok.(string)
		if !ok {
			return failf("%s key %s holds %s, not a string", metaKey, quote(k), tokenStr(tok))
		}
		if _, dup := meta[k]; dup {
			return failf("%s lists key %s twice", metaKey, quote(k))
		}
		meta[k] = v
	}
	if err := expectDelim(dec, '}'); err != nil {
		return jsonErr("", fmt.Errorf("%s: %w", metaKey, err))
	}
	return nil
}

func parseInfo(dec *json.Decoder, name string) (tensorInfo, error) {
	info := tensorInfo{name: name}
	if err := expectDelim(dec, '{'); err != nil {
		return info, jsonErr(name, err)
	}
	var seen [3]bool // dtype, shape, data_offsets
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return info, jsonErr(name, err)
		}
		field, _ := tok.(string)
		switch field {
		case "dtype":
			if seen[0] {
				return info, tensorf(name, "header entry lists \"dtype\" twice")
			}
			seen[0] = true
			tok, err := dec.Token()
			if err != nil {
				return info, jsonErr(name, err)
			}
			s, ok := tok.(string)
			if !ok {
				return info, tensorf(name, "dtype is %s, not a string", tokenStr(tok))
			}
			if _, known := dtypeSize[s]; !known {
				return info, tensorf(name, "unknown dtype %s", quote(s))
			}
			info.dtype = s
		case "shape":
			if seen[1] {
				return info, tensorf(name, "header entry lists \"shape\" twice")
			}
			seen[1] = true
			dims, err := parseUints(dec, name, "shape", maxRank)
			if err != nil {
				return info, err
			}
			info.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > uint64(maxInt) {
					return info, tensorf(name, "shape dimension %d is too large", d)
				}
				info.shape[i] = int(d)
			}
		case "data_offsets":
			if seen[2] {
				return info, tensorf(name, "header entry lists \"data_offsets\" twice")
			}
			seen[2] = true
			offs, err := parseUints(dec, name, "data_offsets", 2)
			if err != nil {
				return info, err
			}
			if len(offs) != 2 {
				return info, tensorf(name, "data_offsets has %d number(s), not 2", len(offs))
			}
			info.begin, info.end = offs[0], offs[1]
		default:
			if _, ok := tok.(string); !ok {
				return info, jsonErr(name, fmt.Errorf("unexpected %v", tok))
			}
			return info, tensorf(name, "unknown field %s in its header entry", quote(field))
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return info, jsonErr(name, err)
	}
	for i, f := range []string{"dtype", "shape", "data_offsets"} {
		if !seen[i] {
			return info, tensorf(name, "header entry has no %q", f)
		}
	}
	return info, nil
}

const maxInt = int(^uint(0) >> 1)

// parseUints reads a JSON array of at most max natural numbers.
func parseUints(dec *json.Decoder, name, field string, max int) ([]uint64, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(name, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, tensorf(name, "%s is %s, not an array", field, tokenStr(tok))
	}
	var out []uint64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(name, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, tensorf(name, "%s holds %s, not a natural number", field, tokenStr(tok))
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, tensorf(name, "%s holds %s, not a natural number below 2^64", field, clip(string(num), 40))
		}
		if len(out) == max {
			return nil, tensorf(name, "%s has more than %d numbers", field, max)
		}
		out = append(out, v)
	}
	if err := expectDelim(dec, ']'); err != nil {
		return nil, jsonErr(name, err)
	}
	return out, nil
}

// byteLen is the number of bytes of a tensor of this dtype and shape, with
// the reference implementation's overflow rule (a running product).
func byteLen(dtype string, shape []int) (uint64, bool) {
	n := uint64(1)
	for _, d := range shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 {
			return 0, false
		}
		n = lo
	}
	hi, lo := bits.Mul64(n, dtypeSize[dtype])
	return lo, hi == 0
}

// validate checks that the tensors tile the data exactly, and sorts them by
// offset.
func (h *header) validate() error {
	sort.Slice(h.tensors, func(i, j int) bool {
		a, b := &h.tensors[i], &h.tensors[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		if a.end != b.end {
			return a.end < b.end
		}
		return a.name < b.name
	})
	for i := range h.tensors {
		h.index[h.tensors[i].name] = i
	}
	var prev *tensorInfo
	pos := uint64(0)
	for i := range h.tensors {
		t := &h.tensors[i]
		if t.end < t.begin {
			return tensorf(t.name, "data_offsets [%d %d] end before they begin", t.begin, t.end)
		}
		want, ok := byteLen(t.dtype, t.shape)
		if !ok {
			return tensorf(t.name, "shape %s of %s overflows", shapeStr(t.shape), t.dtype)
		}
		if got := t.end - t.begin; got != want {
			return tensorf(t.name, "%s %s takes %d bytes, but data_offsets [%d %d] hold %d", t.dtype, shapeStr(t.shape), want, t.begin, t.end, got)
		}
		if t.end > h.dataLen {
			return tensorf(t.name, "data_offsets [%d %d] run past the end of the data (%d bytes): file truncated?", t.begin, t.end, h.dataLen)
		}
		switch {
		case t.begin < pos:
			return tensorf(t.name, "data_offsets [%d %d] overlap tensor %s [%d %d]", t.begin, t.end, quote(prev.name), prev.begin, prev.end)
		case t.begin > pos && prev == nil:
			return tensorf(t.name, "data_offsets [%d %d] leave %d bytes unused at the start of the data", t.begin, t.end, t.begin-pos)
		case t.begin > pos:
			return tensorf(t.name, "data_offsets [%d %d] leave %d bytes unused after tensor %s [%d %d]", t.begin, t.end, t.begin-pos, quote(prev.name), prev.begin, prev.end)
		}
		pos, prev = t.end, t
	}
	if pos != h.dataLen {
		if prev == nil {
			return failf("the header lists no tensors but %d bytes of data follow it", h.dataLen)
		}
		return failf("%d bytes of data follow the last tensor %s: not what the header describes", h.dataLen-pos, quote(prev.name))
	}
	return nil
}

// encodeHeader writes a header as the reference writer does: compact JSON,
// the metadata first (keys sorted), then the tensors in the given (data)
// order, padded with spaces to a multiple of 8 bytes.
func encodeHeader(meta map[string]string, tensors []tensorInfo) []byte {
	b := []byte{'{'}
	sep := false
	if len(meta) > 0 {
		b = appendString(b, metaKey)
		b = append(b, ':', '{')
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, meta[k])
		}
		b = append(b, '}')
		sep = true
	}
	for _, t := range tensors {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = appendString(b, t.name)
		b = append(b, `:{"dtype":`...)
		b = appendString(b, t.dtype)
		b = append(b, `,"shape":[`...)
		for i, d := range t.shape {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendUint(b, t.begin, 10)
		b = append(b, ',')
		b = strconv.AppendUint(b, t.end, 10)
		b = append(b, ']', '}')
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b
}

// appendString appends s as a JSON string escaped as serde_json and
// Python's json (ensure_ascii=False) do: only '"', '\\' and control
// characters. s must be valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// shapeStr formats a shape as Go does ([64 3 3 3]; [] for a scalar).
func shapeStr(s []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == 16 && len(s) > 17 {
			fmt.Fprintf(&b, "... (%d dimensions)", len(s))
			break
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteByte(']')
	return b.String()
}

// quote quotes a (possibly hostile) name for a one-line message.
func quote(s string) string { return strconv.Quote(clip(s, 200)) }

// clip shortens s to about max bytes, on a rune boundary.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…(%d bytes)", len(s))
}
