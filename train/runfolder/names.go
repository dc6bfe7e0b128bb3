// Package runfolder is a run folder: the one place that names its files,
// writes them (atomically, 0644 under the umask, flushed to disk), commits
// each epoch as a set, locks the folder while a process writes it, finds
// the point a run resumes from, and validates a run's configuration.
//
// A run folder holds, at its top:
//
//	config.json        the flags and the effective configuration
//	commit.json        the committed epoch: its folder and files (written last)
//	epochs/NNNN/       the committed epoch's files
//	metrics.jsonl/.csv, last/best/state.safetensors
//	                   the committed epoch's files, linked from epochs/NNNN
//	summary.json, *.png, predictions.csv   the end of a run (or eval)
//	pruned.safetensors, prune.json, prune.md   a pruning run
//
// Whatever the moment a process dies, commit.json names a complete set of
// files: the newest complete epoch, or the one before.
package runfolder

// Files of a run folder.
const (
	ConfigFile     = "config.json"
	CommitFile     = "commit.json"
	EpochsDir      = "epochs"
	MetricsJSONL   = "metrics.jsonl"
	MetricsCSV     = "metrics.csv"
	BestWeights    = "best.safetensors"
	LastWeights    = "last.safetensors"
	StateFile      = "state.safetensors"
	SummaryFile    = "summary.json"
	LossAccPNG     = "loss_acc.png"
	ConfusionPNG   = "confusion_matrix.png"
	MisclassPNG    = "misclassified.png"
	WellClassPNG   = "well_classified.png"
	PredictionsCSV = "predictions.csv"
	PrunedWeights  = "pruned.safetensors"
	PruneJSON      = "prune.json"
	PruneMD        = "prune.md"
)

// epochFiles are the files an epoch commits, in the order they are written.
var epochFiles = []string{MetricsJSONL, MetricsCSV, LastWeights, BestWeights, StateFile}

// runFiles are the files whose presence means a folder holds a run (or an
// evaluation, or a pruning run) that a new one would overwrite.
var runFiles = []string{CommitFile, MetricsJSONL, MetricsCSV, BestWeights, LastWeights, StateFile, SummaryFile,
	LossAccPNG, ConfusionPNG, MisclassPNG, WellClassPNG, PredictionsCSV, PrunedWeights, PruneJSON, PruneMD}
