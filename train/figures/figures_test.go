package figures

import (
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// decode reads the PNG at path back and checks its size.
func decode(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, w, h), img.Bounds(), "image size")
	return img
}

// stats returns the number of distinct colours of img and the fraction of
// its pixels that are not white.
func stats(img image.Image) (distinct int, nonWhite float64) {
	seen := map[color.RGBA64]bool{}
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, a := img.At(x, y).RGBA()
			seen[color.RGBA64{uint16(r), uint16(g), uint16(bb), uint16(a)}] = true
			if r < 0xf000 || g < 0xf000 || bb < 0xf000 {
				n++
			}
		}
	}
	return len(seen), float64(n) / float64(b.Dx()*b.Dy())
}

// requireDrawn checks that img is neither blank nor a solid block.
func requireDrawn(t *testing.T, img image.Image, minColours int, minInk, maxInk float64) {
	t.Helper()
	distinct, ink := stats(img)
	require.GreaterOrEqual(t, distinct, minColours, "distinct colours")
	require.GreaterOrEqual(t, ink, minInk, "fraction of non-white pixels")
	require.LessOrEqual(t, ink, maxInk, "fraction of non-white pixels")
}

// requireNoTemp checks that no temporary file was left in dir.
func requireNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		require.False(t, strings.Contains(e.Name(), ".tmp"), "left over %s", e.Name())
	}
}

// curves returns n epochs of plausible training curves.
func curves(n int) []Epoch {
	es := make([]Epoch, n)
	for i := range es {
		f := float64(i)
		es[i] = Epoch{
			Epoch:     i + 1,
			TrainLoss: 0.02 + 0.4*math.Exp(-f/3),
			TestLoss:  0.03 + 0.15*math.Exp(-f/4) + 0.002*f,
			TestAcc:   0.9912 - 0.04*math.Exp(-f/2) + 0.001*math.Sin(f),
		}
	}
	return es
}

// typicalConfusion returns a nearly diagonal confusion matrix of an MNIST
// test set (10000 samples).
func typicalConfusion() [10][10]int {
	var cm [10][10]int
	sizes := [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
	for t := range cm {
		cm[t][t] = sizes[t]
		for _, e := range [][3]int{{4, 9, 9}, {7, 2, 6}, {9, 4, 5}, {3, 5, 4}, {5, 3, 3}, {8, 3, 2}, {2, 7, 3}, {6, 0, 2}} {
			if e[0] == t {
				cm[t][e[1]] += e[2]
				cm[t][t] -= e[2]
			}
		}
	}
	return cm
}

// digit returns a synthetic 28x28 sample: a ring for even classes, a bar for
// odd ones, with a gradient stroke.
func digit(class int) []uint8 {
	img := make([]uint8, ImageSide*ImageSide)
	for y := range ImageSide {
		for x := range ImageSide {
			dx, dy := float64(x)-13.5, float64(y)-13.5
			var d float64
			if class%2 == 0 {
				d = math.Abs(math.Hypot(dx/0.7, dy)-8) - 1.5
			} else {
				d = math.Abs(dx-dy*0.2) - 1.5 + math.Max(0, math.Abs(dy)-9)
			}
			if d < 1 {
				img[y*ImageSide+x] = uint8(255 * math.Min(1, 1-d))
			}
		}
	}
	return img
}

func TestLossAcc(t *testing.T) {
	for _, tc := range []struct {
		name   string
		epochs []Epoch
	}{
		{"1 epoch", curves(1)},
		{"2 epochs", curves(2)},
		{"30 epochs", curves(30)},
		{"200 epochs", curves(200)},
		{"flat", []Epoch{{1, 0.1, 0.1, 1}, {2, 0.1, 0.1, 1}}},
		{"zero loss", []Epoch{{1, 0, 0, 0.5}}},
		{"diverged", []Epoch{{1, 0.5, 0.4, 0.8}, {2, math.NaN(), math.Inf(1), 0.1}, {3, 0.3, 0.2, 0.9}}},
		{"unsorted", []Epoch{{3, 0.1, 0.2, 0.97}, {1, 0.4, 0.3, 0.9}, {2, 0.2, 0.25, 0.95}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "loss_acc.png")
			require.NoError(t, LossAcc(path, "lenet", tc.epochs))
			img := decode(t, path, 960, 720)
			requireDrawn(t, img, 20, 0.01, 0.5)
			requireNoTemp(t, dir)
		})
	}
}

