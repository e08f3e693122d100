package clip

import (
	"fmt"
	"sort"
	"strings"

	"github.com/goclip/goclip/nn"
)

// ImageNetTemplates are the 80 prompt templates of OpenAI's ImageNet
// zero-shot evaluation (notebooks/Prompt_Engineering_for_ImageNet.ipynb);
// "{}" stands for the class name.
var ImageNetTemplates = []string{
	"a bad photo of a {}.",
	"a photo of many {}.",
	"a sculpture of a {}.",
	"a photo of the hard to see {}.",
	"a low resolution photo of the {}.",
	"a rendering of a {}.",
	"graffiti of a {}.",
	"a bad photo of the {}.",
	"a cropped photo of the {}.",
	"a tattoo of a {}.",
	"the embroidered {}.",
	"a photo of a hard to see {}.",
	"a bright photo of a {}.",
	"a photo of a clean {}.",
	"a photo of a dirty {}.",
	"a dark photo of the {}.",
	"a drawing of a {}.",
	"a photo of my {}.",
	"the plastic {}.",
	"a photo of the cool {}.",
	"a close-up photo of a {}.",
	"a black and white photo of the {}.",
	"a painting of the {}.",
	"a painting of a {}.",
	"a pixelated photo of the {}.",
	"a sculpture of the {}.",
	"a bright photo of the {}.",
	"a cropped photo of a {}.",
	"a plastic {}.",
	"a photo of the dirty {}.",
	"a jpeg corrupted photo of a {}.",
	"a blurry photo of the {}.",
	"a photo of the {}.",
	"a good photo of the {}.",
	"a rendering of the {}.",
	"a {} in a video game.",
	"a photo of one {}.",
	"a doodle of a {}.",
	"a close-up photo of the {}.",
	"a photo of a {}.",
	"the origami {}.",
	"the {} in a video game.",
	"a sketch of a {}.",
	"a doodle of the {}.",
	"a origami {}.",
	"a low resolution photo of a {}.",
	"the toy {}.",
	"a rendition of the {}.",
	"a photo of the clean {}.",
	"a photo of a large {}.",
	"a rendition of a {}.",
	"a photo of a nice {}.",
	"a photo of a weird {}.",
	"a blurry photo of a {}.",
	"a cartoon {}.",
	"art of a {}.",
	"a sketch of the {}.",
	"a embroidered {}.",
	"a pixelated photo of a {}.",
	"itap of the {}.",
	"a jpeg corrupted photo of the {}.",
	"a good photo of a {}.",
	"a plushie {}.",
	"a photo of the nice {}.",
	"a photo of the small {}.",
	"a photo of the weird {}.",
	"the cartoon {}.",
	"art of the {}.",
	"a drawing of the {}.",
	"a photo of the large {}.",
	"a black and white photo of a {}.",
	"the plushie {}.",
	"a dark photo of a {}.",
	"itap of a {}.",
	"graffiti of the {}.",
	"a toy {}.",
	"itap of my {}.",
	"a photo of a cool {}.",
	"a photo of a small {}.",
	"a tattoo of the {}.",
}

// ZeroShotClassifier scores image embeddings against class embeddings built
// from class names and prompt templates, as in OpenAI's prompt ensembling.
type ZeroShotClassifier struct {
	Labels  []string
	Dim     int
	Scale   float32   // logit scale, exp(logit_scale) of the model (100 for OpenAI's weights)
	Weights []float32 // (len(Labels), Dim): unit-norm class embeddings
}

// Prediction is one ranked class.
type Prediction struct {
	Label string
	Index int     // position in Labels
	Logit float32 // Scale · cosine similarity
	Prob  float32 // softmax over all classes
}

// Fill substitutes a class name into a template ("{}" → class); a template
// without "{}" is used as a prefix: template + " " + class.
func Fill(template, class string) string {
	if strings.Contains(template, "{}") {
		return strings.ReplaceAll(template, "{}", class)
	}
	return strings.TrimSpace(template + " " + class)
}

