package clipasso

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/goclip/goclip/nn/raster"
)

// Output writes a run's files into Dir:
//
//	target.png            the prepared target
//	relevancy.png         the CLIP relevancy map (attention initialisation only)
//	saliency.png          the sampling distribution (XDoG ∩ relevancy, softmax), rescaled to its maximum
//	init.svg, init.png    the initial strokes
//	svg_logs/svg_iter{k}.svg, png_logs/iter{k}.png   every SaveEvery steps
//	best.svg, best.png    the best evaluated sketch so far
//	loss.csv              iter, loss, then each term
//	final.svg, final.png  the sketch after the last step
type Output struct {
	Dir string
	mu  sync.Mutex
	csv *os.File
}

// NewOutput creates dir (and its log folders).
func NewOutput(dir string) (*Output, error) {
	for _, d := range []string{dir, filepath.Join(dir, "svg_logs"), filepath.Join(dir, "png_logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("clipasso: output: %w", err)
		}
	}
	return &Output{Dir: dir}, nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("clipasso: output: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("clipasso: output: encode %s: %w", path, err)
	}
	return f.Close()
}

// WriteDrawing writes d as an SVG file (diffvg's save_svg layout).
func WriteDrawing(path string, d *raster.Drawing) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("clipasso: output: %w", err)
	}
	if err := raster.WriteSVG(f, d); err != nil {
		f.Close()
		return fmt.Errorf("clipasso: output: %s: %w", path, err)
	}
	return f.Close()
}

// RenderDrawing rasterises d onto white.
func RenderDrawing(d *raster.Drawing) (*image.NRGBA, error) {
	rgb, alpha, err := raster.RenderImage(d.Scene, d.Points, d.Radii, d.Colors)
	if err != nil {
		return nil, fmt.Errorf("clipasso: render: %w", err)
	}
	return raster.ToNRGBA(rgb, alpha, d.Scene.Width, d.Scene.Height)
}

func (o *Output) drawing(name string, d *raster.Drawing) error {
	if err := WriteDrawing(filepath.Join(o.Dir, name+".svg"), d); err != nil {
		return err
	}
	img, err := RenderDrawing(d)
	if err != nil {
		return err
	}
	return writePNG(filepath.Join(o.Dir, name+".png"), img)
}

func (o *Output) start(res *Result, target []float64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := res.Initial.Scene.Width
	if err := writePNG(filepath.Join(o.Dir, "target.png"), ToImage(target, s, s)); err != nil {
		return err
	}
	if sal := res.Saliency; sal != nil {
		if err := writePNG(filepath.Join(o.Dir, "relevancy.png"), MapImage(sal.Relevancy, s, s)); err != nil {
			return err
		}
		if err := writePNG(filepath.Join(o.Dir, "saliency.png"), MapImage(minMax(sal.Prob), s, s)); err != nil {
			return err
		}
	}
	if err := o.drawing("init", res.Initial); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(o.Dir, "loss.csv"))
	if err != nil {
		return fmt.Errorf("clipasso: output: %w", err)
	}
	o.csv = f
	_, err = fmt.Fprintf(f, "iter,loss,%s\n", strings.Join(res.TermNames, ","))
	return err
}

func (o *Output) log(it int, d *raster.Drawing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := strconv.Itoa(it)
	if err := WriteDrawing(filepath.Join(o.Dir, "svg_logs", "svg_iter"+k+".svg"), d); err != nil {
		return err
	}
	img, err := RenderDrawing(d)
	if err != nil {
		return err
	}
	return writePNG(filepath.Join(o.Dir, "png_logs", "iter"+k+".png"), img)
}

func (o *Output) best(d *raster.Drawing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.drawing("best", d)
}

func (o *Output) eval(ev Eval) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.csv == nil {
		return nil
	}
	parts := []string{strconv.Itoa(ev.Iter), strconv.FormatFloat(ev.Loss, 'g', 8, 64)}
	for _, t := range ev.Terms {
		parts = append(parts, strconv.FormatFloat(t, 'g', 8, 64))
	}
	_, err := fmt.Fprintln(o.csv, strings.Join(parts, ","))
	return err
}

func (o *Output) finish(res *Result) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.drawing("final", res.Final); err != nil {
		return err
	}
	if err := o.drawing("best", res.Best); err != nil {
		return err
	}
	if o.csv != nil {
		err := o.csv.Close()
		o.csv = nil
		if err != nil {
			return fmt.Errorf("clipasso: output: loss.csv: %w", err)
		}
	}
	return nil
}
