package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// idxImages builds an IDX images file with the given header fields and
// n*rows*cols pixels following a fixed pattern.
func idxImages(magic uint32, n, rows, cols int) []byte {
	b := make([]byte, 16, 16+n*rows*cols)
	binary.BigEndian.PutUint32(b[0:], magic)
	binary.BigEndian.PutUint32(b[4:], uint32(n))
	binary.BigEndian.PutUint32(b[8:], uint32(rows))
	binary.BigEndian.PutUint32(b[12:], uint32(cols))
	for i := range n * rows * cols {
		b = append(b, pixelAt(i))
	}
	return b
}

// pixelAt is the synthetic value of the i-th pixel overall.
func pixelAt(i int) byte { return byte(i*7 + i/784) }

// idxLabels builds an IDX labels file holding labels.
func idxLabels(magic uint32, labels []byte) []byte {
	b := make([]byte, 8, 8+len(labels))
	binary.BigEndian.PutUint32(b[0:], magic)
	binary.BigEndian.PutUint32(b[4:], uint32(len(labels)))
	return append(b, labels...)
}

// seqLabels returns n labels i%10 offset by off.
func seqLabels(n, off int) []byte {
	l := make([]byte, n)
	for i := range l {
		l[i] = byte((i + off) % 10)
	}
	return l
}

// gz compresses b.
func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// put writes data to dir/name.
func put(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

// synth holds the contents of a small synthetic MNIST-like data set.
type synth struct {
	trainN, testN int
	files         map[string][]byte // base name (no .gz) -> raw content
}

func newSynth(trainN, testN int) synth {
	return synth{trainN, testN, map[string][]byte{
		TrainImagesFile: idxImages(imagesMagic, trainN, Rows, Cols),
		TrainLabelsFile: idxLabels(labelsMagic, seqLabels(trainN, 0)),
		TestImagesFile:  idxImages(imagesMagic, testN, Rows, Cols),
		TestLabelsFile:  idxLabels(labelsMagic, seqLabels(testN, 3)),
	}}
}

// write stores the set in dir, gzipping the files named in zipped.
func (s synth) write(t testing.TB, dir string, zipped ...string) {
	t.Helper()
	for name, b := range s.files {
		isZ := false
		for _, z := range zipped {
			isZ = isZ || z == name
		}
		if isZ {
			put(t, dir, name+".gz", gz(t, b))
		} else {
			put(t, dir, name, b)
		}
	}
}
