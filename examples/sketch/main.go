// Command sketch turns an image into an abstract sketch of black Bézier
// strokes with CLIPasso (package tasks/clipasso).
//
//	go run ./examples/sketch -image IN -strokes 16 -iters 2001 -clip-rn RN101.pt -clip-vit ViT-B-32.pt -out DIR
//
// With -clip-rn the loss is CLIPasso's: L2 of the CLIP ResNet's layer2 and
// layer3 maps plus 0.1 × (1 − cos) of its embeddings, over the clean pair
// and 4 augmented pairs. -clip-vit gives the ViT whose attention places the
// first strokes (and the optional semantic loss, -semantic / -text).
// Without model flags the program runs on clip.Default(), goclip's tiny
// embedded CLIP (a 32×32 ViT trained on synthetic shapes): it places the
// strokes and drives a ViT semantic loss. That is for trying the program,
// not for good sketches; use RN101 and ViT-B/32 weights for those.
//
// The output folder gets best.svg, best.png, final.svg, init.svg,
// relevancy.png, saliency.png, loss.csv and svg_logs/ png_logs/ every
// -save-every steps; with several -seeds, one sub-folder per seed and the
// winner copied to best.svg at the top.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn/raster"
	"github.com/goclip/goclip/tasks/clipasso"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sketch:", err)
		}
		os.Exit(1)
	}
}

func parseFloats(s string, n int) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, fmt.Errorf("%q: want %d comma-separated numbers", s, n)
	}
	out := make([]float64, n)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out[i] = v
	}
	return out, nil
}

