package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// materialize reads every tensor of f; used by error and fuzz tests.
func materialize(f *File) {
	for _, n := range f.Names() {
		t, _ := f.Tensor(n)
		t.Float32()
	}
}

func stFile(header string, buf []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(buf)
	return b.Bytes()
}

func TestSafetensorsBadHeaders(t *testing.T) {
	buf := make([]byte, 24)
	cases := []struct{ name, header, want string }{
		{"lying shape", `{"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,24]}}`, `tensor "w": data_offsets [0 24] span 24 bytes, F32 [2 4] needs 32`},
		{"offsets past end", `{"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]}}`, `tensor "w": data_offsets [0 32] past the 24-byte data buffer`},
		{"gap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}`, `tensor "b": data_offsets [16, 24] leave a gap`},
		{"overlap", `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}`, `tensor "b": data_offsets [8, 24] leave a gap or overlap`},
		{"short cover", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, `tensors cover 8 bytes of the 24-byte data buffer`},
		{"unknown dtype", `{"q":{"dtype":"F8_E4M3","shape":[24],"data_offsets":[0,24]}}`, `tensor "q": unknown dtype "F8_E4M3"`},
		{"negative dim", `{"w":{"dtype":"U8","shape":[-1,24],"data_offsets":[0,24]}}`, `tensor "w": bad shape [-1 24]`},
		{"huge dims", `{"w":{"dtype":"U8","shape":[281474976710656,281474976710656],"data_offsets":[0,24]}}`, `tensor "w": shape`},
		{"missing shape", `{"w":{"dtype":"U8","data_offsets":[0,24]}}`, `tensor "w": missing shape`},
		{"bad offsets", `{"w":{"dtype":"U8","shape":[24],"data_offsets":[24,0]}}`, `tensor "w": bad data_offsets`},
		{"duplicate", `{"w":{"dtype":"U8","shape":[12],"data_offsets":[0,12]},"w":{"dtype":"U8","shape":[12],"data_offsets":[12,24]}}`, `duplicate key "w"`},
		{"not json", `{"w":`, `safetensors header`},
		{"bad metadata", `{"__metadata__":{"a":1}}`, `__metadata__ is not a string map`},
	}
	for _, c := range cases {
		_, err := OpenBytes("bad.safetensors", stFile(c.header, buf))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.safetensors") {
			t.Errorf("%s: error %v, want it to name the file and contain %q", c.name, err, c.want)
		}
	}
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	huge[8] = '{'
	if _, err := OpenBytes("huge", huge); err == nil || !strings.Contains(err.Error(), "exceeds the 100000000 limit") {
		t.Errorf("huge header: %v", err)
	}
	long := stFile(`{}`, nil)
	binary.LittleEndian.PutUint64(long, 1000)
	if _, err := OpenBytes("long", long); err == nil || !strings.Contains(err.Error(), "runs past the end") {
		t.Errorf("header past end: %v", err)
	}
}

// TestTruncatedFiles cuts every fixture at many lengths: each must fail with
// an error naming the file, never panic.
func TestTruncatedFiles(t *testing.T) {
	for _, fn := range fixtureNames {
		data, err := os.ReadFile(filepath.Join("testdata", fn))
		if err != nil {
			t.Fatal(err)
		}
		step := 1 + len(data)/1500
		for n := 0; n < len(data); n += step {
			f, err := OpenBytes(fn, data[:n])
			if err == nil {
				materialize(f)
				t.Errorf("%s cut at %d of %d bytes opened without error", fn, n, len(data))
				continue
			}
			if !strings.Contains(err.Error(), fn) {
				t.Errorf("%s cut at %d: error does not name the file: %v", fn, n, err)
			}
		}
	}
}

// pickle builders for hand-made torch files (protocol 2).

func pStr(s string) string {
	return "X" + string(binary.LittleEndian.AppendUint32(nil, uint32(len(s)))) + s
}

func pInt(v int) string { return "J" + string(binary.LittleEndian.AppendUint32(nil, uint32(int32(v)))) }

func pTuple(items ...string) string { return "(" + strings.Join(items, "") + "t" }

// pTensor pickles _rebuild_tensor_v2 over a persistent storage id.
func pTensor(storageType, key string, numel, offset int, size, stride []int) string {
	var sz, st []string
	for _, v := range size {
		sz = append(sz, pInt(v))
	}
	for _, v := range stride {
		st = append(st, pInt(v))
	}
	pid := pTuple(pStr("storage"), "ctorch\n"+storageType+"\n", pStr(key), pStr("cpu"), pInt(numel)) + "Q"
	return "ctorch._utils\n_rebuild_tensor_v2\n" +
		pTuple(pid, pInt(offset), pTuple(sz...), pTuple(st...), "\x89", "ccollections\nOrderedDict\n)R") + "R"
}

func pDict(kv ...string) string { return "\x80\x02}(" + strings.Join(kv, "") + "u." }

// expDAG pickles t0 = (None, None), t(i+1) = (t(i), t(i)) n times: tiny
// bytes, 2^n nodes as a tree.
func expDAG(n int) string {
	s := "NN\x86q\x000"
	for i := 0; i < n; i++ {
		s += "h\x00h\x00\x86q\x000"
	}
	return s + "h\x00."
}

