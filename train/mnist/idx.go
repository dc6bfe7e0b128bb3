package mnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Base names of the four MNIST files; each may also carry a .gz suffix.
const (
	TrainImagesFile = "train-images-idx3-ubyte"
	TrainLabelsFile = "train-labels-idx1-ubyte"
	TestImagesFile  = "t10k-images-idx3-ubyte"
	TestLabelsFile  = "t10k-labels-idx1-ubyte"
)

// Files returns the base names of the four MNIST files, in the order
// training images, training labels, test images, test labels.
func Files() []string {
	return []string{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile}
}

// IDX magic numbers: two zero bytes, the element type (0x08 = unsigned
// byte) and the number of dimensions.
const (
	imagesMagic = 0x00000803
	labelsMagic = 0x00000801

	imagesHeader = 16 // magic, count, rows, cols
	labelsHeader = 8  // magic, count
)

// Hints appended to errors, in parentheses, saying what to do.
const (
	hintRefetch = "delete it and rerun to fetch it again"
	hintMissing = "fetch it with mnist.Ensure, or put the file there"
)

// fileError formats the one-line error for a problem with one file.
func fileError(path, hint, format string, args ...any) error {
	return fmt.Errorf("mnist: %s: %s (%s)", path, fmt.Sprintf(format, args...), hint)
}

// Load reads the MNIST training and test sets from the four IDX files in
// dir, each raw or gzipped (.gz). It checks every file strictly (magic
// number, 28x28 images, 60000 training and 10000 test examples, exact
// length, labels in 0..9) and returns a one-line error naming the first
// file at fault, what is wrong with it and what to do. A missing file
// gives an error that matches [fs.ErrNotExist]. Load never fetches; call
// [Ensure] first for that.
func Load(dir string) (train, test *Set, err error) {
	return load(dir, TrainCount, TestCount)
}

// load is Load with the expected counts as parameters; a negative count
// accepts any count (for tests on small synthetic files).
func load(dir string, trainN, testN int) (train, test *Set, err error) {
	jobs := []struct {
		name   string
		images bool
		wantN  int
	}{
		{TrainImagesFile, true, trainN},
		{TrainLabelsFile, false, trainN},
		{TestImagesFile, true, testN},
		{TestLabelsFile, false, testN},
	}
	type result struct {
		path string
		data []byte
		n    int
		err  error
	}
	res := make([]result, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			r := &res[i]
			r.path, r.err = locate(dir, j.name)
			if r.err == nil {
				r.data, r.n, r.err = readIDX(r.path, j.images, j.wantN)
			}
		})
	}
	wg.Wait()
	for _, r := range res {
		if r.err != nil {
			return nil, nil, r.err
		}
	}
	sets := make([]*Set, 2)
	for k := range sets {
		im, lb := res[2*k], res[2*k+1]
		if im.n != lb.n {
			return nil, nil, fmt.Errorf("mnist: %s holds %d images but %s holds %d labels (delete both and rerun to fetch them again)",
				im.path, im.n, lb.path, lb.n)
		}
		sets[k] = &Set{Images: im.data, Labels: lb.data, N: im.n}
	}
	return sets[0], sets[1], nil
}

// locate returns the path of the file called name, raw or gzipped, in dir.
// It is an error for neither or both to exist.
func locate(dir, name string) (string, error) {
	raw := filepath.Join(dir, name)
	gz := raw + ".gz"
	rawOK, err := regular(raw)
	if err != nil {
		return "", err
	}
	gzOK, err := regular(gz)
	if err != nil {
		return "", err
	}
	switch {
	case rawOK && gzOK:
		return "", fileError(raw, "delete one of them", "both it and %s exist", filepath.Base(gz))
	case rawOK:
		return raw, nil
	case gzOK:
		return gz, nil
	}
	return "", notExistError{fileError(raw, hintMissing, "missing: neither it nor %s exists", filepath.Base(gz))}
}

// notExistError is an error that matches [fs.ErrNotExist].
type notExistError struct{ error }

func (notExistError) Is(target error) bool { return target == fs.ErrNotExist }

// regular reports whether path exists, and fails if it exists but is not
// a regular file or cannot be examined.
func regular(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mnist: %s: %w (check that it can be read)", path, err)
	}
	if !fi.Mode().IsRegular() {
		return false, fileError(path, "remove it", "not a regular file")
	}
	return true, nil
}

// readIDX reads and checks one IDX file (gunzipping it if its name ends
// in .gz). For images it returns n*Pixels bytes, for labels n bytes.
// wantN < 0 accepts any count.
func readIDX(path string, images bool, wantN int) (data []byte, n int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("mnist: %s: %w (check that it can be read)", path, err)
	}
	defer f.Close()
	var r io.Reader = f
	gzipped := strings.HasSuffix(path, ".gz")
	if gzipped {
		br := bufio.NewReader(f)
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fileError(path, hintRefetch, "not valid gzip data: %v", err)
		}
		zr.Multistream(false)
		r = &gzipReader{br: br, zr: zr}
	}
	return parseIDX(path, r, gzipped, images, wantN)
}

