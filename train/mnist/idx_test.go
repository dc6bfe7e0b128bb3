package mnist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	smallTrain = 5
	smallTest  = 3
)

// checkOneLine asserts err is a one-line error about path that says what
// to do, and contains want.
func checkOneLine(t *testing.T, err error, path, want string) {
	t.Helper()
	require.Error(t, err)
	msg := err.Error()
	assert.NotContains(t, msg, "\n")
	if path != "" {
		assert.True(t, strings.HasPrefix(msg, "mnist: "+path+": "), "error %q should start with the file name %q", msg, path)
	}
	assert.Contains(t, msg, want)
	assert.Regexp(t, `\([^()]+\)$`, msg, "error should end with a hint in parentheses")
}

func TestLoadRoundTrip(t *testing.T) {
	for _, zipped := range [][]string{
		nil,
		{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile},
		{TrainImagesFile, TestLabelsFile},
	} {
		t.Run(fmt.Sprintf("gz=%d", len(zipped)), func(t *testing.T) {
			dir := t.TempDir()
			s := newSynth(smallTrain, smallTest)
			s.write(t, dir, zipped...)
			train, test, err := load(dir, smallTrain, smallTest)
			require.NoError(t, err)
			for _, c := range []struct {
				set       *Set
				n         int
				img, labs string
			}{
				{train, smallTrain, TrainImagesFile, TrainLabelsFile},
				{test, smallTest, TestImagesFile, TestLabelsFile},
			} {
				require.Equal(t, c.n, c.set.N)
				assert.Equal(t, s.files[c.img][imagesHeader:], c.set.Images)
				assert.Equal(t, s.files[c.labs][labelsHeader:], c.set.Labels)
				assert.Len(t, c.set.Images, c.n*Pixels)
				for i := range c.n {
					im := c.set.Image(i)
					require.Len(t, im, Pixels)
					assert.Equal(t, pixelAt(i*Pixels+Rows+1), im[Rows+1])
				}
			}
			assert.Equal(t, []uint8{0, 1, 2, 3, 4}, train.Labels)
			assert.Equal(t, []uint8{3, 4, 5}, test.Labels)

			// Any-count loading agrees.
			train2, test2, err := load(dir, -1, -1)
			require.NoError(t, err)
			assert.Equal(t, train, train2)
			assert.Equal(t, test, test2)
		})
	}
}

// TestLoadMultiMemberGzip checks that a gzip file of several members
// (as some compressors write) reads as their concatenation.
func TestLoadMultiMemberGzip(t *testing.T) {
	dir := t.TempDir()
	s := newSynth(smallTrain, smallTest)
	s.write(t, dir)
	b := s.files[TrainImagesFile]
	require.NoError(t, os.Remove(filepath.Join(dir, TrainImagesFile)))
	put(t, dir, TrainImagesFile+".gz", append(gz(t, b[:100]), gz(t, b[100:])...))
	train, _, err := load(dir, smallTrain, smallTest)
	require.NoError(t, err)
	assert.Equal(t, b[imagesHeader:], train.Images)
}

