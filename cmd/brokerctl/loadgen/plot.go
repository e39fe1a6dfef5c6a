package loadgen

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
)

// PlotSeries is one line of a latency plot: a run's latency distribution.
type PlotSeries struct {
	Name   string
	Points []PercentileValue
	// Dashed draws the line dashed: a reference, such as the raw pion ceiling.
	Dashed bool
}

// Geometry of the plot, in SVG user units.
const (
	plotW, plotH                       = 900, 500
	marginL, marginR, marginT, marginB = 70, 250, 40, 60
)

// palette is Tableau 10, repeated if needed (dashes tell references apart).
var palette = []string{"#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC"}

// maxPlotPercentile is where the x axis ends: it is logarithmic in
// 1/(1-p), which has no place for 100.
const maxPlotPercentile = 99.999

func percentileX(p float64) float64 {
	p = min(p, maxPlotPercentile)
	return math.Log10(100 / (100 - p))
}

// WriteLatencySVG draws the latency distributions of series the way HDR
// histograms are usually shown: percentile on a log scale of 1/(1-p) across,
// so the tail gets the room, and latency on a log scale up.
func WriteLatencySVG(w io.Writer, title string, series []PlotSeries) error {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, pt := range s.Points {
			v := math.Max(float64(pt.Us), 1) / 1000 // ms
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0.1, 10
	}
	yMin := math.Floor(math.Log10(lo))
	yMax := math.Ceil(math.Log10(hi))
	if yMax <= yMin {
		yMax = yMin + 1
	}
	xMax := percentileX(maxPlotPercentile)
	iw, ih := float64(plotW-marginL-marginR), float64(plotH-marginT-marginB)
	px := func(p float64) float64 { return marginL + percentileX(p)/xMax*iw }
	py := func(ms float64) float64 {
		return marginT + ih - (math.Log10(math.Max(ms, math.Pow(10, yMin)))-yMin)/(yMax-yMin)*ih
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, esc(title))

	// Grid and axis labels.
	for _, p := range []float64{0, 90, 99, 99.9, 99.99, 99.999} {
		x := px(p)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, marginT, x, marginT+ih)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s%%</text>`+"\n", x, marginT+ih+18, trimFloat(p))
	}
	for d := yMin; d <= yMax; d++ {
		ms := math.Pow(10, d)
		y := py(ms)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", marginL, y, marginL+iw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s ms</text>`+"\n", marginL-6, y+4, trimFloat(ms))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", marginL, marginT, iw, ih)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">percentile</text>`+"\n", marginL+iw/2, plotH-15)
	fmt.Fprintf(&b, `<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">latency (log scale)</text>`+"\n", marginT+ih/2, marginT+ih/2)

	for i, s := range series {
		colour := palette[i%len(palette)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if len(s.Points) > 0 {
			writePolyline(&b, colour, dash, len(s.Points), func(j int) (float64, float64) {
				pt := s.Points[j]
				return px(pt.Percentile), py(float64(pt.Us) / 1000)
			})
		}
		writeLegend(&b, i, colour, dash, s.Name)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// writePolyline draws one series of n points, point(j) giving the j-th in
// plot coordinates; both plots draw their lines with it.
func writePolyline(b *bytes.Buffer, colour, dash string, n int, point func(j int) (x, y float64)) {
	b.WriteString(`<polyline fill="none" stroke-width="2" stroke="` + colour + `"` + dash + ` points="`)
	for j := range n {
		if j > 0 {
			b.WriteByte(' ')
		}
		x, y := point(j)
		fmt.Fprintf(b, "%.1f,%.1f", x, y)
	}
	b.WriteString(`"/>` + "\n")
}

// writeLegend draws series i's legend entry to the right of the plot.
func writeLegend(b *bytes.Buffer, i int, colour, dash, name string) {
	ly := float64(marginT + 10 + 20*i)
	lx := float64(plotW - marginR + 15)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"%s/>`+"\n", lx, ly, lx+20, ly, colour, dash)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+26, ly+4, esc(name))
}

func esc(s string) string {
	var b bytes.Buffer
	// EscapeText only fails when the writer does.
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func trimFloat(f float64) string { return fmt.Sprintf("%g", f) }
