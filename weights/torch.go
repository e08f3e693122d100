package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// record is the bytes of one storage: zero-copy for stored zip entries and
// legacy files, read on demand for compressed zip entries.
type record struct {
	size int64
	data []byte                 // set when available without work
	read func() ([]byte, error) // otherwise
}

func (r *record) bytes() ([]byte, error) {
	if r.data != nil {
		return r.data, nil
	}
	return r.read()
}

// parseTorchZip reads a torch.save zip archive or a TorchScript archive.
func (f *File) parseTorchZip() error {
	zr, err := zip.NewReader(bytes.NewReader(f.data), int64(len(f.data)))
	if err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	if len(zr.File) == 0 {
		return fmt.Errorf("zip archive has no entries")
	}
	// PyTorchStreamReader takes the archive prefix from the first entry.
	prefix, _, ok := strings.Cut(zr.File[0].Name, "/")
	if !ok {
		return fmt.Errorf("zip entry %q has no archive prefix directory", zr.File[0].Name)
	}
	entries := map[string]*zip.File{}
	for _, zf := range zr.File {
		if rest, ok := strings.CutPrefix(zf.Name, prefix+"/"); ok {
			entries[rest] = zf
		}
	}
	f.format = TorchZip
	if entries["constants.pkl"] != nil {
		f.format = TorchScript
	}
	if bo := entries["byteorder"]; bo != nil {
		r, err := f.zipRecord(bo)
		if err != nil {
			return err
		}
		b, err := r.bytes()
		if err != nil {
			return err
		}
		if string(b) != "little" {
			return fmt.Errorf("byteorder %q is not supported (only little-endian)", b)
		}
	}
	pklEntry := entries["data.pkl"]
	if pklEntry == nil {
		if entries["model.json"] != nil {
			return fmt.Errorf("TorchScript archive from PyTorch < 1.4 (model.json) is not supported; re-save it with torch.jit.save in a newer PyTorch")
		}
		return fmt.Errorf("zip archive has no %s/data.pkl (not a PyTorch file)", prefix)
	}
	pkl, err := f.zipRecord(pklEntry)
	if err != nil {
		return err
	}
	pklBytes, err := pkl.bytes()
	if err != nil {
		return fmt.Errorf("%s: %w", pklEntry.Name, err)
	}
	records := map[string]*record{}
	u := newUnpickler(pklBytes)
	u.torchScript = f.format == TorchScript
	u.persistentLoad = func(pid any) (any, error) {
		s, err := storageFromPID(pid)
		if err != nil {
			return nil, err
		}
		if _, ok := records[s.key]; !ok {
			zf := entries["data/"+s.key]
			if zf == nil {
				return nil, fmt.Errorf("storage %q: no record %s/data/%s", s.key, prefix, s.key)
			}
			r, err := f.zipRecord(zf)
			if err != nil {
				return nil, err
			}
			records[s.key] = r
		}
		return s, nil
	}
	root, err := u.load()
	if err != nil {
		return fmt.Errorf("%s: %w", pklEntry.Name, err)
	}
	return f.addTensors(root, records)
}

// zipRecord returns a zero-copy view of a stored entry, or a reader for a
// compressed one whose size is bounded by what deflate can expand to.
func (f *File) zipRecord(zf *zip.File) (*record, error) {
	size := zf.UncompressedSize64
	if zf.Method == zip.Store {
		off, err := zf.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("zip entry %s: %w", zf.Name, err)
		}
		if zf.CompressedSize64 != size || off < 0 || uint64(off) > uint64(len(f.data)) || size > uint64(len(f.data))-uint64(off) {
			return nil, fmt.Errorf("zip entry %s: %d bytes at offset %d run past the end of the file", zf.Name, size, off)
		}
		return &record{size: int64(size), data: f.data[off : uint64(off)+size : uint64(off)+size]}, nil
	}
	if size > 1100*zf.CompressedSize64+1024 || zf.CompressedSize64 > uint64(len(f.data)) {
		return nil, fmt.Errorf("zip entry %s: implausible sizes (%d compressed, %d uncompressed)", zf.Name, zf.CompressedSize64, size)
	}
	return &record{size: int64(size), read: func() ([]byte, error) {
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Errorf("zip entry %s: %w", zf.Name, err)
		}
		defer rc.Close()
		b := make([]byte, size)
		if _, err := io.ReadFull(rc, b); err != nil {
			return nil, fmt.Errorf("zip entry %s: %w", zf.Name, err)
		}
		if _, err := rc.Read(make([]byte, 1)); err != io.EOF { // checks the CRC
			return nil, fmt.Errorf("zip entry %s: corrupt data (%v)", zf.Name, err)
		}
		return b, nil
	}}, nil
}

