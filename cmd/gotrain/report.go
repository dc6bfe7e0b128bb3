package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/models"
	"github.com/gotrain/gotrain/train"
	"github.com/gotrain/gotrain/train/runfolder"
)

// reportRun is one run folder as the report shows it.
type reportRun struct {
	Dir     string // relative to the report's folder
	Summary train.RunSummary
	Figures []string // existing figure files, relative to the report's folder
}

// runReport writes report.md and report.html for one or more run folders:
// Table 1 as in the report (model, best test accuracy, params in
// torchsummary's convention, estimated size), then each run's recipe, time,
// per-class accuracy and figures.
func runReport(_ context.Context, args []string) error {
	fs := pflag.NewFlagSet("report", pflag.ContinueOnError)
	out := fs.String("out", ".", "folder to write report.md and report.html into")
	fs.SetInterspersed(true)
	if err := checkNames(fs, args); err != nil {
		return err
	}
	if err := fs.Parse(longDash(fs, args)); err != nil {
		return usagef("%v (usage: gotrain report [-out DIR] RUN...)", err)
	}
	if fs.NArg() == 0 {
		return usagef("no run folders given (usage: gotrain report [-out DIR] RUN...)")
	}
	var runs []reportRun
	for _, dir := range fs.Args() {
		path := filepath.Join(dir, runfolder.SummaryFile)
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w (a finished gotrain run folder has one)", dir, err)
		}
		var r reportRun
		if err := json.Unmarshal(data, &r.Summary); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		rel := func(p string) string {
			abs, _ := filepath.Abs(p)
			base, _ := filepath.Abs(*out)
			if rp, err := filepath.Rel(base, abs); err == nil {
				return filepath.ToSlash(rp)
			}
			return filepath.ToSlash(abs)
		}
		r.Dir = rel(dir)
		for _, f := range []string{runfolder.LossAccPNG, runfolder.ConfusionPNG, runfolder.MisclassPNG, runfolder.WellClassPNG} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				r.Figures = append(r.Figures, rel(filepath.Join(dir, f)))
			}
		}
		runs = append(runs, r)
	}
	md := reportMarkdown(runs)
	var html bytes.Buffer
	if err := reportHTML.Execute(&html, runs); err != nil {
		return fmt.Errorf("%s: %w", *out, err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("%s: %w", *out, err)
	}
	for name, data := range map[string][]byte{"report.md": []byte(md), "report.html": html.Bytes()} {
		if err := runfolder.WriteFile(filepath.Join(*out, name), data); err != nil {
			return err
		}
	}
	fmt.Printf("report of %d runs: %s, %s\n", len(runs), filepath.Join(*out, "report.md"), filepath.Join(*out, "report.html"))
	return nil
}

func pct(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*v)
}

func reportMarkdown(runs []reportRun) string {
	var b strings.Builder
	b.WriteString("# gotrain report\n\n## Table 1\n\n")
	b.WriteString("| model | best test accuracy | params | estimated size (MB) | epochs | time |\n|---|---|---|---|---|---|\n")
	for _, r := range runs {
		s := r.Summary
		fmt.Fprintf(&b, "| %s | %s (epoch %d) | %s | %.2f | %d | %.0f s |\n", s.Model, pct(s.BestAcc), s.BestEpoch,
			models.Commas(s.SummaryParams), s.SizeMB, s.Epochs, s.Seconds)
	}
	b.WriteString("\nParams and size as torchsummary counts them (the report's convention).\n")
	for _, r := range runs {
		s := r.Summary
		fmt.Fprintf(&b, "\n## %s (%s)\n\n", s.Model, r.Dir)
		fmt.Fprintf(&b, "- recipe: %s\n- device: %s\n- best test accuracy %s at epoch %d; last %s (test loss %.4f)\n- training time %.0f s\n\n",
			s.Recipe, s.Device, pct(s.BestAcc), s.BestEpoch, pct(s.LastAcc), s.LastTestLoss, s.Seconds)
		b.WriteString("| class | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 |\n|---|---|---|---|---|---|---|---|---|---|---|\n| accuracy |")
		for _, a := range s.PerClassAccuracy {
			fmt.Fprintf(&b, " %s |", pct(a))
		}
		b.WriteString("\n\n")
		for _, f := range r.Figures {
			fmt.Fprintf(&b, "![%s](%s)\n", filepath.Base(f), f)
		}
	}
	return b.String()
}

var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{"pct": pct, "commas": models.Commas}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>gotrain report</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}img{max-width:48%;margin:4px}</style>
</head><body>
<h1>gotrain report</h1>
<h2>Table 1</h2>
<table><tr><th>model</th><th>best test accuracy</th><th>params</th><th>estimated size (MB)</th><th>epochs</th><th>time (s)</th></tr>
{{range .}}<tr><td>{{.Summary.Model}}</td><td>{{pct .Summary.BestAcc}} (epoch {{.Summary.BestEpoch}})</td><td>{{commas .Summary.SummaryParams}}</td><td>{{printf "%.2f" .Summary.SizeMB}}</td><td>{{.Summary.Epochs}}</td><td>{{printf "%.0f" .Summary.Seconds}}</td></tr>
{{end}}</table>
<p>Params and size as torchsummary counts them (the report's convention).</p>
{{range .}}<h2>{{.Summary.Model}} <small>({{.Dir}})</small></h2>
<ul><li>recipe: {{.Summary.Recipe}}</li><li>device: {{.Summary.Device}}</li>
<li>best test accuracy {{pct .Summary.BestAcc}} at epoch {{.Summary.BestEpoch}}; last {{pct .Summary.LastAcc}} (test loss {{printf "%.4f" .Summary.LastTestLoss}})</li>
<li>training time {{printf "%.0f" .Summary.Seconds}} s</li></ul>
<table><tr><th>class</th>{{range $i, $a := .Summary.PerClassAccuracy}}<th>{{$i}}</th>{{end}}</tr>
<tr><td>accuracy</td>{{range .Summary.PerClassAccuracy}}<td>{{pct .}}</td>{{end}}</tr></table>
<p>{{range .Figures}}<img src="{{.}}" alt="{{.}}">{{end}}</p>
{{end}}</body></html>
`))
