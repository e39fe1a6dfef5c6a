// Package spatial owns the geometry of world topics (spatial interest,
// issue 14): which cell a position is in, which cells a subscriber at a
// position is interested in, how often a sender's messages reach a
// subscriber at a given distance, and how cells are named as topics.
//
// A world is a topic (say "world.lobby") whose messages carry the sender's
// position. Space is cut into square cells on the x-y plane; a subscriber is
// interested in every cell that comes within the world's radius of its own
// position, and it gets a sender's message only if the sender is within the
// radius (distance in x, y and z), every message from near, fewer from
// further (Config.Rate). Cells are ordinary topics, NAME.cell.X.Y, so that
// a server announces the cells its subscribers are interested in and the
// mesh (or any transport that carries topics) brings it exactly the
// messages of those cells.
//
// The package has no network and knows no peers: Grid is generic over the
// caller's peer handle.
package spatial

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
)

// Config is one world's geometry.
type Config struct {
	Cell   float64 // side of a cell
	Radius float64 // a subscriber gets nothing from a sender further than this
	// Every[i] is how often a sender's messages reach a subscriber in band
	// i: 1 every one, 2 every second, and so on. The bands are distances
	// up to Radius/4, up to Radius/2, and up to Radius.
	Every [3]int
}

// DefaultEvery is every message within a quarter of the radius, every
// second within half, every fourth beyond.
var DefaultEvery = [3]int{1, 2, 4}

// MaxCellsAcross bounds Radius/Cell, so that a subscriber's interest (about
// pi*(Radius/Cell+1)^2 cells, each a topic it announces) stays small.
const MaxCellsAcross = 32

// MaxCoordinate bounds a coordinate's magnitude, so that a cell index fits
// an int32 whatever the cell size, and distances are exact enough.
const MaxCoordinate = 1e9

var errBadWorld = errors.New("spatial: bad world geometry")

// Check rejects a geometry that cannot work.
func (c Config) Check() error {
	switch {
	case !(c.Cell > 0) || math.IsInf(c.Cell, 0):
		return fmt.Errorf("%w: cell %v must be positive", errBadWorld, c.Cell)
	case !(c.Radius > 0) || math.IsInf(c.Radius, 0):
		return fmt.Errorf("%w: radius %v must be positive", errBadWorld, c.Radius)
	case c.Radius/c.Cell > MaxCellsAcross:
		return fmt.Errorf("%w: radius %v over %d cells of %v", errBadWorld, c.Radius, MaxCellsAcross, c.Cell)
	case MaxCoordinate/c.Cell > math.MaxInt32-2:
		return fmt.Errorf("%w: cell %v too small for coordinates up to %g", errBadWorld, c.Cell, float64(MaxCoordinate))
	}
	for i, e := range c.Every {
		if e < 1 {
			return fmt.Errorf("%w: every[%d] = %d, must be at least 1", errBadWorld, i, e)
		}
	}
	return nil
}

// Valid reports whether p can be placed: every coordinate finite and within
// MaxCoordinate.
func Valid(p relay.Position) bool {
	for _, v := range [3]float32{p.X, p.Y, p.Z} {
		if !(math.Abs(float64(v)) <= MaxCoordinate) { // false for NaN
			return false
		}
	}
	return true
}

// Cell is a cell's index: the cell holds x in [X*Cell, (X+1)*Cell), y likewise.
type Cell struct{ X, Y int32 }

// CellOf returns the cell holding p (a Valid position).
func (c Config) CellOf(p relay.Position) Cell {
	return Cell{cellIndex(p.X, c.Cell), cellIndex(p.Y, c.Cell)}
}

func cellIndex(v float32, side float64) int32 {
	return int32(math.Floor(float64(v) / side))
}

