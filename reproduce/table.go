package reproduce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"

	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/prune"
	"github.com/gotrain/gotrain/train/mnist"
	"github.com/gotrain/gotrain/train/runfolder"
)

// Table1 is table1.json.
type Table1 struct {
	Command    string      `json:"command"`
	Gotrain    string      `json:"gotrain"`
	Epochs     int         `json:"epochs_cap"` // -epochs; 0: the recipes
	Seed       uint64      `json:"seed"`
	LimitTrain int         `json:"limit_train"`
	LimitTest  int         `json:"limit_test"`
	Rows       []Table1Row `json:"rows"`
}

// Table1Row is one finished row. Accuracies are fractions; params and
// size are torchsummary's (the report's convention).
type Table1Row struct {
	Row          string   `json:"row"`
	Model        string   `json:"model"`
	Params       int      `json:"params"`
	SizeMB       float64  `json:"size_mb"`
	ReportAcc    *float64 `json:"report_acc"`
	ReportParams *int     `json:"report_params"`
	ReportSizeMB *float64 `json:"report_size_mb"`
	BestAcc      float64  `json:"best_acc"`
	BestEpoch    int      `json:"best_epoch"`
	LastAcc      float64  `json:"last_acc"`
	Epochs       int      `json:"epochs"`
	RecipeEpochs int      `json:"recipe_epochs"`
	// Seconds is the row's wall time as reproduce measured it over every
	// run into the folder (a row trained by another command: the sum of
	// its epochs' training seconds).
	Seconds    float64  `json:"seconds"`
	Device     string   `json:"device"`
	Run        string   `json:"run"` // relative to the reproduction folder
	LimitTrain int      `json:"limit_train"`
	LimitTest  int      `json:"limit_test"`
	Deviations []string `json:"deviations"` // from the recipe; empty: none
	// Pruning rows.
	Percent         *float64 `json:"percent,omitempty"`
	ParamsBefore    int      `json:"params_before,omitempty"`
	AccPruned       *float64 `json:"acc_pruned,omitempty"`
	SparsityRun     string   `json:"sparsity_run,omitempty"`
	SparsityEpochs  int      `json:"sparsity_epochs,omitempty"`
	SparsitySeconds float64  `json:"sparsity_seconds,omitempty"`
	Figures         []string `json:"figures"` // loss_acc.png and confusion_matrix.png, relative
}

// collectRows reads every finished row of the folder, in table order.
func (p *reproduction) collectRows() ([]Table1Row, error) {
	var rows []Table1Row
	for _, r := range Rows {
		dir := filepath.Join(p.dir, r.Name)
		s, err := readSummary(dir)
		if err != nil {
			continue // not finished (or not run here yet)
		}
		rc, err := runfolder.ReadRunConfig(dir)
		if err != nil {
			return nil, err
		}
		spec, err := models.Lookup(r.Model)
		if err != nil {
			return nil, err
		}
		recipe := spec.Recipe.Epochs
		if r.Prune {
			recipe = finetuneEpochs
		}
		t := Table1Row{Row: r.Name, Model: r.Model, Params: s.SummaryParams, SizeMB: s.SizeMB,
			ReportAcc: r.ReportAcc, ReportParams: r.ReportParams, ReportSizeMB: r.ReportMB,
			BestAcc: s.BestAcc, BestEpoch: s.BestEpoch, LastAcc: s.LastAcc, Epochs: s.Epochs, RecipeEpochs: recipe,
			Seconds: p.state.Seconds[r.Name], Device: s.Device, Run: r.Name,
			LimitTrain: rc.Effective.LimitTrain, LimitTest: rc.Effective.LimitTest, Deviations: []string{}}
		if t.Seconds == 0 {
			t.Seconds = s.Seconds
		}
		what := "epochs"
		if r.Prune {
			what = "fine-tuning epochs"
			b, err := os.ReadFile(filepath.Join(dir, runfolder.PruneJSON))
			if err != nil {
				continue // the fine-tuning is done but not prune.json: not finished
			}
			var rep prune.Report
			if err := json.Unmarshal(b, &rep); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, runfolder.PruneJSON), err)
			}
			t.Percent, t.ParamsBefore, t.AccPruned = &rep.Percent, rep.ParamsBefore, &rep.AccPruned
			t.SparsityRun = sparsityRun
			t.SparsitySeconds = p.state.Seconds[sparsityRun]
			if ss, err := readSummary(filepath.Join(p.dir, sparsityRun)); err == nil {
				t.SparsityEpochs = ss.Epochs
				if t.SparsitySeconds == 0 {
					t.SparsitySeconds = ss.Seconds
				}
				if ss.Epochs < spec.Recipe.Epochs {
					t.Deviations = append(t.Deviations, fmt.Sprintf("sparsity training %d of %d epochs", ss.Epochs, spec.Recipe.Epochs))
				}
			}
		}
		if t.Epochs < recipe {
			t.Deviations = append(t.Deviations, fmt.Sprintf("%d of %d %s", t.Epochs, recipe, what))
		}
		if l := t.LimitTrain; l > 0 && l < mnist.TrainCount {
			t.Deviations = append(t.Deviations, fmt.Sprintf("trained on %s of %s images", models.Commas(l), models.Commas(mnist.TrainCount)))
		}
		if l := t.LimitTest; l > 0 && l < mnist.TestCount {
			t.Deviations = append(t.Deviations, fmt.Sprintf("tested on %s of %s images", models.Commas(l), models.Commas(mnist.TestCount)))
		}
		for _, f := range []string{runfolder.LossAccPNG, runfolder.ConfusionPNG} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Figures = append(t.Figures, r.Name+"/"+f)
			}
		}
		rows = append(rows, t)
	}
	return rows, nil
}

