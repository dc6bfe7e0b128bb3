package engine_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/internal/fixture"
	"github.com/gotrain/gotrain/kernels"
)

// An op lives in several places: the Backend method (backend.go, its shape
// checks in geom.go), the CPU engine (cpu*.go) and its test, a gradient
// check (gradcheck_test.go) or PyTorch fixture (testdata/make_fixtures.py),
// the CUDA kernel(s) (kernels/*.cu, launched from cuda/*.go), their parity
// test (kernels/parity) and prune's tracer (prune/graph.go). contract is
// the one table that ties them: TestBackendContract fails when a Backend
// method has no row, or a row names something that does not exist.
//
// To add an op: add its row here (DEVELOPERS.md, "Add an op").
type op struct {
	// CPUTest is the engine test function that checks the CPU op (a
	// reference comparison, or TestGradCheck for a backward op).
	CPUTest string
	// GradCheck is a TestGradCheck case name prefix ("conv2d/"); Fixture a
	// PyTorch fixture op (engine/testdata/torch, the "op" of a case). One of
	// them, or NoGrad saying why neither applies.
	GradCheck, Fixture, NoGrad string
	// Kernels are the CUDA kernels the op launches (in the embedded PTX),
	// or NoKernel says why it launches none (a driver copy).
	Kernels  []string
	NoKernel string
	// Parity is the test function (kernels/parity, or cuda for driver
	// calls) comparing the CUDA op with the CPU's; empty only for methods
	// that are no op (Infra).
	Parity string
	// Tracer is prune's tracer decision: models (a method of prune's
	// tracer), passes (its base passes it through to the CPU), refuses (its
	// base fails the trace naming the op).
	Tracer string
	// Infra marks a method that is no op (a name, an allocation, errors).
	Infra string
}

// The GEMM kernels (engine/gemm's blocking on the GPU): every product of a
// convolution, a linear layer or a matmul picks one by tile and transposes,
// in float32 or on TF32 tensor cores, and may split k.
var gemm = []string{
	"gemm_64_nn", "gemm_64_nt", "gemm_64_tn", "gemm_64_tt", "gemm_128_nn", "gemm_128_nt", "gemm_128_tn", "gemm_128_tt",
	"gemm_tf32_l_nn", "gemm_tf32_l_nt", "gemm_tf32_l_tn", "gemm_tf32_l_tt", "gemm_tf32_s_nn", "gemm_tf32_s_nt", "gemm_tf32_s_tn", "gemm_tf32_s_tt",
	"gemm_bf16_l_nn", "gemm_bf16_l_nt", "gemm_bf16_l_tn", "gemm_bf16_l_tt", "gemm_bf16_s_nn", "gemm_bf16_s_nt", "gemm_bf16_s_tn", "gemm_bf16_s_tt",
	"gemm_sum_splits",
}

// The implicit-GEMM convolutions (tf32 and bf16 tensor cores, large and
// small tiles), which the convolutions run at those precisions; bf16x: a
// BFloat16-stored input at bf16; bf16y, bf16xy: a BFloat16-stored output
// (with a float32 or a BFloat16 input).
var (
	igemmFwd = []string{"conv_igemm_fwd_tf32_l", "conv_igemm_fwd_tf32_s", "conv_igemm_fwd_bf16_l", "conv_igemm_fwd_bf16_s",
		"conv_igemm_fwd_bf16x_l", "conv_igemm_fwd_bf16x_s", "conv_igemm_fwd_bf16y_l", "conv_igemm_fwd_bf16y_s",
		"conv_igemm_fwd_bf16xy_l", "conv_igemm_fwd_bf16xy_s"}
	igemmBack = []string{"conv_igemm_dgrad_tf32_l", "conv_igemm_dgrad_tf32_s", "conv_igemm_dgrad_bf16_l", "conv_igemm_dgrad_bf16_s",
		"conv_igemm_wgrad_tf32_l", "conv_igemm_wgrad_tf32_s", "conv_igemm_wgrad_bf16_l", "conv_igemm_wgrad_bf16_s",
		"conv_igemm_wgrad_bf16x_l", "conv_igemm_wgrad_bf16x_s"}
)