// TestLossAccSinglePointVisible checks that a single epoch draws markers of
// all three series' colours.
func TestLossAccSinglePointVisible(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one.png")
	require.NoError(t, LossAcc(path, "lenet", curves(1)))
	img := decode(t, path, 960, 720)
	for _, want := range []color.RGBA{colTestLoss, colTrainLoss, colTestAcc} {
		// Skip the legend at the right: count pixels of the series colour
		// in the middle of the figure, where the single points are.
		n := 0
		for y := 0; y < 720; y++ {
			for x := 300; x < 660; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if near(r, want.R) && near(g, want.G) && near(b, want.B) {
					n++
				}
			}
		}
		require.Greater(t, n, 20, "pixels of colour %v", want)
	}
}

func near(v uint32, w uint8) bool { return math.Abs(float64(v>>8)-float64(w)) <= 8 }

func TestLossAccErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, path string
		epochs     []Epoch
		msg        string
	}{
		{"no epochs", filepath.Join(dir, "a.png"), nil, "no epochs"},
		{"percent", filepath.Join(dir, "b.png"), []Epoch{{1, 0.1, 0.1, 99.1}}, "not a fraction"},
		{"no accuracy", filepath.Join(dir, "c.png"), []Epoch{{1, 0.1, 0.1, math.NaN()}}, "no finite test accuracy"},
		{"bad path", filepath.Join(dir, "missing", "d.png"), curves(3), "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := LossAcc(tc.path, "lenet", tc.epochs)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.msg)
			require.NoFileExists(t, tc.path)
		})
	}
	requireNoTemp(t, dir)
}

func TestConfusion(t *testing.T) {
	var huge [10][10]int
	for i := range huge {
		huge[i][i] = 123456
		huge[i][(i+1)%10] = 7
	}
	for _, tc := range []struct {
		name string
		cm   [10][10]int
	}{
		{"typical", typicalConfusion()},
		{"all zero", [10][10]int{}},
		{"large counts", huge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "confusion.png")
			require.NoError(t, Confusion(path, "seresnet", tc.cm))
			img := decode(t, path, 960, 780)
			requireDrawn(t, img, 20, 0.02, 0.9)
			requireNoTemp(t, dir)
		})
	}
}

// TestConfusionOrientation checks that row t is the true label drawn t-th
// from the top: with a single count at true 0, predicted 9, the only dark
// cell is at the top right of the matrix.
func TestConfusionOrientation(t *testing.T) {
	var cm [10][10]int
	cm[0][9] = 50
	path := filepath.Join(t.TempDir(), "c.png")
	require.NoError(t, Confusion(path, "m", cm))
	img := decode(t, path, 960, 780)
	// Find the bounding box of the dark-blue cell pixels, ignoring the
	// colour bar (a narrow strip at the far right).
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, image.Point{}, draw.Src)
	dark := image.Rectangle{}
	for y := range 780 {
		for x := range 800 {
			c := rgba.RGBAAt(x, y)
			if c.B > 0x60 && c.R < 0x20 && c.G < 0x60 { // the darkest blues
				dark = dark.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	require.False(t, dark.Empty(), "no dark cell")
	// A single square cell in the top right of the matrix.
	require.InDelta(t, dark.Dx(), dark.Dy(), 4, "cell is square: %v", dark)
	require.Less(t, dark.Min.Y, 780/4, "dark cell near the top: %v", dark)
	require.Greater(t, dark.Min.X, 480, "dark cell at the right: %v", dark)
}

func TestConfusionErrors(t *testing.T) {
	dir := t.TempDir()
	var neg [10][10]int
	neg[3][4] = -1
	err := Confusion(filepath.Join(dir, "a.png"), "m", neg)
	require.ErrorContains(t, err, "negative count")
	err = Confusion(filepath.Join(dir, "missing", "b.png"), "m", typicalConfusion())
	require.ErrorContains(t, err, "missing")
	requireNoTemp(t, dir)
}

func TestExamples(t *testing.T) {
	full := func() [10]Panel {
		var ps [10]Panel
		for i := range ps {
			ps[i] = Panel{Image: digit(i), Prediction: (i + 3) % 10, Confidence: 0.5 + 0.05*float64(i)}
		}
		return ps
	}
	someEmpty := full()
	someEmpty[1] = Panel{Empty: "no misclassified sample"}
	someEmpty[7] = Panel{Empty: "none"}
	var allEmpty [10]Panel
	for i := range allEmpty {
		allEmpty[i].Empty = "nothing here"
	}
	for _, tc := range []struct {
		name   string
		panels [10]Panel
		ink    float64
	}{
		{"full", full(), 0.03},
		{"some empty", someEmpty, 0.03},
		{"all empty", allEmpty, 0.005},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "examples.png")
			require.NoError(t, Examples(path, "misclassified: seresnet", tc.panels))
			img := decode(t, path, 1200, 600)
			requireDrawn(t, img, 10, tc.ink, 0.6)
			requireNoTemp(t, dir)
		})
	}
}