// parseIDX checks and reads the IDX content of r; path names it in errors.
func parseIDX(path string, r io.Reader, gzipped, images bool, wantN int) (data []byte, n int, err error) {
	kind, magic, hdrLen, per := "labels", uint32(labelsMagic), labelsHeader, 1
	if images {
		kind, magic, hdrLen, per = "images", imagesMagic, imagesHeader, Pixels
	}
	hdr := make([]byte, hdrLen)
	got, rerr := readFull(r, hdr)
	if got < 4 {
		if rerr != nil && !isEOF(rerr) {
			return nil, 0, corrupt(path, rerr)
		}
		return nil, 0, fileError(path, hintRefetch, "truncated: want a %d-byte IDX header, got %d bytes", hdrLen, got)
	}
	if m := binary.BigEndian.Uint32(hdr); m != magic {
		what := fmt.Sprintf("wrong magic number 0x%08x, want 0x%08x for an IDX %s file", m, magic, kind)
		if !gzipped && hdr[0] == 0x1f && hdr[1] == 0x8b {
			return nil, 0, fileError(path, "add .gz to its name", "%s: it looks gzipped", what)
		}
		if m == imagesMagic || m == labelsMagic {
			what += ": images and labels swapped?"
		}
		return nil, 0, fileError(path, hintRefetch, "%s", what)
	}
	if rerr != nil {
		if !isEOF(rerr) {
			return nil, 0, corrupt(path, rerr)
		}
		return nil, 0, fileError(path, hintRefetch, "truncated: want a %d-byte IDX header, got %d bytes", hdrLen, got)
	}
	count := binary.BigEndian.Uint32(hdr[4:])
	if images {
		rows, cols := binary.BigEndian.Uint32(hdr[8:]), binary.BigEndian.Uint32(hdr[12:])
		if rows != Rows || cols != Cols {
			return nil, 0, fileError(path, hintRefetch, "images are %dx%d, want %dx%d", rows, cols, Rows, Cols)
		}
	}
	if wantN >= 0 && count != uint32(wantN) {
		return nil, 0, fileError(path, hintRefetch, "holds %d %s, want %d", count, kind, wantN)
	}
	n = int(count)
	size := int64(n) * int64(per)
	want := int64(hdrLen) + size

	data, rerr = readN(r, size)
	if int64(len(data)) < size {
		if rerr != nil && !isEOF(rerr) {
			return nil, 0, corrupt(path, rerr)
		}
		return nil, 0, fileError(path, hintRefetch, "truncated: want %d bytes, got %d", want, int64(hdrLen)+int64(len(data)))
	}
	// The file must end here. Reading on to EOF also makes gzip check its
	// checksum.
	extra, rerr := io.Copy(io.Discard, r)
	if rerr != nil {
		return nil, 0, corrupt(path, rerr)
	}
	if extra > 0 {
		return nil, 0, fileError(path, hintRefetch, "trailing garbage: want %d bytes, got %d", want, want+extra)
	}
	if !images {
		for i, l := range data {
			if l >= Classes {
				return nil, 0, fileError(path, hintRefetch, "label %d at index %d is outside 0..%d", l, i, Classes-1)
			}
		}
	}
	return data, n, nil
}

// gzipReader reads the concatenated members of a gzip stream, as
// gzip.Reader does, but reports bytes after the last member that do not
// start a new one as [errGzipTrailing] instead of a header error.
type gzipReader struct {
	br *bufio.Reader // the gzip.Reader reads from it without reading ahead
	zr *gzip.Reader  // in single-member mode
}

// errGzipTrailing is returned for bytes after the gzip data.
var errGzipTrailing = errors.New("trailing garbage after the gzip data")

func (g *gzipReader) Read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		if err != io.EOF || n > 0 {
			if err == io.EOF {
				err = nil // report the end of the member on the next call
			}
			return n, err
		}
		// One member has ended: the file must end too or hold another.
		head, err := g.br.Peek(2)
		if len(head) == 0 && err == io.EOF {
			return 0, io.EOF
		}
		if len(head) < 2 || head[0] != 0x1f || head[1] != 0x8b {
			if err != nil && err != io.EOF {
				return 0, err
			}
			return 0, errGzipTrailing
		}
		if err := g.zr.Reset(g.br); err != nil {
			return 0, err
		}
		g.zr.Multistream(false)
	}
}

// corrupt reports a read error in the middle of a file, such as bad gzip
// data.
func corrupt(path string, err error) error {
	if errors.Is(err, errGzipTrailing) {
		return fileError(path, hintRefetch, "%v", err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fileError(path, hintRefetch, "truncated: gzip data ends early")
	}
	return fileError(path, hintRefetch, "corrupt: %v", err)
}

func isEOF(err error) bool { return err == io.EOF }

// readFull fills buf from r as far as r allows and returns how much was
// read and the error that stopped it (nil if buf was filled).
func readFull(r io.Reader, buf []byte) (int, error) {
	got := 0
	for got < len(buf) {
		n, err := r.Read(buf[got:])
		got += n
		if err != nil {
			if got == len(buf) && err == io.EOF {
				return got, nil
			}
			return got, err
		}
	}
	return got, nil
}

// readN reads up to size bytes from r. It allocates as data arrives, in
// chunks of at most 64 MiB, so that a header claiming a huge count
// cannot make it allocate much more than the file holds.
func readN(r io.Reader, size int64) ([]byte, error) {
	const chunk = 64 << 20
	buf := make([]byte, 0, min(size, chunk))
	for int64(len(buf)) < size {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(size, int64(cap(buf))+chunk))
			copy(grown, buf)
			buf = grown
		}
		n, err := readFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
