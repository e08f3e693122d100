package clip

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
)

// paramValues returns a parameter's values (scalar tensors hold a bare float32).
func paramValues(p *nn.Param) []float32 {
	switch d := p.Value.Data().(type) {
	case []float32:
		return d
	case float32:
		return []float32{d}
	}
	panic(fmt.Sprintf("param %s: data %T", p.Name, p.Value.Data()))
}

// BenchmarkLoadViTB32 loads a full-size ViT-B/32 (random weights, float32
// safetensors, 605 MB) through Load: mmap, config inference, strict copy.
func BenchmarkLoadViTB32(b *testing.B) {
	m := NewRandom(ViTB32(), 1)
	mem := weights.NewMemory()
	for _, p := range m.Params() {
		mem.Add(weights.NewFloat32(p.Name, p.Shape(), paramValues(p)))
	}
	path := filepath.Join(b.TempDir(), "ViT-B-32.safetensors")
	if err := weights.WriteSafetensors(path, mem, nil); err != nil {
		b.Fatal(err)
	}
	m, mem = nil, nil
	b.ResetTimer()
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(151277313 * 4)
}
