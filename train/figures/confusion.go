package figures

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Confusion draws the confusion matrix cm of model to path as a PNG heat
// map. cm[t][p] counts the test samples of true label t predicted as p: row
// t is drawn as the t-th row from the top (y axis "true label", 0 at the
// top) and column p as the p-th column (x axis "predicted label"), so the
// correct predictions lie on the diagonal from the top left. Every cell
// shows its count, white on dark cells and black on light ones; a colour
// bar gives the scale (linear, from 0 to the largest count). The title is
// "confusion matrix: <model>". Negative counts are an error.
func Confusion(path, model string, cm [10][10]int) error {
	maxCount := 0
	for t, row := range cm {
		for p, n := range row {
			if n < 0 {
				return fmt.Errorf("figures: confusion %s: negative count %d at true %d, predicted %d", path, n, t, p)
			}
			maxCount = max(maxCount, n)
		}
	}
	top := float64(max(maxCount, 1)) // the colour scale needs max > min

	cmap := &blues{max: top}
	heat := plotter.NewHeatMap(confusionGrid(cm), cmap.Palette(256))
	heat.Min, heat.Max = 0, top

	xys := make(plotter.XYs, 0, 100)
	labels := make([]string, 0, 100)
	for t, row := range cm {
		for p, n := range row {
			xys = append(xys, plotter.XY{X: float64(p), Y: float64(9 - t)})
			labels = append(labels, strconv.Itoa(n))
		}
	}
	counts, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return fmt.Errorf("figures: confusion %s: %w", path, err)
	}
	fontSize := 10.0
	if maxCount >= 10000 {
		fontSize = 8.5
	}
	for i, n := range labels {
		t, p := i/10, i%10
		c, _ := cmap.At(float64(cm[t][p]))
		ink := color.Color(color.Black)
		if luminance(c) < 0.5 {
			ink = color.White
		}
		sty := textStyle(fontSize, ink)
		if t == p && n != "0" {
			sty.Font.Weight = xfont.WeightBold // the correct predictions
		}
		counts.TextStyle[i] = sty
	}

	hp := plot.New()
	hp.Add(heat, counts)
	hp.X.Label.Text = "predicted label"
	hp.Y.Label.Text = "true label"
	hp.X.Min, hp.X.Max = -0.5, 9.5
	hp.Y.Min, hp.Y.Max = -0.5, 9.5
	hp.X.Padding, hp.Y.Padding = 0, 0
	var xt, yt []plot.Tick
	for i := range 10 {
		xt = append(xt, plot.Tick{Value: float64(i), Label: strconv.Itoa(i)})
		yt = append(yt, plot.Tick{Value: float64(9 - i), Label: strconv.Itoa(i)})
	}
	hp.X.Tick.Marker = plot.ConstantTicks(xt)
	hp.Y.Tick.Marker = plot.ConstantTicks(yt)

	bp := plot.New()
	bp.Add(&plotter.ColorBar{ColorMap: cmap, Vertical: true})
	bp.HideX()
	bp.X.Padding, bp.Y.Padding = 0, 0
	bp.Y.Min, bp.Y.Max = 0, top
	bp.Y.Label.Text = "count"
	bp.Y.Tick.Marker = niceTicks{n: 6, integer: true}

	return render(path, confusionWidth, confusionHeight, func(dc draw.Canvas) error {
		dc = figureTitle(dc, "confusion matrix: "+model)
		dc = draw.Crop(dc, vg.Points(10), 0, vg.Points(8), 0)
		const barWidth = 1.1 * vg.Inch // colour bar with its tick labels and axis label
		heatC := squareData(hp, draw.Crop(dc, 0, -barWidth, 0, 0), 1)
		hp.Draw(heatC)

		// Colour bar: right of the matrix, its data area a narrow strip
		// exactly as tall as the matrix's, its axis between the two.
		hd := hp.DataCanvas(heatC)
		barC := dc
		barC.Min.X = hd.Max.X + vg.Points(6)
		barC.Min.Y, barC.Max.Y = hd.Min.Y, hd.Max.Y
		bd := bp.DataCanvas(barC)
		barC.Max.X = bd.Min.X + vg.Points(18)
		barC.Min.Y -= bd.Min.Y - hd.Min.Y
		barC.Max.Y += hd.Max.Y - bd.Max.Y
		bp.Draw(barC)
		return nil
	})
}

