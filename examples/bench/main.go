// Command bench times CLIP image and text encoding.
//
//	go run ./examples/bench -model ViT-B/32 -random -batch 8 -n 5
//	go run ./examples/bench -model RN50 -random
//	go run ./examples/bench -model ViT-B/32 -random -tower text [-tokens N]
//	go run ./examples/bench -model PATH          (any checkpoint clip.Load reads)
//
// Each measured run prints one line
//
//	BENCH model=ViT-B/32 tower=image batch=8 per_s=12.34 ms_per_batch=648.2
//
// and a final SUMMARY line gives the median and best rate, then (on Linux)
// a MEM line the peak resident set size. -model is a
// preset name (with -random: random weights, OpenAI's initialisation) or a
// checkpoint path; loading a path prints a LOAD line with its duration.
// Images are random normalized pixels. Texts are token rows of "typical
// captions": row i of a batch has 5 + 7i mod 16 tokens (5–20, SOT and EOT
// included), or exactly -tokens tokens when given; the text tower runs only
// up to the batch's longest caption. -warmup runs (first one compiles the
// graph) are not timed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goclip/goclip/clip"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	model  string
	random bool
	tower  string
	batch  int
	n      int
	warmup int
	tokens int
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.model, "model", "ViT-B/32", "preset name (with -random) or checkpoint path")
	fs.BoolVar(&o.random, "random", false, "random weights of the preset named by -model")
	fs.StringVar(&o.tower, "tower", "image", "image or text")
	fs.IntVar(&o.batch, "batch", 8, "images or texts per batch")
	fs.IntVar(&o.n, "n", 5, "measured runs")
	fs.IntVar(&o.warmup, "warmup", 1, "untimed runs first (the first compiles the graph)")
	fs.IntVar(&o.tokens, "tokens", 0, "tokens per text incl. SOT and EOT (0: captions of 5–20 tokens)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.tower != "image" && o.tower != "text":
		return o, fmt.Errorf("-tower %q: want image or text", o.tower)
	case o.batch < 1 || o.n < 1 || o.warmup < 0:
		return o, fmt.Errorf("-batch %d, -n %d, -warmup %d: want batch, n ≥ 1 and warmup ≥ 0", o.batch, o.n, o.warmup)
	case o.tokens == 1 || o.tokens < 0:
		return o, fmt.Errorf("-tokens %d: want 0 (captions) or at least 2 (SOT and EOT)", o.tokens)
	}
	return o, nil
}

func run(args []string, w io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	m, err := loadModel(o, w)
	if err != nil {
		return err
	}
	cfg := m.Config()
	step, err := workload(o, m)
	if err != nil {
		return err
	}
	for range o.warmup {
		if err := step(); err != nil {
			return err
		}
	}
	rates := make([]float64, 0, o.n)
	for range o.n {
		start := time.Now()
		if err := step(); err != nil {
			return err
		}
		d := time.Since(start)
		rate := float64(o.batch) / d.Seconds()
		rates = append(rates, rate)
		fmt.Fprintf(w, "BENCH model=%s tower=%s batch=%d per_s=%.2f ms_per_batch=%.1f\n",
			cfg.Name, o.tower, o.batch, rate, float64(d.Microseconds())/1000)
	}
	slices.Sort(rates)
	fmt.Fprintf(w, "SUMMARY model=%s tower=%s batch=%d runs=%d per_s_median=%.2f per_s_best=%.2f\n",
		cfg.Name, o.tower, o.batch, o.n, rates[len(rates)/2], rates[len(rates)-1])
	if kb, err := peakRSSKiB(); err == nil {
		fmt.Fprintf(w, "MEM peak_rss_mb=%.1f\n", float64(kb)/1024)
	}
	return nil
}

// peakRSSKiB reads the process's peak resident set size (VmHWM, Linux).
func peakRSSKiB() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// loadModel builds a random model of a preset or loads a checkpoint.
func loadModel(o options, w io.Writer) (*clip.Model, error) {
	if o.random {
		cfg, err := clip.Preset(o.model)
		if err != nil {
			return nil, fmt.Errorf("-random: %w", err)
		}
		return clip.NewRandom(cfg, 1), nil
	}
	if _, err := os.Stat(o.model); err != nil {
		if _, perr := clip.Preset(o.model); perr == nil {
			return nil, fmt.Errorf("-model %q is a preset name, not a file: add -random for random weights", o.model)
		}
		return nil, fmt.Errorf("-model: %w", err)
	}
	start := time.Now()
	m, err := clip.Load(o.model)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "LOAD model=%s path=%s seconds=%.3f\n", m.Config().Name, o.model, time.Since(start).Seconds())
	return m, nil
}

// workload returns one batch's encoding as a closure over fixed inputs.
func workload(o options, m *clip.Model) (func() error, error) {
	cfg := m.Config()
	rng := rand.New(rand.NewPCG(1, 2))
	if o.tower == "image" {
		r := cfg.Vision.ImageSize
		pix := make([]float32, o.batch*3*r*r)
		for i := range pix {
			pix[i] = float32(rng.NormFloat64())
		}
		return func() error {
			_, err := m.EncodeImage(pix, o.batch)
			return err
		}, nil
	}
	rows, err := captions(o, cfg.Text, rng)
	if err != nil {
		return nil, err
	}
	return func() error {
		_, err := m.EncodeText(rows)
		return err
	}, nil
}

// captions makes token rows: SOT, random word ids, EOT, zero padding.
func captions(o options, t clip.TextConfig, rng *rand.Rand) ([][]int32, error) {
	ctx, vocab := t.ContextLength, t.VocabSize
	if o.tokens > ctx {
		return nil, fmt.Errorf("-tokens %d exceeds the context length %d", o.tokens, ctx)
	}
	if vocab < 3 {
		return nil, fmt.Errorf("vocabulary of %d ids is too small for SOT, EOT and words", vocab)
	}
	sot, eot := int32(vocab-2), int32(vocab-1)
	rows := make([][]int32, o.batch)
	for i := range rows {
		n := o.tokens
		if n == 0 {
			n = min(5+7*i%16, ctx)
		}
		r := make([]int32, ctx)
		r[0] = sot
		for j := 1; j < n-1; j++ {
			r[j] = int32(rng.IntN(vocab - 2))
		}
		r[n-1] = eot
		rows[i] = r
	}
	return rows, nil
}
