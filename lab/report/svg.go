package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// svg builds one inline SVG chart. Every piece of text goes through
// template.HTMLEscapeString, whose output is also valid XML; attribute
// values other than text are numbers and colours chosen by this package.
type svg struct {
	b    strings.Builder
	w, h float64
}

func newSVG(w, h float64, label string) *svg {
	s := &svg{w: w, h: h}
	fmt.Fprintf(&s.b, `<svg class="chart" viewBox="0 0 %s %s" role="img" aria-label="%s">`, num(w), num(h), esc(label))
	return s
}

// HTML closes the chart and returns it for the page template.
func (s *svg) HTML() template.HTML {
	s.b.WriteString("</svg>")
	return template.HTML(s.b.String()) // #nosec: built from escaped text and numbers only
}

func (s *svg) line(x1, y1, x2, y2 float64, class string) {
	fmt.Fprintf(&s.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="%s"/>`, num(x1), num(y1), num(x2), num(y2), class)
}

func (s *svg) rect(x, y, w, h float64, class, fill string) {
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s" class="%s"`, num(x), num(y), num(max(w, 0)), num(max(h, 0)), class)
	if fill != "" {
		fmt.Fprintf(&s.b, ` fill="%s"`, fill)
	}
	s.b.WriteString("/>")
}

// text writes t at (x, y); anchor is "start", "middle" or "end".
func (s *svg) text(x, y float64, anchor, class, t string) {
	fmt.Fprintf(&s.b, `<text x="%s" y="%s" text-anchor="%s" class="%s">%s</text>`, num(x), num(y), anchor, class, esc(t))
}

// path strokes (or, with fill, fills) the polyline segments; each segment
// is a run of points without a gap.
func (s *svg) path(segs [][]pt, class, stroke, fill string) {
	var d strings.Builder
	for _, seg := range segs {
		for i, p := range seg {
			if i == 0 {
				d.WriteString("M")
			} else {
				d.WriteString("L")
			}
			d.WriteString(num(p.x) + " " + num(p.y))
		}
	}
	if d.Len() == 0 {
		return
	}
	if fill == "" {
		fill = "none"
	}
	fmt.Fprintf(&s.b, `<path d="%s" class="%s" stroke="%s" fill="%s"/>`, d.String(), class, stroke, fill)
}

func (s *svg) circle(x, y, r float64, fill, title string) {
	fmt.Fprintf(&s.b, `<circle cx="%s" cy="%s" r="%s" fill="%s">`, num(x), num(y), num(r), fill)
	if title != "" {
		fmt.Fprintf(&s.b, "<title>%s</title>", esc(title))
	}
	s.b.WriteString("</circle>")
}

// tick is a short vertical mark with a hover title.
func (s *svg) tick(x, y1, y2 float64, stroke string, opacity float64, title string) {
	fmt.Fprintf(&s.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="tick" stroke="%s" stroke-opacity="%s"><title>%s</title></line>`,
		num(x), num(y1), num(x), num(y2), stroke, num(opacity), esc(title))
}

type pt struct{ x, y float64 }

// scale maps a domain onto a pixel range, linearly or by log10.
type scale struct {
	d0, d1, r0, r1 float64
	log            bool
}

func (s scale) at(v float64) float64 {
	d0, d1 := s.d0, s.d1
	if s.log {
		v = math.Log10(math.Max(v, s.d0))
		d0, d1 = math.Log10(d0), math.Log10(d1)
	}
	if d1 == d0 {
		return s.r0
	}
	f := (v - d0) / (d1 - d0)
	f = math.Min(math.Max(f, 0), 1)
	return s.r0 + f*(s.r1-s.r0)
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// num formats a coordinate compactly; non-finite values become 0 so the
// markup stays valid.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

// timeTicks picks round steps (in seconds) for an axis of total ms.
func timeTicks(totalMS float64) []float64 {
	steps := []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400}
	total := totalMS / 1000
	step := steps[len(steps)-1]
	for _, st := range steps {
		if total/st <= 10 {
			step = st
			break
		}
	}
	var out []float64
	for t := 0.0; t <= total+1e-9; t += step {
		out = append(out, t*1000)
	}
	return out
}

// secs labels a time axis tick given in ms.
func secs(ms float64) string {
	s := ms / 1000
	switch {
	case s >= 3600 && math.Mod(s, 3600) == 0:
		return fmt.Sprintf("%.0fh", s/3600)
	case s >= 120 && math.Mod(s, 60) == 0:
		return fmt.Sprintf("%.0fm", s/60)
	default:
		return fmt.Sprintf("%gs", s)
	}
}

// Seconds writes a duration given in ms as the report does (the CLI's
// summary uses it too); see msText.
func Seconds(ms float64) string { return msText(ms) }

// msText writes a duration given in ms for people, in seconds with one
// decimal everywhere in the report ("0.4 s", "150.0 s"; "< 0.1 s" for a
// positive time that would round to zero).
func msText(ms float64) string {
	switch {
	case math.IsNaN(ms) || math.IsInf(ms, 0):
		return "—"
	case ms < 0:
		return "—"
	case ms > 0 && ms < 50:
		return "< 0.1 s"
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

// logLabel labels a log-axis tick in ms.
func logLabel(ms float64) string {
	switch {
	case ms < 1000:
		return fmt.Sprintf("%g ms", ms)
	case ms < 60_000 || math.Mod(ms, 60_000) != 0:
		return fmt.Sprintf("%g s", ms/1000)
	default:
		return fmt.Sprintf("%g min", ms/60_000)
	}
}
