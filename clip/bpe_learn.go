package clip

import (
	"fmt"
	"sort"
)

// LearnMerges learns up to n byte-level BPE merges from texts, in the
// format of CLIP's merges (rank order, symbols in CLIP's byte alphabet,
// word ends marked "</w>"), ready for NewTokenizerFromMerges.
//
// Texts are cleaned and pre-tokenized exactly as Tokenizer.Encode does;
// every pre-token is a word of byte symbols whose last symbol carries
// "</w>". Classic BPE (Sennrich et al.) then repeatedly merges the most
// frequent adjacent pair, counted over all words weighted by their
// frequency; ties go to the lexicographically smallest pair. Learning
// stops after n merges or when no pair occurs at least minCount times.
func LearnMerges(texts []string, n, minCount int) ([][2]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("clip: learn merges: %d merges requested", n)
	}
	if minCount < 1 {
		return nil, fmt.Errorf("clip: learn merges: minimum pair count %d, want at least 1", minCount)
	}
	freq := map[string]int{}
	for _, text := range texts {
		for _, tok := range preTokenize(cleanText(text)) {
			freq[tok]++
		}
	}
	if len(freq) == 0 {
		return nil, fmt.Errorf("clip: learn merges: the %d texts contain no words", len(texts))
	}
	// Words in a fixed order so that merging is deterministic.
	keys := make([]string, 0, len(freq))
	for k := range freq {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	words := make([][]string, len(keys))
	counts := make([]int, len(keys))
	for i, k := range keys {
		w := make([]string, len(k))
		for j := 0; j < len(k); j++ {
			w[j] = string(byteRunes[k[j]])
		}
		w[len(w)-1] += endWord
		words[i], counts[i] = w, freq[k]
	}
	var merges [][2]string
	for len(merges) < n {
		pairs := map[pair]int{}
		for i, w := range words {
			for j := 0; j+1 < len(w); j++ {
				pairs[pair{w[j], w[j+1]}] += counts[i]
			}
		}
		best, bestCount := pair{}, 0
		for p, c := range pairs {
			if c > bestCount || (c == bestCount && less(p, best)) {
				best, bestCount = p, c
			}
		}
		if bestCount < minCount {
			break
		}
		merges = append(merges, best)
		for i, w := range words {
			words[i] = mergePair(w, best)
		}
	}
	return merges, nil
}

// less orders pairs by their first, then their second symbol.
func less(a, b pair) bool {
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	return a[1] < b[1]
}

// mergePair replaces every non-overlapping occurrence of p in w, left to
// right, by the merged symbol.
func mergePair(w []string, p pair) []string {
	out := w[:0:0]
	for i := 0; i < len(w); i++ {
		if i+1 < len(w) && w[i] == p[0] && w[i+1] == p[1] {
			out = append(out, p[0]+p[1])
			i++
			continue
		}
		out = append(out, w[i])
	}
	return out
}
