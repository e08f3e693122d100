package weights

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// writeViewFile writes a safetensors file with an F32 matrix, an F16 vector
// and an I8 vector, and returns its path and the F32 values.
func writeViewFile(t *testing.T) (string, []float32) {
	t.Helper()
	w := make([]float32, 6*5)
	for i := range w {
		w[i] = float32(i)*0.25 - 3
	}
	h, err := NewRaw("h", F16, []int{3}, []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c}) // 1, -2, +inf
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRaw("b", I8, []int{2}, []byte{0xff, 0x07})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMemory()
	m.Add(NewFloat32("w", []int{6, 5}, append([]float32(nil), w...)))
	m.Add(h)
	m.Add(b)
	path := filepath.Join(t.TempDir(), "view.safetensors")
	if err := WriteSafetensors(path, m, nil); err != nil {
		t.Fatal(err)
	}
	return path, w
}

func float32Bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

func TestFloat32ViewAliasesFile(t *testing.T) {
	path, want := writeViewFile(t)
	disk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, _ := f.Tensor("w")
	view, err := w.Float32View()
	if err != nil {
		t.Fatal(err)
	}
	copied, err := w.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if got, exp := float32Bits(view), float32Bits(want); !equalU32(got, exp) {
		t.Fatalf("view %v, want %v", view, want)
	}
	if !equalU32(float32Bits(view), float32Bits(copied)) {
		t.Fatalf("view %v differs from Float32 %v", view, copied)
	}
	raw, err := w.Raw()
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.Pointer(&view[0]) != unsafe.Pointer(&raw[0]) {
		t.Fatal("Float32View copied an aligned F32 tensor of a file")
	}
	if unsafe.Pointer(&copied[0]) == unsafe.Pointer(&raw[0]) {
		t.Fatal("Float32 returned the file's memory, want a fresh slice")
	}

	// Writes through the view are private: the file on disk is unchanged,
	// later reads of the tensor see them, a fresh Open does not.
	view[7] = 1234.5
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk, after) {
		t.Fatal("writing through a view changed the file on disk")
	}
	again, _ := w.Float32()
	if again[7] != 1234.5 {
		t.Fatalf("tensor reads %v after the write, want 1234.5", again[7])
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	w2, _ := g.Tensor("w")
	fresh, _ := w2.Float32View()
	if fresh[7] != want[7] {
		t.Fatalf("second Open reads %v, want the file's %v", fresh[7], want[7])
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFloat32ViewConverts(t *testing.T) {
	path, _ := writeViewFile(t)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, want := range map[string][]float32{"h": {1, -2, float32(math.Inf(1))}, "b": {-1, 7}} {
		tn, _ := f.Tensor(name)
		got, err := tn.Float32View()
		if err != nil {
			t.Fatal(err)
		}
		if !equalU32(float32Bits(got), float32Bits(want)) {
			t.Errorf("%s: view %v, want %v", name, got, want)
		}
	}

	// An F32 tensor at an odd address is copied, not misaligned.
	buf := make([]byte, 9)
	for i := range 2 {
		copy(buf[1+4*i:], float32Bytes([]float32{float32(i) + 0.5}))
	}
	odd, err := NewRaw("odd", F32, []int{2}, buf[1:])
	if err != nil {
		t.Fatal(err)
	}
	got, err := odd.Float32View()
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 0.5 || got[1] != 1.5 {
		t.Fatalf("unaligned view %v, want [0.5 1.5]", got)
	}
	if uintptr(unsafe.Pointer(&got[0]))%4 != 0 {
		t.Fatal("unaligned float32 slice")
	}

	// NewFloat32 tensors are viewed in place; a closed file's are errors.
	data := []float32{1, 2}
	v, err := NewFloat32("m", []int{2}, data).Float32View()
	if err != nil || &v[0] != &data[0] {
		t.Fatalf("NewFloat32 view: %v, %v; want the backing slice", v, err)
	}
	f.Close()
	w, _ := f.Tensor("w")
	if _, err := w.Float32View(); err == nil {
		t.Fatal("Float32View on a closed file: no error")
	}
}

// waitReleased runs the collector until m has no holders left.
func waitReleased(m *fileMem) bool {
	for range 100 {
		runtime.GC()
		if m.refs.Load() == 0 {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func TestRetainOutlivesClose(t *testing.T) {
	path, want := writeViewFile(t)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := f.Tensor("w")
	view, err := w.Float32View()
	if err != nil {
		t.Fatal(err)
	}
	holder := new([64]byte)
	Retain(w, holder)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f.mem.refs.Load() != 1 {
		t.Fatalf("after Close with one holder: %d references, want 1", f.mem.refs.Load())
	}
	if _, err := w.Raw(); err == nil {
		t.Fatal("Raw after Close: no error")
	}
	// The mapping must still be there: reading an unmapped view would fault.
	runtime.GC()
	runtime.GC()
	if !equalU32(float32Bits(view), float32Bits(want)) {
		t.Fatalf("retained view %v, want %v", view, want)
	}
	runtime.KeepAlive(holder)
	holder = nil
	if !waitReleased(f.mem) {
		t.Fatalf("mapping still held (%d references) after its holder was collected", f.mem.refs.Load())
	}

	// Without holders Close releases at once; Retain after Close is a no-op.
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if g.mem.refs.Load() != 0 {
		t.Fatalf("Close without holders left %d references", g.mem.refs.Load())
	}
	w2, _ := g.Tensor("w")
	Retain(w2, new(int))
	if g.mem.refs.Load() != 0 {
		t.Fatal("Retain revived a released mapping")
	}
	Retain(NewFloat32("x", []int{1}, []float32{1}), new(int)) // no File: nothing to do
}

func TestFloat32ParallelMatchesSerial(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3)) // uneven chunks even on one core
	n := parallelMin + 12345
	for _, dt := range []DType{F16, BF16, F32, I8, F64} {
		raw := make([]byte, n*dt.Size())
		for i := range raw {
			raw[i] = byte(i*131 + i>>8)
		}
		if dt == F16 || dt == BF16 || dt == F32 || dt == F64 { // no NaNs: compare values plainly below
			for i := dt.Size() - 1; i < len(raw); i += dt.Size() {
				raw[i] &= 0x3f
			}
		}
		tn, err := NewRaw("x", dt, []int{n}, raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tn.Float32()
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, n)
		if err := decodeFloat32(want, raw, dt); err != nil {
			t.Fatal(err)
		}
		if !equalU32(float32Bits(got), float32Bits(want)) {
			t.Errorf("%s: parallel conversion differs from the serial one", dt)
		}
		if dt == F16 {
			for i := 0; i < n; i += 997 {
				if h := uint16(raw[2*i]) | uint16(raw[2*i+1])<<8; got[i] != Float16ToFloat32(h) {
					t.Fatalf("F16 element %d: %v, want %v", i, got[i], Float16ToFloat32(h))
				}
			}
		}
	}
}
