package loadgen

import (
	"bytes"
	"fmt"
	"io"
	"math"
)

// TimeSeries is one line of a timeline plot (or of any WriteLinesSVG plot).
type TimeSeries struct {
	Name string
	// Points are (minutes, value) pairs; (x, y) for WriteLinesSVG.
	Points [][2]float64
	Dashed bool
}

// WriteTimelineSVG draws series over time on linear axes, in the frame and
// colours of WriteLatencySVG. band, when hi > lo, shades that range of
// values (a pass band).
func WriteTimelineSVG(w io.Writer, title, yLabel string, series []TimeSeries, bandLo, bandHi float64) error {
	return WriteLinesSVG(w, title, "minutes into the window", yLabel, series, bandLo, bandHi)
}

// WriteLinesSVG is WriteTimelineSVG with any quantity across (bench/scale
// plots against the number of servers).
func WriteLinesSVG(w io.Writer, title, xLabel, yLabel string, series []TimeSeries, bandLo, bandHi float64) error {
	xMin, xMax := math.Inf(1), math.Inf(-1)
	yMin, yMax := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			xMin, xMax = math.Min(xMin, p[0]), math.Max(xMax, p[0])
			yMin, yMax = math.Min(yMin, p[1]), math.Max(yMax, p[1])
		}
	}
	if bandHi > bandLo {
		yMin, yMax = math.Min(yMin, bandLo), math.Max(yMax, bandHi)
	}
	if math.IsInf(xMin, 0) {
		xMin, xMax, yMin, yMax = 0, 1, 0, 1
	}
	if xMax <= xMin {
		xMax = xMin + 1
	}
	yStep := niceStep((yMax - yMin) / 6)
	yMin, yMax = math.Floor(yMin/yStep)*yStep, math.Ceil(yMax/yStep)*yStep
	if yMax <= yMin {
		yMax = yMin + yStep
	}
	xStep := niceStep((xMax - xMin) / 10)
	iw, ih := float64(plotW-marginL-marginR), float64(plotH-marginT-marginB)
	px := func(x float64) float64 { return marginL + (x-xMin)/(xMax-xMin)*iw }
	py := func(y float64) float64 { return marginT + ih - (y-yMin)/(yMax-yMin)*ih }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, esc(title))
	if bandHi > bandLo {
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%.1f" height="%.1f" fill="#e8f4e8"/>`+"\n", marginL, py(bandHi), iw, py(bandLo)-py(bandHi))
	}
	for x := math.Ceil(xMin/xStep) * xStep; x <= xMax+xStep/1e6; x += xStep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px(x), marginT, px(x), marginT+ih)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), marginT+ih+18, trimFloat(x))
	}
	for y := yMin; y <= yMax+yStep/1e6; y += yStep {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", marginL, py(y), marginL+iw, py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginL-6, py(y)+4, trimFloat(math.Round(y*1e6)/1e6))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", marginL, marginT, iw, ih)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", marginL+iw/2, plotH-15, esc(xLabel))
	fmt.Fprintf(&b, `<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">%s</text>`+"\n", marginT+ih/2, marginT+ih/2, esc(yLabel))
	for i, s := range series {
		colour := palette[i%len(palette)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if len(s.Points) > 0 {
			writePolyline(&b, colour, dash, len(s.Points), func(j int) (float64, float64) {
				p := s.Points[j]
				return px(p[0]), py(p[1])
			})
		}
		writeLegend(&b, i, colour, dash, s.Name)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// niceStep rounds a raw axis step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}
