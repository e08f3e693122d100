package clip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/goclip/goclip/weights"
)

// ReadNPY reads a NumPy .npy array (format version 1, 2 or 3, C order,
// little-endian or single-byte elements) of float16, float32, float64, int8 … int64,
// uint8 … uint64 or bool, converting the values to float32. It returns the data and
// the shape.
func ReadNPY(path string) ([]float32, []int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	data, shape, err := parseNPY(b)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %s: %w", path, err)
	}
	return data, shape, nil
}

// ReadImageNPY reads already-normalized pixels from a float .npy file of shape
// (3,R,R) or (N,3,R,R), R = resolution, and returns them as (N,3,R,R) with N.
func ReadImageNPY(path string, resolution int) ([]float32, int, error) {
	data, shape, err := ReadNPY(path)
	if err != nil {
		return nil, 0, err
	}
	n := 1
	switch {
	case len(shape) == 3:
	case len(shape) == 4:
		n = shape[0]
	default:
		return nil, 0, fmt.Errorf("npy: %s: shape %v: want (3,%d,%d) or (N,3,%d,%d) pixels", path, shape, resolution, resolution, resolution, resolution)
	}
	s := shape[len(shape)-3:]
	if s[0] != 3 || s[1] != resolution || s[2] != resolution || n < 1 {
		return nil, 0, fmt.Errorf("npy: %s: shape %v: want (3,%d,%d) or (N,3,%d,%d) pixels for this model", path, shape, resolution, resolution, resolution, resolution)
	}
	return data, n, nil
}

// parseNPY decodes a whole .npy file held in b.
func parseNPY(b []byte) ([]float32, []int, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, nil, fmt.Errorf("not a .npy file (bad magic)")
	}
	major := b[6]
	var hlen, start int
	switch major {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, nil, fmt.Errorf("truncated header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, nil, fmt.Errorf("unsupported format version %d", major)
	}
	if start+hlen > len(b) {
		return nil, nil, fmt.Errorf("truncated header")
	}
	descr, fortran, shape, err := parseNPYHeader(string(b[start : start+hlen]))
	if err != nil {
		return nil, nil, err
	}
	if fortran {
		return nil, nil, fmt.Errorf("fortran_order arrays are not supported")
	}
	dt, err := npyDType(descr)
	if err != nil {
		return nil, nil, err
	}
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return nil, nil, fmt.Errorf("shape %v too large", shape)
		}
		n *= d
	}
	body := b[start+hlen:]
	if len(body) != n*dt.Size() {
		return nil, nil, fmt.Errorf("data is %d bytes, want %d for %s %v", len(body), n*dt.Size(), descr, shape)
	}
	t, err := weights.NewRaw("npy", dt, shape, body)
	if err != nil {
		return nil, nil, err
	}
	data, err := t.Float32()
	if err != nil {
		return nil, nil, err
	}
	return data, shape, nil
}

// npyDType maps a NumPy type string to a weights dtype.
func npyDType(descr string) (weights.DType, error) {
	m := map[string]weights.DType{
		"<f2": weights.F16, "<f4": weights.F32, "<f8": weights.F64,
		"<i8": weights.I64, "<i4": weights.I32, "<i2": weights.I16, "|i1": weights.I8,
		"<u8": weights.U64, "<u4": weights.U32, "<u2": weights.U16, "|u1": weights.U8, "|b1": weights.Bool,
	}
	if dt, ok := m[descr]; ok {
		return dt, nil
	}
	return "", fmt.Errorf("unsupported dtype %q (want little-endian float or integer)", descr)
}

// parseNPYHeader reads the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
func parseNPYHeader(h string) (descr string, fortran bool, shape []int, err error) {
	h = strings.TrimSpace(h)
	if !strings.HasPrefix(h, "{") || !strings.HasSuffix(h, "}") {
		return "", false, nil, fmt.Errorf("malformed header %q", h)
	}
	field := func(key string) (string, bool) {
		i := strings.Index(h, "'"+key+"'")
		if i < 0 {
			return "", false
		}
		rest := strings.TrimSpace(h[i+len(key)+2:])
		if !strings.HasPrefix(rest, ":") {
			return "", false
		}
		return strings.TrimSpace(rest[1:]), true
	}
	v, ok := field("descr")
	if !ok || len(v) < 2 || v[0] != '\'' {
		return "", false, nil, fmt.Errorf("header %q: no descr", h)
	}
	end := strings.IndexByte(v[1:], '\'')
	if end < 0 {
		return "", false, nil, fmt.Errorf("header %q: bad descr", h)
	}
	descr = v[1 : 1+end]
	if v, ok = field("fortran_order"); !ok {
		return "", false, nil, fmt.Errorf("header %q: no fortran_order", h)
	}
	fortran = strings.HasPrefix(v, "True")
	if v, ok = field("shape"); !ok || !strings.HasPrefix(v, "(") {
		return "", false, nil, fmt.Errorf("header %q: no shape", h)
	}
	end = strings.IndexByte(v, ')')
	if end < 0 {
		return "", false, nil, fmt.Errorf("header %q: bad shape", h)
	}
	shape = []int{}
	for _, p := range strings.Split(v[1:end], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		d, err := strconv.Atoi(strings.TrimSuffix(p, "L"))
		if err != nil {
			return "", false, nil, fmt.Errorf("header %q: bad shape: %w", h, err)
		}
		shape = append(shape, d)
	}
	return descr, fortran, shape, nil
}

// WriteNPY writes a float32 C-order array as a version 1 .npy file.
func WriteNPY(path string, data []float32, shape ...int) error {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n != len(data) {
		return fmt.Errorf("npy: write %s: %d values for shape %v", path, len(data), shape)
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	s := strings.Join(dims, ", ")
	if len(shape) == 1 {
		s += ","
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", s)
	pad := 64 - (10+len(h)+1)%64
	h += strings.Repeat(" ", pad%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(h)))
	buf.WriteString(h)
	binary.Write(&buf, binary.LittleEndian, data)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("npy: write %s: %w", path, err)
	}
	return nil
}
