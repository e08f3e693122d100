// Command finetune fine-tunes a CLIP model on (image, caption) pairs with
// the symmetric contrastive (InfoNCE) loss and reports image→text and
// text→image recall@1/@5 on the same pairs before and after.
//
//	go run ./examples/finetune -model PATH -data captions.csv [-epochs 1] [-lr 1e-5] [-batch 8] [-wd 0.2] [-vocab FILE] [-out tuned.safetensors] [-log train.jsonl]
//
// The CSV has two columns, image path (relative to the CSV's directory or
// absolute) and caption; a first row "image,caption" is a header. Pair i
// matches image i with caption i. Training uses AdamW (no decay on biases,
// norms, embeddings and logit_scale), a 10% linear warmup then cosine decay,
// global-norm clipping at 1, and clamps logit_scale to [0, ln 100] after
// every step. -out writes the tuned weights (OpenAI names, safetensors),
// loadable with -model.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/loss"
	"github.com/goclip/goclip/nn/optim"
	"github.com/goclip/goclip/nn/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "finetune:", err)
		}
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	model, data, vocab, out, log string
	epochs, batch                int
	lr, wd                       float64
	seed                         uint64
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("finetune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.model, "model", "", "CLIP checkpoint (OpenAI .pt, open_clip, safetensors or Hugging Face directory)")
	fs.StringVar(&o.data, "data", "", "CSV of image path, caption")
	fs.StringVar(&o.vocab, "vocab", "", "tokenizer: OpenAI "+clip.VocabFile+" or a directory with vocab.json + merges.txt; default: beside the model")
	fs.StringVar(&o.out, "out", "", "write the fine-tuned weights here (safetensors)")
	fs.StringVar(&o.log, "log", "", "write a JSONL training log here")
	fs.IntVar(&o.epochs, "epochs", 1, "passes over the data")
	fs.IntVar(&o.batch, "batch", 8, "pairs per step (the contrastive batch)")
	fs.Float64Var(&o.lr, "lr", 1e-5, "peak learning rate")
	fs.Float64Var(&o.wd, "wd", 0.2, "AdamW weight decay")
	fs.Uint64Var(&o.seed, "seed", 1, "shuffling seed")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.model == "" || o.data == "":
		return nil, fmt.Errorf("need -model and -data")
	case o.epochs < 0:
		return nil, fmt.Errorf("-epochs %d is negative", o.epochs)
	case o.batch < 2:
		return nil, fmt.Errorf("-batch %d: a contrastive batch needs at least 2 pairs", o.batch)
	case !(o.lr >= 0) || !(o.wd >= 0):
		return nil, fmt.Errorf("-lr %g and -wd %g must be non-negative", o.lr, o.wd)
	}
	return o, nil
}

// pair is one CSV row.
type pair struct{ image, caption string }

// readPairs reads the CSV, resolving relative image paths against its directory.
func readPairs(path string) ([]pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 2
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("data %s: %w", path, err)
	}
	if len(rows) > 0 && strings.EqualFold(strings.TrimSpace(rows[0][0]), "image") && strings.EqualFold(strings.TrimSpace(rows[0][1]), "caption") {
		rows = rows[1:]
	}
	dir := filepath.Dir(path)
	var ps []pair
	for i, row := range rows {
		img, cap := strings.TrimSpace(row[0]), strings.TrimSpace(row[1])
		if img == "" || cap == "" {
			return nil, fmt.Errorf("data %s: row %d has an empty image path or caption", path, i+1)
		}
		if !filepath.IsAbs(img) {
			img = filepath.Join(dir, img)
		}
		ps = append(ps, pair{img, cap})
	}
	if len(ps) < 2 {
		return nil, fmt.Errorf("data %s: %d pairs, need at least 2", path, len(ps))
	}
	return ps, nil
}

// dataset is the preprocessed data: pixels (N, 3, R, R) and token rows.
type dataset struct {
	n, res int
	pixels []float32
	tokens [][]int32
}

