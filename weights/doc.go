// Package weights reads and writes the checkpoint files users already have:
// safetensors, torch.save archives (zip and the legacy pickle stream) and
// TorchScript archives such as OpenAI's CLIP ViT-B-32.pt.
//
// Every format is presented through one interface, Source: an ordered set of
// named tensors whose bytes are materialized lazily. Files are memory-mapped
// where possible and Tensor.Raw returns zero-copy views of the mapping;
// Tensor.Float32 and Tensor.Float64 convert any supported dtype into a fresh
// slice. PyTorch files are decoded by a small pickle interpreter that accepts
// only the globals a checkpoint needs (tensor rebuild functions, storage
// types, OrderedDict, TorchScript module classes); anything else is an error,
// never code execution.
//
// An open File is immutable: its tensors may be read from several goroutines
// at once. Stored zip records and legacy storages are used in place without
// checking their CRC; compressed records are inflated and checked on read.
//
// Strict helps model constructors load strictly: it records missing,
// mis-shaped and unused tensors and reports them together in one error.
package weights