// legacyMagic is torch.serialization's MAGIC_NUMBER.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// parseLegacy reads the pre-1.6 torch.save stream: magic, protocol 1001,
// sys_info, the object, the storage key list, then per key an int64 element
// count and the raw bytes.
func (f *File) parseLegacy() error {
	u := newUnpickler(f.data)
	magic, err := u.load()
	if err != nil {
		return fmt.Errorf("legacy magic number: %w", err)
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return fmt.Errorf("not a torch.save file (magic number %v)", magic)
	}
	proto, err := u.load()
	if err != nil {
		return fmt.Errorf("legacy protocol version: %w", err)
	}
	if proto != int64(1001) {
		return fmt.Errorf("unsupported legacy protocol version %v", proto)
	}
	sysInfo, err := u.load()
	if err != nil {
		return fmt.Errorf("legacy sys_info: %w", err)
	}
	if d, ok := sysInfo.(*pyDict); ok {
		if le, ok := d.get("little_endian"); ok && le != true {
			return fmt.Errorf("big-endian legacy files are not supported")
		}
	} else {
		return fmt.Errorf("legacy sys_info is %s, not a dict", typeName(sysInfo))
	}
	dtypes := map[string]DType{}
	u.persistentLoad = func(pid any) (any, error) {
		s, err := storageFromPID(pid)
		if err != nil {
			return nil, err
		}
		if dt, ok := dtypes[s.key]; ok && dt != s.dtype {
			return nil, fmt.Errorf("storage %q used as both %s and %s", s.key, dt, s.dtype)
		}
		dtypes[s.key] = s.dtype
		return s, nil
	}
	root, err := u.load()
	if err != nil {
		return fmt.Errorf("legacy object: %w", err)
	}
	u.persistentLoad = nil
	keyList, err := u.load()
	if err != nil {
		return fmt.Errorf("legacy storage key list: %w", err)
	}
	kl, ok := keyList.(*pyList)
	if !ok {
		return fmt.Errorf("legacy storage key list is %s", typeName(keyList))
	}
	records := map[string]*record{}
	pos := int64(u.pos)
	for _, k := range kl.items {
		key, ok := k.(string)
		if !ok {
			return fmt.Errorf("legacy storage key is %s", typeName(k))
		}
		dt, ok := dtypes[key]
		if !ok {
			return fmt.Errorf("legacy storage %q is listed but never used", key)
		}
		if pos+8 > int64(len(f.data)) {
			return fmt.Errorf("legacy storage %q: truncated file", key)
		}
		numel := int64(binary.LittleEndian.Uint64(f.data[pos:]))
		pos += 8
		if numel < 0 || numel > (int64(len(f.data))-pos)/int64(dt.Size()) {
			return fmt.Errorf("legacy storage %q: %d elements of %s run past the end of the file", key, numel, dt)
		}
		n := numel * int64(dt.Size())
		if _, dup := records[key]; dup {
			return fmt.Errorf("legacy storage %q listed twice", key)
		}
		records[key] = &record{size: n, data: f.data[pos : pos+n : pos+n]}
		pos += n
	}
	for key := range dtypes {
		if records[key] == nil {
			return fmt.Errorf("legacy storage %q has no data", key)
		}
	}
	return f.addTensors(root, records)
}

// addTensors flattens the unpickled object into named tensors.
func (f *File) addTensors(root any, records map[string]*record) error {
	var refs []namedRef
	budget := maxFlattenNodes
	if err := flatten(root, "", 0, &budget, &refs); err != nil {
		return err
	}
	if len(refs) > 0 {
		strip := true
		for _, r := range refs {
			if !strings.HasPrefix(r.name, "module.") {
				strip = false
				break
			}
		}
		if strip {
			for i := range refs {
				refs[i].name = strings.TrimPrefix(refs[i].name, "module.")
			}
		}
	}
	for _, r := range refs {
		t, err := f.viewTensor(r.name, r.t, records[r.t.storage.key])
		if err != nil {
			return err
		}
		if err := f.add(t); err != nil {
			return err
		}
	}
	return nil
}

// maxFlattenNodes bounds the object walk (a ViT-L/14 archive has ~10^4 nodes).
const maxFlattenNodes = 1 << 20

