package weights

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Tensor is one named tensor; its data is materialized lazily.
type Tensor struct {
	Name  string
	DType DType
	Shape []int

	raw    []byte                 // contiguous bytes when available without work
	f32    []float32              // backing of NewFloat32 tensors
	load   func() ([]byte, error) // lazy materialization (torch views, deflated records)
	closed *atomic.Bool           // set when the owning File is closed
	mem    *fileMem               // the owning File's memory (see Retain)
}

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes is the size of the tensor's data in bytes.
func (t *Tensor) Bytes() int { return t.NumElements() * t.DType.Size() }

// Raw returns the tensor's data as little-endian bytes in t.DType, C order.
// For memory-mapped files the slice is a view of the mapping: it is valid
// until the File is closed (see Retain). Files are mapped copy-on-write, so
// writes never reach the file on disk, but they change what this tensor
// reads afterwards; copy the slice to keep or modify it.
func (t *Tensor) Raw() ([]byte, error) {
	if t.closed != nil && t.closed.Load() {
		return nil, fmt.Errorf("weights: tensor %q: file is closed", t.Name)
	}
	var b []byte
	switch {
	case t.f32 != nil:
		b = float32Bytes(t.f32)
	case t.load != nil:
		var err error
		if b, err = t.load(); err != nil {
			return nil, fmt.Errorf("weights: tensor %q: %w", t.Name, err)
		}
	default:
		b = t.raw
	}
	if len(b) != t.Bytes() {
		return nil, fmt.Errorf("weights: tensor %q: have %d bytes, want %d for %s %v", t.Name, len(b), t.Bytes(), t.DType, t.Shape)
	}
	return b, nil
}

// Float32 converts the data (F32, F16, BF16, F64, integers, bool) into a
// fresh float32 slice that the caller may keep and modify.
func (t *Tensor) Float32() ([]float32, error) {
	raw, err := t.Raw()
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.NumElements())
	if err := decodeFloat32Parallel(out, raw, t.DType); err != nil {
		return nil, fmt.Errorf("weights: tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// Float32View returns the data as float32 without copying when it can: an
// F32 tensor whose bytes are 4-byte aligned, on a little-endian host. The
// view shares the tensor's memory — for a File, the copy-on-write mapping,
// valid until Close unless retained with Retain. Writes through the view
// never reach the file on disk, but later reads of the tensor see them.
// Other tensors are converted as by Float32 into a fresh slice.
func (t *Tensor) Float32View() ([]float32, error) {
	if t.DType != F32 || !hostLittleEndian {
		return t.Float32()
	}
	if t.f32 != nil && len(t.f32) == t.NumElements() {
		return t.f32, nil
	}
	raw, err := t.Raw()
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return []float32{}, nil
	}
	if uintptr(unsafe.Pointer(&raw[0]))%4 != 0 {
		return t.Float32()
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), len(raw)/4), nil
}