func TestLoadCorruptContent(t *testing.T) {
	imgWant := imagesHeader + smallTrain*Pixels // size of a good train images file
	cases := []struct {
		name string
		file string
		data []byte
		want string
	}{
		{"wrong magic", TrainImagesFile, idxImages(0x00000804, smallTrain, Rows, Cols),
			"wrong magic number 0x00000804, want 0x00000803 for an IDX images file"},
		{"labels magic in images file", TestImagesFile, idxLabels(labelsMagic, seqLabels(smallTest, 0)),
			"wrong magic number 0x00000801, want 0x00000803 for an IDX images file: images and labels swapped?"},
		{"images magic in labels file", TrainLabelsFile, idxImages(imagesMagic, smallTrain, Rows, Cols),
			"wrong magic number 0x00000803, want 0x00000801 for an IDX labels file: images and labels swapped?"},
		{"wrong rows", TrainImagesFile, idxImages(imagesMagic, smallTrain, 27, Cols),
			"images are 27x28, want 28x28"},
		{"wrong cols", TestImagesFile, idxImages(imagesMagic, smallTest, Rows, 32),
			"images are 28x32, want 28x28"},
		{"wrong image count", TrainImagesFile, idxImages(imagesMagic, smallTrain+1, Rows, Cols),
			"holds 6 images, want 5"},
		{"wrong label count", TestLabelsFile, idxLabels(labelsMagic, seqLabels(smallTest-1, 0)),
			"holds 2 labels, want 3"},
		{"truncated payload", TrainImagesFile, idxImages(imagesMagic, smallTrain, Rows, Cols)[:1000],
			fmt.Sprintf("truncated: want %d bytes, got 1000", imgWant)},
		{"truncated labels", TestLabelsFile, idxLabels(labelsMagic, seqLabels(smallTest, 0))[:9],
			"truncated: want 11 bytes, got 9"},
		{"truncated header", TrainImagesFile, idxImages(imagesMagic, smallTrain, Rows, Cols)[:10],
			"truncated: want a 16-byte IDX header, got 10 bytes"},
		{"tiny file", TrainLabelsFile, []byte{0, 0},
			"truncated: want a 8-byte IDX header, got 2 bytes"},
		{"empty file", TestImagesFile, nil,
			"truncated: want a 16-byte IDX header, got 0 bytes"},
		{"trailing bytes", TrainImagesFile, append(idxImages(imagesMagic, smallTrain, Rows, Cols), 1, 2, 3),
			fmt.Sprintf("trailing garbage: want %d bytes, got %d", imgWant, imgWant+3)},
		{"trailing zero bytes", TestLabelsFile, append(idxLabels(labelsMagic, seqLabels(smallTest, 0)), 0),
			"trailing garbage: want 11 bytes, got 12"},
		{"label 10", TrainLabelsFile, idxLabels(labelsMagic, []byte{1, 2, 10, 3, 4}),
			"label 10 at index 2 is outside 0..9"},
		{"label 255", TestLabelsFile, idxLabels(labelsMagic, []byte{1, 2, 255}),
			"label 255 at index 2 is outside 0..9"},
	}
	for _, c := range cases {
		for _, zipped := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/gz=%v", c.name, zipped), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				s := newSynth(smallTrain, smallTest)
				delete(s.files, c.file)
				s.write(t, dir)
				var path string
				if zipped {
					path = put(t, dir, c.file+".gz", gz(t, c.data))
				} else {
					path = put(t, dir, c.file, c.data)
				}
				train, test, err := load(dir, smallTrain, smallTest)
				assert.Nil(t, train)
				assert.Nil(t, test)
				checkOneLine(t, err, path, c.want+" (delete it and rerun to fetch it again)")
			})
		}
	}
}

