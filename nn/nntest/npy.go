package nntest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Array is an n-dimensional array read from a .npy file, held as float64
// (integer arrays convert exactly up to 2^53).
type Array struct {
	Shape []int
	Data  []float64
	Dtype string // numpy descr, e.g. "<f4"
}

// F32 returns the values as float32.
func (a *Array) F32() []float32 {
	out := make([]float32, len(a.Data))
	for i, v := range a.Data {
		out[i] = float32(v)
	}
	return out
}

// Ints returns the values as ints.
func (a *Array) Ints() []int {
	out := make([]int, len(a.Data))
	for i, v := range a.Data {
		out[i] = int(v)
	}
	return out
}

var (
	descrRe = regexp.MustCompile(`'descr':\s*'([^']+)'`)
	fortRe  = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	shapeRe = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// ReadNPY reads a little-endian, C-ordered .npy file of dtype f4, f8, i4,
// i8 or u1 (format versions 1–3).
func ReadNPY(path string) (*Array, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("npy: %s: not a .npy file", path)
	}
	var hlen, off int
	switch b[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, fmt.Errorf("npy: %s: truncated header", path)
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, fmt.Errorf("npy: %s: unsupported version %d", path, b[6])
	}
	if off+hlen > len(b) {
		return nil, fmt.Errorf("npy: %s: header length %d beyond file size %d", path, hlen, len(b))
	}
	header := string(b[off : off+hlen])
	body := b[off+hlen:]
	d, f, s := descrRe.FindStringSubmatch(header), fortRe.FindStringSubmatch(header), shapeRe.FindStringSubmatch(header)
	if d == nil || f == nil || s == nil {
		return nil, fmt.Errorf("npy: %s: malformed header %q", path, header)
	}
	if f[1] == "True" {
		return nil, fmt.Errorf("npy: %s: fortran order not supported", path)
	}
	a := &Array{Dtype: d[1], Shape: []int{}}
	n := 1
	for _, p := range strings.Split(s[1], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("npy: %s: bad shape %q", path, s[1])
		}
		a.Shape = append(a.Shape, v)
		n *= v
	}
	size := map[string]int{"<f4": 4, "<f8": 8, "<i4": 4, "<i8": 8, "|u1": 1}[a.Dtype]
	if size == 0 {
		return nil, fmt.Errorf("npy: %s: unsupported dtype %s", path, a.Dtype)
	}
	if len(body) != n*size {
		return nil, fmt.Errorf("npy: %s: %d data bytes, shape %v of %s needs %d", path, len(body), a.Shape, a.Dtype, n*size)
	}
	a.Data = make([]float64, n)
	for i := range a.Data {
		p := body[i*size:]
		switch a.Dtype {
		case "<f4":
			a.Data[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(p)))
		case "<f8":
			a.Data[i] = math.Float64frombits(binary.LittleEndian.Uint64(p))
		case "<i4":
			a.Data[i] = float64(int32(binary.LittleEndian.Uint32(p)))
		case "<i8":
			a.Data[i] = float64(int64(binary.LittleEndian.Uint64(p)))
		case "|u1":
			a.Data[i] = float64(p[0])
		}
	}
	return a, nil
}

// LoadNpy reads a .npy fixture, failing t when it cannot.
func LoadNpy(t testing.TB, path string) *Array {
	t.Helper()
	a, err := ReadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
