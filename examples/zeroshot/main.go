// Command zeroshot classifies an image among free-text labels with CLIP.
//
//	go run ./examples/zeroshot [-model PATH] -image FILE -labels "a diagram,a dog,a cat" [-templates imagenet] [-vocab FILE] [-top K]
//
// Without -model it uses goclip's embedded default model (clip.Default), a
// tiny CLIP trained on synthetic coloured shapes: try
// -labels "a red shape,a blue shape" or "a circle,a star,a cross".
//
// It prints the labels ranked by probability (softmax of logit_scale ×
// cosine similarity). -templates imagenet ensembles OpenAI's 80 ImageNet
// prompt templates per label; a value containing "{}" is a '|'-separated
// list of custom templates; without it the labels are the prompts. -image
// may also be a .npy (3,R,R)/(N,3,R,R) array of normalized pixels.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/goclip/goclip/clip"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "zeroshot:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("zeroshot", flag.ContinueOnError)
	modelPath := fs.String("model", "", "checkpoint: OpenAI .pt, open_clip .bin/.pt, safetensors or Hugging Face directory (default: the embedded clip.Default model)")
	imagePath := fs.String("image", "", "image file (PNG/JPEG/GIF/WebP) or .npy pixels")
	labels := fs.String("labels", "", "comma-separated class labels")
	templates := fs.String("templates", "", `"imagenet" (OpenAI's 80 templates) or '|'-separated templates with {} for the label`)
	vocabPath := fs.String("vocab", "", "tokenizer vocabulary; default: beside the model")
	top := fs.Int("top", 0, "print only the best K labels (0: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *imagePath == "" || *labels == "" {
		return fmt.Errorf("need -image and -labels")
	}
	var classes []string
	for _, l := range strings.Split(*labels, ",") {
		if l = strings.TrimSpace(l); l != "" {
			classes = append(classes, l)
		}
	}
	if len(classes) == 0 {
		return fmt.Errorf("-labels %q has no labels", *labels)
	}
	var tpls []string
	switch {
	case *templates == "":
	case *templates == "imagenet":
		tpls = clip.ImageNetTemplates
	case strings.Contains(*templates, "{}"):
		tpls = strings.Split(*templates, "|")
	default:
		return fmt.Errorf(`-templates %q: want "imagenet" or templates containing {}`, *templates)
	}
	var m *clip.Model
	var tok *clip.Tokenizer
	var err error
	if *modelPath == "" {
		m, tok, err = clip.Default()
	} else {
		m, err = clip.Load(*modelPath)
	}
	if err != nil {
		return err
	}
	switch {
	case tok != nil && *vocabPath == "":
	case *vocabPath == "":
		tok, err = clip.LoadTokenizerFor(*modelPath)
	case strings.HasSuffix(*vocabPath, ".json"):
		tok, err = clip.LoadTokenizerHF(*vocabPath, filepath.Join(filepath.Dir(*vocabPath), "merges.txt"))
	default:
		tok, err = clip.LoadTokenizer(*vocabPath)
	}
	if err != nil {
		return err
	}
	r := m.Config().Vision.ImageSize
	var pixels []float32
	n := 1
	if strings.EqualFold(filepath.Ext(*imagePath), ".npy") {
		if pixels, n, err = clip.ReadImageNPY(*imagePath, r); err != nil {
			return err
		}
	} else {
		img, err := clip.DecodeImage(*imagePath)
		if err != nil {
			return err
		}
		if pixels, err = clip.Preprocess(img, r); err != nil {
			return err
		}
	}
	zs, err := clip.NewZeroShotClassifier(m, tok, classes, tpls)
	if err != nil {
		return err
	}
	emb, err := m.EncodeImage(pixels, n)
	if err != nil {
		return err
	}
	dim := m.Config().EmbedDim
	for i := range n {
		if n > 1 {
			fmt.Fprintf(stdout, "%s[%d]\n", *imagePath, i)
		}
		preds, err := zs.Classify(emb[i*dim:(i+1)*dim], *top)
		if err != nil {
			return err
		}
		for _, p := range preds {
			fmt.Fprintf(stdout, "%8.4f%%  %s\n", 100*p.Prob, p.Label)
		}
	}
	return nil
}
