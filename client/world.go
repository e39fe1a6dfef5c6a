package client

import (
	"sync"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Position is a point in a world topic's space (protocol.Position).
type Position = relay.Position

// World is this client's handle on a world topic (spatial interest): the
// server relays a world message only to subscribers within the world's
// radius of the sender, fewer of them the further they are, and always the
// newest, so each message carries the sender's position. World keeps the
// client's position and puts it on every message it publishes.
//
// Subscribing to the world topic is an ordinary Subscribe (include
// World.Topic in the set); the server places this client from the position
// on its own messages, and sends it nothing from the world until it has
// sent one: call SetPosition once after subscribing, and each time the
// client moves without publishing. Received world messages carry the
// sender's position in Message.Position.
//
// The server forgets a client's position with its link; after a
// reconnection the client sends each World's last position again, once the
// topic set is back in force, so that a client that only moved (and does not
// publish) is placed again.
//
// Safe for concurrent use.
type World struct {
	c     *Client
	topic string

	mu     sync.Mutex
	pos    Position
	placed bool // a position was set or published
}

// World returns the handle on the world topic, at the origin until
// SetPosition; the same handle for the same topic.
func (c *Client) World(topic string) *World {
	c.worldMu.Lock()
	defer c.worldMu.Unlock()
	if w, ok := c.worlds[topic]; ok {
		return w
	}
	if c.worlds == nil {
		c.worlds = map[string]*World{}
	}
	w := &World{c: c, topic: topic}
	c.worlds[topic] = w
	return w
}

// replaceInWorlds sends each placed World's position on l, a new link just
// made live (restore). A failed write is left to the next reconnection.
func (c *Client) replaceInWorlds(l *link) {
	c.worldMu.Lock()
	worlds := make([]*World, 0, len(c.worlds))
	for _, w := range c.worlds {
		worlds = append(worlds, w)
	}
	c.worldMu.Unlock()
	for _, w := range worlds {
		w.mu.Lock()
		pos, placed := w.pos, w.placed
		w.mu.Unlock()
		if !placed {
			continue
		}
		err := l.write(l.reliable, func(b []byte) []byte { return appendPublish(b, protocol.MessageType_TOPIC, w.topic, nil, &pos) })
		if err != nil {
			c.log.Debug("world position not sent again after reconnecting", "topic", w.topic, "err", err)
			return
		}
	}
}

// Topic is the world topic.
func (w *World) Topic() string { return w.topic }

// Position is the last position set.
func (w *World) Position() Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pos
}

// SetPosition moves this client to pos and tells the server, with a message
// of no body on the reliable channel (the server moves the client and relays
// nothing), so that the position is not lost and it is in order with the
// client's reliable publishes.
func (w *World) SetPosition(pos Position) error {
	w.mu.Lock()
	w.pos, w.placed = pos, true
	w.mu.Unlock()
	return w.c.publish(protocol.MessageType_TOPIC, w.topic, nil, &pos, Reliable)
}

// Publish sends body (the client's state) on the world topic from the
// current position.
func (w *World) Publish(body []byte, ch Channel) error {
	w.mu.Lock()
	pos := w.pos
	w.placed = true
	w.mu.Unlock()
	return w.c.publish(protocol.MessageType_TOPIC, w.topic, body, &pos, ch)
}

// PublishAt moves this client to pos and sends body from there: a state
// update and a move in one message.
func (w *World) PublishAt(pos Position, body []byte, ch Channel) error {
	w.mu.Lock()
	w.pos, w.placed = pos, true
	w.mu.Unlock()
	return w.c.publish(protocol.MessageType_TOPIC, w.topic, body, &pos, ch)
}

// PublishIdentity is Publish with the identity and role authentication gave
// this client (see Client.PublishIdentity).
func (w *World) PublishIdentity(body []byte, ch Channel) error {
	w.mu.Lock()
	pos := w.pos
	w.placed = true
	w.mu.Unlock()
	return w.c.publish(protocol.MessageType_TOPIC_IDENTITY, w.topic, body, &pos, ch)
}