// confusionGrid adapts a confusion matrix to plotter.GridXYZ: column c is
// the prediction c at x = c, row r is the true label 9-r at y = r (so that
// true label 0 is at the top).
type confusionGrid [10][10]int

// Dims implements plotter.GridXYZ.
func (g confusionGrid) Dims() (c, r int) { return 10, 10 }

// Z implements plotter.GridXYZ.
func (g confusionGrid) Z(c, r int) float64 { return float64(g[9-r][c]) }

// X implements plotter.GridXYZ.
func (g confusionGrid) X(c int) float64 { return float64(c) }

// Y implements plotter.GridXYZ.
func (g confusionGrid) Y(r int) float64 { return float64(r) }

// bluesControls are ColorBrewer's 9-class sequential "Blues", light to dark
// (the colour map of the seed's matplotlib figure).
var bluesControls = []color.RGBA{
	{0xf7, 0xfb, 0xff, 0xff}, {0xde, 0xeb, 0xf7, 0xff}, {0xc6, 0xdb, 0xef, 0xff},
	{0x9e, 0xca, 0xe1, 0xff}, {0x6b, 0xae, 0xd6, 0xff}, {0x42, 0x92, 0xc6, 0xff},
	{0x21, 0x71, 0xb5, 0xff}, {0x08, 0x51, 0x9c, 0xff}, {0x08, 0x30, 0x6b, 0xff},
}

// blues is a palette.ColorMap interpolating bluesControls linearly in RGB
// from min (lightest) to max (darkest).
type blues struct{ min, max float64 }

var _ palette.ColorMap = (*blues)(nil)

// At implements palette.ColorMap.
func (b *blues) At(v float64) (color.Color, error) {
	switch {
	case math.IsNaN(v):
		return nil, palette.ErrNaN
	case v < b.min:
		return nil, palette.ErrUnderflow
	case v > b.max:
		return nil, palette.ErrOverflow
	}
	f := 0.0
	if b.max > b.min {
		f = (v - b.min) / (b.max - b.min) * float64(len(bluesControls)-1)
	}
	i := min(int(f), len(bluesControls)-2)
	w := f - float64(i)
	lo, hi := bluesControls[i], bluesControls[i+1]
	mix := func(a, b uint8) uint8 { return uint8(math.Round(float64(a)*(1-w) + float64(b)*w)) }
	return color.RGBA{mix(lo.R, hi.R), mix(lo.G, hi.G), mix(lo.B, hi.B), 0xff}, nil
}

// Max implements palette.ColorMap.
func (b *blues) Max() float64 { return b.max }

// SetMax implements palette.ColorMap.
func (b *blues) SetMax(v float64) { b.max = v }

// Min implements palette.ColorMap.
func (b *blues) Min() float64 { return b.min }

// SetMin implements palette.ColorMap.
func (b *blues) SetMin(v float64) { b.min = v }

// Alpha implements palette.ColorMap; the map is always opaque.
func (b *blues) Alpha() float64 { return 1 }

// SetAlpha implements palette.ColorMap; the map is always opaque, so it
// panics for any other alpha.
func (b *blues) SetAlpha(a float64) {
	if a != 1 {
		panic("figures: blues colour map is opaque")
	}
}

// Palette implements palette.ColorMap.
func (b *blues) Palette(n int) palette.Palette {
	cols := make([]color.Color, n)
	for i := range cols {
		v := b.min
		if n > 1 {
			v += (b.max - b.min) * float64(i) / float64(n-1)
		}
		cols[i], _ = b.At(v)
	}
	return plainPalette(cols)
}

// plainPalette is a palette.Palette of fixed colours.
type plainPalette []color.Color

// Colors implements palette.Palette.
func (p plainPalette) Colors() []color.Color { return p }

// luminance returns the relative luminance of c in [0, 1] (Rec. 709 weights
// on linearised sRGB).
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		s := float64(v) / 0xffff
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}
