package figures

import (
	"fmt"
	"image"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ImageSide is the side of an example image in pixels (MNIST: 28).
const ImageSide = 28

// Panel is one class's example for [Examples].
type Panel struct {
	// Image is the ImageSide x ImageSide sample, row-major, 0 the
	// background and 255 the full stroke (the raw MNIST bytes).
	Image []uint8
	// Prediction is the class the model predicted for the sample.
	Prediction int
	// Confidence is the model's probability for Prediction, in [0, 1].
	Confidence float64
	// Empty, when not "", marks a class without an example: the panel is
	// drawn empty with this text (e.g. "no misclassified sample") and the
	// other fields are ignored.
	Empty string
}

// upscale is the nearest-neighbour magnification applied to the samples
// before drawing, so that the image scaler blurs only the pixels' edges.
const upscale = 8

// Examples draws one example per class to path as a PNG: a 2x5 grid whose
// panel i (row-major, class 0 at the top left) shows panels[i], the example
// of true class i, as a black digit on a white background. Each panel is
// titled "class i: pred p (0.97)" (the confidence to 2 decimals), in green
// when p == i and in red otherwise; an Empty panel shows its text in a grey
// frame instead. The figure's title is title (e.g. "misclassified:
// seresnet"). An image of the wrong size is an error.
func Examples(path, title string, panels [10]Panel) error {
	plots := make([][]*plot.Plot, 2)
	for row := range plots {
		plots[row] = make([]*plot.Plot, 5)
	}
	for class, pn := range panels {
		var (
			p   *plot.Plot
			err error
		)
		if pn.Empty != "" {
			p, err = emptyPanel(class, pn.Empty)
		} else {
			p, err = imagePanel(class, pn)
		}
		if err != nil {
			return fmt.Errorf("figures: examples %s: class %d: %w", path, class, err)
		}
		plots[class/5][class%5] = p
	}

	return render(path, examplesWidth, examplesHeight, func(dc draw.Canvas) error {
		dc = figureTitle(dc, title)
		tiles := draw.Tiles{
			Rows: 2, Cols: 5,
			PadX: vg.Points(12), PadY: vg.Points(10),
			PadLeft: vg.Points(10), PadRight: vg.Points(10), PadBottom: vg.Points(8),
		}
		for row, cs := range plot.Align(plots, tiles, dc) {
			for col, c := range cs {
				p := plots[row][col]
				p.Draw(squareData(p, c, 1))
			}
		}
		return nil
	})
}

// imagePanel returns the plot of one sample.
func imagePanel(class int, pn Panel) (*plot.Plot, error) {
	if len(pn.Image) != ImageSide*ImageSide {
		return nil, fmt.Errorf("image has %d pixels, want %d", len(pn.Image), ImageSide*ImageSide)
	}
	const side = ImageSide * upscale
	img := image.NewGray(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			img.Pix[y*img.Stride+x] = 255 - pn.Image[(y/upscale)*ImageSide+x/upscale]
		}
	}
	p := panelPlot(fmt.Sprintf("class %d: pred %d (%.2f)", class, pn.Prediction, pn.Confidence))
	if pn.Prediction == class {
		p.Title.TextStyle.Color = colRight
	} else {
		p.Title.TextStyle.Color = colWrong
	}
	p.Add(plotter.NewImage(img, 0, 0, ImageSide, ImageSide), frame(color.Gray{Y: 0x80}))
	return p, nil
}

// emptyPanel returns the plot of a class without an example.
func emptyPanel(class int, msg string) (*plot.Plot, error) {
	p := panelPlot(fmt.Sprintf("class %d", class))
	p.Title.TextStyle.Color = color.Gray{Y: 0x60}
	l, err := plotter.NewLabels(plotter.XYLabels{
		XYs:    plotter.XYs{{X: ImageSide / 2, Y: ImageSide / 2}},
		Labels: []string{msg},
	})
	if err != nil {
		return nil, err
	}
	sty := textStyle(9, color.Gray{Y: 0x50})
	l.TextStyle[0] = sty
	p.Add(frame(color.Gray{Y: 0xb0}), l)
	return p, nil
}

// panelPlot returns a plot without axes spanning one image, titled title.
func panelPlot(title string) *plot.Plot {
	p := plot.New()
	hideAxes(p)
	p.X.Min, p.X.Max = 0, ImageSide
	p.Y.Min, p.Y.Max = 0, ImageSide
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.Title.Padding = vg.Points(4)
	return p
}

// frame is a plot.Plotter drawing a thin rectangle around the data area.
type frame color.Gray

// Plot implements plot.Plotter.
func (f frame) Plot(c draw.Canvas, _ *plot.Plot) {
	c.SetLineStyle(draw.LineStyle{Color: color.Gray(f), Width: vg.Points(0.8)})
	c.Stroke(c.Rectangle.Path())
}
