// Package figures draws the figures of a training run as PNG images with
// gonum.org/v1/plot:
//
//   - [LossAcc]: per-epoch train loss, test loss and test accuracy;
//   - [Confusion]: the confusion matrix of the final model as a heat map;
//   - [Examples]: one example image per class (e.g. the first
//     misclassified or well classified test sample of each class).
//
// They replace the seed's matplotlib figures (the seed script's section 4) and fix
// its flaws: the training loss is drawn too, the accuracy is not rounded and
// has its own axis, and the confusion matrix is not transposed.
//
// Every figure is written atomically: the PNG is encoded in memory, written
// to a temporary file in the destination folder, synced and renamed over
// path, so that a crash never leaves a truncated image behind.
package figures

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/gotrain/gotrain/train/runfolder"
)

// DPI is the resolution of every figure, in dots per inch.
const DPI = 120

// Figure sizes. At [DPI] they give 960x720, 960x780 and 1200x600 pixels.
const (
	lossAccWidth, lossAccHeight     = 8 * vg.Inch, 6 * vg.Inch
	confusionWidth, confusionHeight = 8 * vg.Inch, 6.5 * vg.Inch
	examplesWidth, examplesHeight   = 10 * vg.Inch, 5 * vg.Inch
)

// Colours shared by the figures.
var (
	colTestLoss  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	colTrainLoss = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // orange
	colTestAcc   = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff} // green
	colGrid      = color.Gray{Y: 0xdd}
	colWrong     = color.RGBA{R: 0xc0, G: 0x10, B: 0x10, A: 0xff}
	colRight     = color.RGBA{R: 0x10, G: 0x70, B: 0x10, A: 0xff}
)

// render draws a figure of size w x h with draw and writes it to path as a
// PNG. A panic inside gonum/plot is turned into an error.
func render(path string, w, h vg.Length, drawFn func(dc draw.Canvas) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("figures: drawing %s: %v", path, r)
		}
	}()
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
	if err := drawFn(draw.New(img)); err != nil {
		return fmt.Errorf("figures: drawing %s: %w", path, err)
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("figures: encoding %s: %w", path, err)
	}
	return runfolder.WriteFile(path, buf.Bytes())
}

// textStyle returns a plain text style of the default font at size pt.
func textStyle(pt float64, c color.Color) text.Style {
	return text.Style{
		Color:   c,
		Font:    font.From(plot.DefaultFont, vg.Points(pt)),
		XAlign:  draw.XCenter,
		YAlign:  draw.YCenter,
		Handler: plot.DefaultTextHandler,
	}
}

// figureTitle draws title centred at the top of dc and returns the rest of
// the canvas below it.
func figureTitle(dc draw.Canvas, title string) draw.Canvas {
	const pad = 6 // points above and below the title
	sty := textStyle(15, color.Black)
	sty.YAlign = draw.YTop
	dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y - pad}, title)
	dc.Max.Y -= sty.Rectangle(title).Size().Y + 2*pad
	return dc
}

// squareData shrinks c, keeping it centred, so that the data area p draws
// into it has width/height ratio aspect. The axes of p must have their final
// ranges and ticks, as the space they take is measured here.
func squareData(p *plot.Plot, c draw.Canvas, aspect float64) draw.Canvas {
	da := p.DataCanvas(c)
	w, h := da.Max.X-da.Min.X, da.Max.Y-da.Min.Y
	if w <= 0 || h <= 0 {
		return c
	}
	if want := h * vg.Length(aspect); w > want {
		cut := (w - want) / 2
		c.Min.X += cut
		c.Max.X -= cut
	} else if want := w / vg.Length(aspect); h > want {
		cut := (h - want) / 2
		c.Min.Y += cut
		c.Max.Y -= cut
	}
	return c
}

// hideAxes hides both axes of p and removes the padding they leave.
func hideAxes(p *plot.Plot) {
	p.HideAxes()
	p.X.Padding, p.Y.Padding = 0, 0
}