// NewZeroShotClassifier embeds every class × template prompt with m and tok,
// L2-normalizes each embedding, averages them per class and renormalizes
// the mean. With no templates the class names are used as they are.
// Prompts too long for the model's context are an error.
func NewZeroShotClassifier(m *Model, tok *Tokenizer, classes []string, templates []string) (*ZeroShotClassifier, error) {
	if m == nil {
		return nil, fmt.Errorf("clip: zero-shot: nil model")
	}
	if tok == nil {
		return nil, fmt.Errorf("clip: zero-shot: nil tokenizer")
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("clip: zero-shot: no classes")
	}
	if len(templates) == 0 {
		templates = []string{"{}"}
	}
	cfg := m.Config()
	perClass := make([][]float32, len(classes))
	for c, class := range classes {
		prompts := make([]string, len(templates))
		for i, t := range templates {
			prompts[i] = Fill(t, class)
		}
		emb, err := encodeTexts(m, tok, prompts, cfg.Text.ContextLength)
		if err != nil {
			return nil, fmt.Errorf("clip: zero-shot: class %.60q: %w", class, err)
		}
		perClass[c] = emb
	}
	return NewZeroShotClassifierFromEmbeddings(classes, perClass, cfg.EmbedDim, m.LogitScale())
}

// encodeTexts tokenizes and embeds prompts in batches.
func encodeTexts(m *Model, tok *Tokenizer, prompts []string, ctx int) ([]float32, error) {
	const batch = 64
	var out []float32
	for i := 0; i < len(prompts); i += batch {
		j := min(i+batch, len(prompts))
		rows, err := tok.Tokenize(prompts[i:j], ctx, false)
		if err != nil {
			return nil, err
		}
		emb, err := m.EncodeText(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, emb...)
	}
	return out, nil
}

// NewZeroShotClassifierFromEmbeddings builds a classifier from raw text
// embeddings: perClass[c] holds one or more rows of dim values (one per
// template) for labels[c]; each row is normalized, the rows averaged and
// the mean renormalized.
func NewZeroShotClassifierFromEmbeddings(labels []string, perClass [][]float32, dim int, scale float32) (*ZeroShotClassifier, error) {
	if dim < 1 {
		return nil, fmt.Errorf("clip: zero-shot: embedding dim %d", dim)
	}
	if len(labels) == 0 || len(labels) != len(perClass) {
		return nil, fmt.Errorf("clip: zero-shot: %d labels for %d classes of embeddings", len(labels), len(perClass))
	}
	w := make([]float32, len(labels)*dim)
	for c, e := range perClass {
		if len(e) == 0 || len(e)%dim != 0 {
			return nil, fmt.Errorf("clip: zero-shot: class %q: %d values is not a whole number of %d-dim embeddings", labels[c], len(e), dim)
		}
		mean := make([]float32, dim)
		n := Normalize(e, dim)
		rows := len(n) / dim
		for r := range rows {
			for k := range dim {
				mean[k] += n[r*dim+k] / float32(rows)
			}
		}
		copy(w[c*dim:], Normalize(mean, dim))
	}
	return &ZeroShotClassifier{Labels: append([]string(nil), labels...), Dim: dim, Scale: scale, Weights: w}, nil
}

// Probs returns the softmax over classes of Scale · cos(image, class) for
// one raw image embedding.
func (z *ZeroShotClassifier) Probs(imageEmb []float32) ([]float32, error) {
	logits, err := z.logits(imageEmb)
	if err != nil {
		return nil, err
	}
	return nn.SoftmaxSlice(logits), nil
}

func (z *ZeroShotClassifier) logits(imageEmb []float32) ([]float32, error) {
	if len(imageEmb) != z.Dim {
		return nil, fmt.Errorf("clip: zero-shot: image embedding has %d values, want %d", len(imageEmb), z.Dim)
	}
	return Logits(imageEmb, z.Weights, z.Dim, z.Scale), nil
}

// Classify ranks the classes for one raw image embedding and returns the
// best k (all when k <= 0 or k > the number of classes), most probable first.
func (z *ZeroShotClassifier) Classify(imageEmb []float32, k int) ([]Prediction, error) {
	logits, err := z.logits(imageEmb)
	if err != nil {
		return nil, err
	}
	probs := nn.SoftmaxSlice(logits)
	preds := make([]Prediction, len(probs))
	for i := range probs {
		preds[i] = Prediction{Label: z.Labels[i], Index: i, Logit: logits[i], Prob: probs[i]}
	}
	sort.SliceStable(preds, func(a, b int) bool { return preds[a].Logit > preds[b].Logit })
	if k > 0 && k < len(preds) {
		preds = preds[:k]
	}
	return preds, nil
}
