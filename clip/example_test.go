package clip_test

import (
	"fmt"

	"github.com/goclip/goclip/clip"
)

// Example loads a checkpoint (here the tiny random-weight TorchScript
// fixture; OpenAI's ViT-B-32.pt loads the same way), embeds two images given
// as normalized pixels and three token rows, and prints the probabilities
// of each text for each image (PyTorch gives 0.449 0.007 0.544 and
// 0.732 0.003 0.265 for these inputs; see testdata/load/gen.py).
func Example() {
	m, err := clip.Load("testdata/load/vit_jit.pt")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := m.Config()
	fmt.Printf("%s %dpx, patch %d, embed %d\n", cfg.Vision.Kind, cfg.Vision.ImageSize, cfg.Vision.PatchSize, cfg.EmbedDim)

	pixels, n, err := clip.ReadImageNPY("testdata/load/vit_images.npy", cfg.Vision.ImageSize)
	if err != nil {
		fmt.Println(err)
		return
	}
	img, err := m.EncodeImage(pixels, n)
	if err != nil {
		fmt.Println(err)
		return
	}
	// With a real model: tok, _ := clip.LoadTokenizer("bpe_simple_vocab_16e6.txt.gz")
	// and rows, _ := tok.Tokenize(texts, cfg.Text.ContextLength, false).
	// The fixture's vocabulary has 64 ids; 62 and 63 play SOT and EOT.
	rows := [][]int32{
		{62, 5, 17, 63, 0, 0, 0, 0},
		{62, 9, 9, 40, 9, 30, 11, 63},
		{62, 63, 0, 0, 0, 0, 0, 0},
	}
	txt, err := m.EncodeText(rows)
	if err != nil {
		fmt.Println(err)
		return
	}
	z, err := clip.NewZeroShotClassifierFromEmbeddings([]string{"first", "second", "third"},
		[][]float32{txt[:cfg.EmbedDim], txt[cfg.EmbedDim : 2*cfg.EmbedDim], txt[2*cfg.EmbedDim:]}, cfg.EmbedDim, m.LogitScale())
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range n {
		preds, _ := z.Classify(img[i*cfg.EmbedDim:(i+1)*cfg.EmbedDim], 0)
		fmt.Printf("image %d:", i)
		for _, p := range preds {
			fmt.Printf(" %s %.3f", p.Label, p.Prob)
		}
		fmt.Println()
	}
	// Output:
	// vit 30px, patch 6, embed 32
	// image 0: third 0.544 first 0.449 second 0.007
	// image 1: first 0.732 third 0.265 second 0.003
}
