package weights

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxSafetensorsHeader is huggingface/safetensors' header size limit.
const maxSafetensorsHeader = 100_000_000

type stEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// parseSafetensors reads the header and creates zero-copy tensors.
func (f *File) parseSafetensors() error {
	data := f.data
	n := binary.LittleEndian.Uint64(data[:8])
	if n > maxSafetensorsHeader {
		return fmt.Errorf("safetensors header of %d bytes exceeds the %d limit", n, maxSafetensorsHeader)
	}
	if n > uint64(len(data)-8) {
		return fmt.Errorf("safetensors header of %d bytes runs past the end of the %d-byte file", n, len(data))
	}
	header := data[8 : 8+n]
	buf := data[8+n:]
	if !utf8.Valid(header) {
		return fmt.Errorf("safetensors header is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("safetensors header is not a JSON object")
	}
	type span struct {
		t          *Tensor
		begin, end uint64
	}
	var spans []span
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("safetensors header: %w", err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return fmt.Errorf("safetensors header: duplicate key %q", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&f.metadata); err != nil {
				return fmt.Errorf("safetensors __metadata__ is not a string map: %w", err)
			}
			continue
		}
		var e stEntry
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("safetensors header: tensor %q: %w", name, err)
		}
		t, err := stTensor(name, e)
		if err != nil {
			return err
		}
		if e.DataOffsets[1] > uint64(len(buf)) {
			return fmt.Errorf("tensor %q: data_offsets %v past the %d-byte data buffer", name, e.DataOffsets, len(buf))
		}
		spans = append(spans, span{t, e.DataOffsets[0], e.DataOffsets[1]})
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("safetensors header: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("safetensors header: trailing data")
	}
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	var pos uint64
	for _, s := range spans {
		if s.begin != pos {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a gap or overlap at byte %d of the data buffer", s.t.Name, s.begin, s.end, pos)
		}
		pos = s.end
		s.t.raw = buf[s.begin:s.end:s.end]
		if err := f.add(s.t); err != nil {
			return err
		}
	}
	if pos != uint64(len(buf)) {
		return fmt.Errorf("tensors cover %d bytes of the %d-byte data buffer", pos, len(buf))
	}
	return nil
}

// stTensor validates one header entry.
func stTensor(name string, e stEntry) (*Tensor, error) {
	dt := DType(e.DType)
	if dt.Size() == 0 {
		return nil, fmt.Errorf("tensor %q: unknown dtype %q", name, e.DType)
	}
	if e.Shape == nil {
		return nil, fmt.Errorf("tensor %q: missing shape", name)
	}
	if len(e.DataOffsets) != 2 || e.DataOffsets[0] > e.DataOffsets[1] {
		return nil, fmt.Errorf("tensor %q: bad data_offsets %v", name, e.DataOffsets)
	}
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		if d < 0 || d > 1<<48 {
			return nil, fmt.Errorf("tensor %q: bad shape %v", name, e.Shape)
		}
		shape[i] = int(d)
	}
	n, err := numElements(shape, maxElements)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	if want := uint64(n) * uint64(dt.Size()); e.DataOffsets[1]-e.DataOffsets[0] != want {
		return nil, fmt.Errorf("tensor %q: data_offsets %v span %d bytes, %s %v needs %d",
			name, e.DataOffsets, e.DataOffsets[1]-e.DataOffsets[0], dt, shape, want)
	}
	return &Tensor{Name: name, DType: dt, Shape: shape}, nil
}

// WriteSafetensors writes every tensor of src to path in safetensors format,
// keeping each tensor's dtype. Like huggingface/safetensors it orders the
// data by descending dtype width class, then name, and pads the header with
// spaces to a multiple of 8 bytes. metadata may be nil.
func WriteSafetensors(path string, src Source, metadata map[string]string) (err error) {
	var ts []*Tensor
	seen := map[string]bool{}
	for _, name := range src.Names() {
		if seen[name] {
			return fmt.Errorf("weights: write %s: duplicate tensor %q", path, name)
		}
		seen[name] = true
		t, ok := src.Tensor(name)
		if !ok {
			return fmt.Errorf("weights: write %s: tensor %q listed but missing", path, name)
		}
		if t.DType.stOrder() < 0 {
			return fmt.Errorf("weights: write %s: tensor %q: unknown dtype %q", path, name, t.DType)
		}
		if name == "__metadata__" {
			return fmt.Errorf("weights: write %s: a tensor may not be named __metadata__", path)
		}
		ts = append(ts, t)
	}
	sort.SliceStable(ts, func(i, j int) bool {
		a, b := ts[i].DType.stOrder(), ts[j].DType.stOrder()
		if a != b {
			return a > b
		}
		return ts[i].Name < ts[j].Name
	})
	header := safetensorsHeader(ts, metadata)
	// Write a temporary file and rename it: the destination may be the
	// memory-mapped source itself, which must not be truncated under us.
	out, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("weights: write %s: %w", path, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("weights: write %s: %w", path, cerr)
		}
		if err == nil {
			os.Chmod(out.Name(), 0o644) // CreateTemp makes 0600 files
			if rerr := os.Rename(out.Name(), path); rerr != nil {
				err = fmt.Errorf("weights: write %s: %w", path, rerr)
			}
		}
		if err != nil {
			os.Remove(out.Name())
		}
	}()
	w := bufio.NewWriterSize(out, 1<<20)
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(len(header)))
	w.Write(size[:])
	w.Write(header)
	for _, t := range ts {
		raw, err := t.Raw()
		if err != nil {
			return fmt.Errorf("weights: write %s: %w", path, err)
		}
		if _, err := w.Write(raw); err != nil {
			return fmt.Errorf("weights: write %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("weights: write %s: %w", path, err)
	}
	return nil
}

// safetensorsHeader builds the JSON header (metadata first, tensors in data
// order, keys dtype/shape/data_offsets), padded with spaces to 8 bytes.
func safetensorsHeader(ts []*Tensor, metadata map[string]string) []byte {
	var b strings.Builder
	b.WriteByte('{')
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(jsonString(k))
			b.WriteByte(':')
			b.Write(jsonString(metadata[k]))
		}
		b.WriteByte('}')
	}
	var off int
	for i, t := range ts {
		if i > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(t.Name))
		b.WriteString(`:{"dtype":"`)
		b.WriteString(string(t.DType))
		b.WriteString(`","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := off + t.Bytes()
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return []byte(b.String())
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