// notOps are the kernels in the PTX that belong to no Backend op, each with
// what it is for (they must still exist).
var notOps = map[string]string{
	"lab_mma_tf32": "the kernel lab's mma.sync TF32 peak (cmd/kernellab, TestLabPeakKernels)",
	"lab_mma_bf16": "the kernel lab's mma.sync BF16 peak (cmd/kernellab, TestLabPeakKernels)",
}

func with(a []string, b ...string) []string { return append(slices.Clone(a), b...) }

const (
	models  = "models"
	passes  = "passes"
	refuses = "refuses"
	noTrain = "an optimizer step: PyTorch's optim fixture covers it, no gradient to check"
)

var contract = map[string]op{
	"Name":          {CPUTest: "TestRegistry", NoGrad: "not an op", NoKernel: "not an op", Tracer: passes, Infra: "names the backend"},
	"Alloc":         {CPUTest: "TestPlanPool", NoGrad: "not an op", NoKernel: "cuMemAlloc", Tracer: passes, Infra: "allocates memory"},
	"Err":           {CPUTest: "TestErrorsRecorded", NoGrad: "not an op", NoKernel: "not an op", Parity: "TestErrorsRecorded", Tracer: passes},
	"Sync":          {CPUTest: "TestErrorsRecorded", NoGrad: "not an op", NoKernel: "cuStreamSynchronize", Tracer: passes, Infra: "waits for queued work"},
	"Upload":        {CPUTest: "TestElementwiseReference", NoGrad: "a host copy", NoKernel: "cuMemcpyHtoD", Parity: "TestElementwiseParity", Tracer: passes},
	"UploadInt32":   {CPUTest: "TestElementwiseReference", NoGrad: "a host copy", NoKernel: "cuMemcpyHtoD", Parity: "TestCrossEntropyParity", Tracer: passes},
	"Download":      {CPUTest: "TestElementwiseReference", NoGrad: "a host copy", NoKernel: "cuMemcpyDtoH", Parity: "TestElementwiseParity", Tracer: passes},
	"DownloadInt32": {CPUTest: "TestElementwiseReference", NoGrad: "a host copy", NoKernel: "cuMemcpyDtoH", Parity: "TestMaxPoolParity", Tracer: passes},
	"GatherBatch":   {CPUTest: "TestGatherBatch", NoGrad: "builds the input batch", Kernels: []string{"data_gather"}, Parity: "TestGatherParity", Tracer: refuses},
	"EndStep":       {CPUTest: "TestEndStep", NoGrad: "step bookkeeping", Kernels: []string{"step_end"}, Parity: "TestEndStepParity", Tracer: refuses},
	"Fill":          {CPUTest: "TestElementwiseReference", NoGrad: "no input", Kernels: []string{"ew_fill", "ew_fill_i32"}, Parity: "TestElementwiseParity", Tracer: passes},
	"Copy":          {CPUTest: "TestElementwiseReference", NoGrad: "a copy", NoKernel: "cuMemcpyDtoD", Parity: "TestElementwiseParity", Tracer: models},

	"Scale":           {CPUTest: "TestElementwiseReference", GradCheck: "scale/", Fixture: "scale", Kernels: []string{"ew_scale"}, Parity: "TestElementwiseParity", Tracer: models},
	"Axpy":            {CPUTest: "TestElementwiseReference", NoGrad: "gradient accumulation, linear", Kernels: []string{"ew_axpy"}, Parity: "TestElementwiseParity", Tracer: refuses},
	"Add":             {CPUTest: "TestBroadcastShapeReference", GradCheck: "add/", Fixture: "add", Kernels: []string{"shape_add", "shape_add4", "shape_add_bc4", "shape_add_bc8"}, Parity: "TestAddParity", Tracer: models},
	"SumTo":           {CPUTest: "TestBroadcastShapeReference", GradCheck: "add/bcast", Kernels: []string{"shape_reduce", "shape_reduce_partials", "shape_reduce_rows", "shape_copy", "shape_copy4", "shape_fill"}, Parity: "TestSumToParity", Tracer: refuses},
	"Mul":             {CPUTest: "TestElementwiseReference", GradCheck: "mul/", Kernels: []string{"ew_mul"}, Parity: "TestElementwiseParity", Tracer: models},
	"Relu":            {CPUTest: "TestElementwiseReference", GradCheck: "relu/", Fixture: "relu", Kernels: []string{"ew_relu"}, Parity: "TestElementwiseParity", Tracer: models},
	"Sigmoid":         {CPUTest: "TestElementwiseReference", GradCheck: "sigmoid/", Fixture: "sigmoid", Kernels: []string{"ew_sigmoid"}, Parity: "TestElementwiseParity", Tracer: models},
	"Gelu":            {CPUTest: "TestElementwiseReference", GradCheck: "gelu/", Fixture: "gelu", Kernels: []string{"ew_gelu"}, Parity: "TestElementwiseParity", Tracer: models},
	"ReluBackward":    {CPUTest: "TestElementwiseReference", GradCheck: "relu/", Fixture: "relu", Kernels: []string{"ew_relu_backward"}, Parity: "TestElementwiseParity", Tracer: refuses},
	"SigmoidBackward": {CPUTest: "TestElementwiseReference", GradCheck: "sigmoid/", Fixture: "sigmoid", Kernels: []string{"ew_sigmoid_backward"}, Parity: "TestElementwiseParity", Tracer: refuses},
	"GeluBackward":    {CPUTest: "TestGradCheck", GradCheck: "gelu/", Fixture: "gelu", Kernels: []string{"ew_gelu_backward"}, Parity: "TestElementwiseParity", Tracer: refuses},

	"Dropout":         {CPUTest: "TestDropoutMask", GradCheck: "dropout/", Kernels: []string{"ew_dropout"}, Parity: "TestDropoutParity", Tracer: models},
	"DropoutBackward": {CPUTest: "TestDropoutMask", GradCheck: "dropout/", Kernels: []string{"ew_dropout"}, Parity: "TestDropoutParity", Tracer: refuses},

	"Conv2d":         {CPUTest: "TestConvForwardReference", GradCheck: "conv2d/", Fixture: "conv2d", Kernels: with(append(gemm, igemmFwd...), "conv_im2col_flat", "conv_im2col_plane", "conv_swap01"), Parity: "TestConvParity", Tracer: models},
	"Conv2dBackward": {CPUTest: "TestConvPathsAgree", GradCheck: "conv2d/", Fixture: "conv2d", Kernels: with(append(gemm, igemmBack...), "conv_bias_grad", "conv_col2im", "conv_col2im_flat", "conv_im2col_flat", "conv_im2col_plane", "conv_swap01"), Parity: "TestConvParity", Tracer: refuses},
	"Linear":         {CPUTest: "TestMatMulLinearReference", GradCheck: "linear/", Fixture: "linear", Kernels: gemm, Parity: "TestLinearParity", Tracer: models},
	"LinearBackward": {CPUTest: "TestGradCheck", GradCheck: "linear/", Fixture: "linear", Kernels: with(gemm, "gemm_col_sum", "ew_fill"), Parity: "TestLinearParity", Tracer: refuses},
	"MatMul":         {CPUTest: "TestMatMulLinearReference", GradCheck: "matmul/", Fixture: "matmul", Kernels: with(gemm, "ew_fill"), Parity: "TestMatMulParity", Tracer: models},

	"BatchNormTrain":            {CPUTest: "TestNormForwardReference", GradCheck: "batchnorm/train", Fixture: "batch_norm2d", Kernels: []string{"norm_bn_stats", "norm_bn_stats_finalize", "norm_bn_apply", "norm_bn_apply4", "norm_bn_stats_xbf16", "norm_bn_stats_finalize_xbf16", "norm_bn_apply_xbf16", "norm_bn_apply4_xbf16"}, Parity: "TestBatchNormParity", Tracer: models},
	"BatchNormEval":             {CPUTest: "TestNormForwardReference", GradCheck: "batchnorm/eval", Fixture: "batch_norm2d", Kernels: []string{"norm_bn_eval_coef", "norm_bn_apply", "norm_bn_apply4", "norm_bn_apply_xbf16", "norm_bn_apply4_xbf16"}, Parity: "TestBatchNormParity", Tracer: models},
	"BatchNormBackward":         {CPUTest: "TestGradCheck", GradCheck: "batchnorm/train", Fixture: "batch_norm2d", Kernels: []string{"norm_bn_bwd_reduce", "norm_bn_bwd_finalize", "norm_bn_bwd_dx", "norm_bn_bwd_dx4", "norm_bn_bwd_reduce_xbf16", "norm_bn_bwd_dx_xbf16", "norm_bn_bwd_dx4_xbf16"}, Parity: "TestBatchNormParity", Tracer: refuses},
	"BatchNormEvalBackward":     {CPUTest: "TestGradCheck", GradCheck: "batchnorm/eval", Kernels: []string{"norm_bn_bwd_reduce", "norm_bn_bwd_finalize", "norm_bn_bwd_dx", "norm_bn_bwd_dx4", "norm_bn_bwd_reduce_xbf16", "norm_bn_bwd_dx_xbf16", "norm_bn_bwd_dx4_xbf16"}, Parity: "TestBatchNormParity", Tracer: refuses},
	"BatchNormReluTrain":        {CPUTest: "TestFusedMatchesChain", GradCheck: "batchnorm_relu/train", Fixture: "batch_norm_relu2d", Kernels: []string{"norm_bn_stats", "norm_bn_stats_finalize", "norm_bn_apply", "norm_bn_apply4", "norm_bn_stats_ybf16", "norm_bn_apply_ybf16", "norm_bn_apply4_ybf16", "norm_bn_stats_xbf16", "norm_bn_stats_xbf16_ybf16", "norm_bn_stats_finalize_xbf16", "norm_bn_apply_xbf16", "norm_bn_apply4_xbf16", "norm_bn_apply_xbf16_ybf16", "norm_bn_apply4_xbf16_ybf16"}, Parity: "TestBatchNormReluParity", Tracer: models},
	"BatchNormReluEval":         {CPUTest: "TestFusedMatchesChain", GradCheck: "batchnorm_relu/eval", Fixture: "batch_norm_relu2d", Kernels: []string{"norm_bn_eval_coef", "norm_bn_apply", "norm_bn_apply4", "norm_bn_apply_ybf16", "norm_bn_apply4_ybf16", "norm_bn_apply_xbf16", "norm_bn_apply4_xbf16", "norm_bn_apply_xbf16_ybf16", "norm_bn_apply4_xbf16_ybf16"}, Parity: "TestBatchNormReluParity", Tracer: models},
	"BatchNormReluBackward":     {CPUTest: "TestFusedMatchesChain", GradCheck: "batchnorm_relu/train", Fixture: "batch_norm_relu2d", Kernels: []string{"norm_bn_bwd_reduce", "norm_bn_bwd_finalize", "norm_bn_bwd_dx", "norm_bn_bwd_dx4", "norm_bn_bwd_reduce_ybf16", "norm_bn_bwd_dx_ybf16", "norm_bn_bwd_dx4_ybf16", "norm_bn_bwd_reduce_xbf16", "norm_bn_bwd_reduce_xbf16_ybf16", "norm_bn_bwd_dx_xbf16", "norm_bn_bwd_dx4_xbf16", "norm_bn_bwd_dx_xbf16_ybf16", "norm_bn_bwd_dx4_xbf16_ybf16"}, Parity: "TestBatchNormReluParity", Tracer: refuses},
	"BatchNormReluEvalBackward": {CPUTest: "TestFusedMatchesChain", GradCheck: "batchnorm_relu/eval", Kernels: []string{"norm_bn_bwd_reduce", "norm_bn_bwd_finalize", "norm_bn_bwd_dx", "norm_bn_bwd_dx4", "norm_bn_bwd_reduce_ybf16", "norm_bn_bwd_dx_ybf16", "norm_bn_bwd_dx4_ybf16", "norm_bn_bwd_reduce_xbf16", "norm_bn_bwd_reduce_xbf16_ybf16", "norm_bn_bwd_dx_xbf16", "norm_bn_bwd_dx4_xbf16", "norm_bn_bwd_dx_xbf16_ybf16", "norm_bn_bwd_dx4_xbf16_ybf16"}, Parity: "TestBatchNormReluParity", Tracer: refuses},
	"AddRelu":                   {CPUTest: "TestFusedMatchesChain", GradCheck: "add_relu/", Fixture: "add_relu", Kernels: []string{"fused_add_relu", "fused_add_relu4"}, Parity: "TestAddReluParity", Tracer: models},
	"SqueezeExcite":             {CPUTest: "TestSqueezeExciteMatchesChain", GradCheck: "squeeze_excite/", Fixture: "squeeze_excite", Kernels: []string{"fused_se_pool", "fused_se_excite", "fused_se_apply"}, Parity: "TestSqueezeExciteParity", Tracer: models},
	"SqueezeExciteBackward":     {CPUTest: "TestSqueezeExciteMatchesChain", GradCheck: "squeeze_excite/", Fixture: "squeeze_excite", Kernels: []string{"fused_se_bwd_reduce", "fused_se_bwd_excite", "fused_se_bwd_weights", "fused_se_bwd_dx"}, Parity: "TestSqueezeExciteParity", Tracer: refuses},
	"LayerNorm":                 {CPUTest: "TestNormForwardReference", GradCheck: "layernorm/", Fixture: "layer_norm", Kernels: []string{"norm_ln_fwd_warp", "norm_ln_fwd_block"}, Parity: "TestLayerNormParity", Tracer: models},
	"LayerNormBackward":         {CPUTest: "TestGradCheck", GradCheck: "layernorm/", Fixture: "layer_norm", Kernels: []string{"norm_ln_bwd_cols", "norm_ln_bwd_cols_finalize", "norm_ln_bwd_dx_warp", "norm_ln_bwd_dx_block"}, Parity: "TestLayerNormParity", Tracer: refuses},
	"Softmax":                   {CPUTest: "TestNormForwardReference", GradCheck: "softmax/", Fixture: "softmax", Kernels: []string{"norm_softmax_warp", "norm_softmax_block"}, Parity: "TestSoftmaxParity", Tracer: models},
	"SoftmaxBackward":           {CPUTest: "TestGradCheck", GradCheck: "softmax/", Fixture: "softmax", Kernels: []string{"norm_softmax_bwd_warp", "norm_softmax_bwd_block"}, Parity: "TestSoftmaxParity", Tracer: refuses},
	"CrossEntropy":              {CPUTest: "TestCrossEntropyReference", GradCheck: "crossentropy/", Fixture: "cross_entropy", Kernels: []string{"norm_ce_rows_warp", "norm_ce_rows_block", "norm_ce_loss"}, Parity: "TestCrossEntropyParity", Tracer: models},

	"MaxPool2d":                 {CPUTest: "TestPoolForwardReference", GradCheck: "maxpool2d/", Fixture: "max_pool2d", Kernels: []string{"pool_max_fwd"}, Parity: "TestMaxPoolParity", Tracer: models},
	"MaxPool2dBackward":         {CPUTest: "TestMaxPoolTies", GradCheck: "maxpool2d/", Fixture: "max_pool2d", Kernels: []string{"pool_max_bwd", "pool_max_bwd_smem"}, Parity: "TestMaxPoolParity", Tracer: refuses},
	"AvgPool2d":                 {CPUTest: "TestPoolForwardReference", GradCheck: "avgpool2d/", Fixture: "avg_pool2d", Kernels: []string{"pool_avg_fwd"}, Parity: "TestAvgPoolParity", Tracer: models},
	"AvgPool2dBackward":         {CPUTest: "TestGradCheck", GradCheck: "avgpool2d/", Fixture: "avg_pool2d", Kernels: []string{"pool_avg_bwd"}, Parity: "TestAvgPoolParity", Tracer: refuses},
	"AdaptiveAvgPool2d":         {CPUTest: "TestPoolForwardReference", GradCheck: "adaptiveavgpool2d/", Fixture: "adaptive_avg_pool2d", Kernels: []string{"pool_adaptive_fwd", "pool_adaptive_fwd_warp"}, Parity: "TestAdaptiveAvgPoolParity", Tracer: models},
	"AdaptiveAvgPool2dBackward": {CPUTest: "TestGradCheck", GradCheck: "adaptiveavgpool2d/", Fixture: "adaptive_avg_pool2d", Kernels: []string{"pool_adaptive_bwd"}, Parity: "TestAdaptiveAvgPoolParity", Tracer: refuses},

	"Permute":              {CPUTest: "TestBroadcastShapeReference", GradCheck: "permute/", Fixture: "permute", Kernels: []string{"shape_permute", "shape_permute_tile", "shape_copy", "shape_copy4"}, Parity: "TestPermuteParity", Tracer: models},
	"Concat":               {CPUTest: "TestBroadcastShapeReference", GradCheck: "concat/", Fixture: "concat", Kernels: []string{"shape_concat"}, Parity: "TestConcatSplitParity", Tracer: models},
	"Split":                {CPUTest: "TestGradCheck", GradCheck: "concat/", Fixture: "concat", Kernels: []string{"shape_split"}, Parity: "TestConcatSplitParity", Tracer: refuses},
	"Mean":                 {CPUTest: "TestBroadcastShapeReference", GradCheck: "mean/", Fixture: "mean", Kernels: []string{"shape_reduce", "shape_reduce_partials", "shape_reduce_rows", "shape_copy", "shape_copy4", "shape_fill"}, Parity: "TestMeanParity", Tracer: models},
	"MeanBackward":         {CPUTest: "TestGradCheck", GradCheck: "mean/", Fixture: "mean", Kernels: []string{"shape_mean_bwd"}, Parity: "TestMeanParity", Tracer: refuses},
	"ChannelScale":         {CPUTest: "TestBroadcastShapeReference", GradCheck: "channelscale/", Fixture: "channel_scale", Kernels: []string{"shape_chscale"}, Parity: "TestChannelScaleParity", Tracer: models},
	"ChannelScaleBackward": {CPUTest: "TestGradCheck", GradCheck: "channelscale/", Fixture: "channel_scale", Kernels: []string{"shape_chscale_bwd_thread", "shape_chscale_bwd_warp"}, Parity: "TestChannelScaleParity", Tracer: refuses},

	"AddSign":      {CPUTest: "TestAddSign", NoGrad: "a subgradient added to a gradient: no gradient of its own", Kernels: []string{"ew_add_sign"}, Parity: "TestElementwiseParity", Tracer: refuses},
	"SGDStep":      {CPUTest: "TestSGDStep", Fixture: "sgd", NoGrad: noTrain, Kernels: []string{"optim_sgd"}, Parity: "TestOptimizerParity", Tracer: refuses},
	"AdadeltaStep": {CPUTest: "TestAdadeltaStep", Fixture: "adadelta", NoGrad: noTrain, Kernels: []string{"optim_adadelta"}, Parity: "TestOptimizerParity", Tracer: refuses},
}

