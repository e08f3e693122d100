package raster

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"image"
	"io"
	"math"
	"strconv"
	"strings"
)

// Drawing is a scene together with its geometry: what an SVG file holds.
type Drawing struct {
	Scene  Scene
	Points []float64 // (N, 2), pixel coordinates
	Radii  []float64 // (P), half the stroke width
	Colors []float64 // (P, 4), straight RGBA
}

// Validate checks the geometry against the scene.
func (d *Drawing) Validate() error {
	if err := d.Scene.Validate(); err != nil {
		return err
	}
	return d.Scene.checkInputs(d.Points, d.Radii, d.Colors)
}

// Resize scales the drawing to a width×height canvas. Radii scale by the
// geometric mean of the two scale factors.
func (d *Drawing) Resize(width, height int) {
	sx := float64(width) / float64(d.Scene.Width)
	sy := float64(height) / float64(d.Scene.Height)
	for i := 0; i < len(d.Points); i += 2 {
		d.Points[i] *= sx
		d.Points[i+1] *= sy
	}
	s := math.Sqrt(sx * sy)
	for i := range d.Radii {
		d.Radii[i] *= s
	}
	d.Scene.Width, d.Scene.Height = width, height
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// WriteSVG writes the drawing in the form diffvg's save_svg (and so CLIPasso)
// writes: one <path> per stroke with stroke-width = 2·radius, stroke="rgb(…)"
// (8-bit channels), stroke-opacity, round caps and joins and no fill. Colours
// and opacity are clamped to [0, 1] and widths to ≥ 0, as SVG requires. The
// background is not written (readers assume white).
func WriteSVG(w io.Writer, d *Drawing) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("svg: write: %w", err)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n")
	fmt.Fprintf(bw, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\">\n<defs/>\n<g>\n", d.Scene.Width, d.Scene.Height)
	first := 0
	for i, p := range d.Scene.Paths {
		pt := func(k int) string {
			return fmtNum(d.Points[2*k]) + " " + fmtNum(d.Points[2*k+1])
		}
		var b strings.Builder
		b.WriteString("M " + pt(first))
		cur := first + 1
		for j, deg := range p.Segments {
			last := p.Closed && j == len(p.Segments)-1
			if last && deg == Line {
				break
			}
			b.WriteString(" " + [...]string{"L", "Q", "C"}[deg])
			for k := range deg + 1 {
				if last && k == deg {
					b.WriteString(" " + pt(first))
				} else {
					b.WriteString(" " + pt(cur))
					cur++
				}
			}
		}
		if p.Closed {
			b.WriteString(" Z")
		}
		c := d.Colors[4*i : 4*i+4]
		ch := func(v float64) int { return int(math.Round(255 * math.Max(0, math.Min(1, v)))) }
		fmt.Fprintf(bw, "<path d=\"%s\" stroke-width=\"%s\" stroke=\"rgb(%d, %d, %d)\" stroke-opacity=\"%s\" stroke-linecap=\"round\" stroke-linejoin=\"round\" fill=\"none\"/>\n",
			b.String(), fmtNum(math.Max(0, 2*d.Radii[i])), ch(c[0]), ch(c[1]), ch(c[2]), fmtNum(math.Max(0, math.Min(1, c[3]))))
		first += p.NumPoints()
	}
	fmt.Fprintf(bw, "</g>\n</svg>\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("svg: write: %w", err)
	}
	return nil
}

// style is the inherited presentation state.
type style map[string]string