func TestExamplesErrors(t *testing.T) {
	dir := t.TempDir()
	var ps [10]Panel
	for i := range ps {
		ps[i] = Panel{Image: digit(i), Prediction: i, Confidence: 1}
	}
	bad := ps
	bad[4].Image = bad[4].Image[:100]
	require.ErrorContains(t, Examples(filepath.Join(dir, "a.png"), "x", bad), "class 4")
	require.ErrorContains(t, Examples(filepath.Join(dir, "missing", "b.png"), "x", ps), "missing")
	requireNoTemp(t, dir)
}

// TestOverwrite checks that writing a figure replaces an existing file.
func TestOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	require.NoError(t, Confusion(path, "m", typicalConfusion()))
	decode(t, path, 960, 780)
}

// TestRenderSamples writes one figure of each kind into $FIGURES_OUT for a
// visual check; it is skipped when that variable is not set. If
// $FIGURES_MNIST names an MNIST t10k-images-idx3-ubyte.gz file, the examples
// use its first samples instead of synthetic ones.
func TestRenderSamples(t *testing.T) {
	out := os.Getenv("FIGURES_OUT")
	if out == "" {
		t.Skip("FIGURES_OUT not set")
	}
	require.NoError(t, os.MkdirAll(out, 0o755))
	require.NoError(t, LossAcc(filepath.Join(out, "loss_acc_30.png"), "seresnet", curves(30)))
	require.NoError(t, LossAcc(filepath.Join(out, "loss_acc_1.png"), "seresnet", curves(1)))
	require.NoError(t, Confusion(filepath.Join(out, "confusion.png"), "seresnet", typicalConfusion()))
	require.NoError(t, Confusion(filepath.Join(out, "confusion_zero.png"), "seresnet", [10][10]int{}))

	var ps [10]Panel
	for i := range ps {
		ps[i] = Panel{Image: digit(i), Prediction: i, Confidence: 0.999}
	}
	if f := os.Getenv("FIGURES_MNIST"); f != "" {
		imgs := readIDX(t, f, 10)
		for i := range ps {
			ps[i].Image = imgs[i]
			ps[i].Prediction = (i + 1) % 10
			ps[i].Confidence = 0.4 + 0.06*float64(i)
		}
	}
	ps[6] = Panel{Empty: "no misclassified sample"}
	require.NoError(t, Examples(filepath.Join(out, "examples.png"), "misclassified: seresnet", ps))
}

// readIDX reads the first n images of a gzipped IDX image file.
func readIDX(t *testing.T, path string, n int) [][]uint8 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	z, err := gzip.NewReader(f)
	require.NoError(t, err)
	var hdr [4]uint32
	require.NoError(t, binary.Read(z, binary.BigEndian, &hdr))
	require.Equal(t, uint32(0x803), hdr[0])
	imgs := make([][]uint8, n)
	for i := range imgs {
		imgs[i] = make([]uint8, ImageSide*ImageSide)
		_, err := io.ReadFull(z, imgs[i])
		require.NoError(t, err)
	}
	return imgs
}
