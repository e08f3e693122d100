// Command embed prints CLIP embeddings of images and texts.
//
//	go run ./examples/embed -model PATH [-vocab FILE] [-image FILE]... [-text STRING]... [-truncate] [-json]
//
// -model is any checkpoint clip.Load reads (OpenAI .pt, open_clip .bin,
// safetensors, Hugging Face directory). -image takes PNG, JPEG, GIF or WebP
// files (preprocessed for the model) or .npy float32 (3,R,R) / (N,3,R,R)
// arrays of already-normalized pixels, one image per row. -vocab defaults to
// the vocabulary found beside the model. Without -model but with -vocab the
// texts are only tokenized.
//
// -json prints one object:
//
//	{"images":[{"source":S,"embedding":[…]}…],
//	 "texts":[{"text":T,"tokens":[SOT … EOT],"embedding":[…]}…],
//	 "logit_scale":F}
//
// Embeddings are the raw encoder outputs (not normalized), in input order.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/goclip/goclip/clip"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "embed:", err)
		}
		os.Exit(1)
	}
}

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type imageOut struct {
	Source    string    `json:"source"`
	Embedding []float32 `json:"embedding"`
}

type textOut struct {
	Text      string    `json:"text"`
	Tokens    []int32   `json:"tokens"`
	Embedding []float32 `json:"embedding,omitempty"`
}

type output struct {
	Images     []imageOut `json:"images"`
	Texts      []textOut  `json:"texts"`
	LogitScale *float32   `json:"logit_scale,omitempty"`
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	modelPath := fs.String("model", "", "checkpoint: OpenAI .pt, open_clip .bin/.pt, safetensors or Hugging Face directory")
	vocabPath := fs.String("vocab", "", "tokenizer: bpe_simple_vocab_16e6.txt.gz, or vocab.json (merges.txt beside it); default: beside the model")
	var images, texts listFlag
	fs.Var(&images, "image", "image file (PNG/JPEG/GIF/WebP) or .npy pixels (3,R,R)/(N,3,R,R); repeatable")
	fs.Var(&texts, "text", "text to embed; repeatable")
	truncate := fs.Bool("truncate", false, "cut texts longer than the context length instead of failing")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (texts go in -text)", fs.Arg(0))
	}
	if *modelPath == "" && *vocabPath == "" {
		return fmt.Errorf("need -model (or -vocab alone to only tokenize)")
	}
	if *modelPath == "" && len(images) > 0 {
		return fmt.Errorf("-image needs -model")
	}
	if len(images) == 0 && len(texts) == 0 {
		return fmt.Errorf("nothing to do: give -image and/or -text")
	}

	var m *clip.Model
	ctx := 77
	if *modelPath != "" {
		var err error
		if m, err = clip.Load(*modelPath); err != nil {
			return err
		}
		ctx = m.Config().Text.ContextLength
	}
	out := output{Images: []imageOut{}, Texts: []textOut{}}
	if len(texts) > 0 {
		tok, err := loadTokenizer(*vocabPath, *modelPath)
		if err != nil {
			return err
		}
		rows, err := tok.Tokenize(texts, ctx, *truncate)
		if err != nil {
			return err
		}
		var emb []float32
		if m != nil {
			if emb, err = m.EncodeText(rows); err != nil {
				return err
			}
		}
		dim := 0
		if m != nil {
			dim = m.Config().EmbedDim
		}
		for i, text := range texts {
			t := textOut{Text: text, Tokens: untilEOT(rows[i], int32(tok.EndID()))}
			if m != nil {
				t.Embedding = emb[i*dim : (i+1)*dim]
			}
			out.Texts = append(out.Texts, t)
		}
	}
	for _, path := range images {
		embs, err := embedImage(m, path)
		if err != nil {
			return err
		}
		out.Images = append(out.Images, embs...)
	}
	if m != nil {
		s := m.LogitScale()
		out.LogitScale = &s
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(out)
	}
	return printText(stdout, out)
}

