package raster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphGrads renders the scene in a dtype graph, takes L = Σ wts·img and
// returns the image and the gradients, as float64.
func graphGrads(t *testing.T, dt tensor.Dtype, scene Scene, points, radii, colors, wts []float64) (img, dP, dR, dC []float64) {
	t.Helper()
	conv := func(x []float64) any {
		if dt == tensor.Float64 {
			return append([]float64(nil), x...)
		}
		y := make([]float32, len(x))
		for i, v := range x {
			y[i] = float32(v)
		}
		return y
	}
	back := func(v G.Value) []float64 {
		switch d := v.Data().(type) {
		case []float64:
			return d
		case []float32:
			y := make([]float64, len(d))
			for i, v := range d {
				y[i] = float64(v)
			}
			return y
		}
		t.Fatalf("dtype %T", v.Data())
		return nil
	}
	g := G.NewGraph()
	n, p := scene.NumPoints(), len(scene.Paths)
	pts := G.NewMatrix(g, dt, G.WithShape(n, 2), G.WithName("points"), G.WithValue(tensor.New(tensor.WithShape(n, 2), tensor.WithBacking(conv(points)))))
	rad := G.NewVector(g, dt, G.WithShape(p), G.WithName("radii"), G.WithValue(tensor.New(tensor.WithShape(p), tensor.WithBacking(conv(radii)))))
	col := G.NewMatrix(g, dt, G.WithShape(p, 4), G.WithName("colors"), G.WithValue(tensor.New(tensor.WithShape(p, 4), tensor.WithBacking(conv(colors)))))
	w := G.NewTensor(g, dt, 4, G.WithShape(1, 3, scene.Height, scene.Width), G.WithName("weights"),
		G.WithValue(tensor.New(tensor.WithShape(1, 3, scene.Height, scene.Width), tensor.WithBacking(conv(wts)))))
	out, err := Render(g, scene, pts, rad, col)
	if err != nil {
		t.Fatal(err)
	}
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(out, w))))
	if _, err := G.Grad(loss, pts, rad, col); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	grad := func(n *G.Node) []float64 {
		v, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		return back(v)
	}
	return back(out.Value()), grad(pts), grad(rad), grad(col)
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// The graph op must reproduce the plain kernels exactly in float64 and to
// float32 precision in float32.
func TestRenderOpMatchesKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	scene := StrokeScene(48, 40, 5, 2)
	points, radii, colors := randomStrokes(rng, scene, 20)
	wts := make([]float64, 3*48*40)
	for i := range wts {
		wts[i] = rng.Float64() - 0.5
	}
	rgb, _, err := RenderImage(scene, points, radii, colors)
	if err != nil {
		t.Fatal(err)
	}
	dP, dR, dC, err := Backward(scene, points, radii, colors, wts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dt       tensor.Dtype
		img, grd float64
	}{{tensor.Float64, 0, 1e-12}, {tensor.Float32, 1e-6, 2e-3}} {
		t.Run(tc.dt.String(), func(t *testing.T) {
			img, gP, gR, gC := graphGrads(t, tc.dt, scene, points, radii, colors, wts)
			if d := maxAbsDiff(img, rgb); d > tc.img {
				t.Errorf("image differs by %g", d)
			}
			for _, c := range []struct {
				name      string
				got, want []float64
			}{{"points", gP, dP}, {"radii", gR, dR}, {"colors", gC, dC}} {
				scale := 0.0
				for _, v := range c.want {
					scale = math.Max(scale, math.Abs(v))
				}
				if d := maxAbsDiff(c.got, c.want); d > tc.grd*math.Max(1, scale) {
					t.Errorf("%s gradient differs by %g (scale %g)", c.name, d, scale)
				}
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	g := G.NewGraph()
	scene := CLIPassoScene(2)
	pts := G.NewMatrix(g, tensor.Float32, G.WithShape(8, 2), G.WithName("p"))
	rad := G.NewVector(g, tensor.Float32, G.WithShape(2), G.WithName("r"))
	col := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 4), G.WithName("c"))
	bad := G.NewMatrix(g, tensor.Float32, G.WithShape(7, 2), G.WithName("bad"))
	col64 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 4), G.WithName("c64"))
	cases := []struct {
		name string
		err  func() error
	}{
		{"points shape", func() error { _, err := Render(g, scene, bad, rad, col); return err }},
		{"mixed dtype", func() error { _, err := Render(g, scene, pts, rad, col64); return err }},
		{"nil", func() error { _, err := Render(g, scene, pts, nil, col); return err }},
		{"no paths", func() error { _, err := Render(g, Scene{Width: 4, Height: 4}, pts, rad, col); return err }},
		{"bad canvas", func() error { s := scene; s.Width = 0; _, err := Render(g, s, pts, rad, col); return err }},
		{"bad degree", func() error {
			s := scene
			s.Paths = []Path{{Segments: []int{3}}, {Segments: []int{2}}}
			_, err := Render(g, s, pts, rad, col)
			return err
		}},
		{"NaN point", func() error {
			p := make([]float64, 16)
			p[3] = math.NaN()
			_, _, err := RenderImage(scene, p, []float64{1, 1}, make([]float64, 8))
			return err
		}},
		{"short colors", func() error {
			_, _, err := RenderImage(scene, make([]float64, 16), []float64{1, 1}, make([]float64, 7))
			return err
		}},
	}
	for _, c := range cases {
		err := c.err()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		t.Logf("%s: %v", c.name, err)
	}
}

