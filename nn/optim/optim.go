// Package optim holds optimizers (AdamW, SGD with momentum/Nesterov),
// learning-rate schedules and gradient clipping for nn.Param models.
//
// Optimizers work on plain float32 slices: gradients come in as a map from
// parameter to its gradient (read from the graph after a backward run) and
// parameters are updated in place, so every graph bound to them sees the new
// values. The update rules follow PyTorch's torch.optim.AdamW and
// torch.optim.SGD exactly (including the order of weight decay and bias
// correction), and tests check ten steps against PyTorch's trajectory.
//
// Unlike Gorgonia's solvers, Step never modifies the gradients it is given.
package optim

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/goclip/goclip/nn"
)

// Group is a set of parameters sharing hyper-parameters. LRScale multiplies
// the optimizer's learning rate for this group (0 means 1).
type Group struct {
	Name        string
	Params      []*nn.Param
	WeightDecay float64
	LRScale     float64
}

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step applies one update with learning rate lr. grads must hold a
	// gradient (same length as the data) for every parameter of every
	// group; parameters without a gradient are an error.
	Step(lr float64, grads map[*nn.Param][]float32) error
	// Groups returns the parameter groups.
	Groups() []Group
	// Steps is the number of updates applied so far.
	Steps() int
}

// DecayGroups splits params into a weight-decay group and a no-decay group
// the way CLIP training code does: biases, norm weights (LayerNorm,
// BatchNorm, names containing "ln"/"bn"/"norm"), gains and other tensors with
// fewer than two dimensions, embeddings of positions/classes, and logit_scale
// get no decay.
func DecayGroups(params []*nn.Param, weightDecay float64) []Group {
	var decay, noDecay []*nn.Param
	for _, p := range params {
		if p.Frozen {
			continue
		}
		if exemptFromDecay(p) {
			noDecay = append(noDecay, p)
		} else {
			decay = append(decay, p)
		}
	}
	return []Group{
		{Name: "decay", Params: decay, WeightDecay: weightDecay},
		{Name: "no_decay", Params: noDecay, WeightDecay: 0},
	}
}

// values is the parameter's float32 backing slice. Unlike nn.Param.Data it
// also works for scalar (0-d) parameters such as CLIP's logit_scale.
func values(p *nn.Param) []float32 { return p.Value.Float32s() }

func exemptFromDecay(p *nn.Param) bool {
	if len(p.Shape()) < 2 {
		return true
	}
	parts := strings.Split(p.Name, ".")
	for _, s := range parts {
		if s == "bias" || s == "logit_scale" || strings.HasPrefix(s, "ln") || strings.HasPrefix(s, "bn") ||
			strings.Contains(s, "norm") || strings.Contains(s, "layernorm") {
			return true
		}
	}
	return strings.HasSuffix(p.Name, "positional_embedding") || strings.HasSuffix(p.Name, "class_embedding")
}

func checkGrads(groups []Group, grads map[*nn.Param][]float32) error {
	for _, g := range groups {
		for _, p := range g.Params {
			gr, ok := grads[p]
			if !ok {
				return fmt.Errorf("optim: no gradient for parameter %s", p.Name)
			}
			if len(gr) != len(values(p)) {
				return fmt.Errorf("optim: gradient for %s has %d values, parameter has %d", p.Name, len(gr), len(values(p)))
			}
		}
	}
	return nil
}

func lrFor(g Group, lr float64) float64 {
	if g.LRScale == 0 {
		return lr
	}
	return lr * g.LRScale
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), as
// torch.optim.AdamW computes it:
//
//	p ← p − lr·wd·p
//	m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//	p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)
type AdamW struct {
	Beta1, Beta2, Eps float64
	groups            []Group
	m, v              map[*nn.Param][]float32
	t                 int
}

// NewAdamW makes an AdamW optimizer with PyTorch's defaults
// (β1 0.9, β2 0.999, ε 1e-8); change the fields before the first Step.
func NewAdamW(groups []Group) *AdamW {
	return &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, groups: groups,
		m: map[*nn.Param][]float32{}, v: map[*nn.Param][]float32{}}
}

// Groups returns the parameter groups.
func (o *AdamW) Groups() []Group { return o.groups }

// Steps is the number of updates applied.
func (o *AdamW) Steps() int { return o.t }

