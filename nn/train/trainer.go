package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/optim"
	"gorgonia.org/tensor"
)

// Batch returns the inputs of training step step (0-based), in the order
// of the Step's input placeholders. rng is the Trainer's generator, whose
// state checkpoints save, so resumed runs draw the same batches.
type Batch func(step int, rng *rand.Rand) ([]*tensor.Dense, error)

// Record describes one finished training step.
type Record struct {
	Step     int     `json:"step"` // steps done, 1-based
	Loss     float64 `json:"loss"`
	LR       float64 `json:"lr"`
	GradNorm float64 `json:"grad_norm"` // global L2 norm before clipping
	Seconds  float64 `json:"seconds"`   // wall time of this step
	Elapsed  float64 `json:"elapsed"`   // wall time since Run started
}

// Trainer runs optimization steps. Set Step, Opt and Sched; the other
// fields are optional.
type Trainer struct {
	Step  *Step
	Opt   optim.Optimizer
	Sched optim.Schedule
	// ClipNorm > 0 scales gradients to this global L2 norm when above it.
	ClipNorm float64
	// AfterStep runs after every optimizer update (e.g. LogitScale.Clamp).
	AfterStep func()
	// Model lists the parameters a checkpoint saves (frozen ones
	// included); nil means Step.Params.
	Model []*nn.Param
	// RNG drives Batch; nil means a PCG seeded with (1, 2).
	RNG *rand.PCG
	// Progress receives a progress line (nil: none); see NewProgress.
	Progress *Progress
	// Log receives one record per step (nil: none).
	Log *Logger

	step int
	rng  *rand.Rand
}

// Steps is the number of steps done (including those of a loaded checkpoint).
func (t *Trainer) Steps() int { return t.step }

func (t *Trainer) init() error {
	if t.Step == nil || t.Opt == nil || t.Sched == nil {
		return fmt.Errorf("train: trainer needs Step, Opt and Sched")
	}
	if t.RNG == nil {
		t.RNG = rand.NewPCG(1, 2)
	}
	if t.rng == nil {
		t.rng = rand.New(t.RNG)
	}
	return nil
}

// TrainStep runs one step on the given inputs: forward, backward, optional
// clipping, the optimizer update at Sched(step), AfterStep.
func (t *Trainer) TrainStep(inputs ...*tensor.Dense) (Record, error) {
	if err := t.init(); err != nil {
		return Record{}, err
	}
	start := time.Now()
	loss, grads, err := t.Step.Run(inputs...)
	if err != nil {
		return Record{}, fmt.Errorf("train: step %d: %w", t.step+1, err)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return Record{}, fmt.Errorf("train: step %d: loss is %v", t.step+1, loss)
	}
	var norm float64
	if t.ClipNorm > 0 {
		norm = optim.ClipGlobalNorm(grads, t.ClipNorm)
	} else {
		norm = optim.GlobalNorm(grads)
	}
	lr := t.Sched(t.step)
	if err := t.Opt.Step(lr, grads); err != nil {
		return Record{}, fmt.Errorf("train: step %d: %w", t.step+1, err)
	}
	if t.AfterStep != nil {
		t.AfterStep()
	}
	t.step++
	return Record{Step: t.step, Loss: loss, LR: lr, GradNorm: norm, Seconds: time.Since(start).Seconds()}, nil
}

// Run trains until Steps() reaches total, drawing each step's inputs from
// batch, logging every step and drawing the progress line. It returns the
// records of the steps it ran.
func (t *Trainer) Run(total int, batch Batch) ([]Record, error) {
	if err := t.init(); err != nil {
		return nil, err
	}
	if batch == nil {
		return nil, fmt.Errorf("train: run: nil batch function")
	}
	start := time.Now()
	first := t.step
	var recs []Record
	for t.step < total {
		in, err := batch(t.step, t.rng)
		if err != nil {
			return recs, fmt.Errorf("train: batch for step %d: %w", t.step+1, err)
		}
		r, err := t.TrainStep(in...)
		if err != nil {
			return recs, err
		}
		r.Elapsed = time.Since(start).Seconds()
		recs = append(recs, r)
		if t.Log != nil {
			if err := t.Log.Write(r); err != nil {
				return recs, err
			}
		}
		if t.Progress != nil {
			t.Progress.Update(r, first, total)
		}
	}
	if t.Progress != nil {
		t.Progress.Done()
	}
	return recs, nil
}
