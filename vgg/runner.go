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

// compiled is a program whose outputs are the tapped activations, in the
// order of names (nn.Compile keeps intermediate outputs from being
// overwritten later in the run).
type compiled struct {
	prog  *nn.Program
	names []string
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
	outs, err := p.prog.Run(x)
	if err != nil {
		return nil, err
	}
	res := make(map[string]*tensor.Dense, len(p.names))
	for i, n := range p.names {
		res[n] = outs[i]
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
		}
		var err error
		c.prog, err = nn.Compile(g, []*G.Node{in}, nodes)
		return err
	})
	return c, err
}
