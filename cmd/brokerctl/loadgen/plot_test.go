package loadgen

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLatencySVGIsWellFormedAndLabelled(t *testing.T) {
	series := []PlotSeries{
		{Name: "dense <unreliable> & co", Points: []PercentileValue{{0, 300}, {50, 800}, {99, 2500}, {99.999, 9000}, {100, 12000}}},
		{Name: "ceiling", Dashed: true, Points: []PercentileValue{{0, 100}, {50, 400}, {99, 1200}, {100, 3000}}},
		{Name: "no data"},
	}
	var b bytes.Buffer
	if err := WriteLatencySVG(&b, "latency, 50 clients", series); err != nil {
		t.Fatal(err)
	}
	// A strict XML parse of the whole document.
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	polylines := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 2 {
		t.Fatalf("%d lines drawn, want 2 (the empty series has none)", polylines)
	}
	for _, want := range []string{"dense &lt;unreliable&gt; &amp; co", "ceiling", "stroke-dasharray", "99.9%", "1 ms", "10 ms", "0.1 ms"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestLatencySVGWithoutData(t *testing.T) {
	var b bytes.Buffer
	if err := WriteLatencySVG(&b, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b.Bytes(), new(struct{})); err != nil {
		t.Fatalf("empty plot is not XML: %v", err)
	}
}