// TestBackendContract walks engine.Backend's methods and checks each one's
// row of contract: its CPU test, gradient check or PyTorch fixture, CUDA
// kernels (in the embedded PTX), parity test and prune's tracer decision.
// It also fails on a row for no method, and on a kernel of the PTX no row
// names (a kernel nothing launches, or a row missing it).
func TestBackendContract(t *testing.T) {
	engineTests, engineCalls := testFuncs(t, ".")
	parityTests, parityCalls := testFuncs(t, "../kernels/parity", "../cuda")
	grads := map[string]bool{}
	for _, c := range gradCases() {
		grads[c.name] = true
	}
	fixtureOps := torchFixtureOps(t)
	ptx := map[string]bool{}
	for _, m := range kernels.Modules() {
		for _, k := range kernels.Entries(m.PTX) {
			ptx[k] = true
		}
	}
	tracer := tracerDecisions(t)

	bt := reflect.TypeFor[engine.Backend]()
	methods := map[string]bool{}
	named := map[string]bool{}
	for i := range bt.NumMethod() {
		name := bt.Method(i).Name
		methods[name] = true
		row, ok := contract[name]
		if !ok {
			t.Errorf("%s: engine.Backend method without a contract row: add one to engine/contract_test.go naming its CPU test, gradient check or PyTorch fixture (or why none applies), CUDA kernels and parity test, and prune's tracer decision (DEVELOPERS.md, Add an op)", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			checkRow(t, name, row, engineTests, engineCalls, parityTests, parityCalls, grads, fixtureOps, ptx, tracer)
			t.Logf("%s: cpu %s, %s, kernels %s, parity %s, tracer %s", name, row.CPUTest,
				gradWord(row), kernelWord(row), or(row.Parity, "-"), row.Tracer)
		})
		for _, k := range row.Kernels {
			named[k] = true
		}
	}
	for name := range contract {
		if !methods[name] {
			t.Errorf("contract row %s: engine.Backend has no such method: remove the row", name)
		}
	}
	for k, why := range notOps {
		if !ptx[k] {
			t.Errorf("kernel %s (%s): not in the embedded PTX: remove it from notOps", k, why)
		}
		named[k] = true
	}
	var orphans []string
	for k := range ptx {
		if !named[k] {
			orphans = append(orphans, k)
		}
	}
	sort.Strings(orphans)
	if len(orphans) > 0 {
		t.Errorf("kernels in the embedded PTX that no contract row names (add them to their op's row, or remove the kernel): %s", strings.Join(orphans, ", "))
	}
}

