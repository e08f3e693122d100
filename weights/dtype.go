package weights

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// DType names an element type with the safetensors spelling.
type DType string

// Element types. F32 … U64 follow the safetensors names; Bool is "BOOL".
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	F64  DType = "F64"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	U16  DType = "U16"
	U32  DType = "U32"
	U64  DType = "U64"
	Bool DType = "BOOL"
)

// Size is the size of one element in bytes, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == F32 || d == F16 || d == BF16 || d == F64
}

// stOrder is the rank of d in huggingface/safetensors' Dtype enum; the
// writer sorts by descending rank so that wider elements come first.
func (d DType) stOrder() int {
	for i, x := range []DType{Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64} {
		if x == d {
			return i
		}
	}
	return -1
}

// hostLittleEndian is true on little-endian machines, where F32 bytes can be
// copied into float32 slices directly.
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Float16ToFloat32 decodes an IEEE 754 half-precision value exactly,
// including subnormals and infinities; NaN payloads are kept and quieted.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f && mant == 0: // ±inf
		return math.Float32frombits(sign | 0x7f800000)
	case exp == 0x1f: // NaN: payload kept, made quiet (as PyTorch's .float() does)
		return math.Float32frombits(sign | 0x7fc00000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: value = mant * 2^-24, exact in float32.
	f := float32(mant) * (1.0 / (1 << 24))
	return math.Float32frombits(sign | math.Float32bits(f))
}

// BFloat16ToFloat32 decodes a bfloat16 value (the top half of a float32).
func BFloat16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}

// f16Table maps every half-precision bit pattern to float32 (256 KiB),
// built on first use; a lookup is faster than decoding bit fields.
var f16Table = sync.OnceValue(func() *[65536]float32 {
	var t [65536]float32
	for i := range t {
		t[i] = Float16ToFloat32(uint16(i))
	}
	return &t
})

// parallelMin is the element count from which decodeFloat32Parallel splits
// a conversion across cores (below it, goroutines cost more than they save).
const parallelMin = 1 << 18

// decodeFloat32Parallel is decodeFloat32 split into contiguous chunks, one
// per core, for large tensors: the conversion and the page faults of a
// fresh destination then run on every core.
func decodeFloat32Parallel(dst []float32, raw []byte, d DType) error {
	n := len(dst)
	workers := min(runtime.GOMAXPROCS(0), n/(parallelMin/2))
	if n < parallelMin || workers < 2 {
		return decodeFloat32(dst, raw, d)
	}
	size := d.Size()
	chunk := (n + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min(n, (w+1)*chunk)
		if lo >= hi {
			break
		}
		wg.Go(func() { errs[w] = decodeFloat32(dst[lo:hi], raw[lo*size:hi*size], d) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeFloat32 converts n elements of raw bytes in dtype d into dst.
func decodeFloat32(dst []float32, raw []byte, d DType) error {
	n := len(dst)
	le := binary.LittleEndian
	switch d {
	case F32:
		if hostLittleEndian && n > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*n), raw)
			return nil
		}
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case F16:
		table := f16Table()
		raw = raw[:2*n]
		for i := range dst {
			dst[i] = table[uint16(raw[2*i])|uint16(raw[2*i+1])<<8]
		}
	case BF16:
		raw = raw[:2*n]
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(raw[2*i])<<16 | uint32(raw[2*i+1])<<24)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(raw[8*i:])))
		}
	case U64:
		for i := range dst {
			dst[i] = float32(le.Uint64(raw[8*i:]))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(raw[4*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = float32(le.Uint32(raw[4*i:]))
		}
	default: // 8- and 16-bit integers and bool are exact in float64
		tmp := make([]float64, n)
		if err := decodeFloat64(tmp, raw, d); err != nil {
			return err
		}
		for i, v := range tmp {
			dst[i] = float32(v)
		}
	}
	return nil
}

// decodeFloat64 converts n elements of raw bytes in dtype d into dst.
func decodeFloat64(dst []float64, raw []byte, d DType) error {
	le := binary.LittleEndian
	switch d {
	case F64:
		for i := range dst {
			dst[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
	case F32, F16, BF16:
		tmp := make([]float32, len(dst))
		if err := decodeFloat32(tmp, raw, d); err != nil {
			return err
		}
		for i, v := range tmp {
			dst[i] = float64(v)
		}
	case I64:
		for i := range dst {
			dst[i] = float64(int64(le.Uint64(raw[8*i:])))
		}
	case U64:
		for i := range dst {
			dst[i] = float64(le.Uint64(raw[8*i:]))
		}
	case I32:
		for i := range dst {
			dst[i] = float64(int32(le.Uint32(raw[4*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = float64(le.Uint32(raw[4*i:]))
		}
	case I16:
		for i := range dst {
			dst[i] = float64(int16(le.Uint16(raw[2*i:])))
		}
	case U16:
		for i := range dst {
			dst[i] = float64(le.Uint16(raw[2*i:]))
		}
	case I8:
		for i := range dst {
			dst[i] = float64(int8(raw[i]))
		}
	case U8:
		for i := range dst {
			dst[i] = float64(raw[i])
		}
	case Bool:
		for i := range dst {
			if raw[i] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	default:
		return fmt.Errorf("unsupported dtype %q", d)
	}
	return nil
}

// Float32ToFloat16 rounds to the nearest IEEE half (ties to even),
// saturating to ±Inf.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case b&0x7fffffff == 0x7f800000: // ±Inf
		return sign | 0x7c00
	case b&0x7fffffff > 0x7f800000: // NaN
		return sign | 0x7e00
	case exp >= 31:
		return sign | 0x7c00
	case exp <= 0: // subnormal half (or zero)
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf: still correct
	}
	return sign | uint16(h)
}
