package train

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/optim"
	"github.com/goclip/goclip/weights"
)

// A checkpoint is one safetensors file: every model parameter under its own
// name (so the file also loads as model weights), the optimizer state under
// "optim.<kind>.<parameter>" (F32, flat), and the JSON metadata below under
// the key MetadataKey.

// MetadataKey is the safetensors metadata key holding the checkpoint's JSON.
const MetadataKey = "goclip.train"

// optimPrefix prefixes optimizer state tensors.
const optimPrefix = "optim."

// Meta is the JSON metadata of a checkpoint.
type Meta struct {
	Format    int               `json:"format"` // 1
	Step      int               `json:"step"`
	Optimizer string            `json:"optimizer"` // "adamw", "sgd" or "" (no state)
	OptSteps  int               `json:"optimizer_steps"`
	RNG       string            `json:"rng,omitempty"` // base64 of the PCG state
	Extra     map[string]string `json:"extra,omitempty"`
}

func optimizerKind(o optim.Optimizer) string {
	switch o.(type) {
	case *optim.AdamW:
		return "adamw"
	case *optim.SGD:
		return "sgd"
	case nil:
		return ""
	}
	return fmt.Sprintf("%T", o)
}

// Save writes params, the optimizer's state (opt may be nil), the step and
// the RNG state (rng may be nil) to path. extra is stored in the metadata.
func Save(path string, params []*nn.Param, opt optim.Optimizer, step int, rng *rand.PCG, extra map[string]string) error {
	mem := weights.NewMemory()
	seen := map[string]bool{}
	for _, p := range params {
		if p == nil || p.Value == nil {
			return fmt.Errorf("train: save %s: nil parameter", path)
		}
		if seen[p.Name] {
			return fmt.Errorf("train: save %s: two parameters named %q", path, p.Name)
		}
		if strings.HasPrefix(p.Name, optimPrefix) {
			return fmt.Errorf("train: save %s: parameter name %q uses the reserved prefix %q", path, p.Name, optimPrefix)
		}
		seen[p.Name] = true
		mem.Add(weights.NewFloat32(p.Name, []int(p.Value.Shape()), p.Value.Float32s()))
	}
	meta := Meta{Format: 1, Step: step, Optimizer: optimizerKind(opt), Extra: extra}
	if opt != nil {
		st, ok := opt.(optim.Stateful)
		if !ok {
			return fmt.Errorf("train: save %s: optimizer %T cannot export its state", path, opt)
		}
		n, tensors := st.State()
		meta.OptSteps = n
		keys := make([]string, 0, len(tensors))
		for k := range tensors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			mem.Add(weights.NewFloat32(optimPrefix+k, []int{len(tensors[k])}, tensors[k]))
		}
	}
	if rng != nil {
		b, err := rng.MarshalBinary()
		if err != nil {
			return fmt.Errorf("train: save %s: rng: %w", path, err)
		}
		meta.RNG = base64.StdEncoding.EncodeToString(b)
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("train: save %s: %w", path, err)
	}
	if err := weights.WriteSafetensors(path, mem, map[string]string{MetadataKey: string(js)}); err != nil {
		return fmt.Errorf("train: save: %w", err)
	}
	return nil
}

// Load restores what Save wrote into params (matched by name; shapes must
// agree), the optimizer (opt may be nil to skip its state) and rng (may be
// nil). Missing parameters, unexpected tensors, a different optimizer kind
// and malformed metadata are errors naming the problem. It returns the
// metadata.
func Load(path string, params []*nn.Param, opt optim.Optimizer, rng *rand.PCG) (*Meta, error) {
	f, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("train: load: %w", err)
	}
	defer f.Close()
	js, ok := f.Metadata()[MetadataKey]
	if !ok {
		return nil, fmt.Errorf("train: load %s: no %q metadata (not a training checkpoint)", path, MetadataKey)
	}
	var meta Meta
	if err := json.Unmarshal([]byte(js), &meta); err != nil {
		return nil, fmt.Errorf("train: load %s: metadata: %w", path, err)
	}
	if meta.Format != 1 {
		return nil, fmt.Errorf("train: load %s: checkpoint format %d, want 1", path, meta.Format)
	}
	if opt != nil && meta.Optimizer != optimizerKind(opt) {
		return nil, fmt.Errorf("train: load %s: checkpoint holds %q optimizer state, optimizer is %q", path, meta.Optimizer, optimizerKind(opt))
	}
	// Read everything first, then assign, so a failed load changes nothing.
	values := make([][]float32, len(params))
	used := map[string]bool{}
	for i, p := range params {
		t, ok := f.Tensor(p.Name)
		if !ok {
			return nil, fmt.Errorf("train: load %s: no tensor for parameter %s", path, p.Name)
		}
		if !slices.Equal(t.Shape, []int(p.Value.Shape())) {
			return nil, fmt.Errorf("train: load %s: %s has shape %v, parameter has %v", path, p.Name, t.Shape, []int(p.Value.Shape()))
		}
		d, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("train: load %s: %w", path, err)
		}
		values[i] = d
		used[p.Name] = true
	}
	state := map[string][]float32{}
	for _, name := range f.Names() {
		if used[name] {
			continue
		}
		k, ok := strings.CutPrefix(name, optimPrefix)
		if !ok {
			return nil, fmt.Errorf("train: load %s: tensor %s matches no parameter", path, name)
		}
		t, _ := f.Tensor(name)
		d, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("train: load %s: %w", path, err)
		}
		state[k] = d
	}
	var pcg rand.PCG
	if rng != nil {
		if meta.RNG == "" {
			return nil, fmt.Errorf("train: load %s: checkpoint has no RNG state", path)
		}
		b, err := base64.StdEncoding.DecodeString(meta.RNG)
		if err == nil {
			err = pcg.UnmarshalBinary(b)
		}
		if err != nil {
			return nil, fmt.Errorf("train: load %s: rng: %w", path, err)
		}
	}
	if opt != nil {
		st, ok := opt.(optim.Stateful)
		if !ok {
			return nil, fmt.Errorf("train: load %s: optimizer %T cannot import state", path, opt)
		}
		if err := st.SetState(meta.OptSteps, state); err != nil {
			return nil, fmt.Errorf("train: load %s: %w", path, err)
		}
	}
	for i, p := range params {
		copy(p.Value.Float32s(), values[i])
	}
	if rng != nil {
		*rng = pcg
	}
	return &meta, nil
}

// Save writes the trainer's checkpoint (Model or Step.Params, optimizer
// state, step count, RNG state).
func (t *Trainer) Save(path string, extra map[string]string) error {
	if err := t.init(); err != nil {
		return err
	}
	return Save(path, t.params(), t.Opt, t.step, t.RNG, extra)
}

// Load restores a checkpoint written by Trainer.Save, so that Run
// continues exactly where the saved run stopped.
func (t *Trainer) Load(path string) (*Meta, error) {
	if err := t.init(); err != nil {
		return nil, err
	}
	m, err := Load(path, t.params(), t.Opt, t.RNG)
	if err != nil {
		return nil, err
	}
	t.step = m.Step
	return m, nil
}

func (t *Trainer) params() []*nn.Param {
	if t.Model != nil {
		return t.Model
	}
	return t.Step.Params
}