// ReadSVG reads stroked paths from an SVG document: <path> elements (also
// inside <g>) with M, L, H, V, Q, C and Z commands, absolute and relative;
// stroke, stroke-width, stroke-opacity, fill, stroke-linecap and
// stroke-linejoin as attributes or in style="…", inherited from groups;
// the canvas from width/height (px) and viewBox. Every subpath becomes a Path.
// The background is white. What the rasterizer cannot draw is an error:
// transforms, opacity other than 1, fills other than none (including the
// default black fill when fill is not given), caps or joins other than round
// (absent ones are drawn round), other elements, S/T/A commands.
func ReadSVG(r io.Reader) (*Drawing, error) {
	dec := xml.NewDecoder(r)
	d := &Drawing{Scene: Scene{Background: White}}
	var stack []style
	var sx, sy, ox, oy float64 = 1, 1, 0, 0
	skip, seenSVG, nPath := 0, false, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("svg: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if skip > 0 {
				skip++
				continue
			}
			attrs, err := elementStyle(t, stack)
			if err != nil {
				return nil, err
			}
			switch t.Name.Local {
			case "svg":
				if seenSVG {
					return nil, fmt.Errorf("svg: nested <svg> elements are not supported")
				}
				seenSVG = true
				if sx, sy, ox, oy, err = d.canvas(t); err != nil {
					return nil, err
				}
			case "g":
			case "defs", "title", "desc", "metadata":
				skip = 1
				continue
			case "path":
				if !seenSVG {
					return nil, fmt.Errorf("svg: <path> outside <svg>")
				}
				if err := d.addPath(attrs, sx, sy, ox, oy); err != nil {
					return nil, fmt.Errorf("svg: path %d: %w", nPath, err)
				}
				nPath++
			default:
				return nil, fmt.Errorf("svg: element <%s> is not supported (only <svg>, <g> and <path>)", t.Name.Local)
			}
			stack = append(stack, attrs)
		case xml.EndElement:
			if skip > 0 {
				skip--
				continue
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if !seenSVG {
		return nil, fmt.Errorf("svg: no <svg> element")
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("svg: %w", err)
	}
	return d, nil
}

// elementStyle merges the inherited style, the element's attributes and its
// style attribute, and rejects what cannot be drawn.
func elementStyle(t xml.StartElement, stack []style) (style, error) {
	s := style{}
	if len(stack) > 0 {
		for k, v := range stack[len(stack)-1] {
			if k != "d" {
				s[k] = v
			}
		}
	}
	for _, a := range t.Attr {
		s[a.Name.Local] = strings.TrimSpace(a.Value)
	}
	if css, ok := s["style"]; ok {
		for _, decl := range strings.Split(css, ";") {
			k, v, ok := strings.Cut(decl, ":")
			if ok {
				s[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		delete(s, "style")
	}
	name := t.Name.Local
	if v, ok := s["transform"]; ok && v != "" {
		return nil, fmt.Errorf("svg: <%s> transform=%q: transforms are not supported", name, v)
	}
	delete(s, "transform")
	if v, ok := s["opacity"]; ok {
		if f, err := strconv.ParseFloat(v, 64); err != nil || f != 1 {
			return nil, fmt.Errorf("svg: <%s> opacity=%q: only 1 is supported (use stroke-opacity)", name, v)
		}
	}
	delete(s, "opacity")
	return s, nil
}

// canvas reads width, height and viewBox and returns the user-unit to pixel
// mapping x_px = (x - ox)·sx.
func (d *Drawing) canvas(t xml.StartElement) (sx, sy, ox, oy float64, err error) {
	var w, h float64
	var vb []float64
	for _, a := range t.Attr {
		switch a.Name.Local {
		case "width", "height":
			v, err := parseLength(a.Value)
			if err != nil {
				return 0, 0, 0, 0, fmt.Errorf("svg: <svg> %s: %w", a.Name.Local, err)
			}
			if a.Name.Local == "width" {
				w = v
			} else {
				h = v
			}
		case "viewBox":
			vb, err = parseNumbers(a.Value)
			if err != nil || len(vb) != 4 || vb[2] <= 0 || vb[3] <= 0 {
				return 0, 0, 0, 0, fmt.Errorf("svg: viewBox %q: want 4 numbers with positive width and height", a.Value)
			}
		}
	}
	switch {
	case vb != nil && w == 0 && h == 0:
		w, h = vb[2], vb[3]
	case vb != nil && w == 0:
		w = h * vb[2] / vb[3]
	case vb != nil && h == 0:
		h = w * vb[3] / vb[2]
	case vb == nil && (w == 0 || h == 0):
		return 0, 0, 0, 0, fmt.Errorf("svg: <svg> needs width and height or a viewBox")
	}
	d.Scene.Width, d.Scene.Height = int(math.Round(w)), int(math.Round(h))
	if vb == nil {
		return 1, 1, 0, 0, nil
	}
	return w / vb[2], h / vb[3], vb[0], vb[1], nil
}

func parseLength(v string) (float64, error) {
	v = strings.TrimSuffix(strings.TrimSpace(v), "px")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) {
		return 0, fmt.Errorf("%q: want a positive length in px", v)
	}
	return f, nil
}

func parseNumbers(v string) ([]float64, error) {
	var out []float64
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		x, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// addPath appends the subpaths of one <path>.
func (d *Drawing) addPath(s style, sx, sy, ox, oy float64) error {
	if f, ok := s["fill"]; !ok {
		return fmt.Errorf("no fill attribute: SVG's default black fill cannot be drawn; set fill=\"none\"")
	} else if f != "none" && f != "transparent" {
		return fmt.Errorf("fill=%q: fills are not supported (only none)", f)
	}
	for _, k := range []string{"stroke-linecap", "stroke-linejoin"} {
		if v, ok := s[k]; ok && v != "round" {
			return fmt.Errorf("%s=%q: only round is supported", k, v)
		}
	}
	rgba := [4]float64{0, 0, 0, 0}
	if v, ok := s["stroke"]; ok {
		c, err := ParseColor(v)
		if err != nil {
			return fmt.Errorf("stroke: %w", err)
		}
		rgba = c
	}
	if v, ok := s["stroke-opacity"]; ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return fmt.Errorf("stroke-opacity %q: want a number in [0, 1]", v)
		}
		rgba[3] *= f
	}
	width := 1.0
	if v, ok := s["stroke-width"]; ok {
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "px"), 64)
		if err != nil || f < 0 {
			return fmt.Errorf("stroke-width %q: want a non-negative number", v)
		}
		width = f
	}
	subs, err := parsePathData(s["d"])
	if err != nil {
		return err
	}
	for _, sp := range subs {
		d.Scene.Paths = append(d.Scene.Paths, sp.path)
		for i := 0; i < len(sp.pts); i += 2 {
			d.Points = append(d.Points, (sp.pts[i]-ox)*sx, (sp.pts[i+1]-oy)*sy)
		}
		d.Radii = append(d.Radii, width/2*math.Sqrt(sx*sy))
		d.Colors = append(d.Colors, rgba[:]...)
	}
	return nil
}

