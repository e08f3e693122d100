package clip

import (
	"encoding/binary"
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

// BenchmarkLoadViTB32 loads a full-size ViT-B/32 (random weights,
// safetensors) through Load:
//
//	f32        605 MB float32 file: mmap, config inference, strict checks; the
//	           parameters alias the mapping (no copy)
//	f32+touch  the same, then one read per 4 KiB page of every parameter:
//	           the page faults that the first forward pass would otherwise pay
//	f16        302 MB float16 file: conversion to float32 (parallel)
//
//	go test ./clip -run '^$' -bench LoadViTB32 -benchtime 5x
func BenchmarkLoadViTB32(b *testing.B) {
	m := NewRandom(ViTB32(), 1)
	f32, f16 := weights.NewMemory(), weights.NewMemory()
	for _, p := range m.Params() {
		d := paramValues(p)
		f32.Add(weights.NewFloat32(p.Name, p.Shape(), d))
		raw := make([]byte, 2*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint16(raw[2*i:], weights.Float32ToFloat16(v))
		}
		t, err := weights.NewRaw(p.Name, weights.F16, p.Shape(), raw)
		if err != nil {
			b.Fatal(err)
		}
		f16.Add(t)
	}
	dir := b.TempDir()
	path32, path16 := filepath.Join(dir, "ViT-B-32.safetensors"), filepath.Join(dir, "ViT-B-32-f16.safetensors")
	if err := weights.WriteSafetensors(path32, f32, nil); err != nil {
		b.Fatal(err)
	}
	if err := weights.WriteSafetensors(path16, f16, nil); err != nil {
		b.Fatal(err)
	}
	m, f32, f16 = nil, nil, nil
	load := func(b *testing.B, path string, touch bool) {
		for b.Loop() {
			m, err := Load(path)
			if err != nil {
				b.Fatal(err)
			}
			if touch {
				var s float32
				for _, p := range m.Params() {
					d := paramValues(p)
					for i := 0; i < len(d); i += 1024 {
						s += d[i]
					}
				}
				sink = s
			}
		}
		b.SetBytes(151277313 * 4)
	}
	b.Run("f32", func(b *testing.B) { load(b, path32, false) })
	b.Run("f32+touch", func(b *testing.B) { load(b, path32, true) })
	b.Run("f16", func(b *testing.B) { load(b, path16, false) })
}

var sink float32
