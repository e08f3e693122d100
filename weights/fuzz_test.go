package weights

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets' seed corpora are the PyTorch fixtures, so plain
// `go test` runs every reader over them; `go test -fuzz FuzzX` explores.
// Each target requires: no panic, and any file that opens can be read fully.

func addSeeds(f *testing.F, names ...string) {
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzSafetensors(f *testing.F) {
	addSeeds(f, "st.safetensors")
	f.Add(stFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"k":"v"}}`, make([]byte, 4)))
	f.Add(stFile(`{"a":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`, make([]byte, 2)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if file, err := OpenBytes("fuzz.safetensors", data); err == nil {
			materialize(file)
		}
	})
}

func FuzzTorchZip(f *testing.F) {
	addSeeds(f, "sd_zip.pt", "wrapped.pt", "script.pt", "cuda_tag.pt", "proto5_zip.pt")
	rec := map[string][]byte{"0": make([]byte, 24)}
	f.Add(torchZip(f, pDict(pStr("w"), pTensor("FloatStorage", "0", 6, 0, []int{2, 3}, []int{3, 1})), rec))
	f.Add(torchZip(f, pDict(pStr("w"), pTensor("HalfStorage", "0", 12, 1, []int{3, 2}, []int{1, 3})), rec))
	f.Add(torchZipMethod(f, pDict(pStr("w"), pTensor("FloatStorage", "0", 6, 0, []int{6}, []int{1})), rec, zip.Deflate))
	f.Fuzz(func(t *testing.T, data []byte) {
		if file, err := OpenBytes("fuzz.pt", data); err == nil {
			materialize(file)
		}
	})
}

func FuzzLegacy(f *testing.F) {
	addSeeds(f, "sd_legacy.pt", "proto1_legacy.pt", "proto4_legacy.pt")
	f.Fuzz(func(t *testing.T, data []byte) {
		if file, err := OpenBytes("fuzz.pt", data); err == nil {
			materialize(file)
		}
	})
}

// FuzzPickle runs the interpreter alone (TorchScript classes allowed) on the
// data.pkl records of the fixtures and on hand-made pickles.
func FuzzPickle(f *testing.F) {
	for _, n := range []string{"sd_zip.pt", "wrapped.pt", "script.pt", "proto1_zip.pt", "proto5_zip.pt"} {
		data, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			f.Fatal(err)
		}
		for _, zf := range zr.File {
			if filepath.Base(zf.Name) == "data.pkl" || filepath.Base(zf.Name) == "constants.pkl" {
				rc, _ := zf.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				f.Add(b)
			}
		}
	}
	f.Add([]byte(pDict(pStr("w"), pTensor("HalfStorage", "0", 4, 1, []int{3}, []int{1}))))
	f.Add([]byte("\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x80e."))
	f.Fuzz(func(t *testing.T, data []byte) {
		u := newUnpickler(data)
		u.torchScript = true
		u.persistentLoad = func(pid any) (any, error) { return storageFromPID(pid) }
		v, err := u.load()
		if err != nil {
			return
		}
		var refs []namedRef
		budget := maxFlattenNodes
		flatten(v, "", 0, &budget, &refs)
	})
}