var namedColors = map[string][3]float64{
	"black": {0, 0, 0}, "white": {1, 1, 1}, "red": {1, 0, 0}, "green": {0, 128.0 / 255, 0},
	"blue": {0, 0, 1}, "gray": {128.0 / 255, 128.0 / 255, 128.0 / 255}, "grey": {128.0 / 255, 128.0 / 255, 128.0 / 255},
	"yellow": {1, 1, 0},
}

// ParseColor reads an SVG colour: none, rgb(r, g, b) (0–255 or percentages), #rgb, #rrggbb
// and a few names, as straight RGBA.
func ParseColor(v string) ([4]float64, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "none" || v == "transparent" {
		return [4]float64{}, nil
	}
	if c, ok := namedColors[v]; ok {
		return [4]float64{c[0], c[1], c[2], 1}, nil
	}
	if strings.HasPrefix(v, "#") {
		h := v[1:]
		if len(h) == 3 {
			h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
		}
		x, err := strconv.ParseUint(h, 16, 32)
		if err != nil || len(h) != 6 {
			return [4]float64{}, fmt.Errorf("%q: bad hex colour", v)
		}
		return [4]float64{float64(x>>16) / 255, float64(x>>8&255) / 255, float64(x&255) / 255, 1}, nil
	}
	if strings.HasPrefix(v, "rgb(") && strings.HasSuffix(v, ")") {
		parts := strings.Split(v[4:len(v)-1], ",")
		if len(parts) != 3 {
			return [4]float64{}, fmt.Errorf("%q: want rgb(r, g, b)", v)
		}
		var c [4]float64
		c[3] = 1
		for i, p := range parts {
			p = strings.TrimSpace(p)
			scale := 255.0
			if strings.HasSuffix(p, "%") {
				p, scale = p[:len(p)-1], 100
			}
			f, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return [4]float64{}, fmt.Errorf("%q: bad channel %q", v, p)
			}
			c[i] = math.Max(0, math.Min(1, f/scale))
		}
		return c, nil
	}
	return [4]float64{}, fmt.Errorf("%q: unsupported colour (want none, rgb(…), #hex or black/white/red/green/blue/gray/yellow)", v)
}

// subpath is one parsed subpath with its absolute points.
type subpath struct {
	path Path
	pts  []float64
}

// pathLexer splits SVG path data into commands and numbers.
type pathLexer struct {
	s   string
	pos int
}

func (l *pathLexer) skipSep() {
	for l.pos < len(l.s) && strings.IndexByte(" \t\n\r,", l.s[l.pos]) >= 0 {
		l.pos++
	}
}

// number reads one number, or reports that none starts here.
func (l *pathLexer) number() (float64, bool, error) {
	l.skipSep()
	start, i := l.pos, l.pos
	if i < len(l.s) && (l.s[i] == '+' || l.s[i] == '-') {
		i++
	}
	digits, dot := 0, false
	for i < len(l.s) {
		c := l.s[i]
		if c >= '0' && c <= '9' {
			digits++
		} else if c == '.' && !dot {
			dot = true
		} else {
			break
		}
		i++
	}
	if digits == 0 {
		return 0, false, nil
	}
	if i < len(l.s) && (l.s[i] == 'e' || l.s[i] == 'E') {
		j := i + 1
		if j < len(l.s) && (l.s[j] == '+' || l.s[j] == '-') {
			j++
		}
		if j < len(l.s) && l.s[j] >= '0' && l.s[j] <= '9' {
			for j < len(l.s) && l.s[j] >= '0' && l.s[j] <= '9' {
				j++
			}
			i = j
		}
	}
	f, err := strconv.ParseFloat(l.s[start:i], 64)
	if err != nil {
		return 0, false, fmt.Errorf("path data: bad number %q at offset %d", l.s[start:i], start)
	}
	l.pos = i
	return f, true, nil
}

