package engine

// SetBatchedPQ sets the output size below which convolutions run as one
// batched GEMM, and returns a function restoring the old value (tests use
// it to run both convolution paths on the same inputs).
func SetBatchedPQ(v int) (restore func()) {
	old := batchedPQ
	batchedPQ = v
	return func() { batchedPQ = old }
}
