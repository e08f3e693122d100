package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goclip/goclip/weights"
)

func TestListAndConvert(t *testing.T) {
	var out bytes.Buffer
	dst := filepath.Join(t.TempDir(), "out.safetensors")
	if err := run([]string{"../../weights/testdata/script.pt", "-convert", dst, "-f32"}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	found := false
	for _, line := range strings.Split(s, "\n") {
		found = found || strings.Join(strings.Fields(line), " ") == "visual.transformer.resblocks.0.attn.in_proj_weight F16 [12, 4]"
	}
	if !found {
		t.Errorf("no row for in_proj_weight:\n%s", s)
	}
	for _, want := range []string{
		"18 tensors, 262 parameters, format torchscript",
		"wrote " + dst,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	src, err := weights.Open("../../weights/testdata/script.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	conv, err := weights.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer conv.Close()
	for _, name := range src.Names() {
		a, _ := src.Tensor(name)
		b, ok := conv.Tensor(name)
		if !ok {
			t.Fatalf("%s missing from the conversion", name)
		}
		if a.DType.IsFloat() && b.DType != weights.F32 || !a.DType.IsFloat() && b.DType != a.DType {
			t.Errorf("%s: converted dtype %s from %s", name, b.DType, a.DType)
		}
		va, _ := a.Float32()
		vb, _ := b.Float32()
		for i := range va {
			if va[i] != vb[i] {
				t.Fatalf("%s[%d]: %g vs %g", name, i, vb[i], va[i])
			}
		}
	}
}

func TestErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"a", "b"},
		{"-f32", "../../weights/testdata/st.safetensors"},
		{"-bogus"},
		{"/nonexistent/file.pt"},
		{"main.go"},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestExitCode runs main in a subprocess: an unreadable file must print a
// clear error on stderr and exit with status 1.
func TestExitCode(t *testing.T) {
	if os.Getenv("INSPECT_RUN_MAIN") == "1" {
		os.Args = []string{"inspect", "/nonexistent/model.pt"}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestExitCode$")
	cmd.Env = append(os.Environ(), "INSPECT_RUN_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	if want := "inspect: weights: open /nonexistent/model.pt"; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr %q, want prefix %q", stderr.String(), want)
	}
}
