// Package loss builds training losses on nn graphs: CLIP's symmetric
// InfoNCE, ActionCLIP's multi-positive KL, cross-entropy with label
// smoothing, MSE, L1 and cosine losses, CLIP's cosine-similarity logits and
// a learnable, clamped logit scale.
//
// Every builder takes the *nn.Graph first, returns a scalar node and follows
// the graph's sticky error: a wrong shape records an error naming the loss
// and the shapes, and the builder returns nil. Values and gradients match
// PyTorch (torch.nn.functional) for the same inputs; see the tests.
//
// Targets that change from batch to batch (class labels, multi-positive
// targets) are nodes, so they can be graph inputs fed on every step;
// ClassTargets and MultiPositiveTarget compute their values.
package loss

import (
	"fmt"
	"math"

	"github.com/goclip/goclip/nn"
	G "gorgonia.org/gorgonia"
)

// fail records a loss error in g and returns nil.
func fail(g *nn.Graph, format string, args ...any) *G.Node {
	return g.Fail(fmt.Errorf("loss: "+format, args...))
}

func shapeOf(n *G.Node) []int { return []int(n.Shape()) }

// square2 checks that x is a non-empty (N, N) matrix.
func square2(g *nn.Graph, what string, x *G.Node) (int, bool) {
	s := x.Shape()
	if len(s) != 2 || s[0] != s[1] || s[0] < 1 {
		fail(g, "%s: logits have shape %v, want a square (N, N) matrix", what, shapeOf(x))
		return 0, false
	}
	return s[0], true
}

func identity(n int) []float64 {
	d := make([]float64, n*n)
	for i := 0; i < n; i++ {
		d[i*n+i] = 1
	}
	return d
}

// InfoNCE is CLIP's symmetric contrastive loss over logits (N, N) whose
// diagonal holds the matching pairs (image i with text i):
//
//	(CE(logits, arange(N)) + CE(logitsᵀ, arange(N))) / 2
//
// with torch's mean cross-entropy. It returns a scalar.
func InfoNCE(g *nn.Graph, logits *G.Node) *G.Node {
	if !g.OK(logits) {
		return nil
	}
	n, ok := square2(g, "infonce", logits)
	if !ok {
		return nil
	}
	eye := g.Const("infonce_eye", identity(n), n, n) // (N, N)
	rows := g.LogSoftmax(logits, 1)                  // (N, N) image → text
	cols := g.LogSoftmax(logits, 0)                  // (N, N) text → image
	both := g.Add(rows, cols)                        // (N, N)
	diag := g.Sum(g.Mul(both, eye))                  // scalar Σ_i rows_ii + cols_ii
	return g.Scale(diag, -0.5/float64(n))            // scalar
}

// ClassTargets is the target distribution of torch's cross_entropy with
// integer targets and label smoothing ε: (1−ε)·onehot(class) + ε/C per row,
// flattened (N·C). Every class must lie in [0, numClasses); ε in [0, 1].
func ClassTargets(classes []int, numClasses int, smoothing float64) ([]float64, error) {
	if numClasses < 1 {
		return nil, fmt.Errorf("loss: class targets: %d classes", numClasses)
	}
	if smoothing < 0 || smoothing > 1 || math.IsNaN(smoothing) {
		return nil, fmt.Errorf("loss: class targets: label smoothing %g outside [0, 1]", smoothing)
	}
	d := make([]float64, len(classes)*numClasses)
	u := smoothing / float64(numClasses)
	for i, c := range classes {
		if c < 0 || c >= numClasses {
			return nil, fmt.Errorf("loss: class targets: row %d has class %d outside [0, %d)", i, c, numClasses)
		}
		row := d[i*numClasses : (i+1)*numClasses]
		for j := range row {
			row[j] = u
		}
		row[c] += 1 - smoothing
	}
	return d, nil
}

// CrossEntropy is torch's mean cross-entropy of logits (N, C) against a
// target distribution (N, C) (class probabilities, e.g. from ClassTargets
// fed as a graph input): −Σ target ⊙ log_softmax(logits, 1) / N. Scalar.
func CrossEntropy(g *nn.Graph, logits, target *G.Node) *G.Node {
	if !g.OK(logits, target) {
		return nil
	}
	s := logits.Shape()
	if len(s) != 2 || s[0] < 1 || !target.Shape().Eq(s) {
		return fail(g, "cross entropy: logits %v and target %v, want equal (N, C) shapes", shapeOf(logits), shapeOf(target))
	}
	lp := g.LogSoftmax(logits, 1)            // (N, C)
	picked := g.Sum(g.Mul(lp, target))       // scalar
	return g.Scale(picked, -1/float64(s[0])) // scalar
}