// Fit one cubic stroke's control points to a target rendering with Adam
// through the graph op; the loss must fall by at least 95%.
func TestFitStrokeAdam(t *testing.T) {
	const size = 64
	scene := StrokeScene(size, size, 1, 1)
	target := []float64{12, 50, 20, 10, 45, 15, 52, 48}
	start := []float64{17, 46, 24, 15, 41, 19, 48, 44}
	radii, colors := []float64{3}, []float64{0, 0, 0, 1}
	tgt, _, err := RenderImage(scene, target, radii, colors)
	if err != nil {
		t.Fatal(err)
	}
	g := G.NewGraph()
	pts := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 2), G.WithName("points"), G.WithValue(tensor.New(tensor.WithShape(4, 2), tensor.WithBacking(append([]float64(nil), start...)))))
	rad := G.NewVector(g, tensor.Float64, G.WithShape(1), G.WithName("radii"), G.WithValue(tensor.New(tensor.WithShape(1), tensor.WithBacking(radii))))
	col := G.NewMatrix(g, tensor.Float64, G.WithShape(1, 4), G.WithName("colors"), G.WithValue(tensor.New(tensor.WithShape(1, 4), tensor.WithBacking(colors))))
	tn := G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 3, size, size), G.WithName("target"), G.WithValue(tensor.New(tensor.WithShape(1, 3, size, size), tensor.WithBacking(tgt))))
	img, err := Render(g, scene, pts, rad, col)
	if err != nil {
		t.Fatal(err)
	}
	loss := G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(img, tn))))))
	if _, err := G.Grad(loss, pts); err != nil {
		t.Fatal(err)
	}
	var lossVal G.Value
	G.Read(loss, &lossVal)
	vm := G.NewTapeMachine(g, G.BindDualValues(pts))
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(0.5))
	var first, last float64
	for it := range 150 {
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		l := lossVal.Data().(float64)
		if it == 0 {
			first = l
		}
		last = l
		if err := solver.Step(G.NodesToValueGrads(G.Nodes{pts})); err != nil {
			t.Fatal(err)
		}
		vm.Reset()
	}
	t.Logf("loss %.4g → %.4g (%.2f%% lower); points %v", first, last, 100*(1-last/first), fmt.Sprint(pts.Value().Data()))
	if !(last <= 0.05*first) {
		t.Errorf("loss fell from %.4g to %.4g, less than 95%%", first, last)
	}
}

// Two Render nodes on the same inputs whose scenes differ in one parameter
// must stay two nodes (Gorgonia merges nodes with equal op hashes).
func TestRenderOpHashKeepsScenesApart(t *testing.T) {
	g := G.NewGraph()
	scene := StrokeScene(16, 16, 1, 1)
	pts := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 2), G.WithName("p"), G.WithValue(tensor.New(tensor.WithShape(4, 2), tensor.WithBacking([]float64{2, 2, 14, 3, 3, 14, 14, 14}))))
	rad := G.NewVector(g, tensor.Float64, G.WithShape(1), G.WithName("r"), G.WithValue(tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{2}))))
	col := G.NewMatrix(g, tensor.Float64, G.WithShape(1, 4), G.WithName("c"), G.WithValue(tensor.New(tensor.WithShape(1, 4), tensor.WithBacking([]float64{0, 0, 0, 1}))))
	variants := []func(*Scene){
		func(*Scene) {},
		func(s *Scene) { s.Background = [4]float64{0, 0, 0, 1} },
		func(s *Scene) { s.Samples = 2 },
		func(s *Scene) { s.Paths = []Path{{Segments: []int{Line, Line, Line}}} }, // also 4 points
	}
	var nodes []*G.Node
	for _, v := range variants {
		s := scene
		s.Paths = append([]Path(nil), scene.Paths...)
		v(&s)
		n, err := Render(g, s, pts, rad, col)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		for j := range i {
			if nodes[i] == nodes[j] {
				t.Errorf("variants %d and %d were merged into one node", j, i)
			} else if maxAbsDiff(nodes[i].Value().Data().([]float64), nodes[j].Value().Data().([]float64)) == 0 {
				t.Errorf("variants %d and %d render the same image", j, i)
			}
		}
	}
}
