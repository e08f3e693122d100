package clip

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
)

// LoadOption configures Load.
type LoadOption func(*loadOptions)

type loadOptions struct {
	activation  *nn.Activation
	config      *Config
	checkOpenAI bool
	sha256      string
}

// WithActivation sets the MLP activation, which checkpoints do not record:
// nn.GELUAct for open_clip models trained without "-quickgelu" (e.g. the
// LAION ViT-B-32 weights). OpenAI's weights use the default, QuickGELU.
func WithActivation(a nn.Activation) LoadOption {
	return func(o *loadOptions) { o.activation = &a }
}

// WithConfig uses cfg instead of inferring the architecture from the
// weights (or from a Hugging Face config.json).
func WithConfig(cfg Config) LoadOption {
	return func(o *loadOptions) { o.config = &cfg }
}

// WithSHA256Check verifies the file against OpenAI's published sha256 (see
// OpenAIFiles) before loading it; the error names the expected and actual hash.
func WithSHA256Check() LoadOption {
	return func(o *loadOptions) { o.checkOpenAI = true }
}

// WithSHA256 verifies the weights file against an expected sha256 (hex).
func WithSHA256(hex string) LoadOption {
	return func(o *loadOptions) { o.sha256 = hex }
}

// hfWeightFiles are the weight files of a model directory, in order of preference.
var hfWeightFiles = []string{"model.safetensors", "open_clip_model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"}

// Load reads a CLIP checkpoint in any of the formats users have:
//   - OpenAI's TorchScript .pt files (ViT-B-32.pt, RN50.pt, …; the JIT
//     scalars input_resolution, context_length and vocab_size are ignored);
//   - torch.save state dicts such as open_clip's .bin/.pt files, zip or
//     legacy format, optionally wrapped in {'state_dict': …} and prefixed
//     with "module.";
//   - safetensors files with OpenAI/open_clip or Hugging Face names;
//   - Hugging Face model directories (model.safetensors or
//     pytorch_model.bin, plus config.json).
//
// Hugging Face names are mapped to OpenAI's (q/k/v concatenated into
// in_proj, projections transposed, position_ids ignored). The architecture
// comes from WithConfig, else the directory's config.json, else the tensor
// shapes (as OpenAI's build_model). Loading is strict: the error names every
// missing, unused or mis-shaped tensor.
//
// Float32 tensors of safetensors and uncompressed torch files are not
// copied: the parameters alias the file's copy-on-write memory mapping
// (writes, e.g. by fine-tuning, stay private to the process), which stays
// mapped as long as any parameter value (nn.Param.Value) is reachable.
// Slices taken from a parameter must not outlive all of the parameters.
func Load(path string, opts ...LoadOption) (*Model, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	file, hfConfigPath, err := resolveModelPath(path)
	if err != nil {
		return nil, err
	}
	if o.checkOpenAI {
		if err := VerifyOpenAIFile(file); err != nil {
			return nil, fmt.Errorf("clip: load: %w", err)
		}
	}
	if o.sha256 != "" {
		if err := verifySHA256(file, o.sha256); err != nil {
			return nil, fmt.Errorf("clip: load: %w", err)
		}
	}
	f, err := weights.Open(file)
	if err != nil {
		return nil, fmt.Errorf("clip: load: %w", err)
	}
	defer f.Close()
	src := stripModulePrefix(f)
	hf := IsHFNames(src)
	if hf {
		src = FromHF(src)
	}
	var cfg Config
	switch {
	case o.config != nil:
		cfg = *o.config
	case hf && hfConfigPath != "":
		if cfg, err = ConfigFromHF(hfConfigPath); err != nil {
			return nil, fmt.Errorf("clip: load %s: %w", path, err)
		}
	default:
		if !hf && !looksLikeCLIP(src) {
			return nil, fmt.Errorf("clip: load %s: not a CLIP checkpoint: none of the tensors of OpenAI/open_clip (visual.*, transformer.*, token_embedding.weight) or Hugging Face CLIPModel (vision_model.*, text_model.*) names; found %s", path, sampleNames(src.Names(), 5))
		}
		if cfg, err = ConfigFromWeights(src); err != nil {
			return nil, fmt.Errorf("clip: load %s: %w", path, err)
		}
	}
	if o.activation != nil {
		cfg.Activation = *o.activation
	}
	m, err := newModel(cfg, src, true) // the file is private to m: alias it
	if h, ok := src.(*hfSource); ok && h.Err() != nil {
		if err != nil {
			return nil, fmt.Errorf("clip: load %s: %w\n  (Hugging Face name mapping: %v)", path, err, h.Err())
		}
		return nil, fmt.Errorf("clip: load %s: %w", path, h.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("clip: load %s: %w", path, err)
	}
	return m, nil
}

// resolveModelPath returns the weights file of path (a file, or a model
// directory) and the directory's config.json ("" if none).
func resolveModelPath(path string) (file, config string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("clip: load: %w", err)
	}
	if !st.IsDir() {
		c := filepath.Join(filepath.Dir(path), "config.json")
		if !isFile(c) {
			c = ""
		}
		return path, c, nil
	}
	for _, n := range hfWeightFiles {
		if p := filepath.Join(path, n); isFile(p) {
			c := filepath.Join(path, "config.json")
			if !isFile(c) {
				c = ""
			}
			return p, c, nil
		}
	}
	return "", "", fmt.Errorf("clip: load %s: directory has none of %s", path, strings.Join(hfWeightFiles, ", "))
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// looksLikeCLIP reports whether src has the names of an OpenAI/open_clip CLIP.
func looksLikeCLIP(src weights.Source) bool {
	_, tok := src.Tensor("token_embedding.weight")
	_, conv := src.Tensor("visual.conv1.weight")
	return tok || conv
}

func sampleNames(names []string, n int) string {
	if len(names) == 0 {
		return "no tensors"
	}
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", … (%d tensors)", len(names))
}