func parseSeeds(s string) ([]int64, error) {
	var out []int64
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-seeds %q: %w", s, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// bar prints a one-line progress bar with the loss and iterations/s.
func bar(w io.Writer) clipasso.Progress {
	return func(it, total int, loss, ips float64) {
		const width = 30
		done := width * it / max(total, 1)
		fmt.Fprintf(w, "\r[%s%s] %d/%d loss %.5f %.2f it/s", strings.Repeat("#", done), strings.Repeat(".", width-done), it, total, loss, ips)
		if it == total {
			fmt.Fprintln(w)
		}
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	def := clipasso.Default()
	fs := flag.NewFlagSet("sketch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	image := fs.String("image", "", "target image (PNG, JPEG, GIF, WebP); RGBA is composited over white")
	outDir := fs.String("out", "sketch_out", "output folder")
	rnPath := fs.String("clip-rn", "", "CLIP ResNet weights for the geometric loss (RN101 in CLIPasso); empty: no geometric loss")
	vitPath := fs.String("clip-vit", "", "CLIP ViT weights for stroke placement and the semantic loss (ViT-B/32 in CLIPasso); empty: clip.Default(), goclip's tiny embedded model")
	strokes := fs.Int("strokes", def.Strokes, "strokes per stage")
	iters := fs.Int("iters", def.Iterations, "iterations per stage")
	width := fs.Float64("width", def.Width, "stroke radius in pixels (the SVG stroke-width is twice this)")
	lr := fs.Float64("lr", def.LR, "Adam learning rate on the control points")
	aug := fs.Int("aug", def.Augmentations, "augmented pairs per step (plus the clean pair)")
	evalEvery := fs.Int("eval-every", def.EvalEvery, "evaluate without augmentation every N steps")
	saveEvery := fs.Int("save-every", def.SaveEvery, "write svg_logs/png_logs every N steps (0: never)")
	stages := fs.Int("stages", def.Stages, "num_stages: each stage adds -strokes strokes and freezes the earlier ones")
	layers := fs.String("layer-weights", "0,0,1,1,0", "geometric loss weights of stem,layer1,layer2,layer3,layer4")
	fcWeight := fs.Float64("fc-weight", def.FCWeight, "weight of 1 − cos of the CLIP ResNet embeddings")
	dist := fs.String("distance", "L2", "geometric distance: L2, L1 or Cos")
	semantic := fs.Float64("semantic", 0, "weight of the ViT semantic loss (1 − cos to the target's or -text's embedding); default 1 when no -clip-rn")
	text := fs.String("text", "", "caption whose ViT text embedding is the semantic target (instead of the image)")
	seeds := fs.String("seeds", "0", "comma-separated seeds run concurrently; the lowest loss wins (CLIPasso: 0,1000,2000)")
	opacity := fs.Bool("opacity", false, "also optimise stroke opacity (CLIPasso's force_sparse)")
	optWidth := fs.Bool("optimize-width", false, "also optimise stroke widths")
	noXDoG := fs.Bool("no-xdog", false, "place strokes by relevancy alone, without the XDoG edge intersection")
	fixScale := fs.Bool("fix-scale", false, "pad the image to a white square first (for non-square images)")
	maskPath := fs.String("mask", "", "object mask image: dark pixels become white background")
	autoMask := fs.Float64("auto-mask", 0, "if > 0, mask the background where CLIP relevancy is below this level (0-1)")
	resume := fs.String("resume", "", "start from the strokes of this SVG (CLIPasso's path_svg)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sketch -image IN [-strokes 16] [-iters 2001] [-clip-rn RN101.pt] [-clip-vit ViT-B-32.pt] [-out DIR]")
		fmt.Fprintln(stderr, "Without -clip-rn and -clip-vit it runs on clip.Default(), goclip's tiny embedded demo CLIP")
		fmt.Fprintln(stderr, "(32×32 ViT trained on synthetic shapes): fine for trying it, not for good sketches.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *image == "" {
		return fmt.Errorf("-image is required")
	}
	cfg := def
	cfg.Strokes, cfg.Iterations, cfg.Width, cfg.LR = *strokes, *iters, *width, *lr
	cfg.Augmentations, cfg.EvalEvery, cfg.SaveEvery, cfg.Stages = *aug, *evalEvery, *saveEvery, *stages
	cfg.FCWeight, cfg.SemanticWeight = *fcWeight, *semantic
	cfg.OptimizeOpacity, cfg.OptimizeWidth = *opacity, *optWidth
	if *noXDoG {
		cfg.XDoG = nil
	}
	lw, err := parseFloats(*layers, 5)
	if err != nil {
		return fmt.Errorf("-layer-weights: %w", err)
	}
	copy(cfg.LayerWeights[:], lw)
	if cfg.Distance, err = clipasso.ParseDistance(*dist); err != nil {
		return err
	}
	seedList, err := parseSeeds(*seeds)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	var models clipasso.Models
	var tok *clip.Tokenizer
	if *rnPath != "" {
		if models.ResNet, err = clip.Load(*rnPath); err != nil {
			return err
		}
		if models.ResNet.ResNet == nil {
			return fmt.Errorf("-clip-rn %s is a %s, not a CLIP ResNet", *rnPath, models.ResNet.Config().Name)
		}
	}
	if *vitPath != "" {
		if models.ViT, err = clip.Load(*vitPath); err != nil {
			return err
		}
		if models.ViT.ViT == nil {
			return fmt.Errorf("-clip-vit %s is a %s, not a CLIP ViT", *vitPath, models.ViT.Config().Name)
		}
		if *text != "" {
			if tok, err = clip.LoadTokenizerFor(*vitPath); err != nil {
				return err
			}
		}
	} else {
		if models.ViT, tok, err = clip.Default(); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "sketch: no -clip-vit: strokes are placed with clip.Default(), goclip's tiny demo CLIP")
	}
	if models.ResNet == nil && cfg.SemanticWeight == 0 {
		cfg.SemanticWeight = 1
		fmt.Fprintln(stderr, "sketch: no -clip-rn: the loss is the ViT semantic loss (weight 1) only")
	}
	if *text != "" {
		ids, err := tok.Tokenize([]string{*text}, models.ViT.Config().Text.ContextLength, true)
		if err != nil {
			return fmt.Errorf("-text: %w", err)
		}
		if models.TextEmbedding, err = models.ViT.EncodeText(ids); err != nil {
			return fmt.Errorf("-text: %w", err)
		}
		if cfg.SemanticWeight == 0 {
			return fmt.Errorf("-text needs -semantic > 0 (the text is the semantic loss's target)")
		}
	}

	img, err := clip.DecodeImage(*image)
	if err != nil {
		return err
	}
	topt := clipasso.TargetOptions{Size: cfg.Size, FixScale: *fixScale}
	if *maskPath != "" {
		if topt.Mask, err = clip.DecodeImage(*maskPath); err != nil {
			return fmt.Errorf("-mask: %w", err)
		}
	}
	target, err := clipasso.PrepareTarget(img, topt)
	if err != nil {
		return err
	}
	if *autoMask > 0 {
		rel, err := clipasso.Relevancy(models.ViT, clipasso.ResizeTo(target, cfg.Size, models.ViT.Config().Vision.ImageSize), cfg.Size)
		if err != nil {
			return err
		}
		topt.Mask = clipasso.SaliencyMask(rel, cfg.Size, *autoMask)
		if target, err = clipasso.PrepareTarget(img, topt); err != nil {
			return err
		}
	}
	var resumeDrawing *raster.Drawing
	if *resume != "" {
		f, err := os.Open(*resume)
		if err != nil {
			return fmt.Errorf("-resume: %w", err)
		}
		resumeDrawing, err = raster.ReadSVG(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("-resume %s: %w", *resume, err)
		}
	}

	if len(seedList) == 1 {
		cfg.Seed = seedList[0]
		out, err := clipasso.NewOutput(*outDir)
		if err != nil {
			return err
		}
		res, err := clipasso.Run(target, models, cfg, clipasso.Options{Resume: resumeDrawing, Progress: bar(stderr), Out: out})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "best loss %.6f at iteration %d of %d; wrote %s\n", res.BestLoss, res.BestIter, res.Iters, filepath.Join(*outDir, "best.svg"))
		return nil
	}
	if resumeDrawing != nil {
		return fmt.Errorf("-resume works with one seed")
	}
	results, best, err := clipasso.RunSeeds(target, models, cfg, seedList, func(seed int64) (*clipasso.Output, error) {
		return clipasso.NewOutput(filepath.Join(*outDir, fmt.Sprintf("seed%d", seed)))
	}, bar(stderr))
	if err != nil {
		return err
	}
	for _, r := range results {
		fmt.Fprintf(stdout, "seed %d: best loss %.6f at iteration %d\n", r.Seed, r.BestLoss, r.BestIter)
	}
	b := results[best]
	dst := filepath.Join(*outDir, fmt.Sprintf("best_%dstrokes_seed%d.svg", cfg.Strokes, b.Seed))
	if err := clipasso.WriteDrawing(dst, b.Best); err != nil {
		return err
	}
	if err := clipasso.WriteDrawing(filepath.Join(*outDir, "best.svg"), b.Best); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "best: seed %d (loss %.6f); wrote %s\n", b.Seed, b.BestLoss, dst)
	return nil
}
