package weights

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
)

// Format names a checkpoint file format.
type Format string

// Supported formats.
const (
	Safetensors Format = "safetensors"
	TorchZip    Format = "torch-zip"
	TorchLegacy Format = "torch-legacy"
	TorchScript Format = "torchscript"
)

// File is an open checkpoint. It implements Source; tensors stay valid
// (and zero-copy) until Close.
type File struct {
	path     string
	format   Format
	names    []string
	tensors  map[string]*Tensor
	metadata map[string]string
	data     []byte
	mem      *fileMem
	closed   *atomic.Bool
}

// fileMem counts the holders of a File's memory: the open File itself and
// every object passed to Retain. The mapping is released by the last one.
type fileMem struct {
	refs  atomic.Int64
	unmap func() error
}

func newFileMem(unmap func() error) *fileMem {
	m := &fileMem{unmap: unmap}
	m.refs.Store(1)
	return m
}

// acquire adds a holder unless the memory is already released.
func (m *fileMem) acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a holder; the last one unmaps.
func (m *fileMem) release() error {
	if m.refs.Add(-1) != 0 {
		return nil
	}
	return m.unmap()
}

// Retain keeps the memory behind t's data (and so the views that
// Float32View and Raw returned for any tensor of t's File) valid for as long
// as obj is reachable, even after the File is closed: the file is unmapped
// once it is closed and every retaining object has been garbage collected.
// Call it before Close. It does nothing for tensors that do not belong to a
// File or whose File is already closed.
func Retain[T any](t *Tensor, obj *T) {
	if t == nil || t.mem == nil || obj == nil || !t.mem.acquire() {
		return
	}
	runtime.AddCleanup(obj, func(m *fileMem) { m.release() }, t.mem)
}

// Open opens a checkpoint, detecting its format by content: safetensors,
// torch.save zip, legacy torch.save stream, or TorchScript archive.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: open %s: %w", path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: open %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("weights: open %s: not a regular file", path)
	}
	data, unmap, err := mapFile(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("weights: open %s: %w", path, err)
	}
	f, err := OpenBytes(path, data)
	if err != nil {
		unmap()
		return nil, err
	}
	f.mem.unmap = unmap
	return f, nil
}

func readAll(f *os.File, size int64) ([]byte, func() error, error) {
	if size < 0 || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("file size %d unsupported", size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}

// OpenBytes parses a whole checkpoint held in memory (for example one
// embedded with go:embed); name is used in errors. The File's tensors alias
// data, which must not change while they are in use.
func OpenBytes(name string, data []byte) (*File, error) {
	f := &File{path: name, data: data, tensors: map[string]*Tensor{}, closed: new(atomic.Bool), mem: newFileMem(func() error { return nil })}
	var err error
	switch {
	case len(data) == 0:
		err = fmt.Errorf("empty file")
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		err = f.parseTorchZip()
	case len(data) >= 9 && data[8] == '{':
		f.format = Safetensors
		err = f.parseSafetensors()
	case data[0] == 0x80 || data[0] == 'L': // PROTO 2+, or protocol 1's text LONG magic
		f.format = TorchLegacy
		err = f.parseLegacy()
	case len(data) > 262 && string(data[257:262]) == "ustar":
		err = fmt.Errorf("tar-based torch.save files (PyTorch < 0.4) are not supported; re-save with a newer PyTorch")
	default:
		err = fmt.Errorf("unrecognized format (not safetensors, torch zip, legacy torch or TorchScript)")
	}
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", name, err)
	}
	return f, nil
}

// add registers a parsed tensor, rejecting duplicate names.
func (f *File) add(t *Tensor) error {
	if _, dup := f.tensors[t.Name]; dup {
		return fmt.Errorf("duplicate tensor name %q", t.Name)
	}
	t.closed = f.closed
	t.mem = f.mem
	f.tensors[t.Name] = t
	f.names = append(f.names, t.Name)
	return nil
}

// Path is the path the file was opened from.
func (f *File) Path() string { return f.path }

// Format is the detected file format.
func (f *File) Format() Format { return f.format }

// Metadata is the safetensors __metadata__ map (nil for other formats).
func (f *File) Metadata() map[string]string { return f.metadata }

// Names lists the tensor names in file order.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Tensor returns the named tensor.
func (f *File) Tensor(name string) (*Tensor, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// NumParams is the total number of elements over all tensors.
func (f *File) NumParams() int64 {
	var n int64
	for _, t := range f.tensors {
		n += int64(t.NumElements())
	}
	return n
}

// Close releases the mapping. Raw and Float32View slices obtained earlier
// become invalid, unless the memory is retained (see Retain); Float32 and
// Float64 results stay valid. Close must not run concurrently with reads of
// the file's tensors.
func (f *File) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	f.data = nil
	if err := f.mem.release(); err != nil {
		return fmt.Errorf("weights: close %s: %w", f.path, err)
	}
	return nil
}
