// Package engine is gotrain's compute floor: the tensor type, the pools that
// give a model's parameters, gradients and activations one allocation each,
// the Backend interface that layers and models talk to, and the pure-Go CPU
// backend.
//
// The CPU backend is both the fallback when no GPU is present and the
// reference that every CUDA kernel is tested against. It is float32 and
// NCHW, runs on all cores (convolutions as GEMMs on the AVX-512 or
// AVX2/FMA kernels of engine/gemm; each shape picks its path: Winograd
// F(4x4, 3x3) for 3x3 stride-1 convolutions of 64+ channels on 4x4 and
// larger maps, one dense GEMM over the batch for maps no larger than the
// kernel, the stride-1 convolution of the subsampled input for strided
// 1x1s, else im2col per image or over the whole batch; ConvPath in the
// tests names them), and is bit-reproducible:
// chunk boundaries depend only on the problem, never on the core count, and
// every reduction runs in a fixed order (float64 accumulators for sums of
// statistics), so a run gives the same bits on 1 thread or 64.
//
// Dropout masks come from Philox4x32-10 keyed by (seed, step, layer,
// element index) (see DropoutUniform): the CPU and CUDA engines draw the
// same masks, and a resumed run draws what the uninterrupted one would have.
//
// # Ops and their checks
//
// Every op is checked three ways: its gradient against central finite
// differences computed in float64 (TestGradCheck/<op>/<case>, every element
// of every input), its forward and backward against PyTorch 1.13 on fixed
// inputs filled by the shared name-and-index hash (TestTorch/<family>/<case>,
// fixtures in testdata/torch made by testdata/make_fixtures.py), and its
// forward values against a plain float64 reimplementation (the *Reference
// tests in cpu_test.go). TestOutputsFullyWritten poisons every output with
// NaN first; TestDeterminismAcrossThreads compares 1, 3 and 4 threads bit
// for bit.
//
//	op (Backend methods)                       gradient check              PyTorch check
//	conv2d 3x3, 1x1, 7x7 s2, 4x4 s4, strided   GradCheck/conv2d (7)        Torch/conv2d (7)
//	  (Conv2d, Conv2dBackward)
//	batch norm 2d/1d, train and eval           GradCheck/batchnorm (4)     Torch/batchnorm (5, eps 1e-5 and 1e-3,
//	  (BatchNormTrain/Eval/Backward)                                         running stats, momentum 0.1)
//	ReLU, sigmoid, GELU (erf)                  GradCheck/relu, sigmoid,    Torch/activations/relu, sigmoid, gelu
//	                                             gelu
//	max pool (kernel, stride, pad, ceil)       GradCheck/maxpool2d (6)     Torch/pool/max_* (5)
//	average pool, adaptive/global average      GradCheck/avgpool2d (7),    Torch/pool/avg_* (3),
//	                                             adaptiveavgpool2d (3)       adaptive_avg_1x1, adaptive_avg_2x2
//	linear (2-D and 3-D input)                 GradCheck/linear (3)        Torch/linear (4)
//	batched matmul (all transposes)            GradCheck/matmul (6)        Torch/matmul (3)
//	dropout                                    GradCheck/dropout           none: gotrain's masks are its own;
//	                                                                         TestDropoutMask checks the mask, the
//	                                                                         1/(1-p) scale and the kept fraction
//	flatten, reshape                           views, no computation       Torch/shape/split_qkv (view+permute)
//	permute / transpose                        GradCheck/permute (2)       Torch/shape/permute, split_qkv
//	add with broadcasting (+ SumTo)            GradCheck/add (5)           Torch/shape/add_bcast_* (3)
//	scale by a scalar                          GradCheck/scale             Torch/shape/scale
//	element-wise multiply                      GradCheck/mul               TestElementwiseReference
//	concat along any axis (+ Split)            GradCheck/concat (3)        Torch/shape/concat_dim0..2
//	mean over an axis                          GradCheck/mean (3)          Torch/shape/mean_dim1
//	per-channel scale (SE excite)              GradCheck/channelscale (2)  Torch/shape/channel_scale
//	layer norm                                 GradCheck/layernorm (3)     Torch/norm/layer_norm
//	softmax                                    GradCheck/softmax           Torch/norm/softmax, softmax_large
//	log-softmax + NLL, mean (CrossEntropy)     GradCheck/crossentropy      Torch/loss/cross_entropy, _large
//	SGD (momentum, dampening, wd, Nesterov)    n/a                         Torch/optim/sgd_* (4), TestSGDStep
//	Adadelta (rho, eps, wd)                    n/a                         Torch/optim/adadelta_* (2),
//	                                                                         TestAdadeltaStep
//	gather a batch from bytes (GatherBatch),   n/a                         none: TestGatherBatch checks it against
//	  end of step (EndStep), step variables                                  the data set, TestEndStep, TestStepVarsOps
//	  (stepvars.go)                                                          (ops given vars = given the values)
package engine