// Step applies one AdamW update.
func (o *AdamW) Step(lr float64, grads map[*nn.Param][]float32) error {
	if err := checkGrads(o.groups, grads); err != nil {
		return err
	}
	o.t++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.t))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.t))
	sqrtBC2 := float32(math.Sqrt(bc2))
	b1, b2, eps := float32(o.Beta1), float32(o.Beta2), float32(o.Eps)
	for _, g := range o.groups {
		glr := lrFor(g, lr)
		stepSize := float32(glr / bc1)
		decay := float32(1 - glr*g.WeightDecay)
		for _, p := range g.Params {
			w := values(p)
			gr := grads[p]
			m, v := o.m[p], o.v[p]
			if m == nil {
				m, v = make([]float32, len(w)), make([]float32, len(w))
				o.m[p], o.v[p] = m, v
			}
			for i := range w {
				w[i] *= decay
				m[i] = b1*m[i] + (1-b1)*gr[i]
				v[i] = b2*v[i] + (1-b2)*gr[i]*gr[i]
				denom := float32(math.Sqrt(float64(v[i])))/sqrtBC2 + eps
				w[i] -= stepSize * m[i] / denom
			}
		}
	}
	return nil
}

// SGD is stochastic gradient descent with optional momentum, dampening,
// Nesterov momentum and (coupled, L2) weight decay, as torch.optim.SGD.
type SGD struct {
	Momentum, Dampening float64
	Nesterov            bool
	groups              []Group
	buf                 map[*nn.Param][]float32
	t                   int
}

// NewSGD makes an SGD optimizer.
func NewSGD(groups []Group, momentum float64, nesterov bool) *SGD {
	return &SGD{Momentum: momentum, Nesterov: nesterov, groups: groups, buf: map[*nn.Param][]float32{}}
}

// Groups returns the parameter groups.
func (o *SGD) Groups() []Group { return o.groups }

// Steps is the number of updates applied.
func (o *SGD) Steps() int { return o.t }

// Step applies one SGD update.
func (o *SGD) Step(lr float64, grads map[*nn.Param][]float32) error {
	if err := checkGrads(o.groups, grads); err != nil {
		return err
	}
	if o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0) {
		return fmt.Errorf("optim: Nesterov momentum requires momentum > 0 and zero dampening")
	}
	o.t++
	mom, damp := float32(o.Momentum), float32(o.Dampening)
	for _, g := range o.groups {
		glr := float32(lrFor(g, lr))
		wd := float32(g.WeightDecay)
		for _, p := range g.Params {
			w := values(p)
			gr := grads[p]
			buf := o.buf[p]
			first := buf == nil
			if mom != 0 && first {
				buf = make([]float32, len(w))
				o.buf[p] = buf
			}
			for i := range w {
				d := gr[i] + wd*w[i]
				if mom != 0 {
					if first {
						buf[i] = d
					} else {
						buf[i] = mom*buf[i] + (1-damp)*d
					}
					if o.Nesterov {
						d += mom * buf[i]
					} else {
						d = buf[i]
					}
				}
				w[i] -= glr * d
			}
		}
	}
	return nil
}

// ClipGlobalNorm scales all gradients so their joint L2 norm is at most
// maxNorm, as torch.nn.utils.clip_grad_norm_ does (coefficient
// maxNorm/(norm+1e-6), applied only when below 1). It returns the norm
// before clipping.
//
// The sum runs over the parameters sorted by name, so the result does not
// depend on map order (resumed runs stay bit-identical).
func ClipGlobalNorm(grads map[*nn.Param][]float32, maxNorm float64) float64 {
	norm := GlobalNorm(grads)
	coef := maxNorm / (norm + 1e-6)
	if coef < 1 {
		c := float32(coef)
		for _, g := range grads {
			for i := range g {
				g[i] *= c
			}
		}
	}
	return norm
}

// GlobalNorm is the joint L2 norm of all gradients, summed in parameter
// name order (deterministic).
func GlobalNorm(grads map[*nn.Param][]float32) float64 {
	ps := make([]*nn.Param, 0, len(grads))
	for p := range grads {
		ps = append(ps, p)
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	var ss float64
	for _, p := range ps {
		for _, x := range grads[p] {
			ss += float64(x) * float64(x)
		}
	}
	return math.Sqrt(ss)
}

// Schedule maps a step number (0-based) to a learning rate.
type Schedule func(step int) float64

// WarmupCosine rises linearly from 0 to base over warmup steps (lr =
// base·(step+1)/warmup, as CLIP training code does), then decays along a
// half cosine to min at step total.
func WarmupCosine(base, min float64, warmup, total int) Schedule {
	return func(step int) float64 {
		if step < warmup {
			return base * float64(step+1) / float64(warmup)
		}
		if step >= total {
			return min
		}
		e := float64(step-warmup) / float64(max(total-warmup, 1))
		return min + 0.5*(1+math.Cos(math.Pi*e))*(base-min)
	}
}

// Constant is a fixed learning rate.
func Constant(lr float64) Schedule { return func(int) float64 { return lr } }