func checkRow(t *testing.T, name string, row op, engineTests, engineCalls, parityTests, parityCalls map[string]bool,
	grads, fixtureOps, ptx map[string]bool, tracer map[string]string) {
	if !engineTests[row.CPUTest] {
		t.Errorf("CPU test %q: no such test function in engine's _test.go files", row.CPUTest)
	}
	if !engineCalls[name] {
		t.Errorf("no engine test calls %s", name)
	}
	if row.GradCheck == "" && row.Fixture == "" && row.NoGrad == "" {
		t.Errorf("no gradient check, no PyTorch fixture, and no reason why (NoGrad)")
	}
	if row.GradCheck != "" && !hasPrefix(grads, row.GradCheck) {
		t.Errorf("gradient check %q: no TestGradCheck case (gradCases in gradcheck_test.go) starts so", row.GradCheck)
	}
	if row.Fixture != "" && !fixtureOps[row.Fixture] {
		t.Errorf("PyTorch fixture op %q: no case of engine/testdata/torch has it (make_fixtures.py, then make fixtures)", row.Fixture)
	}
	if len(row.Kernels) == 0 && row.NoKernel == "" {
		t.Errorf("no CUDA kernel, and no reason why (NoKernel)")
	}
	for _, k := range row.Kernels {
		if !ptx[k] {
			t.Errorf("kernel %s: not in the embedded PTX (kernels/*.ptx; make ptx)", k)
		}
	}
	switch {
	case row.Parity == "" && row.Infra == "":
		t.Errorf("no parity test (kernels/parity)")
	case row.Parity != "" && !parityTests[row.Parity]:
		t.Errorf("parity test %q: no such test function in kernels/parity or cuda", row.Parity)
	case row.Parity != "" && !parityCalls[name]:
		t.Errorf("no parity test calls %s", name)
	}
	if got := tracer[name]; got != row.Tracer {
		t.Errorf("tracer decision %q, but prune's tracer %s it (prune/graph.go models an op, prune/tracebase.go passes or refuses it)", row.Tracer, or(got, "does not know"))
	}
}

