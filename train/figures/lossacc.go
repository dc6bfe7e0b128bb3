package figures

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Epoch is one epoch's point of the loss/accuracy curves.
type Epoch struct {
	Epoch     int     // epoch number, usually 1-based
	TrainLoss float64 // mean training loss over the epoch
	TestLoss  float64 // mean test loss after the epoch
	TestAcc   float64 // test accuracy as a fraction in [0, 1], not rounded
}

// LossAcc draws the loss and accuracy curves of model to path as a PNG.
//
// The figure has two panels sharing the epoch axis: the test and train
// losses above, the test accuracy below (each on its own scale), each point
// marked so that a single epoch is still visible. The title is
// "loss/acc: <model>". Epochs are drawn in epoch order. A non-finite value
// (a diverged loss) leaves a gap in its curve instead of failing; an
// accuracy outside [0, 1] (e.g. a percentage) is an error.
func LossAcc(path, model string, epochs []Epoch) error {
	if len(epochs) == 0 {
		return fmt.Errorf("figures: loss/acc %s: no epochs", path)
	}
	es := slices.Clone(epochs)
	slices.SortStableFunc(es, func(a, b Epoch) int { return a.Epoch - b.Epoch })
	for _, e := range es {
		if e.TestAcc < 0 || e.TestAcc > 1 {
			return fmt.Errorf("figures: loss/acc %s: epoch %d: test accuracy %g is not a fraction in [0, 1]", path, e.Epoch, e.TestAcc)
		}
	}

	top, err := lossPanel(es)
	if err != nil {
		return fmt.Errorf("figures: loss/acc %s: %w", path, err)
	}
	bottom, err := accPanel(es)
	if err != nil {
		return fmt.Errorf("figures: loss/acc %s: %w", path, err)
	}
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Min = float64(es[0].Epoch) - 0.5
		p.X.Max = float64(es[len(es)-1].Epoch) + 0.5
		p.X.Tick.Marker = epochTicks{maxLabels: 15}
	}
	bottom.X.Label.Text = "epoch"

	return render(path, lossAccWidth, lossAccHeight, func(dc draw.Canvas) error {
		dc = figureTitle(dc, "loss/acc: "+model)
		tiles := draw.Tiles{
			Rows: 2, Cols: 1,
			PadX: vg.Points(10), PadY: vg.Points(14),
			PadLeft: vg.Points(8), PadRight: vg.Points(14), PadBottom: vg.Points(6),
		}
		canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
		top.Draw(canvases[0][0])
		bottom.Draw(canvases[1][0])
		return nil
	})
}

// lossPanel returns the upper panel: test and train loss against epoch.
func lossPanel(es []Epoch) (*plot.Plot, error) {
	p := plot.New()
	p.Add(grid())
	p.Y.Label.Text = "loss"
	p.Y.Tick.Marker = niceTicks{n: 6}
	p.Legend.Top = true
	hi := 0.0
	for _, s := range []struct {
		name  string
		col   color.Color
		shape draw.GlyphDrawer
		dash  []vg.Length
		get   func(Epoch) float64
	}{
		{"test loss", colTestLoss, draw.CircleGlyph{}, nil, func(e Epoch) float64 { return e.TestLoss }},
		{"train loss", colTrainLoss, draw.PyramidGlyph{}, []vg.Length{vg.Points(5), vg.Points(3)}, func(e Epoch) float64 { return e.TrainLoss }},
	} {
		xys, _, shi := series(es, s.get)
		if len(xys) == 0 {
			continue
		}
		hi = math.Max(hi, shi)
		if err := addCurve(p, s.name, xys, s.col, s.shape, s.dash); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	// Cross-entropy is not negative: start the axis at zero, which also
	// keeps the scale honest when the two losses are close.
	p.Y.Min = 0
	p.Y.Max = hi * 1.2 // headroom for the legend
	if !(p.Y.Max > 0) {
		p.Y.Max = 1
	}
	return p, nil
}

// accPanel returns the lower panel: test accuracy against epoch.
func accPanel(es []Epoch) (*plot.Plot, error) {
	p := plot.New()
	p.Add(grid())
	p.Y.Label.Text = "test accuracy"
	p.Y.Tick.Marker = niceTicks{n: 5}
	p.Legend.Top = false // accuracy rises: the lower right corner is free
	get := func(e Epoch) float64 { return e.TestAcc }
	xys, lo, hi := series(es, get)
	if len(xys) == 0 {
		return nil, errors.New("no finite test accuracy")
	}
	best, last := 0, len(xys)-1
	for i, xy := range xys {
		if xy.Y > xys[best].Y {
			best = i
		}
	}
	name := fmt.Sprintf("test accuracy (last %.4f, best %.4f @ epoch %d)", xys[last].Y, xys[best].Y, int(xys[best].X))
	if err := addCurve(p, name, xys, colTestAcc, draw.CircleGlyph{}, nil); err != nil {
		return nil, fmt.Errorf("test accuracy: %w", err)
	}
	pad := math.Max((hi-lo)*0.08, 0.002)
	p.Y.Min = math.Max(0, lo-pad)
	p.Y.Max = math.Min(1, hi+pad)
	if p.Y.Max-p.Y.Min < 0.004 { // flat at 0 or 1
		p.Y.Min, p.Y.Max = math.Max(0, p.Y.Max-0.004), math.Min(1, p.Y.Min+0.004)
	}
	return p, nil
}

// series returns the finite points of get over es and their range.
func series(es []Epoch, get func(Epoch) float64) (xys plotter.XYs, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, e := range es {
		v := get(e)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		xys = append(xys, plotter.XY{X: float64(e.Epoch), Y: v})
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return xys, lo, hi
}

// addCurve adds a line with point markers to p and to its legend.
func addCurve(p *plot.Plot, name string, xys plotter.XYs, col color.Color, shape draw.GlyphDrawer, dash []vg.Length) error {
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	line.Color = col
	line.Width = vg.Points(1.6)
	line.Dashes = dash
	points.Color = col
	points.Shape = shape
	points.Radius = vg.Points(3)
	p.Add(line, points)
	p.Legend.Add(name, line, points)
	return nil
}

// grid returns light vertical and horizontal grid lines.
func grid() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical.Color = colGrid
	g.Horizontal.Color = colGrid
	g.Vertical.Width = vg.Points(0.5)
	g.Horizontal.Width = vg.Points(0.5)
	return g
}