func load(m *clip.Model, tok *clip.Tokenizer, ps []pair) (*dataset, error) {
	cfg := m.Config()
	if v := tok.VocabSize(); v > cfg.Text.VocabSize {
		return nil, fmt.Errorf("tokenizer has %d tokens, model vocabulary %d (wrong -vocab?)", v, cfg.Text.VocabSize)
	}
	d := &dataset{n: len(ps), res: cfg.Vision.ImageSize}
	var caps []string
	for _, p := range ps {
		img, err := clip.DecodeImage(p.image)
		if err != nil {
			return nil, err
		}
		px, err := clip.Preprocess(img, d.res)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.image, err)
		}
		d.pixels = append(d.pixels, px...)
		caps = append(caps, p.caption)
	}
	rows, err := tok.Tokenize(caps, cfg.Text.ContextLength, true)
	if err != nil {
		return nil, err
	}
	d.tokens = rows
	return d, nil
}

// Recall holds retrieval recalls in percent.
type Recall struct{ I2T1, I2T5, T2I1, T2I5 float64 }

// evaluate embeds every pair and ranks captions for each image and images
// for each caption by cosine similarity; pair i is the only match of i.
func evaluate(m *clip.Model, d *dataset) (Recall, error) {
	e := m.Config().EmbedDim
	var img, txt []float32
	const chunk = 16
	for lo := 0; lo < d.n; lo += chunk {
		hi := min(lo+chunk, d.n)
		sz := 3 * d.res * d.res
		ie, err := m.EncodeImage(d.pixels[lo*sz:hi*sz], hi-lo)
		if err != nil {
			return Recall{}, err
		}
		te, err := m.EncodeText(d.tokens[lo:hi])
		if err != nil {
			return Recall{}, err
		}
		img, txt = append(img, ie...), append(txt, te...)
	}
	sim := clip.Logits(clip.Normalize(img, e), clip.Normalize(txt, e), e, 1) // (N, N)
	return recall(sim, d.n), nil
}

// recall computes R@1/R@5 from an (n, n) similarity matrix (image rows).
func recall(sim []float32, n int) Recall {
	rank := func(score func(j int) float32, self int) int {
		r := 0
		for j := 0; j < n; j++ {
			if j != self && score(j) > score(self) {
				r++
			}
		}
		return r
	}
	var r Recall
	for i := 0; i < n; i++ {
		ri := rank(func(j int) float32 { return sim[i*n+j] }, i) // captions for image i
		rt := rank(func(j int) float32 { return sim[j*n+i] }, i) // images for caption i
		add := func(rk int, at1, at5 *float64) {
			if rk < 1 {
				*at1++
			}
			if rk < 5 {
				*at5++
			}
		}
		add(ri, &r.I2T1, &r.I2T5)
		add(rt, &r.T2I1, &r.T2I5)
	}
	for _, p := range []*float64{&r.I2T1, &r.I2T5, &r.T2I1, &r.T2I5} {
		*p *= 100 / float64(n)
	}
	return r
}

// textBatch lays out token rows for a graph of fixed length: ids
// (n·length) and the flat EOT index of each row.
func textBatch(rows [][]int32, length int) (ids, eot []int) {
	for i, r := range rows {
		best := 0
		for j, id := range r {
			if id > r[best] {
				best = j
			}
		}
		for _, id := range r[:length] {
			ids = append(ids, int(id))
		}
		eot = append(eot, i*length+best)
	}
	return ids, eot
}

// maxLength is the longest prefix any row needs (its EOT position + 1).
func maxLength(rows [][]int32) int {
	l := 1
	for _, r := range rows {
		best := 0
		for j, id := range r {
			if id > r[best] {
				best = j
			}
		}
		l = max(l, best+1)
	}
	return l
}

