// Package clip implements OpenAI's CLIP (Contrastive Language-Image
// Pre-training) in pure Go: the byte-level BPE tokenizer, the image
// preprocessing that reproduces PIL/torchvision exactly, and the image and
// text towers built on Gorgonia graphs.
package clip
