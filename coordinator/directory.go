package coordinator

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/gorilla/websocket"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/turncred"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// directory is the coordinator's table of live peers and registered servers.
//
// mu guards every field. It is held only for map work and for queueing a
// WELCOME (outbound.Queue.Push never blocks), never while writing to a
// socket or calling out, so no lock is held on entry to any other
// component's code. Lock order: directory.mu, then a peer queue's mu
// (register); never the reverse.
type directory struct {
	mu      sync.Mutex
	sel     selector
	peers   map[uint64]*peer   // every registered peer by alias
	servers map[uint64]*server // the servers among them (hubs included)
	// hubs counts hubs registered or admitted and upgrading, so that two
	// hubs racing through the upgrade cannot both pass star's admit.
	hubs int
	// registered counts server registrations, for server.since.
	registered uint64
	// rooms holds the server each named room lives on (selector affinity).
	rooms map[string]uint64
	// ice builds a client WELCOME's ice_servers; nil: none.
	ice *iceSource
}

func newDirectory(sel selector) *directory {
	return &directory{sel: sel, peers: map[uint64]*peer{}, servers: map[uint64]*server{}, rooms: map[string]uint64{}}
}

// admit asks the selector whether a peer with role may join, and on yes
// holds a hub slot for a hub. Every successful admit is paired with either
// register+unregister or with withdraw. proposed, when not 0, is the alias
// a server asks to keep: a client holding it refuses the server, and a
// server holding it is the same server re-registering, whose old socket
// register replaces (so its hub slot is not counted twice).
func (d *directory) admit(role protocol.Role, proposed uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	hubs := d.hubs
	if old, ok := d.peers[proposed]; ok && proposed != 0 {
		if !old.isServer() {
			return fmt.Errorf("alias %d: %w", proposed, errAliasTaken)
		}
		if old.role == protocol.Role_COMMUNICATION_SERVER_HUB {
			hubs--
		}
	}
	if err := d.sel.admit(role, hubs); err != nil {
		return err
	}
	if role == protocol.Role_COMMUNICATION_SERVER_HUB {
		d.hubs++
	}
	return nil
}

// withdraw gives back what admit took, for a peer whose upgrade failed.
func (d *directory) withdraw(role protocol.Role) {
	if role != protocol.Role_COMMUNICATION_SERVER_HUB {
		return
	}
	d.mu.Lock()
	d.hubs--
	d.mu.Unlock()
}

// register queues p's WELCOME, listing the servers the selector offers, and
// then makes p reachable. Both happen under mu, so the WELCOME is always the
// first message p receives and concurrent registrations see each other
// exactly once.
func (d *directory) register(p *peer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, replacing := d.peers[p.alias]
	if replacing && !old.isServer() {
		return fmt.Errorf("alias %d: %w", p.alias, errAliasTaken)
	}
	snapshot := make([]server, 0, len(d.servers))
	for _, s := range d.servers {
		if s.alias == p.alias {
			continue // the registration p replaces
		}
		if p.isServer() && !linkable(p.transport, s.transport) {
			continue
		}
		snapshot = append(snapshot, *s)
	}
	slices.SortFunc(snapshot, func(a, b server) int { return cmp.Compare(a.since, b.since) })
	offered := d.placeRoomLocked(p, d.sel.offer(p.role, forRole(p.role, snapshot)))
	var ice []*protocol.IceServer
	if !p.isServer() && d.ice != nil {
		// Servers use their own webrtc.ice_servers; a 2019 client skips
		// the field.
		ice = d.ice.forClient(turncred.Name(p.identity, p.alias), offered, d.servers)
	}
	welcome, err := proto.Marshal(&protocol.WelcomeMessage{
		Type:             protocol.MessageType_WELCOME,
		Alias:            p.alias,
		AvailableServers: offered,
		IceServers:       ice,
	})
	if err != nil {
		return fmt.Errorf("encode WELCOME: %w", err)
	}
	if err := p.out.Push(welcome); err != nil {
		return fmt.Errorf("queue WELCOME: %w", err)
	}
	if replacing {
		// The same server again (its alias is its own at every
		// coordinator) before this side noticed its old socket was dead:
		// the new socket takes over, the old one is closed, and its
		// unregister finds nothing of its own left to remove.
		if s := d.servers[p.alias]; s != nil && s.hub {
			d.hubs--
		}
		delete(d.servers, p.alias)
		old.close(closeCause{level: slog.LevelInfo, reason: "replaced by a new registration of the same server",
			code: websocket.CloseNormalClosure, kind: reasonReplaced})
	}
	d.peers[p.alias] = p
	if p.isServer() {
		d.registered++
		d.servers[p.alias] = &server{alias: p.alias, hub: p.role == protocol.Role_COMMUNICATION_SERVER_HUB, since: d.registered,
			transport: p.transport, turn: p.turn}
	}
	return nil
}

// Server transports, as /discover's transport query names them.
const (
	transportMesh = "mesh"
	transportNATS = "nats"
)

// linkable reports whether two servers link with each other: only mesh
// servers do; a NATS server relays through NATS and takes no links, so it
// is neither offered servers nor offered to any. Clients are offered every
// server whatever its transport.
func linkable(a, b string) bool { return a != transportNATS && b != transportNATS }

// unregister removes p, so that it is no longer offered or reachable, and
// gives back its hub slot.
func (d *directory) unregister(p *peer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.peers[p.alias] != p {
		return // replaced by a new registration under the same alias (register)
	}
	delete(d.peers, p.alias)
	if s, ok := d.servers[p.alias]; ok {
		if s.hub {
			d.hubs--
		}
		delete(d.servers, p.alias)
		d.forgetRoomsLocked(p.alias)
	}
}

// setServerTURN replaces the embedded TURN URLs of server alias, for a
// server that reports them after registering (LOAD_REPORT.ice_servers);
// clients welcomed from then on get them.
func (d *directory) setServerTURN(alias uint64, urls []string) {
	d.mu.Lock()
	if s, ok := d.servers[alias]; ok {
		s.turn = urls
	}
	d.mu.Unlock()
}

// lookup returns the live peer with alias.
func (d *directory) lookup(alias uint64) (*peer, bool) {
	d.mu.Lock()
	p, ok := d.peers[alias]
	d.mu.Unlock()
	return p, ok
}

// addLoad counts one more client signaled to server alias (least-loaded).
func (d *directory) addLoad(alias uint64) {
	d.mu.Lock()
	if s, ok := d.servers[alias]; ok {
		s.load++
		s.sinceReport++
	}
	d.mu.Unlock()
}
