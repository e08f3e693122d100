// Package nn builds neural-network layers and fused ops as Gorgonia graphs.
//
// A model is a tree of structs holding *Param values whose names are the
// checkpoint's tensor names. Its forward code runs against a *Graph, which
// binds parameters to uniquely named leaves, keeps the first error (every
// builder returns nil afterwards, so forward code is a plain pipeline), and
// offers thin wrappers over Gorgonia's ops plus fused custom ops with
// hand-written backward passes where Gorgonia v0.9.18 lacks an op or computes
// it wrongly.
//
// Compile turns a built graph into a Program run by a TapeMachine; Cache
// keeps one Program per input shape.
//
// Fused ops (Linear, LayerNorm, Softmax/LogSoftmax, QuickGELU, GELU,
// AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool2d, ChannelAffine, Gather,
// AttentionProbs, AttentionApply, their packed-qkv forms, Conv2d, ReLU, and
// ConvBN: conv with inference BatchNorm folded into the filter, residual add
// and ReLU in one per-image epilogue) are one
// Gorgonia op type each with a float32 and a float64 Go kernel and
// hand-written backward ops; all matrix products go through gemm32/gemm64
// (gemm.go; float32 runs on nn/sgemm, which nn also registers as Gorgonia's
// BLAS). Fused ops reuse their output buffers across runs. They work around Gorgonia
// v0.9.18 as follows: every op hashes its kind, every parameter and its
// shapes, so ops differing in axis, eps, heads or kind never merge (Gorgonia
// merges SoftMax and LogSoftMax of one node); Softmax subtracts each line's
// own maximum (tensor.SoftMax NaNs on rows far above the tensor's first
// element); the average-pooling ops replace AveragePool2D (wrong backward)
// and GlobalAveragePool2D (no gradient); BatchNorm2d folds its statistics
// with Sqrt and Div, not InverseSqrt (wrong gradient); Gather range-checks
// its indices (ByIndices reads outside the table); attention reads heads as
// strided blocks of the (B, T, C) layout, avoiding Gorgonia's copying
// transposes and its missing 3-D × 2-D product. Graph leaves are uniquely
// named, so equal-shaped parameters never merge.
//
// Gradients: a Param with Frozen set when the graph is built gets no
// backward nodes from the fused ops (no weight-gradient GEMMs when only the
// input's gradient is wanted), and asking for its gradient is an error.
//
// Concurrency: a Graph must be built from one goroutine at a time, and
// builds are serialised process-wide (Cache and Build take a lock), because
// Gorgonia races on shared constants while building. A Program serialises
// its own runs; different Programs run in parallel.
package nn