// writeTables writes table1.json, table1.md and table1.html over the
// finished rows.
func (p *reproduction) writeTables() error {
	rows, err := p.collectRows()
	if err != nil {
		return err
	}
	t := Table1{Command: p.Command, Gotrain: p.Version, Epochs: p.state.Epochs, Seed: p.state.Seed,
		LimitTrain: p.state.LimitTrain, LimitTest: p.state.LimitTest, Rows: rows}
	if t.Rows == nil {
		t.Rows = []Table1Row{}
	}
	if err := runfolder.WriteJSON(filepath.Join(p.dir, "table1.json"), t); err != nil {
		return err
	}
	if err := runfolder.WriteFile(filepath.Join(p.dir, "table1.md"), []byte(table1Markdown(t))); err != nil {
		return err
	}
	var html bytes.Buffer
	if err := table1HTML.Execute(&html, t); err != nil {
		return fmt.Errorf("table1.html: %w", err)
	}
	return runfolder.WriteFile(filepath.Join(p.dir, "table1.html"), html.Bytes())
}

func optPct(v *float64) string {
	if v == nil {
		return "-"
	}
	return pct(*v)
}

func optInt(v *int) string {
	if v == nil {
		return "-"
	}
	return models.Commas(*v)
}

func optMB(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

// deviation words a row's deviations from the recipe, or "none".
func deviation(d []string) string {
	if len(d) == 0 {
		return "none"
	}
	return strings.Join(d, "; ")
}

// note says how a pruning row was made.
func (r Table1Row) Note() string {
	if r.Percent == nil {
		return ""
	}
	return fmt.Sprintf("%s: %s pruned at percent %g (params %s -> %s, test acc right after pruning %s), then %d fine-tuning epochs",
		r.Row, r.SparsityRun, *r.Percent, models.Commas(r.ParamsBefore), models.Commas(r.Params), optPct(r.AccPruned), r.Epochs)
}

func table1Markdown(t Table1) string {
	var b strings.Builder
	b.WriteString("# Table 1, reproduced by gotrain\n\n")
	fmt.Fprintf(&b, "`%s` (gotrain %s)\n\n", t.Command, t.Gotrain)
	b.WriteString("| row | report acc | gotrain best acc (epoch) | last acc | report params | params | report size (MB) | size (MB) | epochs | time (s) | device | deviations from the recipe |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s (%d) | %s | %s | %s | %s | %.2f | %d | %.0f | %s | %s |\n", r.Row, optPct(r.ReportAcc),
			pct(r.BestAcc), r.BestEpoch, pct(r.LastAcc), optInt(r.ReportParams), models.Commas(r.Params), optMB(r.ReportSizeMB),
			r.SizeMB, r.Epochs, r.Seconds, r.Device, deviation(r.Deviations))
	}
	b.WriteString("\nAccuracy on the MNIST test set; params and size as torchsummary counts them (the report's convention). ")
	b.WriteString("slim-seresnet is gotrain's own row (not in the report).\n")
	for _, r := range t.Rows {
		if n := r.Note(); n != "" {
			fmt.Fprintf(&b, "\n- %s", n)
			if r.SparsityEpochs > 0 {
				fmt.Fprintf(&b, "; the sparsity training (lambda %g): %d epochs, %.0f s", sparsityLambda, r.SparsityEpochs, r.SparsitySeconds)
			}
			b.WriteString(".\n")
		}
	}
	return b.String()
}

var table1HTML = template.Must(template.New("table1").Funcs(template.FuncMap{
	"pct": pct, "optPct": optPct, "optInt": optInt, "optMB": optMB, "commas": models.Commas, "deviation": deviation,
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Table 1, reproduced by gotrain</title>
<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td.dev{text-align:left;color:#a00}img{max-width:48%;margin:4px}</style>
</head><body>
<h1>Table 1, reproduced by gotrain</h1>
<p><code>{{.Command}}</code> (gotrain {{.Gotrain}})</p>
<table><tr><th>row</th><th>report acc</th><th>gotrain best acc (epoch)</th><th>last acc</th><th>report params</th><th>params</th><th>report size (MB)</th><th>size (MB)</th><th>epochs</th><th>time (s)</th><th>device</th><th>deviations from the recipe</th></tr>
{{range .Rows}}<tr><td>{{.Row}}</td><td>{{optPct .ReportAcc}}</td><td>{{pct .BestAcc}} ({{.BestEpoch}})</td><td>{{pct .LastAcc}}</td><td>{{optInt .ReportParams}}</td><td>{{commas .Params}}</td><td>{{optMB .ReportSizeMB}}</td><td>{{printf "%.2f" .SizeMB}}</td><td>{{.Epochs}}</td><td>{{printf "%.0f" .Seconds}}</td><td>{{.Device}}</td><td class="dev">{{deviation .Deviations}}</td></tr>
{{end}}</table>
<p>Accuracy on the MNIST test set; params and size as torchsummary counts them (the report's convention). slim-seresnet is gotrain's own row (not in the report).</p>
{{range .Rows}}<h2>{{.Row}} <small>(<a href="{{.Run}}/">{{.Run}}</a>)</small></h2>
{{with .Note}}<p>{{.}}.</p>{{end}}<p>best {{pct .BestAcc}} at epoch {{.BestEpoch}}, last {{pct .LastAcc}}; {{.Epochs}} epochs of {{.RecipeEpochs}}; deviations: {{deviation .Deviations}}</p>
<p>{{range .Figures}}<img src="{{.}}" alt="{{.}}">{{end}}</p>
{{end}}</body></html>
`))

// pct is an accuracy fraction as a percentage with two decimals (n/a when
// negative), as gotrain report writes it.
func pct(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*v)
}
