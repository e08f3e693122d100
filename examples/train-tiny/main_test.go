package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goclip/goclip/clip"
)

// TestTrainShort trains three steps on batches of four pairs, then loads
// and evaluates the written bundle.
func TestTrainShort(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tiny.safetensors")
	logPath := filepath.Join(t.TempDir(), "log.jsonl")
	var stdout bytes.Buffer
	err := run([]string{"-steps", "3", "-batch", "4", "-warmup", "1", "-eval-every", "2", "-n", "5", "-out", out, "-log", logPath}, &stdout, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"BPE merges learned", "step 2 (", "trained 3 steps of 4 pairs", "colour accuracy"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	m, tok, err := clip.LoadBundle(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config() != clip.Tiny(tok.VocabSize()) {
		t.Fatalf("saved config %v", m.Config())
	}
	stdout.Reset()
	if err := run([]string{"-eval", "-model", out, "-n", "5"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "held-out colour×shape combinations (5 images)") {
		t.Fatalf("eval output:\n%s", stdout.String())
	}
}

func TestFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args     []string
		contains string
	}{
		{[]string{"-steps", "0"}, "want steps ≥ 1"},
		{[]string{"-batch", "1"}, "batch ≥ 2"},
		{[]string{"-eval", "-n", "0"}, "-n 0"},
		{[]string{"-eval", "-model", "/nonexistent/x.safetensors"}, "nonexistent"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-grey", "0.8", "-hue", "0.5"}, "summing to at most 1"},
		{[]string{"-hue", "-0.1"}, "fractions ≥ 0"},
	} {
		if err := run(c.args, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), c.contains) {
			t.Errorf("%q: error %v, want one containing %q", c.args, err, c.contains)
		}
	}
}