// loadTokenizer loads -vocab, or the vocabulary beside the model.
func loadTokenizer(vocab, model string) (*clip.Tokenizer, error) {
	switch {
	case vocab == "":
		return clip.LoadTokenizerFor(model)
	case strings.HasSuffix(vocab, ".json"):
		return clip.LoadTokenizerHF(vocab, filepath.Join(filepath.Dir(vocab), "merges.txt"))
	default:
		if st, err := os.Stat(vocab); err == nil && st.IsDir() {
			return clip.LoadTokenizerFor(vocab)
		}
		return clip.LoadTokenizer(vocab)
	}
}

// untilEOT returns the ids from SOT to the first EOT inclusive.
func untilEOT(row []int32, eot int32) []int32 {
	for i, id := range row {
		if id == eot && i > 0 {
			return append([]int32(nil), row[:i+1]...)
		}
	}
	return append([]int32(nil), row...)
}

// embedImage embeds one image file, or every row of a .npy file.
func embedImage(m *clip.Model, path string) ([]imageOut, error) {
	r := m.Config().Vision.ImageSize
	var pixels []float32
	n := 1
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		var err error
		if pixels, n, err = clip.ReadImageNPY(path, r); err != nil {
			return nil, err
		}
	} else {
		img, err := clip.DecodeImage(path)
		if err != nil {
			return nil, err
		}
		if pixels, err = clip.Preprocess(img, r); err != nil {
			return nil, fmt.Errorf("image %s: %w", path, err)
		}
	}
	emb, err := m.EncodeImage(pixels, n)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	dim := m.Config().EmbedDim
	out := make([]imageOut, n)
	for i := range out {
		src := path
		if n > 1 {
			src = fmt.Sprintf("%s[%d]", path, i)
		}
		out[i] = imageOut{Source: src, Embedding: emb[i*dim : (i+1)*dim]}
	}
	return out, nil
}

// printText prints a short human-readable summary and, with images and
// texts, the similarity logits and per-image probabilities.
func printText(w io.Writer, out output) error {
	for _, im := range out.Images {
		fmt.Fprintf(w, "image %s: %s\n", im.Source, summary(im.Embedding))
	}
	for _, t := range out.Texts {
		fmt.Fprintf(w, "text %q: tokens %v", t.Text, t.Tokens)
		if t.Embedding != nil {
			fmt.Fprintf(w, "\n  %s", summary(t.Embedding))
		}
		fmt.Fprintln(w)
	}
	if out.LogitScale == nil || len(out.Images) == 0 || len(out.Texts) == 0 {
		return nil
	}
	dim := len(out.Images[0].Embedding)
	var img, txt []float32
	for _, im := range out.Images {
		img = append(img, im.Embedding...)
	}
	for _, t := range out.Texts {
		txt = append(txt, t.Embedding...)
	}
	logits := clip.Logits(img, txt, dim, *out.LogitScale)
	nt := len(out.Texts)
	fmt.Fprintf(w, "logits (scale %.4g) and probabilities over texts:\n", *out.LogitScale)
	for i, im := range out.Images {
		row := logits[i*nt : (i+1)*nt]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - mx)
		}
		fmt.Fprintf(w, "%s\n", im.Source)
		for j, t := range out.Texts {
			fmt.Fprintf(w, "  %9.4f  %7.4f  %q\n", row[j], math.Exp(float64(row[j])-mx)/sum, t.Text)
		}
	}
	return nil
}

// summary shows the dimension, L2 norm and first values of an embedding.
func summary(e []float32) string {
	var n float64
	for _, v := range e {
		n += float64(v) * float64(v)
	}
	k := min(5, len(e))
	parts := make([]string, k)
	for i := range k {
		parts[i] = fmt.Sprintf("%.6g", e[i])
	}
	return fmt.Sprintf("dim %d, norm %.6g, [%s …]", len(e), math.Sqrt(n), strings.Join(parts, " "))
}
