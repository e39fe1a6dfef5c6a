package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Room affinity (selector affinity): a client that names a room
// (/connect?room=NAME) is offered first the server its room lives on, then
// the others least-loaded first; so a room's clients gather on one server
// and most of its messages never cross servers. A room lives on the server
// offered first to its first client (SDKs take the first) for as long as
// that server stays registered: the coordinator cannot see clients leave a
// server (their coordinator socket closes once they are connected), so a
// room is not forgotten when it empties, only when its server goes, or to
// keep the table under maxRooms (then an arbitrary room is forgotten, and
// placed afresh by its next client). A client without a room, or of a room
// whose server is gone, is placed as by least-loaded. The cost: a hot room
// is all on one server, whose capacity (max_peers, CPU) bounds the room;
// when that server refuses a client as full, the SDK moves on to the next
// server offered and the room spans two.

// maxRooms bounds the room table: about 100 bytes a room.
const maxRooms = 100_000

// maxRoomLen bounds a room name (bytes).
const maxRoomLen = 256

var errBadRoom = errors.New("room must be UTF-8, at most 256 bytes")

// checkRoom validates a room query value; "" is no room.
func checkRoom(room string) error {
	if len(room) > maxRoomLen || !utf8.ValidString(room) {
		return fmt.Errorf("room %.40q: %w", room, errBadRoom)
	}
	return nil
}

// affinitySelector offers like least-loaded; the room placement is the
// directory's (placeRoomLocked), since it needs the client's room and the
// directory's room table.
type affinitySelector struct{ leastLoadedSelector }

// placeRoomLocked puts the server p's room lives on first in offered, or
// makes the first offered server its home. directory.mu held on entry.
func (d *directory) placeRoomLocked(p *peer, offered []uint64) []uint64 {
	if _, ok := d.sel.(affinitySelector); !ok || p.room == "" || p.isServer() || len(offered) == 0 {
		return offered
	}
	if home, ok := d.rooms[p.room]; ok {
		if i := slices.Index(offered, home); i >= 0 {
			// Move it to the front, keeping the others' least-loaded order.
			copy(offered[1:i+1], offered[:i])
			offered[0] = home
			return offered
		}
	}
	if len(d.rooms) >= maxRooms {
		for r := range d.rooms {
			delete(d.rooms, r)
			break
		}
	}
	d.rooms[p.room] = offered[0]
	return offered
}

// forgetRoomsLocked forgets the rooms that live on server alias, which has
// left. directory.mu held on entry.
func (d *directory) forgetRoomsLocked(alias uint64) {
	for r, home := range d.rooms {
		if home == alias {
			delete(d.rooms, r)
		}
	}
}
