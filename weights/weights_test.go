package weights

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

// Fixtures written by testdata/gen.py with PyTorch; expected.json holds, for
// every tensor, the sha256 of the bytes PyTorch holds and the float32 bits
// of tensor.float().

type wantTensor struct {
	Name    string   `json:"name"`
	DType   DType    `json:"dtype"`
	Shape   []int    `json:"shape"`
	SHA256  string   `json:"sha256"`
	F32Bits []uint32 `json:"f32bits"`
}

type wantFile struct {
	Format   Format            `json:"format"`
	Ordered  bool              `json:"ordered"`
	Metadata map[string]string `json:"metadata"`
	Tensors  []wantTensor      `json:"tensors"`
}

// fixtureNames lists every file of the manifest, sorted.
var fixtureNames = func() []string {
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	var names []string
	for k := range m {
		if k != "conversions" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}()

func loadManifest(t testing.TB) (map[string]wantFile, map[string]string) {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	files := map[string]wantFile{}
	conv := map[string]string{}
	for k, v := range raw {
		var err error
		if k == "conversions" {
			err = json.Unmarshal(v, &conv)
		} else {
			var w wantFile
			err = json.Unmarshal(v, &w)
			files[k] = w
		}
		if err != nil {
			t.Fatal(k, err)
		}
	}
	return files, conv
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestFixturesMatchPyTorch(t *testing.T) {
	manifest, _ := loadManifest(t)
	if len(fixtureNames) != 14 {
		t.Fatalf("manifest lists %d files, want 14", len(fixtureNames))
	}
	for _, fn := range fixtureNames {
		t.Run(fn, func(t *testing.T) {
			want := manifest[fn]
			f, err := Open(filepath.Join("testdata", fn))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Format() != want.Format {
				t.Errorf("format %q, want %q", f.Format(), want.Format)
			}
			if want.Metadata != nil && !mapsEqual(f.Metadata(), want.Metadata) {
				t.Errorf("metadata %v, want %v", f.Metadata(), want.Metadata)
			}
			var wantNames []string
			for _, w := range want.Tensors {
				wantNames = append(wantNames, w.Name)
			}
			got := f.Names()
			if !want.Ordered {
				sort.Strings(got)
				sort.Strings(wantNames)
			}
			if !slices.Equal(got, wantNames) {
				t.Fatalf("names\n got %v\nwant %v", got, wantNames)
			}
			for _, w := range want.Tensors {
				checkTensor(t, f, w)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func checkTensor(t *testing.T, src Source, w wantTensor) {
	t.Helper()
	tt, ok := src.Tensor(w.Name)
	if !ok {
		t.Errorf("%s: missing", w.Name)
		return
	}
	if tt.DType != w.DType || !slices.Equal(tt.Shape, w.Shape) {
		t.Errorf("%s: %s %v, want %s %v", w.Name, tt.DType, tt.Shape, w.DType, w.Shape)
		return
	}
	raw, err := tt.Raw()
	if err != nil {
		t.Errorf("%s: %v", w.Name, err)
		return
	}
	if got := sha(raw); got != w.SHA256 {
		t.Errorf("%s: bytes differ from PyTorch (sha256 %s, want %s)", w.Name, got, w.SHA256)
	}
	f32, err := tt.Float32()
	if err != nil {
		t.Errorf("%s: %v", w.Name, err)
		return
	}
	if len(f32) != tt.NumElements() {
		t.Errorf("%s: Float32 gave %d values, want %d", w.Name, len(f32), tt.NumElements())
	}
	if w.F32Bits != nil {
		for i, b := range w.F32Bits {
			if math.Float32bits(f32[i]) != b {
				t.Errorf("%s[%d]: Float32 %g (bits %#x), PyTorch .float() gives %g (bits %#x)",
					w.Name, i, f32[i], math.Float32bits(f32[i]), math.Float32frombits(b), b)
				break
			}
		}
	}
	f64, err := tt.Float64()
	if err != nil {
		t.Errorf("%s: %v", w.Name, err)
		return
	}
	for i := range f64 {
		if tt.DType != F64 && tt.DType != I64 && float32(f64[i]) != f32[i] && !math.IsNaN(f64[i]) {
			t.Errorf("%s[%d]: Float64 %g disagrees with Float32 %g", w.Name, i, f64[i], f32[i])
			break
		}
	}
}

// TestHalfConversionExhaustive checks all 65536 F16 and BF16 bit patterns
// against PyTorch's .float().
func TestHalfConversionExhaustive(t *testing.T) {
	_, conv := loadManifest(t)
	for _, c := range []struct {
		key string
		fn  func(uint16) float32
	}{{"f16_all_sha256", Float16ToFloat32}, {"bf16_all_sha256", BFloat16ToFloat32}} {
		buf := make([]byte, 4*65536)
		for i := 0; i < 65536; i++ {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(c.fn(uint16(i))))
		}
		if got := sha(buf); got != conv[c.key] {
			t.Errorf("%s: sha256 %s, PyTorch %s", c.key, got, conv[c.key])
		}
	}
	// The same through Tensor.Float32 (F16 uses a lookup table there).
	raw := make([]byte, 2*65536)
	for i := 0; i < 65536; i++ {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(i))
	}
	for dt, key := range map[DType]string{F16: "f16_all_sha256", BF16: "bf16_all_sha256"} {
		tt, err := NewRaw("all", dt, []int{65536}, raw)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tt.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if got := sha(float32Bytes(v)); got != conv[key] {
			t.Errorf("%s via Tensor.Float32: sha256 %s, PyTorch %s", dt, got, conv[key])
		}
	}
}

// TestWriteSafetensorsRoundTrip converts every fixture to safetensors and
// reads it back bit for bit.
func TestWriteSafetensorsRoundTrip(t *testing.T) {
	manifest, _ := loadManifest(t)
	dir := t.TempDir()
	for _, fn := range fixtureNames {
		f, err := Open(filepath.Join("testdata", fn))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fn+".safetensors")
		if err := WriteSafetensors(out, f, map[string]string{"source": fn}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		g, err := Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if g.Format() != Safetensors || g.Metadata()["source"] != fn {
			t.Errorf("%s: format %s metadata %v", fn, g.Format(), g.Metadata())
		}
		for _, w := range manifest[fn].Tensors {
			checkTensor(t, g, w)
		}
		if len(g.Names()) != len(manifest[fn].Tensors) {
			t.Errorf("%s: %d tensors written, want %d", fn, len(g.Names()), len(manifest[fn].Tensors))
		}
		g.Close()
		data, _ := os.ReadFile(out)
		if n := binary.LittleEndian.Uint64(data); n%8 != 0 {
			t.Errorf("%s: header length %d not a multiple of 8", fn, n)
		}
	}
}

// TestWriteSafetensorsLayout checks that the writer reproduces the layout of
// testdata/st.safetensors byte for byte (dtype-descending then name order,
// compact JSON, space padding), as gen.py wrote it following huggingface/safetensors.
func TestWriteSafetensorsLayout(t *testing.T) {
	f, err := Open("testdata/st.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteSafetensors(out, f, f.Metadata()); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile("testdata/st.safetensors")
	b, _ := os.ReadFile(out)
	if !bytes.Equal(a, b) {
		t.Errorf("rewritten file differs from gen.py's (%d vs %d bytes)", len(b), len(a))
	}
}

func TestWrapperAndModulePrefix(t *testing.T) {
	f, err := Open("testdata/wrapped.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, n := range f.Names() {
		if _, ok := f.Tensor(n); !ok || len(n) > 7 && n[:7] == "module." {
			t.Errorf("name %q: module. prefix not stripped", n)
		}
	}
	if _, ok := f.Tensor("conv.weight"); !ok {
		t.Error("conv.weight missing after unwrapping {'state_dict': …}")
	}
}

func TestTorchScriptNestedNames(t *testing.T) {
	f, err := Open("testdata/script.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, ok := f.Tensor("visual.transformer.resblocks.1.attn.in_proj_weight")
	if !ok || w.DType != F16 || !slices.Equal(w.Shape, []int{12, 4}) {
		t.Fatalf("in_proj_weight: %v %v", w, ok)
	}
	ln, ok := f.Tensor("visual.transformer.resblocks.1.ln_1.weight")
	if !ok || ln.DType != F32 {
		t.Fatalf("ln_1.weight: %v %v", ln, ok)
	}
	v := Sub(f, "visual.transformer.")
	if got := len(v.Names()); got != 12 {
		t.Errorf("Sub: %d names, want 12", got)
	}
	if st, ok := v.Tensor("resblocks.0.attn.in_proj_bias"); !ok || st.Name != "resblocks.0.attn.in_proj_bias" {
		t.Errorf("Sub tensor: %v", st)
	}
}

func TestStridedViews(t *testing.T) {
	f, err := Open("testdata/sd_zip.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	get := func(n string) []float32 {
		tt, _ := f.Tensor(n)
		v, err := tt.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	base := get("base") // arange(24).reshape(4, 6)
	bt := get("base_t")
	for i := 0; i < 6; i++ {
		for j := 0; j < 4; j++ {
			if bt[i*4+j] != base[j*6+i] {
				t.Fatalf("base_t[%d,%d] = %g, want %g", i, j, bt[i*4+j], base[j*6+i])
			}
		}
	}
	if got := get("expand"); !slices.Equal(got, []float32{1, 2, 1, 2, 1, 2}) {
		t.Errorf("expand = %v", got)
	}
	// The contiguous row slice is a zero-copy view into the file.
	rows, _ := f.Tensor("base_rows")
	a, _ := rows.Raw()
	b, _ := rows.Raw()
	if &a[0] != &b[0] {
		t.Error("contiguous view was copied")
	}
}

func TestClosedFile(t *testing.T) {
	f, err := Open("testdata/st.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	tt, _ := f.Tensor("f32")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tt.Float32(); err == nil {
		t.Error("Float32 after Close succeeded")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestMemoryAndCopy(t *testing.T) {
	m := NewMemory()
	m.Add(NewFloat32("b", []int{2}, []float32{1, 2}))
	m.Add(NewFloat32("a", []int{}, []float32{3}))
	m.Add(NewFloat32("b", []int{1, 2}, []float32{4, 5}))
	if !slices.Equal(m.Names(), []string{"b", "a"}) {
		t.Errorf("names %v", m.Names())
	}
	b, _ := m.Tensor("b")
	if !slices.Equal(b.Shape, []int{1, 2}) {
		t.Errorf("replaced shape %v", b.Shape)
	}
	v, _ := b.Float32()
	v[0] = 99 // fresh slice: must not change the tensor
	w, _ := b.Float32()
	if w[0] != 4 {
		t.Error("Float32 returned shared storage")
	}
	f, err := Open("testdata/script.pt")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Copy(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if tt, ok := c.Tensor("visual.proj"); !ok || tt.DType != F16 {
		t.Fatalf("copy: %v", tt)
	} else if _, err := tt.Float32(); err != nil {
		t.Errorf("copy outlives Close: %v", err)
	}
	if _, err := NewRaw("x", F16, []int{3}, make([]byte, 5)); err == nil {
		t.Error("NewRaw accepted 5 bytes for F16 [3]")
	}
}

func TestStrict(t *testing.T) {
	m := NewMemory()
	m.Add(NewFloat32("w", []int{2, 2}, []float32{1, 2, 3, 4}))
	m.Add(NewFloat32("b", []int{2}, []float32{1, 2}))
	m.Add(NewFloat32("extra", []int{1}, []float32{0}))
	m.Add(NewFloat32("bn.num_batches_tracked", []int{}, []float32{0}))
	m.Add(NewFloat32("opt.state", []int{1}, []float32{0}))

	s := NewStrict(m)
	if v := s.Float32("w", 2, 2); len(v) != 4 {
		t.Errorf("w: %v", v)
	}
	if v := s.Float32("b", 3); v != nil {
		t.Error("mis-shaped b returned data")
	}
	if v := s.Float32("missing", 5); v != nil {
		t.Error("missing returned data")
	}
	if v := s.Optional("absent", 1); v != nil {
		t.Error("absent optional returned data")
	}
	if !s.Has("extra") || s.Has("nope") {
		t.Error("Has")
	}
	s.Ignore("*.num_batches_tracked", "opt.")
	err := s.Err()
	if err == nil {
		t.Fatal("no error")
	}
	want := "weights: strict load: 3 problem(s):\n" +
		"  mis-shaped b: file has [2], model wants [3]\n" +
		"  missing missing [5]\n" +
		"  unused extra F32 [1]"
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}

	ok := NewStrict(m)
	for _, n := range m.Names() {
		ok.Float32(n)
	}
	if err := ok.Err(); err != nil {
		t.Errorf("all used: %v", err)
	}
}

func TestAsFloat32(t *testing.T) {
	f, err := Open("testdata/sd_zip.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conv := AsFloat32(f)
	if !slices.Equal(conv.Names(), f.Names()) {
		t.Fatal("names differ")
	}
	for _, n := range f.Names() {
		a, _ := f.Tensor(n)
		b, _ := conv.Tensor(n)
		want := a.DType
		if a.DType.IsFloat() {
			want = F32
		}
		if b.DType != want || !slices.Equal(a.Shape, b.Shape) {
			t.Errorf("%s: %s %v from %s %v", n, b.DType, b.Shape, a.DType, a.Shape)
		}
		va, _ := a.Float32()
		vb, err := b.Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i := range va {
			if math.Float32bits(va[i]) != math.Float32bits(vb[i]) {
				t.Errorf("%s[%d]: %g vs %g", n, i, vb[i], va[i])
				break
			}
		}
	}
}

// TestWriteOverSource converts a file onto itself: the writer must not
// truncate the mapping it is reading from.
func TestWriteOverSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "self.safetensors")
	data, err := os.ReadFile("testdata/st.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(path, AsFloat32(f), nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if h, _ := g.Tensor("f16"); h.DType != F32 {
		t.Errorf("f16 rewritten as %s", h.DType)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
