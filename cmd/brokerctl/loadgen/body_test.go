package loadgen

import (
	"errors"
	"testing"
)

func TestBodyCarriesStampAndKeepsItsSize(t *testing.T) {
	b, err := NewBody(100)
	if err != nil {
		t.Fatal(err)
	}
	want := Stamp{Sender: 4242, Seq: 1<<40 + 7, SentNs: 123456789012}
	EncodeStamp(b, want)
	if len(b) != 100 {
		t.Fatalf("body is %d bytes, want 100", len(b))
	}
	got, err := DecodeStamp(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
}

func TestBodyRejects(t *testing.T) {
	if _, err := NewBody(MinBodySize - 1); err == nil {
		t.Fatal("NewBody accepted a body too small for the header")
	}
	short := make([]byte, MinBodySize-1)
	short[0] = bodyMagic
	foreign := make([]byte, 64)
	for name, b := range map[string][]byte{"empty": nil, "short": short, "foreign": foreign} {
		if _, err := DecodeStamp(b); !errors.Is(err, ErrNotLoadBody) {
			t.Errorf("%s: err %v, want ErrNotLoadBody", name, err)
		}
	}
}