// stripModulePrefix hides a "module." prefix (DDP) carried by every name.
func stripModulePrefix(src weights.Source) weights.Source {
	names := src.Names()
	if len(names) == 0 {
		return src
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "module.") {
			return src
		}
	}
	return weights.Sub(src, "module.")
}

// VocabURL is where OpenAI's tokenizer vocabulary can be downloaded.
const VocabURL = "https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz"

// VocabFile is the file name of OpenAI's tokenizer vocabulary.
const VocabFile = "bpe_simple_vocab_16e6.txt.gz"

// LoadTokenizerFor loads the tokenizer that belongs beside a model: in a
// model directory (or the directory of a model file) vocab.json +
// merges.txt (Hugging Face) or bpe_simple_vocab_16e6.txt.gz. If neither is
// there, the error says where to get the vocabulary.
func LoadTokenizerFor(modelPath string) (*Tokenizer, error) {
	dir := modelPath
	if st, err := os.Stat(modelPath); err != nil {
		return nil, fmt.Errorf("clip: tokenizer for %s: %w", modelPath, err)
	} else if !st.IsDir() {
		dir = filepath.Dir(modelPath)
	}
	vocab, merges := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	if isFile(vocab) && isFile(merges) {
		return LoadTokenizerHF(vocab, merges)
	}
	if p := filepath.Join(dir, VocabFile); isFile(p) {
		return LoadTokenizer(p)
	}
	return nil, fmt.Errorf("clip: tokenizer for %s: %w", modelPath, ErrNoVocab)
}

// ErrNoVocab reports that no tokenizer vocabulary was found beside a model.
var ErrNoVocab = errors.New("no tokenizer vocabulary found beside the model (neither vocab.json + merges.txt nor " + VocabFile + "); download " + VocabFile + " from " + VocabURL + " and pass it explicitly (e.g. -vocab), or use the vocab.json and merges.txt of the model's Hugging Face repository")