// Float64 converts the data into a fresh float64 slice.
func (t *Tensor) Float64() ([]float64, error) {
	raw, err := t.Raw()
	if err != nil {
		return nil, err
	}
	out := make([]float64, t.NumElements())
	if err := decodeFloat64(out, raw, t.DType); err != nil {
		return nil, fmt.Errorf("weights: tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// String describes the tensor as "name dtype [shape]".
func (t *Tensor) String() string {
	return fmt.Sprintf("%s %s %v", t.Name, t.DType, t.Shape)
}

// renamed returns a shallow copy of t with another name; data is shared.
func (t *Tensor) renamed(name string) *Tensor {
	c := *t
	c.Name = name
	c.Shape = append([]int(nil), t.Shape...)
	return &c
}

// NewFloat32 returns an F32 tensor backed by data (not copied). If len(data)
// does not match the shape, Raw and Float32 report it as an error.
func NewFloat32(name string, shape []int, data []float32) *Tensor {
	t := &Tensor{Name: name, DType: F32, Shape: append([]int(nil), shape...), f32: data}
	if data == nil {
		t.f32 = []float32{}
	}
	return t
}

// NewRaw returns a tensor of the given dtype backed by raw little-endian
// bytes (not copied). It checks that the byte count matches dtype and shape.
func NewRaw(name string, dtype DType, shape []int, raw []byte) (*Tensor, error) {
	if dtype.Size() == 0 {
		return nil, fmt.Errorf("weights: tensor %q: unknown dtype %q", name, dtype)
	}
	n, err := numElements(shape, math.MaxInt/8)
	if err != nil {
		return nil, fmt.Errorf("weights: tensor %q: %w", name, err)
	}
	if n*dtype.Size() != len(raw) {
		return nil, fmt.Errorf("weights: tensor %q: %d bytes for %s %v, want %d", name, len(raw), dtype, shape, n*dtype.Size())
	}
	if raw == nil {
		raw = []byte{}
	}
	return &Tensor{Name: name, DType: dtype, Shape: append([]int(nil), shape...), raw: raw}, nil
}

// numElements multiplies the dims, rejecting negative dims and products above limit.
func numElements(shape []int, limit int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d == 0 {
			n = 0
		}
	}
	if n == 0 {
		return 0, nil
	}
	for _, d := range shape {
		if n > limit/d {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= d
	}
	return n, nil
}

func float32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return []byte{}
	}
	if hostLittleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
	}
	b := make([]byte, 4*len(f))
	for i, v := range f {
		u := math.Float32bits(v)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

// Source is any set of named tensors.
type Source interface {
	// Names lists the tensor names in file order.
	Names() []string
	// Tensor returns the named tensor, or false if it is absent.
	Tensor(name string) (*Tensor, bool)
}

// Memory is an in-memory Source that keeps insertion order.
type Memory struct {
	names   []string
	tensors map[string]*Tensor
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{tensors: map[string]*Tensor{}} }

// Add inserts t; a tensor with the same name is replaced in place.
func (m *Memory) Add(t *Tensor) {
	if _, ok := m.tensors[t.Name]; !ok {
		m.names = append(m.names, t.Name)
	}
	m.tensors[t.Name] = t
}

// Names lists the tensor names in insertion order.
func (m *Memory) Names() []string { return append([]string(nil), m.names...) }

// Tensor returns the named tensor.
func (m *Memory) Tensor(name string) (*Tensor, bool) {
	t, ok := m.tensors[name]
	return t, ok
}

// Len is the number of tensors.
func (m *Memory) Len() int { return len(m.names) }

// Sub returns a view of src holding the tensors whose names start with
// prefix, with the prefix stripped (e.g. Sub(f, "visual.")).
func Sub(src Source, prefix string) Source { return &sub{src: src, prefix: prefix} }

type sub struct {
	src    Source
	prefix string
}

func (s *sub) Names() []string {
	var out []string
	for _, n := range s.src.Names() {
		if rest, ok := strings.CutPrefix(n, s.prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

func (s *sub) Tensor(name string) (*Tensor, bool) {
	t, ok := s.src.Tensor(s.prefix + name)
	if !ok {
		return nil, false
	}
	return t.renamed(name), true
}

// Copy materializes every tensor of src into a Memory (bytes are copied, so
// the result outlives a closed File).
func Copy(src Source) (*Memory, error) {
	m := NewMemory()
	for _, name := range src.Names() {
		t, ok := src.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("weights: copy: tensor %q listed but missing", name)
		}
		raw, err := t.Raw()
		if err != nil {
			return nil, fmt.Errorf("weights: copy: %w", err)
		}
		c, err := NewRaw(name, t.DType, t.Shape, append([]byte(nil), raw...))
		if err != nil {
			return nil, fmt.Errorf("weights: copy: %w", err)
		}
		m.Add(c)
	}
	return m, nil
}

// AsFloat32 returns a view of src in which every F16, BF16 and F64 tensor
// reads as F32 (converted lazily, one tensor at a time); other tensors are
// unchanged. Use it with WriteSafetensors to convert a checkpoint to F32.
func AsFloat32(src Source) Source { return asFloat32{src} }

type asFloat32 struct{ src Source }

func (a asFloat32) Names() []string { return a.src.Names() }

func (a asFloat32) Tensor(name string) (*Tensor, bool) {
	t, ok := a.src.Tensor(name)
	if !ok || !t.DType.IsFloat() || t.DType == F32 {
		return t, ok
	}
	c := &Tensor{Name: t.Name, DType: F32, Shape: append([]int(nil), t.Shape...)}
	c.load = func() ([]byte, error) {
		v, err := t.Float32()
		if err != nil {
			return nil, err
		}
		return float32Bytes(v), nil
	}
	return c, true
}

// maxElements bounds the element count any header may declare: 2^52 on
// 64-bit platforms, the largest int on 32-bit ones.
const maxElements = min(1<<52, math.MaxInt)
