package clip

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestLearnMergesReference compares the learned merges with an independent
// Python implementation of classic BPE (testdata/bpe/gen.py), and checks
// that a tokenizer built from them splits every corpus word exactly as
// learning did.
func TestLearnMergesReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/bpe/merges.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Corpus []string `json:"corpus"`
		Cases  []struct {
			N        int                 `json:"n"`
			MinCount int                 `json:"min_count"`
			Merges   [][2]string         `json:"merges"`
			Segments map[string][]string `json:"segments"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range ref.Cases {
		got, err := LearnMerges(ref.Corpus, c.N, c.MinCount)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.Merges) {
			t.Fatalf("n=%d min=%d: merges differ from Python\n got %q\nwant %q", c.N, c.MinCount, got, c.Merges)
		}
		tok := NewTokenizerFromMerges(got)
		if want := 512 + len(got) + 2; tok.VocabSize() != want {
			t.Fatalf("vocabulary %d, want %d", tok.VocabSize(), want)
		}
		for word, seg := range c.Segments {
			ids := tok.Encode(word)
			syms := make([]string, len(ids))
			for i, id := range ids {
				syms[i] = tok.decoder[id]
			}
			if !slices.Equal(syms, seg) {
				t.Fatalf("n=%d min=%d: %q encodes to %q, learning segmented it %q", c.N, c.MinCount, word, syms, seg)
			}
		}
	}
}

// TestLearnMergesWholeWords: with enough merges every word of a small
// corpus becomes one token, and the tokenizer round-trips the text.
func TestLearnMergesWholeWords(t *testing.T) {
	texts := []string{"a small red triangle on the left", "a large blue circle in the center", "a red star"}
	merges, err := LearnMerges(texts, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	tok := NewTokenizerFromMerges(merges)
	for _, text := range texts {
		ids := tok.Encode(text)
		if n := len(strings.Fields(text)); len(ids) != n {
			t.Fatalf("%q: %d tokens, want one per word (%d)", text, len(ids), n)
		}
		if got := strings.TrimSpace(tok.Decode(ids)); got != text {
			t.Fatalf("decode %q, want %q", got, text)
		}
	}
	// Deterministic across calls (map iteration order must not leak).
	again, _ := LearnMerges(texts, 1000, 1)
	if !slices.Equal(merges, again) {
		t.Fatal("two runs learned different merges")
	}
}

func TestLearnMergesErrors(t *testing.T) {
	for _, c := range []struct {
		texts    []string
		n, min   int
		contains string
	}{
		{[]string{"a"}, -1, 1, "-1 merges"},
		{[]string{"a"}, 5, 0, "minimum pair count 0"},
		{[]string{"  ", ""}, 5, 1, "contain no words"},
	} {
		if _, err := LearnMerges(c.texts, c.n, c.min); err == nil || !strings.Contains(err.Error(), c.contains) {
			t.Errorf("LearnMerges(%q, %d, %d): error %v, want one containing %q", c.texts, c.n, c.min, err, c.contains)
		}
	}
}