func TestLoadCorruptContainer(t *testing.T) {
	good := newSynth(smallTrain, smallTest).files
	goodGz := gz(t, good[TrainImagesFile])
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path the error must name
		want  string
	}{
		{"gz name but raw content", func(t *testing.T, dir string) string {
			return put(t, dir, TrainImagesFile+".gz", good[TrainImagesFile])
		}, "not valid gzip data: gzip: invalid header (delete it"},
		{"raw name but gzipped content", func(t *testing.T, dir string) string {
			return put(t, dir, TrainImagesFile, goodGz)
		}, "it looks gzipped (add .gz to its name)"},
		{"gzip stream cut short", func(t *testing.T, dir string) string {
			return put(t, dir, TrainImagesFile+".gz", goodGz[:len(goodGz)-30])
		}, "truncated: gzip data ends early (delete it"},
		{"gzip checksum wrong", func(t *testing.T, dir string) string {
			b := append([]byte(nil), goodGz...)
			b[len(b)-8] ^= 0xff // CRC-32 in the trailer
			return put(t, dir, TrainImagesFile+".gz", b)
		}, "corrupt: gzip: invalid checksum (delete it"},
		{"garbage after gzip stream", func(t *testing.T, dir string) string {
			return put(t, dir, TrainImagesFile+".gz", append(append([]byte(nil), goodGz...), "junk"...))
		}, "trailing garbage after the gzip data (delete it"},
		{"bad gzip member after the first", func(t *testing.T, dir string) string {
			return put(t, dir, TrainImagesFile+".gz", append(append([]byte(nil), goodGz...), 0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
		}, "corrupt: gzip: invalid header (delete it"},
		{"both raw and gz", func(t *testing.T, dir string) string {
			put(t, dir, TrainImagesFile+".gz", goodGz)
			return put(t, dir, TrainImagesFile, good[TrainImagesFile])
		}, "both it and train-images-idx3-ubyte.gz exist (delete one of them)"},
		{"folder in place of file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, TestLabelsFile)
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Mkdir(p, 0o755))
			return p
		}, "not a regular file (remove it)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := newSynth(smallTrain, smallTest)
			delete(s.files, TrainImagesFile)
			s.write(t, dir)
			path := c.setup(t, dir)
			if _, err := os.Stat(filepath.Join(dir, TrainImagesFile)); errors.Is(err, fs.ErrNotExist) {
				if _, err := os.Stat(filepath.Join(dir, TrainImagesFile+".gz")); errors.Is(err, fs.ErrNotExist) {
					put(t, dir, TrainImagesFile, good[TrainImagesFile])
				}
			}
			_, _, err := load(dir, smallTrain, smallTest)
			checkOneLine(t, err, path, c.want)
		})
	}
}

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	s := newSynth(smallTrain, smallTest)
	delete(s.files, TestImagesFile)
	s.write(t, dir)
	_, _, err := load(dir, smallTrain, smallTest)
	checkOneLine(t, err, filepath.Join(dir, TestImagesFile),
		"missing: neither it nor t10k-images-idx3-ubyte.gz exists (fetch it with mnist.Ensure")
	assert.ErrorIs(t, err, fs.ErrNotExist)

	_, _, err = Load(filepath.Join(dir, "nope"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestLoadCountMismatch(t *testing.T) {
	for _, zipped := range []bool{false, true} {
		t.Run(fmt.Sprintf("gz=%v", zipped), func(t *testing.T) {
			dir := t.TempDir()
			s := newSynth(smallTrain, smallTest)
			s.files[TestLabelsFile] = idxLabels(labelsMagic, seqLabels(smallTest+2, 0))
			var z []string
			if zipped {
				z = Files()
			}
			s.write(t, dir, z...)
			_, _, err := load(dir, -1, -1)
			require.Error(t, err)
			sfx := ""
			if zipped {
				sfx = ".gz"
			}
			assert.Equal(t, fmt.Sprintf("mnist: %s holds 3 images but %s holds 5 labels (delete both and rerun to fetch them again)",
				filepath.Join(dir, TestImagesFile+sfx), filepath.Join(dir, TestLabelsFile+sfx)), err.Error())
		})
	}
}

// TestLoadStrictCounts checks that the public Load insists on the real
// MNIST counts.
func TestLoadStrictCounts(t *testing.T) {
	t.Run("small set", func(t *testing.T) {
		dir := t.TempDir()
		newSynth(smallTrain, smallTest).write(t, dir)
		_, _, err := Load(dir)
		checkOneLine(t, err, filepath.Join(dir, TrainImagesFile), "holds 5 images, want 60000")
	})
	t.Run("truncated full-size header", func(t *testing.T) {
		dir := t.TempDir()
		newSynth(smallTrain, smallTest).write(t, dir)
		require.NoError(t, os.Remove(filepath.Join(dir, TrainImagesFile)))
		b := idxImages(imagesMagic, 2, Rows, Cols)
		b[7] = 0x60 // count 60000 = 0xea60
		b[6] = 0xea
		p := put(t, dir, TrainImagesFile+".gz", gz(t, b[:1000]))
		_, _, err := Load(dir)
		require.Error(t, err)
		assert.Equal(t, "mnist: "+p+": truncated: want 47040016 bytes, got 1000 (delete it and rerun to fetch it again)", err.Error())
	})
	t.Run("test labels count", func(t *testing.T) {
		dir := t.TempDir()
		newSynth(smallTrain, smallTest).write(t, dir)
		// readIDX checks a single file with the real test count.
		p := filepath.Join(dir, TestLabelsFile)
		_, _, err := readIDX(p, false, TestCount)
		checkOneLine(t, err, p, "holds 3 labels, want 10000")
	})
}

func TestFiles(t *testing.T) {
	assert.Equal(t, []string{
		"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
		"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
	}, Files())
}
