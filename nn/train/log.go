package train

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Logger writes one Record per step as JSON lines and/or CSV rows (with a
// header before the first row).
type Logger struct {
	JSONL io.Writer // nil: no JSONL
	CSV   io.Writer // nil: no CSV

	csv    *csv.Writer
	header bool
}

var csvHeader = []string{"step", "loss", "lr", "grad_norm", "seconds", "elapsed"}

// Write logs r.
func (l *Logger) Write(r Record) error {
	if l.JSONL != nil {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("train: log: %w", err)
		}
		if _, err := l.JSONL.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("train: log: %w", err)
		}
	}
	if l.CSV != nil {
		if l.csv == nil {
			l.csv = csv.NewWriter(l.CSV)
		}
		if !l.header {
			l.csv.Write(csvHeader)
			l.header = true
		}
		f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
		l.csv.Write([]string{strconv.Itoa(r.Step), f(r.Loss), f(r.LR), f(r.GradNorm), f(r.Seconds), f(r.Elapsed)})
		l.csv.Flush()
		if err := l.csv.Error(); err != nil {
			return fmt.Errorf("train: log: %w", err)
		}
	}
	return nil
}

// Progress draws a one-line progress display: step, loss, steps/s and ETA.
// On a terminal the line is redrawn in place with \r; otherwise it prints
// plain lines, about Lines of them per run (and always the last step).
type Progress struct {
	W     io.Writer
	TTY   bool
	Lines int // plain-line mode: lines per run (0 means 20)

	last  string
	drawn bool
}

// NewProgress draws on w, detecting whether w is a terminal.
func NewProgress(w io.Writer) *Progress {
	return &Progress{W: w, TTY: isTerminal(w)}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}

// Line formats the progress of record r in a run from step first to total.
func Line(r Record, first, total int) string {
	done := r.Step - first
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(done) / r.Elapsed
	}
	eta := "?"
	if rate > 0 {
		eta = formatDuration(time.Duration(float64(total-r.Step) / rate * float64(time.Second)))
	}
	width := len(strconv.Itoa(total))
	return fmt.Sprintf("step %*d/%d  loss %.4f  lr %.3g  %.2f steps/s  ETA %s", width, r.Step, total, r.Loss, r.LR, rate, eta)
}

func formatDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Update shows record r of a run from step first to total.
func (p *Progress) Update(r Record, first, total int) {
	line := Line(r, first, total)
	if p.TTY {
		pad := ""
		if n := len(p.last) - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(p.W, "\r%s%s", line, pad)
		p.last, p.drawn = line, true
		return
	}
	lines := p.Lines
	if lines <= 0 {
		lines = 20
	}
	every := max(1, (total-first)/lines)
	if (r.Step-first)%every == 0 || r.Step == total {
		fmt.Fprintln(p.W, line)
	}
}

// Done ends the in-place line with a newline.
func (p *Progress) Done() {
	if p.TTY && p.drawn {
		fmt.Fprintln(p.W)
		p.drawn = false
	}
}