// Interest appends to dst the cells a subscriber in cell c is interested
// in, in row order (y, then x): every cell that comes within Radius of some
// point of c. It depends on the cell alone, not on the point within it, so
// a subscriber's interest changes only when it changes cells; it is a
// superset of what the exact position needs, and Rate filters the rest.
func (c Config) Interest(cell Cell, dst []Cell) []Cell {
	k := int32(math.Ceil(c.Radius/c.Cell)) + 1
	r2 := c.Radius * c.Radius
	for dy := -k; dy <= k; dy++ {
		gy := gap(dy) * c.Cell
		for dx := -k; dx <= k; dx++ {
			gx := gap(dx) * c.Cell
			if gx*gx+gy*gy <= r2 {
				dst = append(dst, Cell{cell.X + dx, cell.Y + dy})
			}
		}
	}
	return dst
}

// gap is the distance, in cells, between two cells d apart on one axis: 0
// for the same or neighbouring cells.
func gap(d int32) float64 {
	return float64(max(abs(d)-1, 0))
}

func abs(d int32) int32 {
	if d < 0 {
		return -d
	}
	return d
}

// Rate returns how often a sender at from reaches a subscriber at to: 1 for
// every message, n for every n-th, 0 for never (beyond the radius).
func (c Config) Rate(from, to relay.Position) int {
	dx, dy, dz := float64(from.X-to.X), float64(from.Y-to.Y), float64(from.Z-to.Z)
	d2 := dx*dx + dy*dy + dz*dz
	r := c.Radius
	switch {
	case d2 <= r*r/16:
		return c.Every[0]
	case d2 <= r*r/4:
		return c.Every[1]
	case d2 <= r*r:
		return c.Every[2]
	}
	return 0
}

// cellInfix separates a world's topic from its cell in a cell topic.
const cellInfix = ".cell."

// CellTopic names cell c of world as a topic: WORLD.cell.X.Y, e.g.
// "world.lobby.cell.3.-1".
func CellTopic(world string, c Cell) string {
	var buf [64]byte
	return string(AppendCellTopic(buf[:0], world, c))
}

// AppendCellTopic appends CellTopic(world, c) to dst, for a caller that
// looks the topic up without allocating.
func AppendCellTopic(dst []byte, world string, c Cell) []byte {
	dst = append(dst, world...)
	dst = append(dst, cellInfix...)
	dst = strconv.AppendInt(dst, int64(c.X), 10)
	dst = append(dst, '.')
	return strconv.AppendInt(dst, int64(c.Y), 10)
}

// ParseCellTopic splits a cell topic into its world and cell; ok is false
// for a topic that is not of the form WORLD.cell.X.Y with decimal int32s.
func ParseCellTopic(topic []byte) (world []byte, c Cell, ok bool) {
	i := lastIndex(topic, cellInfix)
	if i <= 0 {
		return nil, Cell{}, false
	}
	rest := topic[i+len(cellInfix):]
	dot := -1
	for j, b := range rest {
		if b == '.' {
			dot = j
			break
		}
	}
	if dot < 0 {
		return nil, Cell{}, false
	}
	x, okX := atoi32(rest[:dot])
	y, okY := atoi32(rest[dot+1:])
	if !okX || !okY {
		return nil, Cell{}, false
	}
	return topic[:i], Cell{x, y}, true
}

// lastIndex is strings.LastIndex on bytes without converting them.
func lastIndex(b []byte, sep string) int {
	for i := len(b) - len(sep); i >= 0; i-- {
		if string(b[i:i+len(sep)]) == sep {
			return i
		}
	}
	return -1
}

// atoi32 parses a canonical decimal int32 (as AppendCellTopic writes it: no
// sign but '-', no leading zero, no "-0"), so that one cell has one name.
func atoi32(b []byte) (int32, bool) {
	neg := len(b) > 0 && b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) == 0 || len(digits) > 10 || (digits[0] == '0' && (len(digits) > 1 || neg)) {
		return 0, false
	}
	var v int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		v = v*10 + int64(d-'0')
	}
	if neg {
		v = -v
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return int32(v), true
}

// IsCellTopic reports whether topic has a cell topic's shape, whatever the
// world: clients may neither subscribe to nor publish on those, since the
// server owns them.
func IsCellTopic(topic string) bool {
	_, _, ok := ParseCellTopic([]byte(topic))
	return ok
}
