package nn

import (
	"fmt"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// buildMu serialises graph building and compilation across goroutines:
// Gorgonia v0.9.18 races on package-level constant nodes while building.
var buildMu sync.Mutex

// Program is a compiled graph: named inputs, outputs, and the TapeMachine
// that runs it. A Program is not safe for concurrent use; Run locks it, so
// concurrent callers of one Program take turns. Different Programs may run
// in parallel.
type Program struct {
	Graph   *Graph
	Inputs  []*G.Node
	Outputs []*G.Node
	vm      G.VM
	mu      sync.Mutex
	reads   []G.Value // filled by the Read node of each output
}

// Compile prepares g for running. inputs are the placeholders Run fills,
// in order; outputs are the nodes Run returns. Extra VM options (e.g.
// gorgonia.BindDualValues for training) are passed through.
func Compile(g *Graph, inputs, outputs []*G.Node, opts ...G.VMOpt) (*Program, error) {
	if err := g.Err(); err != nil {
		return nil, err
	}
	for i, n := range append(append([]*G.Node{}, inputs...), outputs...) {
		if n == nil {
			return nil, fmt.Errorf("nn: compile: node %d is nil", i)
		}
	}
	p := &Program{Graph: g, Inputs: inputs, Outputs: outputs, reads: make([]G.Value, len(outputs))}
	// Each output is read by a Read node, which keeps it live to the end of
	// the dataflow: otherwise the TapeMachine may compute a later Add (or
	// other overwriting op) in place into an output that is its first
	// operand, and the output's value would change after it was computed.
	for i, n := range outputs {
		if err := readInto(n, &p.reads[i]); err != nil {
			return nil, fmt.Errorf("nn: compile: output %q: %w", n.Name(), err)
		}
	}
	p.vm = G.NewTapeMachine(g.Expr(), opts...)
	return p, nil
}

// readInto adds a Read node of n, converting a panic into an error.
func readInto(n *G.Node, into *G.Value) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	G.Read(n, into)
	return nil
}

// Run sets the inputs (in the order given to Compile), runs the graph and
// returns copies of the outputs, which the caller owns.
func (p *Program) Run(inputs ...*tensor.Dense) ([]*tensor.Dense, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.setInputs(inputs); err != nil {
		return nil, err
	}
	defer p.vm.Reset()
	clear(p.reads) // the Read nodes then clone: the caller owns the values
	if err := p.runAll(); err != nil {
		return nil, fmt.Errorf("nn: run: %w", err)
	}
	out := make([]*tensor.Dense, len(p.Outputs))
	for i, n := range p.Outputs {
		v := p.reads[i]
		if v == nil {
			return nil, fmt.Errorf("nn: run: output %q has no value", n.Name())
		}
		out[i] = valueToDense(v)
		p.reads[i] = nil
	}
	return out, nil
}

// RunFunc is like Run but hands the live output values (owned by the VM and
// valid only during f) to f instead of copying them, and also lets f read
// gradients from bound dual values before the VM is reset.
func (p *Program) RunFunc(f func(outputs []G.Value) error, inputs ...*tensor.Dense) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.setInputs(inputs); err != nil {
		return err
	}
	defer p.vm.Reset()
	if err := p.runAll(); err != nil {
		return fmt.Errorf("nn: run: %w", err)
	}
	return f(append([]G.Value(nil), p.reads...))
}

// setInputs checks each input's shape and dtype against its placeholder
// (index inputs are Int, the others have the graph's dtype) and binds it.
func (p *Program) setInputs(inputs []*tensor.Dense) error {
	if len(inputs) != len(p.Inputs) {
		return fmt.Errorf("nn: run: %d inputs given, program wants %d", len(inputs), len(p.Inputs))
	}
	for i, in := range inputs {
		n := p.Inputs[i]
		if in == nil {
			return fmt.Errorf("nn: run: input %q is nil", n.Name())
		}
		if !in.Shape().Eq(n.Shape()) {
			return fmt.Errorf("nn: run: input %q has shape %v, program wants %v", n.Name(), in.Shape(), n.Shape())
		}
		if in.Dtype() != n.Dtype() {
			return fmt.Errorf("nn: run: input %q has dtype %v, program wants %v", n.Name(), in.Dtype(), n.Dtype())
		}
		if err := G.Let(n, in); err != nil {
			return fmt.Errorf("nn: run: set input %q: %w", n.Name(), err)
		}
	}
	return nil
}

// runAll converts panics from inside Gorgonia's kernels into errors.
func (p *Program) runAll() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in graph execution: %v", r)
		}
	}()
	return p.vm.RunAll()
}

// Close releases the VM.
func (p *Program) Close() error { return p.vm.Close() }

// valueToDense wraps a value the caller owns as a dense tensor.
func valueToDense(v G.Value) *tensor.Dense {
	switch t := v.(type) {
	case *tensor.Dense:
		if t.RequiresIterator() {
			return t.Materialize().(*tensor.Dense)
		}
		return t
	case *G.F32:
		return tensor.New(tensor.FromScalar(float32(*t)))
	case *G.F64:
		return tensor.New(tensor.FromScalar(float64(*t)))
	}
	return tensor.New(tensor.FromScalar(v.Data()))
}

// Cache builds a Program once per key (typically the input shape, e.g.
// "image:8x3x224x224") and reuses it. It is safe for concurrent use: builds
// are serialised (see buildMu); each Program serialises its own runs.
type Cache struct {
	mu    sync.Mutex
	progs map[string]*Program
}

// Get returns the program for key, building it with build on first use.
func (c *Cache) Get(key string, build func() (*Program, error)) (*Program, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.progs[key]; ok {
		return p, nil
	}
	buildMu.Lock()
	p, err := safeBuild(build)
	buildMu.Unlock()
	if err != nil {
		return nil, err
	}
	if c.progs == nil {
		c.progs = map[string]*Program{}
	}
	c.progs[key] = p
	return p, nil
}

// Len is the number of cached programs.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.progs)
}

// Clear closes and drops every cached program.
func (c *Cache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.progs {
		p.Close()
	}
	c.progs = nil
}

func safeBuild(build func() (*Program, error)) (p *Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("nn: building graph: %v", r)
		}
	}()
	return build()
}

// Build runs f under the global build lock, converting panics from inside
// Gorgonia into errors. Use it when building graphs outside a Cache.
func Build(f func() error) (err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("nn: building graph: %v", r)
		}
	}()
	return f()
}