// testFuncs parses the _test.go files of dirs: the names of their Test
// functions, and every method name they call (x.Name(...)).
func testFuncs(t *testing.T, dirs ...string) (tests, calls map[string]bool) {
	tests, calls = map[string]bool{}, map[string]bool{}
	for _, f := range parseDirs(t, "_test.go", dirs...) {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Test") {
				tests[fd.Name.Name] = true
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if s, ok := c.Fun.(*ast.SelectorExpr); ok {
					calls[s.Sel.Name] = true
				}
			}
			return true
		})
	}
	return tests, calls
}

// tracerDecisions reads prune's tracer from its source: a method of
// *tracer models the op; a method of *traceBase refuses it when its body
// calls refuse, else passes it through.
func tracerDecisions(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, f := range parseDirs(t, ".go", "../prune") {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || !fd.Name.IsExported() {
				continue
			}
			star, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			switch recv := star.X.(*ast.Ident).Name; {
			case recv == "tracer":
				out[fd.Name.Name] = models
			case recv == "traceBase" && out[fd.Name.Name] == "":
				out[fd.Name.Name] = passes
				ast.Inspect(fd.Body, func(n ast.Node) bool {
					if s, ok := n.(*ast.SelectorExpr); ok && s.Sel.Name == "refuse" {
						out[fd.Name.Name] = refuses
					}
					return true
				})
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("found no method of prune's tracer in ../prune")
	}
	return out
}

func parseDirs(t *testing.T, suffix string, dirs ...string) []*ast.File {
	var files []*ast.File
	fset := token.NewFileSet()
	for _, dir := range dirs {
		paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, p := range paths {
			if !strings.HasSuffix(p, suffix) || (suffix == ".go" && strings.HasSuffix(p, "_test.go")) {
				continue
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	return files
}

// torchFixtureOps is the set of ops the committed PyTorch fixtures hold.
func torchFixtureOps(t *testing.T) map[string]bool {
	fams, err := fixture.Families()
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, fam := range fams {
		f := fixture.MustLoadFamily(t, fam)
		for _, name := range f.Cases() {
			ops[fixture.MustCase(t, f, name).Op] = true
		}
	}
	return ops
}

func hasPrefix(set map[string]bool, prefix string) bool {
	for k := range set {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func gradWord(r op) string {
	var w []string
	if r.GradCheck != "" {
		w = append(w, "gradcheck "+r.GradCheck)
	}
	if r.Fixture != "" {
		w = append(w, "fixture "+r.Fixture)
	}
	if len(w) == 0 {
		return "no gradient check: " + r.NoGrad
	}
	return strings.Join(w, ", ")
}

func kernelWord(r op) string {
	if len(r.Kernels) == 0 {
		return "none (" + r.NoKernel + ")"
	}
	return strings.Join(r.Kernels, " ")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
