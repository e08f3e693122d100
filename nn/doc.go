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
// Concurrency: a Graph must be built from one goroutine at a time, and
// builds are serialised process-wide (Cache and Build take a lock), because
// Gorgonia races on shared constants while building. A Program serialises
// its own runs; different Programs run in parallel.
package nn