// CrossEntropyClasses is CrossEntropy with integer class targets fixed at
// build time (torch's F.cross_entropy(logits, classes,
// label_smoothing=smoothing)).
func CrossEntropyClasses(g *nn.Graph, logits *G.Node, classes []int, smoothing float64) *G.Node {
	if !g.OK(logits) {
		return nil
	}
	s := logits.Shape()
	if len(s) != 2 || s[0] != len(classes) {
		return fail(g, "cross entropy: logits %v for %d class targets, want (%d, C)", shapeOf(logits), len(classes), len(classes))
	}
	t, err := ClassTargets(classes, s[1], smoothing)
	if err != nil {
		return g.Fail(err)
	}
	return CrossEntropy(g, logits, g.Const("ce_target", t, s...))
}

// MultiPositiveTarget is ActionCLIP's target for a batch with class
// labels: softmax(10·gt, 1) with gt[i][k] = 1 when labels[i] == labels[k],
// flattened (B·B). Every row is strictly positive.
func MultiPositiveTarget(labels []int) ([]float64, error) {
	b := len(labels)
	if b == 0 {
		return nil, fmt.Errorf("loss: multi-positive target: no labels")
	}
	d := make([]float64, b*b)
	for i := range b {
		row := d[i*b : (i+1)*b]
		var sum float64
		for k := range b {
			row[k] = 1
			if labels[i] == labels[k] {
				row[k] = math.Exp(10)
			}
			sum += row[k]
		}
		for k := range row {
			row[k] /= sum
		}
	}
	return d, nil
}

// MultiPositiveKL is ActionCLIP's symmetric multi-positive loss over
// logits (B, B) (image i against text k) and a strictly positive target
// (B, B) from MultiPositiveTarget:
//
//	KL(t) = KLDivLoss(log_softmax(t, 1), target) · B   (mean over B² elements)
//	loss  = (KL(logits) + KL(logitsᵀ)) / 2
//
// It returns a scalar.
func MultiPositiveKL(g *nn.Graph, logits, target *G.Node) *G.Node {
	if !g.OK(logits, target) {
		return nil
	}
	b, ok := square2(g, "multi-positive kl", logits)
	if !ok {
		return nil
	}
	if !target.Shape().Eq(logits.Shape()) {
		return fail(g, "multi-positive kl: target %v, want %v like the logits", shapeOf(target), shapeOf(logits))
	}
	img := g.LogSoftmax(logits, 1)                    // (B, B)
	txt := g.LogSoftmax(g.Transpose(logits, 1, 0), 1) // (B, B)
	logT := g.Log(target)                             // (B, B)
	gap := g.Sub(g.Scale(logT, 2), g.Add(img, txt))   // (B, B) 2·log t − img − txt
	kl := g.Sum(g.Mul(target, gap))                   // scalar
	return g.Scale(kl, 0.5*float64(b)/float64(b*b))   // scalar
}

// sameShape checks that a and b have equal, non-scalar shapes.
func sameShape(g *nn.Graph, what string, a, b *G.Node) bool {
	if !g.OK(a, b) {
		return false
	}
	if !a.Shape().Eq(b.Shape()) || a.Shape().TotalSize() < 1 {
		fail(g, "%s: shapes %v and %v differ", what, shapeOf(a), shapeOf(b))
		return false
	}
	return true
}

// MSE is the mean squared error mean((a−b)²) (torch's mse_loss). Scalar.
func MSE(g *nn.Graph, a, b *G.Node) *G.Node {
	if !sameShape(g, "mse", a, b) {
		return nil
	}
	return g.Mean(g.Square(g.Sub(a, b))) // scalar
}

// L1 is the mean absolute error mean(|a−b|) (torch's l1_loss). Scalar.
func L1(g *nn.Graph, a, b *G.Node) *G.Node {
	if !sameShape(g, "l1", a, b) {
		return nil
	}
	d := g.Sub(a, b)
	return g.Mean(g.Do("abs", func() (*G.Node, error) { return G.Abs(d) })) // scalar
}

// cosEps keeps the norms of all-zero rows finite, as torch's eps 1e-8
// clamp does; it changes no other result beyond rounding.
const cosEps = 1e-8

