package clip

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// Special token ids of OpenAI's CLIP vocabulary and its context length.
const (
	SOT                  = 49406 // <|startoftext|>
	EOT                  = 49407 // <|endoftext|>
	DefaultContextLength = 77
)

const (
	sotText = "<|startoftext|>"
	eotText = "<|endoftext|>"
	endWord = "</w>"
	// numMerges is how many merges of bpe_simple_vocab_16e6.txt CLIP uses:
	// lines[1 : 49152-256-2+1] in simple_tokenizer.py.
	numMerges = 49152 - 256 - 2
)

// Tokenizer is CLIP's byte-level BPE tokenizer (openai/CLIP
// simple_tokenizer.py). It is safe for concurrent use.
type Tokenizer struct {
	encoder map[string]int    // token -> id
	decoder map[int]string    // id -> token
	ranks   map[[2]string]int // merge pair -> rank (lower merges first)
	sot     int
	eot     int
	cache   sync.Map // pre-token (byte-encoded) -> []int ids
}

// pair is one BPE merge candidate.
type pair = [2]string

// LoadTokenizer reads OpenAI's merges file bpe_simple_vocab_16e6.txt, gzip
// compressed (as shipped) or plain text, and builds the 49,408-token CLIP
// vocabulary from its first 48,894 merges.
func LoadTokenizer(path string) (*Tokenizer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: read %s: %w", path, err)
	}
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("tokenizer: gunzip %s: %w", path, err)
		}
		raw, err = io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: gunzip %s: %w", path, err)
		}
	}
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("tokenizer: %s is not UTF-8 text", path)
	}
	lines := strings.Split(string(raw), "\n")
	if len(lines) < numMerges+1 {
		return nil, fmt.Errorf("tokenizer: %s has %d lines, want at least %d (header + %d merges)", path, len(lines), numMerges+1, numMerges)
	}
	merges, err := parseMerges(lines[1:numMerges+1], path, 2)
	if err != nil {
		return nil, err
	}
	return NewTokenizerFromMerges(merges), nil
}

// parseMerges splits "a b" lines; firstLine is the 1-based line number of
// lines[0], for error messages.
func parseMerges(lines []string, path string, firstLine int) ([][2]string, error) {
	merges := make([][2]string, 0, len(lines))
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("tokenizer: %s line %d: want a merge \"a b\", got %q", path, firstLine+i, line)
		}
		merges = append(merges, [2]string{f[0], f[1]})
	}
	return merges, nil
}

// NewTokenizerFromMerges builds a tokenizer with CLIP's vocabulary layout
// from a merge list: the 256 byte symbols, the same with "</w>", one token
// per merge in order, then <|startoftext|> and <|endoftext|>. With OpenAI's
// 48,894 merges this is the standard 49,408-token vocabulary; with fewer
// (a learned vocabulary) the special ids are StartID() and EndID().
func NewTokenizerFromMerges(merges [][2]string) *Tokenizer {
	vocab := make([]string, 0, 512+len(merges)+2)
	for _, r := range byteOrder {
		vocab = append(vocab, string(r))
	}
	for _, r := range byteOrder {
		vocab = append(vocab, string(r)+endWord)
	}
	for _, m := range merges {
		vocab = append(vocab, m[0]+m[1])
	}
	vocab = append(vocab, sotText, eotText)
	encoder := make(map[string]int, len(vocab))
	for id, tok := range vocab {
		encoder[tok] = id // a later duplicate wins, as in Python's dict(zip(...))
	}
	ranks := make(map[pair]int, len(merges))
	for i, m := range merges {
		ranks[m] = i
	}
	return newTokenizer(encoder, ranks)
}

// LoadTokenizerHF reads a Hugging Face CLIP tokenizer: vocab.json (token ->
// id) and merges.txt (a "#version" header line, then "a b" merges in rank
// order). Every byte symbol, every merge result and both special tokens must
// be in the vocabulary.
func LoadTokenizerHF(vocabJSON, mergesTXT string) (*Tokenizer, error) {
	raw, err := os.ReadFile(vocabJSON)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: read %s: %w", vocabJSON, err)
	}
	var encoder map[string]int
	if err := json.Unmarshal(raw, &encoder); err != nil {
		return nil, fmt.Errorf("tokenizer: parse %s: %w", vocabJSON, err)
	}
	f, err := os.Open(mergesTXT)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: open %s: %w", mergesTXT, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	first := 1
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if len(lines) == 0 && first == 1 && strings.HasPrefix(line, "#version") {
			first = 2
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: read %s: %w", mergesTXT, err)
	}
	merges, err := parseMerges(lines, mergesTXT, first)
	if err != nil {
		return nil, err
	}
	ranks := make(map[pair]int, len(merges))
	for i, m := range merges {
		ranks[m] = i
		if _, ok := encoder[m[0]+m[1]]; !ok {
			return nil, fmt.Errorf("tokenizer: %s: merge %d %q+%q has no token in %s", mergesTXT, i, m[0], m[1], vocabJSON)
		}
	}
	for _, r := range byteRunes {
		for _, tok := range []string{string(r), string(r) + endWord} {
			if _, ok := encoder[tok]; !ok {
				return nil, fmt.Errorf("tokenizer: %s lacks byte token %q", vocabJSON, tok)
			}
		}
	}
	for _, tok := range []string{sotText, eotText} {
		if _, ok := encoder[tok]; !ok {
			return nil, fmt.Errorf("tokenizer: %s lacks special token %q", vocabJSON, tok)
		}
	}
	return newTokenizer(encoder, ranks), nil
}

