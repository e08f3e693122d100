package weights

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"path/filepath"
	"testing"
)

// benchFile writes a safetensors file of n tensors of size elements each in
// dtype dt, filled with random bytes (finite values for floats are not needed
// for throughput).
func benchFile(b *testing.B, dt DType, n, size int) (string, int64) {
	b.Helper()
	r := rand.New(rand.NewSource(1))
	m := NewMemory()
	var total int64
	for i := 0; i < n; i++ {
		raw := make([]byte, size*dt.Size())
		r.Read(raw)
		if dt == F16 { // keep values finite: clear the top exponent bit
			for j := 1; j < len(raw); j += 2 {
				raw[j] &= 0xbf
			}
		}
		t, err := NewRaw(fmt.Sprintf("layer.%d.weight", i), dt, []int{size / 512, 512}, raw)
		if err != nil {
			b.Fatal(err)
		}
		m.Add(t)
		total += int64(len(raw))
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	if err := WriteSafetensors(path, m, nil); err != nil {
		b.Fatal(err)
	}
	return path, total
}

func benchOpenFloat32(b *testing.B, dt DType) {
	path, total := benchFile(b, dt, 16, 1<<20) // 16 tensors × 1 Mi elements
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range f.Names() {
			t, _ := f.Tensor(n)
			if _, err := t.Float32(); err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
}

// BenchmarkOpenFloat32F32: open a 64 MiB F32 safetensors file and
// materialize every tensor as []float32.
func BenchmarkOpenFloat32F32(b *testing.B) { benchOpenFloat32(b, F32) }

// BenchmarkOpenFloat32F16: the same with a 32 MiB F16 file (half → float32).
func BenchmarkOpenFloat32F16(b *testing.B) { benchOpenFloat32(b, F16) }

// BenchmarkOpenFloat32BF16: the same with a 32 MiB BF16 file.
func BenchmarkOpenFloat32BF16(b *testing.B) { benchOpenFloat32(b, BF16) }

// BenchmarkOpenOnly: header parsing and mmap without touching the data.
func BenchmarkOpenOnly(b *testing.B) {
	path, _ := benchFile(b, F32, 300, 1024)
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkTorchZipStridedFloat32: a 4 Mi-element transposed view in a
// torch zip, gathered into C order.
func BenchmarkTorchZipStridedFloat32(b *testing.B) {
	const rows, cols = 2048, 2048
	data := torchZip(b, pDict(pStr("w"), pTensor("FloatStorage", "0", rows*cols, 0, []int{cols, rows}, []int{1, cols})),
		map[string][]byte{"0": make([]byte, 4*rows*cols)})
	f, err := OpenBytes("bench.pt", data)
	if err != nil {
		b.Fatal(err)
	}
	w, _ := f.Tensor("w")
	b.SetBytes(4 * rows * cols)
	for b.Loop() {
		if _, err := w.Float32(); err != nil {
			b.Fatal(err)
		}
	}
}

var sinkU32 uint32

func BenchmarkFloat16ToFloat32(b *testing.B) {
	for b.Loop() {
		for i := 0; i < 65536; i++ {
			sinkU32 += binary.LittleEndian.Uint32([]byte{byte(Float16ToFloat32(uint16(i))), 0, 0, 0})
		}
	}
}