// parsePathData parses M/L/H/V/Q/C/Z (and lower-case relative forms).
func parsePathData(data string) ([]subpath, error) {
	l := &pathLexer{s: data}
	var subs []subpath
	var cur *subpath
	var x, y, x0, y0 float64
	var cmd byte
	need := map[byte]int{'M': 2, 'L': 2, 'H': 1, 'V': 1, 'Q': 4, 'C': 6, 'Z': 0}
	for {
		l.skipSep()
		if l.pos >= len(l.s) {
			break
		}
		c := l.s[l.pos]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			l.pos++
			cmd = c
		} else if cmd == 0 {
			return nil, fmt.Errorf("path data: %q at offset %d: expected a command", c, l.pos)
		} else if cmd == 'M' || cmd == 'm' {
			cmd = map[byte]byte{'M': 'L', 'm': 'l'}[cmd] // further pairs after a moveto are linetos
		} else if cmd == 'Z' || cmd == 'z' {
			return nil, fmt.Errorf("path data: number after Z at offset %d", l.pos)
		}
		up := cmd &^ 0x20
		n, ok := need[up]
		if !ok {
			return nil, fmt.Errorf("path data: command %c is not supported (M, L, H, V, Q, C, Z)", cmd)
		}
		rel := cmd >= 'a'
		var a [6]float64
		for i := range n {
			f, ok, err := l.number()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("path data: command %c needs %d numbers, got %d (offset %d)", cmd, n, i, l.pos)
			}
			a[i] = f
		}
		if rel {
			switch up {
			case 'H':
				a[0] += x
			case 'V':
				a[0] += y
			default:
				for i := 0; i < n; i += 2 {
					a[i] += x
					a[i+1] += y
				}
			}
		}
		if up == 'M' {
			subs = append(subs, subpath{pts: []float64{a[0], a[1]}})
			cur = &subs[len(subs)-1]
			x, y, x0, y0 = a[0], a[1], a[0], a[1]
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("path data: %c before any M", cmd)
		}
		if cur.path.Closed {
			// drawing on after Z starts a new subpath at the start point
			subs = append(subs, subpath{pts: []float64{x0, y0}})
			cur = &subs[len(subs)-1]
		}
		switch up {
		case 'L':
			cur.path.Segments = append(cur.path.Segments, Line)
			x, y = a[0], a[1]
		case 'H':
			cur.path.Segments = append(cur.path.Segments, Line)
			x = a[0]
		case 'V':
			cur.path.Segments = append(cur.path.Segments, Line)
			y = a[0]
		case 'Q':
			cur.path.Segments = append(cur.path.Segments, Quadratic)
			cur.pts = append(cur.pts, a[0], a[1])
			x, y = a[2], a[3]
		case 'C':
			cur.path.Segments = append(cur.path.Segments, Cubic)
			cur.pts = append(cur.pts, a[0], a[1], a[2], a[3])
			x, y = a[4], a[5]
		case 'Z':
			if x != x0 || y != y0 || len(cur.path.Segments) == 0 {
				cur.path.Segments = append(cur.path.Segments, Line)
			} else {
				cur.pts = cur.pts[:len(cur.pts)-2] // the last segment ends at the start point
			}
			cur.path.Closed = true
			x, y = x0, y0
			continue
		}
		cur.pts = append(cur.pts, x, y)
	}
	// a moveto without drawing commands renders nothing in SVG (unlike
	// "M x y Z" or a zero-length line, which draw a round dot)
	out := subs[:0]
	for _, sp := range subs {
		if len(sp.path.Segments) > 0 {
			out = append(out, sp)
		}
	}
	return out, nil
}

// ToNRGBA converts a rendering, rgb (3·H·W, premultiplied by alpha) and alpha
// (H·W, or nil for opaque), to an 8-bit image.
func ToNRGBA(rgb, alpha []float64, width, height int) (*image.NRGBA, error) {
	n := width * height
	if width <= 0 || height <= 0 || len(rgb) != 3*n || (alpha != nil && len(alpha) != n) {
		return nil, fmt.Errorf("raster: image: %d rgb and %d alpha values do not fit %d×%d", len(rgb), len(alpha), width, height)
	}
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	to8 := func(v float64) uint8 { return uint8(math.Round(255 * math.Max(0, math.Min(1, v)))) }
	for i := range n {
		a := 1.0
		if alpha != nil {
			a = alpha[i]
		}
		un := 0.0
		if a > 0 {
			un = 1 / a
		}
		img.Pix[4*i] = to8(rgb[i] * un)
		img.Pix[4*i+1] = to8(rgb[n+i] * un)
		img.Pix[4*i+2] = to8(rgb[2*n+i] * un)
		img.Pix[4*i+3] = to8(a)
	}
	return img, nil
}
