// Package train runs training loops for nn models: a compiled
// forward+backward Step (Gorgonia's symbolic Grad on the trainable
// parameters only, run by a TapeMachine), a Trainer that applies an
// optim.Optimizer with a learning-rate schedule and optional global-norm
// clipping, a progress bar on stderr, JSONL/CSV logs, and checkpoints
// (parameters, optimizer state, step and RNG state in one safetensors file)
// that resume bit-exactly.
package train

import (
	"fmt"

	"github.com/goclip/goclip/nn"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BuildFunc adds a model and its loss to g. It returns the input
// placeholders that Step.Run fills, in order, and the scalar loss node.
type BuildFunc func(g *nn.Graph) (inputs []*G.Node, loss *G.Node, err error)

// Step is a compiled training step: the loss and the gradients of every
// trainable (not Frozen) parameter bound into the graph. Frozen parameters
// get no gradient nodes, so they cost no backward work.
type Step struct {
	Prog   *nn.Program
	Loss   *G.Node
	Params []*nn.Param // trainable parameters, in binding order
	Grads  G.Nodes     // gradient node of each of Params
}

// Compile builds the graph with build in dtype dt (tensor.Float32 for
// training; tensor.Float64 graphs bind copies of the parameters and exist
// for gradient checks), differentiates the loss with respect to the
// trainable parameters and compiles a TapeMachine.
func Compile(dt tensor.Dtype, build BuildFunc) (*Step, error) {
	if build == nil {
		return nil, fmt.Errorf("train: compile: nil build function")
	}
	var s *Step
	err := nn.Build(func() error {
		g := nn.NewGraph(dt)
		if err := g.Err(); err != nil {
			return err
		}
		inputs, loss, err := build(g)
		if err != nil {
			return err
		}
		if err := g.Err(); err != nil {
			return err
		}
		if loss == nil {
			return fmt.Errorf("build returned a nil loss")
		}
		if loss.Shape().Dims() != 0 {
			return fmt.Errorf("loss has shape %v, want a scalar", loss.Shape())
		}
		params, nodes := g.TrainableNodes()
		if len(nodes) == 0 {
			return fmt.Errorf("the graph binds no trainable parameter")
		}
		grads, err := G.Grad(loss, nodes...)
		if err != nil {
			return fmt.Errorf("gradient: %w", err)
		}
		prog, err := nn.Compile(g, inputs, append(G.Nodes{loss}, grads...))
		if err != nil {
			return err
		}
		s = &Step{Prog: prog, Loss: loss, Params: params, Grads: grads}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("train: compile: %w", err)
	}
	return s, nil
}

// Run runs forward and backward on inputs and returns the loss and a copy
// of every trainable parameter's gradient (float32, the parameter's
// layout). The copies are the caller's: clipping them in place is safe.
func (s *Step) Run(inputs ...*tensor.Dense) (loss float64, grads map[*nn.Param][]float32, err error) {
	grads = make(map[*nn.Param][]float32, len(s.Params))
	err = s.Prog.RunFunc(func(out []G.Value) error {
		var err error
		if loss, err = scalarValue(out[0]); err != nil {
			return fmt.Errorf("loss: %w", err)
		}
		for i, p := range s.Params {
			d, err := copyValue(out[1+i])
			if err != nil {
				return fmt.Errorf("gradient of %s: %w", p.Name, err)
			}
			if n := p.Value.Shape().TotalSize(); len(d) != n {
				return fmt.Errorf("gradient of %s has %d values, parameter has %d", p.Name, len(d), n)
			}
			grads[p] = d
		}
		return nil
	}, inputs...)
	if err != nil {
		return 0, nil, fmt.Errorf("train: step: %w", err)
	}
	return loss, grads, nil
}

// Close releases the VM.
func (s *Step) Close() error { return s.Prog.Close() }

// copyValue copies a float32 or float64 value (tensor or scalar) into a
// fresh float32 slice in row-major order.
func copyValue(v G.Value) ([]float32, error) {
	if v == nil {
		return nil, fmt.Errorf("no value")
	}
	if d, ok := v.(*tensor.Dense); ok && d.RequiresIterator() {
		v = d.Materialize().(*tensor.Dense)
	}
	switch d := v.Data().(type) {
	case []float32:
		return append([]float32(nil), d...), nil
	case []float64:
		out := make([]float32, len(d))
		for i, x := range d {
			out[i] = float32(x)
		}
		return out, nil
	case float32:
		return []float32{d}, nil
	case float64:
		return []float32{float32(d)}, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v.Data())
}

// scalarValue reads a one-element float32 or float64 value at full precision.
func scalarValue(v G.Value) (float64, error) {
	if v == nil {
		return 0, fmt.Errorf("no value")
	}
	switch d := v.Data().(type) {
	case float64:
		return d, nil
	case float32:
		return float64(d), nil
	case []float64:
		if len(d) == 1 {
			return d[0], nil
		}
	case []float32:
		if len(d) == 1 {
			return float64(d[0]), nil
		}
	}
	return 0, fmt.Errorf("want one float value, got %v of type %T", v.Shape(), v.Data())
}
