package coordinator

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/clusterauth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// serveConnect is /connect: clients, with an optional room (selector
// affinity).
func (c *Coordinator) serveConnect(w http.ResponseWriter, r *http.Request) {
	if err := checkRoom(r.URL.Query().Get("room")); err != nil {
		c.log.Debug("connect request refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.servePeer(w, r, protocol.Role_CLIENT)
}

// serveDiscover is /discover?role=COMMUNICATION_SERVER or
// ?role=COMMUNICATION_SERVER_HUB: communication servers.
func (c *Coordinator) serveDiscover(w http.ResponseWriter, r *http.Request) {
	role, ok := protocol.Role_value[r.URL.Query().Get("role")]
	switch protocol.Role(role) {
	case protocol.Role_COMMUNICATION_SERVER, protocol.Role_COMMUNICATION_SERVER_HUB:
	default:
		ok = false
	}
	if !ok {
		c.log.Debug("discover request refused", "remote", r.RemoteAddr, "err", errBadRole, "role_query", r.URL.Query().Get("role"))
		http.Error(w, errBadRole.Error(), http.StatusBadRequest)
		return
	}
	// transport=nats (absent: mesh, the 2019 form): such a server makes no
	// server links, so it is listed no servers and listed to none.
	transport := r.URL.Query().Get("transport")
	switch {
	case transport == "" || transport == transportMesh:
		transport = transportMesh
	case transport == transportNATS && protocol.Role(role) == protocol.Role_COMMUNICATION_SERVER:
	default:
		c.log.Debug("discover request refused", "remote", r.RemoteAddr, "err", errBadTransport,
			"role", protocol.Role(role).String(), "transport_query", transport)
		http.Error(w, errBadTransport.Error(), http.StatusBadRequest)
		return
	}
	// alias: a server registered at another coordinator of the cluster
	// keeps the alias it has there (see aliasSource.claim).
	var proposed uint64
	if q := r.URL.Query().Get("alias"); q != "" {
		var err error
		if proposed, err = strconv.ParseUint(q, 10, 64); err != nil || proposed == 0 {
			c.log.Warn("discover request refused", "remote", r.RemoteAddr, "err", errBadAlias, "alias_query", q)
			http.Error(w, "alias: "+errBadAlias.Error(), http.StatusBadRequest)
			return
		}
	}
	c.servePeerWith(w, r, protocol.Role(role), transport, proposed)
}

// servePeer takes a request from authentication to the end of its socket:
// check a browser's origin (clients), authenticate (before the upgrade, so a refused peer gets a plain HTTP
// status), admit (star's one hub), upgrade, register with a WELCOME, run the
// socket loops, and unregister.
func (c *Coordinator) servePeer(w http.ResponseWriter, r *http.Request, role protocol.Role) {
	c.servePeerWith(w, r, role, transportMesh, 0)
}

// servePeerWith is servePeer for a server registering with transport and,
// when proposed is not 0, the alias it holds at the other coordinators.
func (c *Coordinator) servePeerWith(w http.ResponseWriter, r *http.Request, role protocol.Role, transport string, proposed uint64) {
	log := c.log.With("role", role.String(), "remote", r.RemoteAddr)
	if !websocket.IsWebSocketUpgrade(r) {
		// Probes and scanners: not worth an auth plugin call.
		http.Error(w, "WebSocket upgrade required", http.StatusBadRequest)
		return
	}
	if role == protocol.Role_CLIENT {
		if err := c.checkOrigin(r, log); err != nil {
			http.Error(w, "forbidden: "+err.Error(), http.StatusForbidden)
			return
		}
	}
	if status, reason := c.checkClusterSecret(r, role, log); status != 0 {
		c.metrics.authDenials.WithLabelValues(role.String()).Inc()
		http.Error(w, reason, status)
		return
	}
	identity, reason, room, ok := c.authenticate(r, role, log)
	if !ok {
		c.metrics.authDenials.WithLabelValues(role.String()).Inc()
		http.Error(w, "unauthorized: "+reason, http.StatusUnauthorized)
		return
	}
	if proposed != 0 {
		if err := c.aliases.claim(proposed); err != nil {
			log.Warn("server refused: proposed alias", "alias", proposed, "err", err)
			http.Error(w, "alias: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	if err := c.dir.admit(role, proposed); err != nil {
		log.Warn("peer refused", "err", err, "alias", proposed)
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	conn, err := c.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has already answered with an HTTP error.
		c.dir.withdraw(role)
		log.Debug("websocket upgrade failed", "err", err)
		return
	}
	alias := proposed
	if alias == 0 {
		alias = c.aliases.next()
	}
	p := newPeer(conn, role, alias, c.timing, c.queueLimit, newSignalLimit(c.cfg.Signal, role, time.Now()), log.With("alias", alias))
	p.transport = transport
	p.identity = identity
	if role == protocol.Role_CLIENT {
		// The authenticator's room wins over the one the client asked for.
		p.room = cmp.Or(room, r.URL.Query().Get("room"))
	}
	if p.isServer() {
		p.turn = c.serverTURN(r, p.log)
	}
	// The gauges move before the directory does, so whoever sees a peer
	// registered (or gone) also sees it counted.
	c.metrics.peerUp(p)
	if err := c.dir.register(p); err != nil {
		c.metrics.peerDown(p)
		c.dir.withdraw(role)
		p.log.Error("register peer", "err", err)
		_ = conn.Close()
		return
	}
	// Servers come and go rarely and matter to the operator; clients are many.
	level := slog.LevelDebug
	if p.isServer() {
		level = slog.LevelInfo
	}
	p.log.Log(r.Context(), level, "peer connected")

	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		p.writeLoop(r.Context())
	}()
	p.readLoop(c.handle)
	c.metrics.peerDown(p)
	c.dir.unregister(p)
	writer.Wait()
	p.logClose()
}

// authenticate asks the authenticator about r, bounded by auth.timeout. It
// fails closed: an error is a deny. The reason returned is safe to send.
// On allow, identity is what authentication attached and room is the
// client's room if the authenticator named one.
func (c *Coordinator) authenticate(r *http.Request, role protocol.Role, log *slog.Logger) (identity []byte, reason, room string, ok bool) {
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Auth.Timeout)
	defer cancel()
	res, err := c.auth.Authenticate(ctx, auth.Request{Role: role, HTTP: auth.FromHTTP(r)})
	switch {
	case err != nil:
		level := slog.LevelWarn
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			level = slog.LevelDebug // the request went away or we are shutting down
		}
		log.Log(r.Context(), level, "auth failed, peer refused", "err", err)
		return nil, "authentication unavailable", "", false
	case !res.Allow:
		log.Info("auth denied, peer refused", "reason", res.Reason)
		return nil, res.Reason, "", false
	}
	if err := checkRoom(res.Room); err != nil {
		log.Warn("room from the authenticator ignored", "err", err)
		return res.Identity, "", "", true
	}
	return res.Identity, "", res.Room, true
}

// checkClusterSecret is the gate a communication server passes before the
// authenticator: with cluster.secret set, /discover needs a token proving
// it (clusterauth). Without one, an auth plugin is the gate; with neither,
// nothing could tell a rogue from a server, so every server is refused. It
// returns the HTTP status and text of a refusal, or 0.
func (c *Coordinator) checkClusterSecret(r *http.Request, role protocol.Role, log *slog.Logger) (int, string) {
	if role == protocol.Role_CLIENT {
		return 0, ""
	}
	if c.cfg.Cluster.Secret == "" {
		if !c.allowAll {
			return 0, ""
		}
		log.Warn("server refused: neither cluster.secret nor an auth plugin is configured, so no server can be " +
			"authenticated; set cluster.secret, the same on the coordinator and every server")
		return http.StatusForbidden, "forbidden: server registration needs cluster.secret or an auth plugin on the coordinator"
	}
	err := clusterauth.VerifyDiscoverToken(c.cfg.Cluster.Secret, role, r.Header.Get(clusterauth.Header), time.Now())
	if err != nil {
		log.Warn("server refused: cluster.secret not proven", "err", err)
		return http.StatusUnauthorized, "unauthorized: " + err.Error()
	}
	return 0, ""
}