// Cosine is mean(1 − cos(a, b)) with the cosine taken along axis 1 and the
// mean over every other position: for rows (N, C) it is
// (1 − F.cosine_similarity(a, b, dim=1)).mean(), the loss CLIP-style
// embeddings use; for activation maps (N, C, H, W) it compares the channel
// vectors at every location, as CLIPasso's and perceptual cosine losses do.
// Scalar.
func Cosine(g *nn.Graph, a, b *G.Node) *G.Node {
	if !sameShape(g, "cosine", a, b) {
		return nil
	}
	if a.Dims() < 2 {
		return fail(g, "cosine: inputs %v, want (N, C, ...)", shapeOf(a))
	}
	rest := append([]int{a.Shape()[0]}, a.Shape()[2:]...) // (N, ...)
	n := 1
	for _, d := range rest {
		n *= d
	}
	dot := g.Sum(g.Mul(a, b), 1)                                                              // (N, ...)
	na := g.Sum(g.Square(a), 1)                                                               // (N, ...)
	nb := g.Sum(g.Square(b), 1)                                                               // (N, ...)
	den := g.Sqrt(g.Add(g.Mul(na, nb), g.Const("cos_eps2", fill(n, cosEps*cosEps), rest...))) // (N, ...)
	cos := g.Div(dot, den)                                                                    // (N, ...)
	return g.Sub(g.Scalar(1), g.Mean(cos))                                                    // scalar
}

func fill(n int, v float64) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = v
	}
	return d
}

// NormalizeRows divides every row of x (N, C) by its L2 norm.
func NormalizeRows(g *nn.Graph, x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	if x.Dims() != 2 {
		return fail(g, "normalize rows: input %v, want (N, C)", shapeOf(x))
	}
	n := x.Shape()[0]
	ss := g.Sum(g.Square(x), 1)                                        // (N)
	norm := g.Sqrt(g.Add(ss, g.Const("norm_eps2", fill(n, 1e-24), n))) // (N)
	inv := g.Do("inverse", func() (*G.Node, error) { return G.Inverse(norm) })
	return g.BroadcastMul(x, g.Reshape(inv, n, 1)) // (N, C)
}

// Logits is CLIP's similarity matrix scale · norm(img) · norm(txt)ᵀ for
// img (N, E), txt (M, E) and a one-element scale node (e.g. LogitScale.Forward):
// (N, M), image rows. Its transpose is logits_per_text.
func Logits(g *nn.Graph, img, txt, scale *G.Node) *G.Node {
	if !g.OK(img, txt, scale) {
		return nil
	}
	if img.Dims() != 2 || txt.Dims() != 2 || img.Shape()[1] != txt.Shape()[1] {
		return fail(g, "logits: image %v and text %v embeddings, want (N, E) and (M, E)", shapeOf(img), shapeOf(txt))
	}
	if scale.Shape().TotalSize() != 1 {
		return fail(g, "logits: scale has shape %v, want a scalar", shapeOf(scale))
	}
	if scale.Dims() != 2 {
		scale = g.Reshape(scale, 1, 1) // (1, 1)
	}
	i := NormalizeRows(g, img)               // (N, E)
	t := NormalizeRows(g, txt)               // (M, E)
	sim := g.MatMul(i, g.Transpose(t, 1, 0)) // (N, M)
	return g.BroadcastMul(sim, scale)        // (N, M)
}

// MaxLogitScale is CLIP training's clamp on logit_scale: ln(100).
var MaxLogitScale = math.Log(100)

// LogitScale is CLIP's learnable temperature: the graph uses exp(Param),
// and Clamp keeps Param in [0, Max] after each optimizer step, as CLIP
// training code does (logit_scale.clamp_(0, ln 100)).
type LogitScale struct {
	Param *nn.Param // scalar (or one-element) log scale, e.g. "logit_scale"
	Max   float64   // upper clamp; 0 means MaxLogitScale
}

// NewLogitScale makes a parameter named name holding ln(1/0.07), CLIP's
// initial value.
func NewLogitScale(name string) *LogitScale {
	return &LogitScale{Param: nn.NewParam(name, []float32{float32(math.Log(1 / 0.07))})}
}

// Forward returns exp(Param) as a one-element (1, 1) node, ready to scale
// logits (see Logits). Gorgonia's scalar ops do not take tensor-valued
// scalars, so the parameter is reshaped to (1, 1) first.
func (l *LogitScale) Forward(g *nn.Graph) *G.Node {
	if l == nil || l.Param == nil {
		return fail(g, "logit scale: nil parameter")
	}
	if l.Param.Value.Shape().TotalSize() != 1 {
		return fail(g, "logit scale: parameter %s has shape %v, want a scalar", l.Param.Name, []int(l.Param.Value.Shape()))
	}
	p := g.Reshape(g.Param(l.Param), 1, 1) // (1, 1)
	return g.Exp(p)                        // (1, 1)
}

// Clamp limits the parameter to [0, Max] in place and returns the value.
func (l *LogitScale) Clamp() float64 {
	hi := l.Max
	if hi == 0 {
		hi = MaxLogitScale
	}
	d := l.Param.Value.Float32s()
	for i, v := range d {
		d[i] = float32(math.Min(math.Max(float64(v), 0), hi))
	}
	return float64(d[0])
}

// Value is exp(Param).
func (l *LogitScale) Value() float64 {
	return math.Exp(float64(l.Param.Value.Float32s()[0]))
}
