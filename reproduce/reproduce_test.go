package reproduce

import (
	"testing"

	"github.com/gotrain/gotrain/models"
)

// TestRows: every row names a registered model, once, and a pruning row a
// model with pruning targets; the report's rows carry Table 1's numbers.
// The pipeline's tests run gotrain reproduce end to end (cmd/gotrain).
func TestRows(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rows {
		if seen[r.Name] {
			t.Errorf("row %s listed twice", r.Name)
		}
		seen[r.Name] = true
		spec, err := models.Lookup(r.Model)
		if err != nil {
			t.Errorf("row %s: %v", r.Name, err)
			continue
		}
		if r.Prune && spec.PruneTarget == nil {
			t.Errorf("row %s prunes %s, which has no pruning targets", r.Name, r.Model)
		}
		if r.Name != "slim-seresnet" && (r.ReportAcc == nil || r.ReportParams == nil || r.ReportMB == nil) {
			t.Errorf("row %s lacks the report's Table 1 numbers", r.Name)
		}
	}
	if len(RowNames()) != len(Rows) {
		t.Errorf("RowNames() has %d names for %d rows", len(RowNames()), len(Rows))
	}
}