func torchZip(t testing.TB, pkl string, records map[string][]byte) []byte {
	return torchZipMethod(t, pkl, records, zip.Store)
}

func torchZipMethod(t testing.TB, pkl string, records map[string][]byte, method uint16) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	add := func(name string, data []byte) {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	add("archive/data.pkl", []byte(pkl))
	for k, v := range records {
		if rest, ok := strings.CutPrefix(k, "/"); ok { // other records of the archive
			add("archive/"+rest, v)
		} else {
			add("archive/data/"+k, v)
		}
	}
	add("archive/version", []byte("3\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTorchZipHandMade(t *testing.T) {
	rec := map[string][]byte{"0": make([]byte, 16)}
	good := torchZip(t, pDict(pStr("w"), pTensor("FloatStorage", "0", 4, 0, []int{2, 2}, []int{2, 1})), rec)
	f, err := OpenBytes("good.pt", good)
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := f.Tensor("w"); !ok || w.String() != "w F32 [2 2]" {
		t.Fatalf("hand-made zip: %v", w)
	}
	// Python 2 pickles OrderedDict as OrderedDict([[k, v], …]) (lists, not tuples).
	py2 := "\x80\x02ccollections\nOrderedDict\n(](U\x01w" + pTensor("FloatStorage", "0", 4, 0, []int{4}, []int{1}) + "lat" + "R."
	if f, err := OpenBytes("py2.pt", torchZip(t, py2, rec)); err != nil {
		t.Errorf("Python 2 OrderedDict: %v", err)
	} else if _, ok := f.Tensor("w"); !ok {
		t.Errorf("Python 2 OrderedDict: names %v", f.Names())
	}
	cases := []struct{ name, pkl, want string }{
		{"view past storage", pDict(pStr("w"), pTensor("FloatStorage", "0", 4, 0, []int{2, 3}, []int{3, 1})),
			`tensor "w": view (offset 0, size [2 3], stride [3 1]) reaches element 5 of a 4-element storage`},
		{"offset past storage", pDict(pStr("w"), pTensor("FloatStorage", "0", 4, 3, []int{2}, []int{1})),
			`tensor "w": view (offset 3`},
		{"storage larger than record", pDict(pStr("w"), pTensor("DoubleStorage", "0", 4, 0, []int{4}, []int{1})),
			`tensor "w": storage "0" claims 4 F64 elements, record holds 16 bytes`},
		{"missing record", pDict(pStr("w"), pTensor("FloatStorage", "7", 4, 0, []int{4}, []int{1})),
			`storage "7": no record archive/data/7`},
		{"negative stride", pDict(pStr("w"), pTensor("FloatStorage", "0", 4, 3, []int{2}, []int{-1})),
			`tensor "w": negative size or stride`},
		{"unknown storage", pDict(pStr("w"), pTensor("QInt8Storage", "0", 4, 0, []int{4}, []int{1})),
			`global torch.QInt8Storage is not allowed`},
		{"forbidden global", "\x80\x02cos\nsystem\n" + pTuple(pStr("ls")) + "R.", `global os.system is not allowed`},
		{"forbidden module class", "\x80\x02c__torch__\nEvil\n)\x81.", `global __torch__.Evil is not allowed`},
		{"unknown opcode", "\x80\x02\xff.", `(opcode 0xff): unsupported opcode`},
		{"no stop", "\x80\x02}", `truncated stream`},
		{"stack underflow", "\x80\x02t.", `no MARK`},
		{"bad memo", "\x80\x02h\x05.", `memo key 5 not defined`},
		{"huge string", "\x80\x02X\xff\xff\xff\x7f.", `exceeds the`},
		{"cyclic list", "\x80\x02]q\x00h\x00a.", `nesting deeper than 64`},
		{"exponential DAG", "\x80\x02" + expDAG(60), `more than 1048576 nodes`},
		{"protocol 9", "\x80\x09}.", `unsupported pickle protocol 9`},
		{"extra stack values", "\x80\x02}).", `STOP with 2 values`},
	}
	for _, c := range cases {
		_, err := OpenBytes("bad.pt", torchZip(t, c.pkl, rec))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.pt") {
			t.Errorf("%s: error %v\nwant it to name bad.pt and contain %q", c.name, err, c.want)
		}
	}
	for order, ok := range map[string]bool{"little": true, "big": false} {
		_, err := OpenBytes("bo.pt", torchZip(t, pDict(), map[string][]byte{"/byteorder": []byte(order)}))
		if (err == nil) != ok || !ok && !strings.Contains(err.Error(), `byteorder "big" is not supported`) {
			t.Errorf("byteorder %s: %v", order, err)
		}
	}
	var old bytes.Buffer
	zw := zip.NewWriter(&old)
	zw.Create("m/model.json")
	zw.Create("m/attributes.pkl")
	zw.Close()
	if _, err := OpenBytes("old.pt", old.Bytes()); err == nil || !strings.Contains(err.Error(), "PyTorch < 1.4 (model.json)") {
		t.Errorf("old TorchScript: %v", err)
	}
	noPkl := torchZip(t, "", nil)
	if _, err := OpenBytes("x.zip", bytes.Replace(noPkl, []byte("data.pkl"), []byte("data.txt"), -1)); err == nil ||
		!strings.Contains(err.Error(), "no archive/data.pkl") {
		t.Errorf("zip without data.pkl: %v", err)
	}
}

func TestUnrecognizedFiles(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":  {},
		"text":   []byte("hello world, not a checkpoint"),
		"legacy": []byte("\x80\x02K\x05."),
	} {
		if _, err := OpenBytes(name, data); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Open("testdata/does-not-exist.pt"); err == nil || !strings.Contains(err.Error(), "does-not-exist.pt") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open("testdata"); err == nil {
		t.Error("directory opened")
	}
}

// TestLegacyCorrupt changes the storage element counts of sd_legacy.pt.
func TestLegacyCorrupt(t *testing.T) {
	data, err := os.ReadFile("testdata/sd_legacy.pt")
	if err != nil {
		t.Fatal(err)
	}
	grown := append([]byte(nil), data...)
	grown = append(grown, 0, 0, 0, 0) // trailing junk is tolerated by torch; we accept it too
	if _, err := OpenBytes("ok.pt", grown); err != nil {
		t.Errorf("trailing bytes: %v", err)
	}
	// Find the first storage header after the key list by re-parsing.
	u := newUnpickler(data)
	for i := 0; i < 5; i++ {
		if i == 3 {
			u.persistentLoad = func(pid any) (any, error) { return storageFromPID(pid) }
		}
		if _, err := u.load(); err != nil {
			t.Fatal(err)
		}
	}
	bad := append([]byte(nil), data...)
	binary.LittleEndian.PutUint64(bad[u.pos:], 1<<40)
	if _, err := OpenBytes("bad.pt", bad); err == nil || !strings.Contains(err.Error(), "run past the end of the file") {
		t.Errorf("huge numel: %v", err)
	}
	binary.LittleEndian.PutUint64(bad[u.pos:], 1)
	if _, err := OpenBytes("bad.pt", bad); err == nil {
		t.Error("short storage accepted")
	} else {
		t.Log(err)
	}
}

// TestDeflatedRecords reads a zip whose records are compressed (torch writes
// them stored, other tools may not): data is inflated lazily and CRC-checked.
func TestDeflatedRecords(t *testing.T) {
	raw := make([]byte, 4*6)
	for i := range 6 {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i)))
	}
	pkl := pDict(pStr("w"), pTensor("FloatStorage", "0", 6, 0, []int{2, 3}, []int{3, 1}),
		pStr("wt"), pTensor("FloatStorage", "0", 6, 0, []int{3, 2}, []int{1, 3}))
	data := torchZipMethod(t, pkl, map[string][]byte{"0": raw}, zip.Deflate)
	f, err := OpenBytes("deflated.pt", data)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := f.Tensor("w")
	wt, _ := f.Tensor("wt")
	a, err1 := w.Float32()
	b, err2 := wt.Float32()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !slices.Equal(a, []float32{0, 1, 2, 3, 4, 5}) || !slices.Equal(b, []float32{0, 3, 1, 4, 2, 5}) {
		t.Errorf("w = %v, wt = %v", a, b)
	}
	// Corrupt the compressed storage: materializing must fail, naming the tensor.
	// The first occurrence of the name is the local header; the deflated
	// bytes follow it directly (Go's writer adds no extra field).
	k := bytes.Index(data, []byte("archive/data/0")) + len("archive/data/0")
	bad := append([]byte(nil), data...)
	bad[k+2] ^= 0xff
	g, err := OpenBytes("deflated.pt", bad)
	if err != nil {
		t.Fatalf("corrupt record data should only fail when read: %v", err)
	}
	w, _ = g.Tensor("w")
	if _, err := w.Float32(); err == nil || !strings.Contains(err.Error(), `tensor "w"`) {
		t.Errorf("corrupt deflated record: %v", err)
	}
}

// TestLegacyViewOffsetOverflow: a legacy storage view whose offset would
// overflow when scaled to bytes must be rejected, not sliced.
func TestLegacyViewOffsetOverflow(t *testing.T) {
	rec := &record{size: 16, data: make([]byte, 16)}
	f := &File{data: make([]byte, 64)}
	s := &pyStorage{key: "0", dtype: F64, numel: 1, offset: 1 << 61}
	_, err := f.viewTensor("w", &pyTensor{storage: s, size: []int64{1}, stride: []int64{1}}, rec)
	if err == nil || !strings.Contains(err.Error(), `tensor "w": storage "0" claims`) {
		t.Errorf("offset overflow: %v", err)
	}
}

func TestNewFloat32Mismatch(t *testing.T) {
	bad := NewFloat32("w", []int{2, 3}, []float32{1, 2})
	if _, err := bad.Float32(); err == nil || !strings.Contains(err.Error(), `tensor "w": have 8 bytes, want 24`) {
		t.Errorf("mismatch: %v", err)
	}
}
