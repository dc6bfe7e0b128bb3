package train

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/gotrain/gotrain/models"
)

// Predictions are a model's outputs on the test images, in test-set order.
type Predictions struct {
	Labels     []uint8
	Pred       []int32
	Confidence []float32 // the max of the model's output probabilities
}

func newPredictions(n int) *Predictions {
	return &Predictions{Labels: make([]uint8, n), Pred: make([]int32, n), Confidence: make([]float32, n)}
}

// record stores the predictions for images lo.. from their (n,10) outputs.
// probs says the outputs are already probabilities (the seed's VGG);
// otherwise they are logits and go through a softmax (in float64).
func (p *Predictions) record(lo int, out []float32, labels []int32, probs bool) (correct int) {
	k := models.Classes
	for i := range labels {
		row := out[i*k : (i+1)*k]
		best := argmax(row)
		conf := float64(row[best])
		if !probs {
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v) - float64(row[best]))
			}
			conf = 1 / sum
		}
		p.Labels[lo+i] = uint8(labels[i])
		p.Pred[lo+i] = int32(best)
		p.Confidence[lo+i] = float32(conf)
		if best == int(labels[i]) {
			correct++
		}
	}
	return correct
}

// Confusion counts cm[true][predicted].
func (p *Predictions) Confusion() (cm [models.Classes][models.Classes]int) {
	for i, l := range p.Labels {
		cm[l][p.Pred[i]]++
	}
	return cm
}

// PerClassAccuracy is the fraction of each class's images predicted right
// (NaN for a class with no image).
func (p *Predictions) PerClassAccuracy() (acc [models.Classes]float64) {
	var n, ok [models.Classes]int
	for i, l := range p.Labels {
		n[l]++
		if int(p.Pred[i]) == int(l) {
			ok[l]++
		}
	}
	for c := range acc {
		acc[c] = math.NaN()
		if n[c] > 0 {
			acc[c] = float64(ok[c]) / float64(n[c])
		}
	}
	return acc
}

// FirstExamples returns, per true class, the index of the first test image
// (in test-set order) the model gets right (correct) or wrong (!correct),
// or -1 when there is none.
func (p *Predictions) FirstExamples(correct bool) (idx [models.Classes]int) {
	for c := range idx {
		idx[c] = -1
	}
	for i, l := range p.Labels {
		if idx[l] < 0 && (int(p.Pred[i]) == int(l)) == correct {
			idx[l] = i
		}
	}
	return idx
}

// WriteCSV writes predictions.csv: index,label,prediction,confidence.
func (p *Predictions) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"index", "label", "prediction", "confidence"}); err != nil {
		return err
	}
	for i := range p.Labels {
		rec := []string{strconv.Itoa(i), strconv.Itoa(int(p.Labels[i])), strconv.Itoa(int(p.Pred[i])),
			strconv.FormatFloat(float64(p.Confidence[i]), 'f', 6, 32)}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("predictions.csv: %w", err)
		}
	}
	cw.Flush()
	return cw.Error()
}
