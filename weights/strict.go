package weights

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Strict tracks which tensors a model constructor used, for strict loading:
// every expected tensor must exist with the right shape, and every tensor in
// the source must be used (or ignored). Err reports all problems at once.
//
//	s := weights.NewStrict(f)
//	w := s.Float32("visual.conv1.weight", 768, 3, 32, 32)
//	…
//	if err := s.Err(); err != nil { return err }
type Strict struct {
	src      Source
	used     map[string]bool
	problems []string
	ignore   []string
}

// NewStrict wraps src.
func NewStrict(src Source) *Strict {
	return &Strict{src: src, used: map[string]bool{}}
}

// Has reports whether name exists; it does not mark it used.
func (s *Strict) Has(name string) bool {
	_, ok := s.src.Tensor(name)
	return ok
}

// Float32 returns the named tensor as float32, checking its shape. A
// missing, mis-shaped or unreadable tensor is recorded for Err and nil is
// returned. Pass no dims to accept any shape.
func (s *Strict) Float32(name string, shape ...int) []float32 {
	t, ok := s.src.Tensor(name)
	if !ok {
		s.problems = append(s.problems, fmt.Sprintf("missing %s %v", name, shapeOrAny(shape)))
		return nil
	}
	return s.read(t, shape)
}

// Optional is Float32 for a tensor that may be absent: nil without an error
// if absent; a wrong shape is still an error.
func (s *Strict) Optional(name string, shape ...int) []float32 {
	t, ok := s.src.Tensor(name)
	if !ok {
		return nil
	}
	return s.read(t, shape)
}

// Tensor returns the named tensor without converting it, marking it used and
// checking its shape like Float32.
func (s *Strict) Tensor(name string, shape ...int) *Tensor {
	t, ok := s.src.Tensor(name)
	if !ok {
		s.problems = append(s.problems, fmt.Sprintf("missing %s %v", name, shapeOrAny(shape)))
		return nil
	}
	s.used[name] = true
	if !s.shapeOK(t, shape) {
		return nil
	}
	return t
}

func (s *Strict) read(t *Tensor, shape []int) []float32 {
	s.used[t.Name] = true
	if !s.shapeOK(t, shape) {
		return nil
	}
	v, err := t.Float32()
	if err != nil {
		s.problems = append(s.problems, fmt.Sprintf("unreadable %s: %v", t.Name, err))
		return nil
	}
	return v
}

func (s *Strict) shapeOK(t *Tensor, shape []int) bool {
	if len(shape) > 0 && !slices.Equal(t.Shape, shape) {
		s.problems = append(s.problems, fmt.Sprintf("mis-shaped %s: file has %v, model wants %v", t.Name, t.Shape, shape))
		return false
	}
	return true
}

func shapeOrAny(shape []int) string {
	if len(shape) == 0 {
		return "(any shape)"
	}
	return fmt.Sprint(shape)
}

// Ignore tolerates tensors that the model does not use. Each pattern is an
// exact name, a prefix ending in "." (e.g. "optimizer.") or a suffix pattern
// starting with "*" (e.g. "*.num_batches_tracked").
func (s *Strict) Ignore(patterns ...string) {
	s.ignore = append(s.ignore, patterns...)
}

func (s *Strict) ignored(name string) bool {
	for _, p := range s.ignore {
		switch {
		case strings.HasPrefix(p, "*"):
			if strings.HasSuffix(name, p[1:]) {
				return true
			}
		case strings.HasSuffix(p, "."):
			if strings.HasPrefix(name, p) {
				return true
			}
		case p == name:
			return true
		}
	}
	return false
}

// Unused lists the tensors of the source that were neither used nor ignored.
func (s *Strict) Unused() []string {
	var out []string
	for _, n := range s.src.Names() {
		if !s.used[n] && !s.ignored(n) {
			out = append(out, n)
		}
	}
	return out
}

// Err returns nil, or one error listing every missing, mis-shaped,
// unreadable and unused tensor, sorted, with shapes.
func (s *Strict) Err() error {
	problems := append([]string(nil), s.problems...)
	for _, n := range s.Unused() {
		t, _ := s.src.Tensor(n)
		problems = append(problems, fmt.Sprintf("unused %s %s %v", n, t.DType, t.Shape))
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	problems = slices.Compact(problems)
	return errors.New("weights: strict load: " + fmt.Sprint(len(problems)) + " problem(s):\n  " + strings.Join(problems, "\n  "))
}
