package optim

import (
	"fmt"
	"sort"
	"strings"

	"github.com/goclip/goclip/nn"
)

// Stateful is implemented by optimizers whose state can be saved and
// restored exactly (checkpoints): AdamW and SGD.
type Stateful interface {
	// State returns the number of steps taken and copies of the
	// per-parameter state tensors, keyed "<kind>.<parameter name>" with
	// torch's kinds (exp_avg, exp_avg_sq, momentum_buffer).
	State() (steps int, tensors map[string][]float32)
	// SetState restores what State returned, matching tensors to the
	// optimizer's parameters by name. Unknown keys, missing tensors and
	// length mismatches are errors; on error the state is unchanged.
	SetState(steps int, tensors map[string][]float32) error
}

// paramsByName indexes the parameters of the groups, rejecting duplicate names.
func paramsByName(groups []Group) (map[string]*nn.Param, error) {
	byName := map[string]*nn.Param{}
	for _, g := range groups {
		for _, p := range g.Params {
			if q, ok := byName[p.Name]; ok && q != p {
				return nil, fmt.Errorf("optim: two parameters named %q", p.Name)
			}
			byName[p.Name] = p
		}
	}
	return byName, nil
}

// exportState copies per-parameter slices into tensors under kind.
func exportState(out map[string][]float32, kind string, st map[*nn.Param][]float32) {
	for p, d := range st {
		out[kind+"."+p.Name] = append([]float32(nil), d...)
	}
}

// importState parses tensors for the given kinds into per-parameter
// slices. When required, every parameter must have every kind.
func importState(groups []Group, tensors map[string][]float32, required bool, kinds ...string) ([]map[*nn.Param][]float32, error) {
	byName, err := paramsByName(groups)
	if err != nil {
		return nil, err
	}
	out := make([]map[*nn.Param][]float32, len(kinds))
	for i := range out {
		out[i] = map[*nn.Param][]float32{}
	}
	keys := make([]string, 0, len(tensors))
	for k := range tensors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		found := false
		for i, kind := range kinds {
			name, ok := strings.CutPrefix(k, kind+".")
			if !ok {
				continue
			}
			p := byName[name]
			if p == nil {
				return nil, fmt.Errorf("optim: state %q names no parameter of the optimizer", k)
			}
			if n := len(values(p)); len(tensors[k]) != n {
				return nil, fmt.Errorf("optim: state %q has %d values, parameter %s has %d", k, len(tensors[k]), p.Name, n)
			}
			out[i][p] = append([]float32(nil), tensors[k]...)
			found = true
			break
		}
		if !found {
			return nil, fmt.Errorf("optim: unknown state %q (want %s.<parameter>)", k, strings.Join(kinds, " or "))
		}
	}
	if required {
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			for i, kind := range kinds {
				if out[i][byName[n]] == nil {
					return nil, fmt.Errorf("optim: state has no %s.%s", kind, n)
				}
			}
		}
	}
	return out, nil
}

// State returns the step count and the first and second moments
// (exp_avg.<name>, exp_avg_sq.<name>).
func (o *AdamW) State() (int, map[string][]float32) {
	out := map[string][]float32{}
	exportState(out, "exp_avg", o.m)
	exportState(out, "exp_avg_sq", o.v)
	return o.t, out
}

// SetState restores State's output. After at least one step every
// parameter needs both moments.
func (o *AdamW) SetState(steps int, tensors map[string][]float32) error {
	if steps < 0 {
		return fmt.Errorf("optim: adamw state: %d steps", steps)
	}
	st, err := importState(o.groups, tensors, steps > 0, "exp_avg", "exp_avg_sq")
	if err != nil {
		return err
	}
	for p := range st[0] {
		if st[1][p] == nil {
			return fmt.Errorf("optim: state has exp_avg.%s but no exp_avg_sq", p.Name)
		}
	}
	o.t, o.m, o.v = steps, st[0], st[1]
	return nil
}

// State returns the step count and the momentum buffers
// (momentum_buffer.<name>), which exist after the first step with momentum.
func (o *SGD) State() (int, map[string][]float32) {
	out := map[string][]float32{}
	exportState(out, "momentum_buffer", o.buf)
	return o.t, out
}

// SetState restores State's output.
func (o *SGD) SetState(steps int, tensors map[string][]float32) error {
	if steps < 0 {
		return fmt.Errorf("optim: sgd state: %d steps", steps)
	}
	st, err := importState(o.groups, tensors, steps > 0 && o.Momentum != 0, "momentum_buffer")
	if err != nil {
		return err
	}
	o.t, o.buf = steps, st[0]
	return nil
}