type namedRef struct {
	name string
	t    *pyTensor
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// flatten walks dicts, TorchScript module objects, lists and tuples,
// collecting tensors under dotted names. A {'state_dict': …} or {'model': …}
// wrapper is unwrapped; a lone tensor is named "tensor".
// The walk is bounded in depth and in visited nodes, since shared references
// in a pickle can make a tiny object graph exponentially large as a tree.
func flatten(v any, prefix string, depth int, budget *int, out *[]namedRef) error {
	if depth > 64 {
		return fmt.Errorf("object nesting deeper than 64 at %q", prefix)
	}
	if *budget--; *budget < 0 {
		return fmt.Errorf("object graph has more than %d nodes", maxFlattenNodes)
	}
	switch v := v.(type) {
	case *pyTensor:
		name := prefix
		if name == "" {
			name = "tensor"
		}
		*out = append(*out, namedRef{name, v})
	case *pyDict:
		if depth == 0 {
			for _, key := range []string{"state_dict", "model"} {
				if inner, ok := v.get(key); ok {
					if d, ok := inner.(*pyDict); ok {
						return flatten(d, prefix, depth+1, budget, out)
					}
				}
			}
		}
		for i, k := range v.keys {
			var ks string
			switch k := k.(type) {
			case string:
				ks = k
			case int64:
				ks = strconv.FormatInt(k, 10)
			default:
				continue
			}
			if err := flatten(v.vals[i], join(prefix, ks), depth+1, budget, out); err != nil {
				return err
			}
		}
	case *pyObject:
		if v.attrs != nil {
			return flatten(v.attrs, prefix, depth+1, budget, out)
		}
	case *pyList:
		for i, x := range v.items {
			if err := flatten(x, join(prefix, strconv.Itoa(i)), depth+1, budget, out); err != nil {
				return err
			}
		}
	case pyTuple:
		for i, x := range v {
			if err := flatten(x, join(prefix, strconv.Itoa(i)), depth+1, budget, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// viewTensor checks a (storage, offset, size, stride) view against its
// record and returns a tensor that materializes it lazily: zero-copy when the
// view is contiguous, gathered element by element otherwise.
func (f *File) viewTensor(name string, p *pyTensor, rec *record) (*Tensor, error) {
	if rec == nil {
		return nil, fmt.Errorf("tensor %q: storage %q has no data", name, p.storage.key)
	}
	s := p.storage
	es := int64(s.dtype.Size())
	if s.numel > rec.size/es || s.offset > rec.size/es-s.numel {
		return nil, fmt.Errorf("tensor %q: storage %q claims %d %s elements, record holds %d bytes", name, s.key, s.numel, s.dtype, rec.size)
	}
	shape := make([]int, len(p.size))
	numel, maxIndex := int64(1), p.offset
	for i, d := range p.size {
		st := p.stride[i]
		if d < 0 || st < 0 {
			return nil, fmt.Errorf("tensor %q: negative size or stride (%v, %v)", name, p.size, p.stride)
		}
		if d > 0 && st > 0 && d-1 > (math.MaxInt64-maxIndex)/st {
			return nil, fmt.Errorf("tensor %q: size %v stride %v overflow", name, p.size, p.stride)
		}
		if d > 0 {
			maxIndex += (d - 1) * st
		}
		shape[i] = int(d)
	}
	n, err := numElements(shape, maxElements)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	numel = int64(n)
	t := &Tensor{Name: name, DType: s.dtype, Shape: shape}
	if numel == 0 {
		t.raw = []byte{}
		return t, nil
	}
	if maxIndex >= s.numel {
		return nil, fmt.Errorf("tensor %q: view (offset %d, size %v, stride %v) reaches element %d of a %d-element storage", name, p.offset, p.size, p.stride, maxIndex, s.numel)
	}
	base := s.offset * es
	if isContiguous(p.size, p.stride) {
		lo, hi := base+p.offset*es, base+(p.offset+numel)*es
		if rec.data != nil {
			t.raw = rec.data[lo:hi:hi]
			return t, nil
		}
		t.load = func() ([]byte, error) {
			b, err := rec.bytes()
			if err != nil {
				return nil, err
			}
			return b[lo:hi], nil
		}
		return t, nil
	}
	// Strided views (e.g. a saved transpose, or expand with stride 0) are
	// gathered; refuse ones that would expand far beyond the file.
	if numel*es > 16*int64(len(f.data))+1<<20 {
		return nil, fmt.Errorf("tensor %q: strided view of %d elements is implausibly large for a %d-byte file", name, numel, len(f.data))
	}
	size, stride, off := p.size, p.stride, p.offset
	t.load = func() ([]byte, error) {
		b, err := rec.bytes()
		if err != nil {
			return nil, err
		}
		return gather(b[base:], int(es), off, size, stride, numel), nil
	}
	return t, nil
}

// isContiguous reports whether strides are C order (dims of size 1 are free).
func isContiguous(size, stride []int64) bool {
	want := int64(1)
	for i := len(size) - 1; i >= 0; i-- {
		if size[i] != 1 && stride[i] != want {
			return false
		}
		want *= size[i]
	}
	return true
}

// gather copies a strided view into C order, one innermost row at a time.
func gather(src []byte, es int, off int64, size, stride []int64, numel int64) []byte {
	out := make([]byte, numel*int64(es))
	if len(size) == 0 {
		copy(out, src[off*int64(es):])
		return out
	}
	last := len(size) - 1
	rowLen, rowStride := int(size[last]), int(stride[last])*es
	outer := size[:last]
	idx := make([]int64, len(outer))
	pos := off
	for o := 0; o < len(out); o += rowLen * es {
		p := int(pos) * es
		row := out[o : o+rowLen*es]
		switch es {
		case 4:
			for j := 0; j < len(row); j += 4 {
				copy(row[j:j+4], src[p:p+4])
				p += rowStride
			}
		default:
			for j := 0; j < len(row); j += es {
				copy(row[j:j+es], src[p:p+es])
				p += rowStride
			}
		}
		for d := len(outer) - 1; d >= 0; d-- {
			idx[d]++
			pos += stride[d]
			if idx[d] < outer[d] {
				break
			}
			pos -= stride[d] * outer[d]
			idx[d] = 0
		}
	}
	return out
}