// compile builds the contrastive training step for batches of b pairs.
func compile(m *clip.Model, b, res, length int) (*train.Step, *loss.LogitScale, error) {
	scale := &loss.LogitScale{Param: m.LogitScaleParam}
	step, err := train.Compile(tensor.Float32, func(g *nn.Graph) ([]*G.Node, *G.Node, error) {
		px := g.Input("pixels", b, 3, res, res)                          // (B, 3, R, R)
		ids, eot := m.Text.Inputs(g, b, length)                          // (B·L), (B)
		img := m.ImageGraph(g, px)                                       // (B, E)
		txt := m.Text.Forward(g, ids, eot, b, length)                    // (B, E)
		logits := loss.Logits(g, img, txt, scale.Forward(g))             // (B, B)
		return []*G.Node{px, ids, eot}, loss.InfoNCE(g, logits), g.Err() // scalar
	})
	return step, scale, err
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	m, err := clip.Load(o.model)
	if err != nil {
		return err
	}
	var tok *clip.Tokenizer
	switch st, err := os.Stat(o.vocab); {
	case o.vocab == "":
		tok, err = clip.LoadTokenizerFor(o.model)
	case err == nil && st.IsDir():
		tok, err = clip.LoadTokenizerFor(o.vocab)
	default:
		tok, err = clip.LoadTokenizer(o.vocab)
	}
	if err != nil {
		return err
	}
	ps, err := readPairs(o.data)
	if err != nil {
		return err
	}
	d, err := load(m, tok, ps)
	if err != nil {
		return err
	}
	before, err := evaluate(m, d)
	if err != nil {
		return err
	}
	b := min(o.batch, d.n)
	perEpoch := d.n / b
	total := o.epochs * perEpoch
	name := m.Config().Name
	if name == "" {
		name = filepath.Base(o.model)
	}
	fmt.Fprintf(stdout, "%s: %d pairs, batch %d, %d steps (%d epochs)\n", name, d.n, b, total, o.epochs)
	if total > 0 {
		if err := finetune(m, d, o, b, total, stderr); err != nil {
			return err
		}
	}
	after, err := evaluate(m, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-8s %8s %8s %8s %8s\n", "", "i→t R@1", "i→t R@5", "t→i R@1", "t→i R@5")
	for _, row := range []struct {
		name string
		r    Recall
	}{{"before", before}, {"after", after}} {
		fmt.Fprintf(stdout, "%-8s %8.1f %8.1f %8.1f %8.1f\n", row.name, row.r.I2T1, row.r.I2T5, row.r.T2I1, row.r.T2I5)
	}
	if o.out != "" {
		if err := train.Save(o.out, m.Params(), nil, total, nil, map[string]string{"data": o.data}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", o.out)
	}
	return nil
}

// finetune runs total steps of contrastive training on shuffled batches.
func finetune(m *clip.Model, d *dataset, o *options, b, total int, stderr io.Writer) error {
	length := maxLength(d.tokens)
	step, scale, err := compile(m, b, d.res, length)
	if err != nil {
		return err
	}
	defer step.Close()
	warmup := max(1, total/10)
	tr := &train.Trainer{
		Step:      step,
		Opt:       optim.NewAdamW(optim.DecayGroups(step.Params, o.wd)),
		Sched:     optim.WarmupCosine(o.lr, 0, warmup, total),
		ClipNorm:  1,
		AfterStep: func() { scale.Clamp() },
		Model:     m.Params(),
		RNG:       rand.NewPCG(o.seed, 0x5eed),
		Progress:  train.NewProgress(stderr),
	}
	if o.log != "" {
		f, err := os.Create(o.log)
		if err != nil {
			return fmt.Errorf("log: %w", err)
		}
		defer f.Close()
		tr.Log = &train.Logger{JSONL: f}
	}
	perEpoch := d.n / b
	var order []int
	sz := 3 * d.res * d.res
	_, err = tr.Run(total, func(s int, r *rand.Rand) ([]*tensor.Dense, error) {
		if s%perEpoch == 0 {
			order = r.Perm(d.n)
		}
		idx := order[(s%perEpoch)*b : (s%perEpoch+1)*b]
		px := make([]float32, 0, b*sz)
		rows := make([][]int32, 0, b)
		for _, i := range idx {
			px = append(px, d.pixels[i*sz:(i+1)*sz]...)
			rows = append(rows, d.tokens[i])
		}
		ids, eot := textBatch(rows, length)
		return []*tensor.Dense{
			tensor.New(tensor.WithShape(b, 3, d.res, d.res), tensor.WithBacking(px)),
			tensor.New(tensor.WithShape(len(ids)), tensor.WithBacking(ids)),
			tensor.New(tensor.WithShape(b), tensor.WithBacking(eot)),
		}, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "logit scale %.2f\n", math.Exp(float64(scale.Param.Value.Float32s()[0])))
	return nil
}
