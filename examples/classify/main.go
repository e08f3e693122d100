// Command classify prints the top ImageNet classes of images with a
// torchvision VGG or ResNet checkpoint.
//
//	go run ./examples/classify -model resnet50-0676ba61.pth -image cat.jpg [-image …] [-k 5] [-resize 256] [-crop 224] [-json]
//
// The architecture (VGG11/13/16/19 with or without BatchNorm, ResNet-18 …
// 152, wide ResNets) is detected from the tensors; .pth files in the zip or
// legacy format and safetensors are read. Images (PNG, JPEG, GIF, WebP) go
// through torchvision's evaluation transform: bilinear resize of the shorter
// side to -resize, center crop -crop, ImageNet mean/std. Use -resize 232 for
// torchvision's V2 ResNet weights.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gorgonia.org/tensor"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/imagenet"
	"github.com/goclip/goclip/resnet"
	"github.com/goclip/goclip/vgg"
	"github.com/goclip/goclip/weights"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "classify:", err)
		}
		os.Exit(1)
	}
}

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// classifier is what both model packages offer.
type classifier interface {
	Logits(pixels []float32, n int) (*tensor.Dense, error)
}

type result struct {
	Image       string                `json:"image"`
	Predictions []imagenet.Prediction `json:"predictions"`
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	modelPath := fs.String("model", "", "torchvision VGG or ResNet checkpoint (.pth or .safetensors)")
	var images listFlag
	fs.Var(&images, "image", "image file (PNG, JPEG, GIF, WebP); repeatable")
	k := fs.Int("k", 5, "number of classes to print per image")
	resize := fs.Int("resize", imagenet.ResizeSize, "shorter side after the bilinear resize")
	crop := fs.Int("crop", imagenet.CropSize, "center crop side")
	asJSON := fs.Bool("json", false, "print JSON lines, one object per image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q (images go in -image)", fs.Arg(0))
	case *modelPath == "":
		return fmt.Errorf("-model is required")
	case len(images) == 0:
		return fmt.Errorf("at least one -image is required")
	case *k < 1:
		return fmt.Errorf("-k %d: want k >= 1", *k)
	}
	model, name, err := load(*modelPath)
	if err != nil {
		return err
	}
	opts := clip.PreprocessOptions{Size: *resize, Crop: *crop, Mean: imagenet.Mean, Std: imagenet.Std, Resample: clip.Bilinear}
	for _, path := range images {
		img, err := clip.DecodeImage(path)
		if err != nil {
			return err
		}
		pix, err := clip.PreprocessWith(img, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		logits, err := model.Logits(pix, 1)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		preds, err := imagenet.TopK(logits.Data().([]float32), *k)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if *asJSON {
			if err := json.NewEncoder(stdout).Encode(result{Image: path, Predictions: preds}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "%s (%s):\n", path, name)
		for _, p := range preds {
			label := p.Label
			if label == "" {
				label = fmt.Sprintf("class %d", p.Index)
			}
			fmt.Fprintf(stdout, "  %6.2f%%  %4d  %s\n", 100*p.Prob, p.Index, label)
		}
	}
	return nil
}

// load detects the architecture from the tensor names and builds the model.
func load(path string) (classifier, string, error) {
	f, err := weights.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	isVGG, isResNet := false, false
	for _, n := range f.Names() {
		isVGG = isVGG || strings.HasSuffix(n, "features.0.weight")
		isResNet = isResNet || strings.HasSuffix(n, "layer1.0.conv1.weight")
	}
	switch {
	case isVGG:
		cfg, err := vgg.ConfigFromWeights(f)
		if err != nil {
			return nil, "", err
		}
		if !cfg.HasClassifier() {
			return nil, "", fmt.Errorf("%s: %s has no classifier (feature-only weights)", path, cfg.Name)
		}
		m, err := vgg.New(cfg, f)
		return m, cfg.Name, err
	case isResNet:
		cfg, err := resnet.ConfigFromWeights(f)
		if err != nil {
			return nil, "", err
		}
		if cfg.NumClasses == 0 {
			return nil, "", fmt.Errorf("%s: %s has no fc layer", path, cfg.Name)
		}
		m, err := resnet.New(cfg, f)
		return m, cfg.Name, err
	}
	return nil, "", fmt.Errorf("%s: neither a torchvision VGG (features.0.weight) nor a ResNet (layer1.0.conv1.weight) checkpoint", path)
}
