package vgg

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/goclip/goclip/nn"
)

// compiled is a program whose tapped activations are copied out by
// gorgonia.Read as soon as they are computed: the TapeMachine reuses the
// register of a value whose last graph use has passed (ReLU even runs in
// place), so reading intermediate nodes after the run would see clobbered data.
type compiled struct {
	prog  *nn.Program
	names []string
	reads []*G.Value
}

// Runner evaluates an Extractor's named activations, compiling one program
// per input shape and tap set and reusing it. The zero value is ready to
// use; a Runner is safe for concurrent use. Use one Runner per model.
type Runner struct {
	mu sync.Mutex
	m  map[string]*compiled
}

// Run evaluates the activations names of m for the float32 batch x.
func (c *Runner) Run(m Extractor, x *tensor.Dense, names ...string) (map[string]*tensor.Dense, error) {
	if m == nil || x == nil {
		return nil, fmt.Errorf("run: nil model or input")
	}
	if x.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("run: input dtype %v, want float32", x.Dtype())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("run: no activation names")
	}
	uniq := slices.Clone(names)
	sort.Strings(uniq)
	uniq = slices.Compact(uniq)
	key := fmt.Sprintf("%v|%s", x.Shape(), strings.Join(uniq, ","))
	c.mu.Lock()
	p, ok := c.m[key]
	if !ok {
		var err error
		if p, err = compile(m.Forward, x.Shape(), uniq); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		if c.m == nil {
			c.m = map[string]*compiled{}
		}
		c.m[key] = p
	}
	c.mu.Unlock()
	res := make(map[string]*tensor.Dense, len(p.names))
	err := p.prog.RunFunc(func([]G.Value) error {
		for i, n := range p.names {
			d, ok := (*p.reads[i]).(*tensor.Dense)
			if !ok {
				return fmt.Errorf("activation %s: no value", n)
			}
			res[n] = d.Clone().(*tensor.Dense)
		}
		return nil
	}, x)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func compile(forward func(*nn.Graph, *G.Node, ...string) map[string]*G.Node, shape tensor.Shape, names []string) (*compiled, error) {
	c := &compiled{names: names}
	err := nn.Build(func() error {
		g := nn.NewGraph(tensor.Float32)
		in := g.Input("image", shape...)
		outs := forward(g, in, names...)
		if err := g.Err(); err != nil {
			return err
		}
		nodes := make([]*G.Node, len(names))
		for i, t := range names {
			nodes[i] = outs[t]
			c.reads = append(c.reads, new(G.Value))
			G.Read(nodes[i], c.reads[i])
		}
		var err error
		c.prog, err = nn.Compile(g, []*G.Node{in}, nodes)
		return err
	})
	return c, err
}