func newTokenizer(encoder map[string]int, ranks map[pair]int) *Tokenizer {
	decoder := make(map[int]string, len(encoder))
	for tok, id := range encoder {
		decoder[id] = tok
	}
	return &Tokenizer{
		encoder: encoder,
		decoder: decoder,
		ranks:   ranks,
		sot:     encoder[sotText],
		eot:     encoder[eotText],
	}
}

// VocabSize is the number of token ids (49,408 for OpenAI's vocabulary).
func (t *Tokenizer) VocabSize() int { return len(t.decoder) }

// StartID is the id of <|startoftext|> (SOT for OpenAI's vocabulary).
func (t *Tokenizer) StartID() int { return t.sot }

// EndID is the id of <|endoftext|> (EOT for OpenAI's vocabulary); CLIP's
// text tower pools at this token, which must have the largest id.
func (t *Tokenizer) EndID() int { return t.eot }

// Encode cleans text as CLIP does and returns its BPE token ids, without
// <|startoftext|> and <|endoftext|>.
func (t *Tokenizer) Encode(text string) []int {
	var ids []int
	for _, tok := range preTokenize(cleanText(text)) {
		ids = append(ids, t.bpe(tok)...)
	}
	return ids
}

// bpe returns the ids of one pre-token, merging byte symbols by rank.
func (t *Tokenizer) bpe(token string) []int {
	if token == sotText || token == eotText {
		return []int{t.encoder[token]}
	}
	if v, ok := t.cache.Load(token); ok {
		return v.([]int)
	}
	word := make([]string, 0, len(token))
	for i := 0; i < len(token); i++ {
		word = append(word, string(byteRunes[token[i]]))
	}
	word[len(word)-1] += endWord
	for len(word) > 1 {
		best, bestRank := pair{}, -1
		for i := 0; i+1 < len(word); i++ {
			p := pair{word[i], word[i+1]}
			if r, ok := t.ranks[p]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = p, r
			}
		}
		if bestRank < 0 {
			break
		}
		merged := word[:0:0]
		for i := 0; i < len(word); i++ {
			if i+1 < len(word) && word[i] == best[0] && word[i+1] == best[1] {
				merged = append(merged, best[0]+best[1])
				i++
				continue
			}
			merged = append(merged, word[i])
		}
		word = merged
	}
	ids := make([]int, len(word))
	for i, w := range word {
		ids[i] = t.encoder[w] // every symbol is in the vocabulary by construction
	}
	t.cache.Store(token, ids)
	return ids
}

// Tokenize encodes each text as [SOT, ids..., EOT] zero-padded to
// contextLength (CLIP's clip.tokenize). A text longer than the context is an
// error naming it, unless truncate is set: then it is cut to contextLength
// tokens and its last token replaced by EOT.
func (t *Tokenizer) Tokenize(texts []string, contextLength int, truncate bool) ([][]int32, error) {
	if contextLength < 1 {
		return nil, fmt.Errorf("tokenizer: context length %d, want at least 1", contextLength)
	}
	out := make([][]int32, len(texts))
	for i, text := range texts {
		ids := append([]int{t.sot}, t.Encode(text)...)
		ids = append(ids, t.eot)
		if len(ids) > contextLength {
			if !truncate {
				return nil, fmt.Errorf("tokenizer: text %d %q is %d tokens with SOT/EOT, longer than context length %d (truncate to cut it)",
					i, ellipsize(text, 60), len(ids), contextLength)
			}
			ids = ids[:contextLength]
			ids[contextLength-1] = t.eot
		}
		row := make([]int32, contextLength)
		for j, id := range ids {
			row[j] = int32(id)
		}
		out[i] = row
	}
	return out, nil
}

// ellipsize shortens s to at most n runes for error messages.
func ellipsize(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// Decode turns ids back into text: tokens are joined, byte symbols mapped
// back to bytes, invalid UTF-8 replaced by U+FFFD and "</w>" by a space.
// Unknown ids are skipped.
func (t *Tokenizer) Decode(ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(t.decoder[id])
	}
	var raw []byte
	for _, r := range sb.String() {
		if b, ok := runeByte[r]; ok {
			raw = append(raw, b)
		}
	}
	return strings.ReplaceAll(decodeUTF8Replace(raw), endWord, " ")
}

// byteRunes maps each byte to the printable rune that stands for it
// (bytes_to_unicode in simple_tokenizer.py), indexed by byte value; byteOrder
// lists the bytes in the dict order that fixes ids 0..255.
var byteRunes, byteOrder, runeByte = buildByteTables()

func buildByteTables() ([256]rune, []rune, map[rune]byte) {
	var table [256]rune
	var order []byte
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	for b := 0; b < 256; b++ {
		if printable(b) {
			table[b] = rune(b)
			order = append(order, byte(b))
		}
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !printable(b) {
			table[b] = rune(256 + n)
			order = append(order, byte(b))
			n++
		}
	}
	runes := make([]rune, 256)
	inverse := make(map[rune]byte, 256)
	for i, b := range order {
		runes[i] = table[b]
		inverse[table[b]] = b
	}
	return table, runes, inverse
}
