// The client's behaviour over fakes of the browser's WebSocket and
// RTCPeerConnection: the handshake order, re-subscription and the
// reliable queue across a reconnection. The real browser runs in
// test/browser; these pin the rules that are hard to provoke there.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AuthMessageSchema,
  BatchMessageSchema,
  ConnectionRefusedMessageSchema,
  ConnectionRefusedReason,
  ConnectMessageSchema,
  DrainMessageSchema,
  Feature,
  MessageHeaderSchema,
  MessageType,
  Role,
  PresenceRequestMessageSchema,
  SubscriptionMessageSchema,
  TopicFWMessageSchema,
  TopicMessageSchema,
  WebRtcMessageSchema,
  WelcomeMessageSchema,
} from "../src/gen/broker_pb.js";
import { BrokerError, connect, CoordinatorUnreachableError, QueueFullError, ServerFullError, type State } from "../src/index.js";

const buf = (b: Uint8Array) => b.slice().buffer;
const typeOf = (b: Uint8Array) => fromBinary(MessageHeaderSchema, b).type;

class FakeChannel {
  static ids = 0;
  readonly id = FakeChannel.ids++;
  readyState = "connecting";
  bufferedAmount = 0;
  binaryType = "";
  sent: Uint8Array[] = [];
  onopen?: () => void;
  onclose: (() => void) | null = null;
  onmessage?: (ev: { data: ArrayBuffer }) => void;
  constructor(readonly label: string) {}
  send(b: Uint8Array) {
    if (this.readyState !== "open") throw new Error("not open");
    this.sent.push(b);
    if (typeOf(b) === MessageType.PING) setTimeout(() => this.onmessage?.({ data: buf(b) })); // the server echoes
  }
  close() {
    this.readyState = "closed";
    this.onclose?.();
  }
}

class FakePeer {
  static all: FakePeer[] = [];
  // Chromium now and then: the reliable channel, announced open, goes back
  // to connecting right after its open event and fires open again later.
  static reopen = false;
  static labels = ["reliable", "unreliable"]; // the channels the "server" opens, in order
  remoteDescription: unknown = null;
  connectionState = "new";
  channels: FakeChannel[] = [];
  ondatachannel?: (ev: { channel: FakeChannel }) => void;
  onicecandidate?: unknown;
  onconnectionstatechange: (() => void) | null = null;
  constructor(readonly config?: { iceServers?: unknown[] }) {
    FakePeer.all.push(this);
  }
  async setRemoteDescription(d: unknown) {
    this.remoteDescription = d;
  }
  async createAnswer() {
    return { type: "answer", sdp: "v=0" };
  }
  async setLocalDescription() {
    for (const label of FakePeer.labels) {
      const dc = new FakeChannel(label);
      this.channels.push(dc);
      setTimeout(() => {
        this.ondatachannel?.({ channel: dc });
        dc.readyState = "open";
        dc.onopen?.();
        if (FakePeer.reopen && label === "reliable") {
          dc.readyState = "connecting";
          setTimeout(() => {
            dc.readyState = "open";
            dc.onopen?.();
          });
        }
      });
    }
  }
  async addIceCandidate() {}
  close() {
    this.connectionState = "closed";
  }
}

class FakeSocket {
  static OPEN = 1;
  static connects: bigint[] = [];
  static next = 100n;
  static iceServers: { urls: string[]; username?: string; credential?: string }[] = [];
  static dialed: string[] = [];
  /** The next CONNECTs are refused, each with this retry_after_ms (0: full, final). */
  static refusals: number[] = [];
  static offers = 1; // offers sent for one CONNECT: 2 is a duplicated signal
  readyState = 0;
  binaryType = "";
  onmessage: ((ev: { data: ArrayBuffer }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.dialed.push(url);
    if (url.includes("dead.test")) {
      // A coordinator that is down: closed before any WELCOME.
      setTimeout(() => this.onclose?.({ code: 1006 }));
      return;
    }
    setTimeout(() => {
      this.readyState = 1;
      const welcome = create(WelcomeMessageSchema, {
        type: MessageType.WELCOME,
        alias: FakeSocket.next++,
        availableServers: [7n, 8n],
        iceServers: FakeSocket.iceServers,
      });
      this.onmessage?.({ data: buf(toBinary(WelcomeMessageSchema, welcome)) });
    });
  }
  send(b: Uint8Array) {
    if (typeOf(b) !== MessageType.CONNECT) return;
    const to = fromBinary(ConnectMessageSchema, b).toAlias;
    FakeSocket.connects.push(to);
    if (FakeSocket.refusals.length > 0) {
      // The server refuses this CONNECT: busy (retryAfterMs) or full.
      const retryAfterMs = FakeSocket.refusals.shift()!;
      const data = new TextEncoder().encode(retryAfterMs > 0 ? "server busy, retry" : "server full");
      const refused = create(ConnectionRefusedMessageSchema, {
        type: MessageType.CONNECTION_REFUSED,
        fromAlias: to,
        reason: ConnectionRefusedReason.SERVER_FULL,
        data,
        retryAfterMs,
      });
      setTimeout(() => this.onmessage?.({ data: buf(toBinary(ConnectionRefusedMessageSchema, refused)) }));
      return;
    }
    const data = new TextEncoder().encode(JSON.stringify({ type: "offer", sdp: "v=0" }));
    const offer = create(WebRtcMessageSchema, { type: MessageType.WEBRTC_OFFER, fromAlias: to, data });
    for (let i = 0; i < FakeSocket.offers; i++) setTimeout(() => this.onmessage?.({ data: buf(toBinary(WebRtcMessageSchema, offer)) }));
  }
  close() {
    this.readyState = 3;
  }
}

Object.assign(globalThis, { WebSocket: FakeSocket, RTCPeerConnection: FakePeer });

test("reconnection re-subscribes, then sends the queued reliable publishes in order", async () => {
  const c = await connect({ url: "ws://broker.test", token: "tok", reconnect: { minDelay: 1, maxDelay: 2, queueBytes: 40 } });
  assert.equal(c.state, "connected");
  assert.equal(c.serverAlias, 7n);
  const first = FakePeer.all.at(-1)!;
  assert.deepEqual(first.channels[0].sent.map(typeOf), [MessageType.AUTH], "AUTH first");
  await c.subscribe(["a", "b"]);

  const states: State[] = [];
  const connected = new Promise<void>((resolve) =>
    c.on("state", (s) => {
      states.push(s);
      if (s === "connected") resolve();
    }),
  );
  first.channels[0].close(); // the server went away
  assert.equal(c.state, "reconnecting");
  assert.equal(c.publish("t", "one"), true);
  assert.equal(c.publish("t", "two"), true);
  assert.equal(c.publish("t", "lost", { reliable: false }), false, "unreliable is not queued");
  assert.throws(() => c.publish("t", "x".repeat(40)), QueueFullError);
  await connected;

  assert.equal(c.serverAlias, 8n, "a server other than the one lost");
  assert.deepEqual(FakeSocket.connects.slice(-2), [7n, 8n]);
  const sent = FakePeer.all.at(-1)!.channels[0].sent;
  assert.deepEqual(sent.map(typeOf), [MessageType.AUTH, MessageType.SUBSCRIPTION, MessageType.PING, MessageType.TOPIC, MessageType.TOPIC]);
  assert.equal(new TextDecoder().decode(fromBinary(SubscriptionMessageSchema, sent[1]).topics), "a b");
  assert.deepEqual(sent.slice(3).map((b) => new TextDecoder().decode(fromBinary(TopicMessageSchema, b).body)), ["one", "two"]);
  assert.deepEqual(states, ["reconnecting", "connected"]);
  c.close();
  assert.equal(c.state, "closed");
});

const fw = (body: string, fromAlias = 9n) =>
  toBinary(TopicFWMessageSchema, create(TopicFWMessageSchema, { type: MessageType.TOPIC_FW, fromAlias, topic: "t", body: new TextEncoder().encode(body) }));
const batch = (...messages: Uint8Array[]) => toBinary(BatchMessageSchema, create(BatchMessageSchema, { type: MessageType.BATCH, messages }));

test("after a reconnection each placed world's last position is sent again, after the queue", async () => {
  const c = await connect({ url: "ws://broker.test", reconnect: { minDelay: 1, maxDelay: 2 } });
  await c.subscribe(["world.a", "world.b"]);
  assert.equal(c.world("world.a"), c.world("world.a"), "one handle per topic");
  c.world("world.a").setPosition({ x: 3, y: 4 });
  c.world("world.b"); // never placed: nothing to send again
  const first = FakePeer.all.at(-1)!;
  const connected = new Promise<void>((resolve) => c.on("state", (s) => s === "connected" && resolve()));
  first.channels[0].close();
  c.world("world.a").setPosition({ x: 5, y: 6 }); // queued while down, then superseded by the same again
  await connected;
  const sent = FakePeer.all.at(-1)!.channels[0].sent;
  assert.deepEqual(sent.map(typeOf), [MessageType.AUTH, MessageType.SUBSCRIPTION, MessageType.PING, MessageType.TOPIC, MessageType.TOPIC]);
  const last = fromBinary(TopicMessageSchema, sent[4]);
  assert.equal(last.topic, "world.a");
  assert.equal(last.body.length, 0);
  assert.deepEqual([last.position?.x, last.position?.y], [5, 6]);
  c.close();
});

test("AUTH lists FEATURE_BATCH by default and is the 2019 AUTH with disableBatching", async () => {
  for (const disableBatching of [false, true]) {
    const c = await connect({ url: "ws://broker.test", authBody: "creds", disableBatching });
    const auth = FakePeer.all.at(-1)!.channels[0].sent[0];
    const m = fromBinary(AuthMessageSchema, auth);
    assert.equal(new TextDecoder().decode(m.body), "creds");
    if (disableBatching) {
      const legacy = toBinary(AuthMessageSchema, create(AuthMessageSchema, { type: MessageType.AUTH, role: Role.CLIENT, body: m.body }));
      assert.deepEqual(auth, legacy, "the 2019 AUTH byte for byte");
    } else {
      assert.deepEqual(m.features, [Feature.BATCH, Feature.DRAIN], "and FEATURE_DRAIN: the client reconnects, so it moves");
    }
    c.close();
  }
});

test("a BATCH is unpacked in order; a bad message drops the rest of it; disableBatching ignores it", async () => {
  for (const disableBatching of [false, true]) {
    const c = await connect({ url: "ws://broker.test", disableBatching });
    const got: string[] = [];
    c.on("message", (m) => got.push(`${m.channel}:${new TextDecoder().decode(m.body)}`));
    const [rel, unrel] = FakePeer.all.at(-1)!.channels;
    const warn = console.warn;
    console.warn = () => {};
    try {
      unrel.onmessage?.({ data: buf(batch(fw("a"), fw("b"))) });
      rel.onmessage?.({ data: buf(batch(fw("c"), new Uint8Array([0x08]), fw("lost"))) });
      rel.onmessage?.({ data: buf(batch(batch(fw("nested")))) });
      rel.onmessage?.({ data: buf(batch()) });
      rel.onmessage?.({ data: buf(fw("alone")) });
    } finally {
      console.warn = warn;
    }
    assert.deepEqual(got, disableBatching ? ["reliable:alone"] : ["unreliable:a", "unreliable:b", "reliable:c", "reliable:alone"]);
    assert.equal(c.state, "connected");
    c.close();
  }
});

test("the peer connection uses WELCOME's ICE servers after the configured ones", async () => {
  FakeSocket.iceServers = [
    { urls: ["turn:198.18.0.9:3478?transport=udp", "turns:198.18.0.9:443?transport=tcp"], username: "1700000000:alias-7", credential: "cred" },
    { urls: ["stun:198.18.0.9:3478"] },
    { urls: [] }, // nothing to use: left out
  ];
  try {
    const c = await connect({ url: "ws://broker.test", token: "tok", iceServers: [{ urls: "stun:198.18.0.1:3478" }] });
    assert.deepEqual(FakePeer.all.at(-1)!.config?.iceServers, [
      { urls: "stun:198.18.0.1:3478" },
      { urls: ["turn:198.18.0.9:3478?transport=udp", "turns:198.18.0.9:443?transport=tcp"], username: "1700000000:alias-7", credential: "cred" },
      { urls: ["stun:198.18.0.9:3478"] },
    ]);
    c.close();
  } finally {
    FakeSocket.iceServers = [];
  }
});

test("DRAIN moves to another server before the old link closes, and the overlap is delivered once, in order", async () => {
  const c = await connect({ url: "ws://broker.test", reconnect: { minDelay: 1, maxDelay: 2 }, server: 7n });
  await c.subscribe(["d"]);
  const first = FakePeer.all.at(-1)!;
  const auth = fromBinary(AuthMessageSchema, first.channels[0].sent[0]);
  assert.deepEqual(auth.features, [Feature.BATCH, Feature.DRAIN], "AUTH declares FEATURE_DRAIN");
  const got: string[] = [];
  c.on("message", (m) => got.push(new TextDecoder().decode(m.body)));
  const states: State[] = [];
  const moved = new Promise<void>((resolve) =>
    c.on("state", (s) => {
      states.push(s);
      if (s === "connected") resolve();
    }),
  );
  const fw = (body: string) => ({
    data: buf(toBinary(TopicFWMessageSchema, create(TopicFWMessageSchema, { type: MessageType.TOPIC_FW, fromAlias: 42n, topic: "d", body: new TextEncoder().encode(body) }))),
  });
  const old = first.channels[0];
  old.onmessage?.(fw("m1"));
  old.onmessage?.({ data: buf(toBinary(DrainMessageSchema, create(DrainMessageSchema, { type: MessageType.DRAIN, graceMs: 30000 }))) });
  await moved;
  assert.equal(c.serverAlias, 8n, "moved to the other server");
  assert.deepEqual(states, ["connected"], "a move is not a reconnection");
  const next = FakePeer.all.at(-1)!;
  assert.notEqual(next, first);
  assert.equal(first.connectionState, "new", "the old link stays up through the overlap");
  const sentNext = next.channels[0].sent.map(typeOf);
  assert.deepEqual(sentNext.slice(0, 3), [MessageType.AUTH, MessageType.SUBSCRIPTION, MessageType.PING], "subscribed on the new link");
  assert.ok(old.sent.map(typeOf).lastIndexOf(MessageType.PING) > 1, "the old server echoed a PING before the switch");
  assert.equal(c.publish("d", "after"), true);
  assert.equal(typeOf(next.channels[0].sent.at(-1)!), MessageType.TOPIC, "publishes go to the new link");

  // The overlap: both links carry m2 and m3; the new one is behind by m4.
  const nextR = next.channels[0];
  old.onmessage?.(fw("m2"));
  nextR.onmessage?.(fw("m2"));
  nextR.onmessage?.(fw("m3"));
  nextR.onmessage?.(fw("m4"));
  old.onmessage?.(fw("m3"));
  assert.deepEqual(got, ["m1", "m2", "m3"], "the new link's messages are held during the overlap");
  while ((first.connectionState as string) !== "closed") await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, ["m1", "m2", "m3", "m4"], "held messages the old link did not deliver follow, once");
  old.onmessage?.(fw("m5"));
  nextR.onmessage?.(fw("m5"));
  assert.deepEqual(got, ["m1", "m2", "m3", "m4", "m5"], "the old link is muted");
  c.close();
});

test("DRAIN: a body the old link delivered before the new link existed does not eat the sender's next identical one", async () => {
  const c = await connect({ url: "ws://broker.test", reconnect: { minDelay: 1, maxDelay: 2 }, server: 7n });
  await c.subscribe(["d"]);
  const first = FakePeer.all.at(-1)!;
  const got: string[] = [];
  c.on("message", (m) => got.push(new TextDecoder().decode(m.body)));
  const moved = new Promise<void>((resolve) => c.on("state", (s) => s === "connected" && resolve()));
  const fw = (body: string) => ({
    data: buf(toBinary(TopicFWMessageSchema, create(TopicFWMessageSchema, { type: MessageType.TOPIC_FW, fromAlias: 42n, topic: "d", body: new TextEncoder().encode(body) }))),
  });
  const old = first.channels[0];
  old.onmessage?.({ data: buf(toBinary(DrainMessageSchema, create(DrainMessageSchema, { type: MessageType.DRAIN, graceMs: 30000 }))) });
  old.onmessage?.(fw("same")); // the move has begun; no new link exists yet
  await moved;
  const next = FakePeer.all.at(-1)!;
  while ((first.connectionState as string) !== "closed") await new Promise((r) => setTimeout(r, 10));
  next.channels[0].onmessage?.(fw("same")); // published again, after the move
  assert.deepEqual(got, ["same", "same"]);
  c.close();
});

test("a client that does not reconnect does not declare FEATURE_DRAIN (it would not move)", async () => {
  const c = await connect({ url: "ws://broker.test", reconnect: { disabled: true } });
  const auth = fromBinary(AuthMessageSchema, FakePeer.all.at(-1)!.channels[0].sent[0]);
  assert.deepEqual(auth.features, [Feature.BATCH]);
  c.close();
});

test("several coordinator URLs: a dead one is passed over, and the one that answered is tried first next time", async () => {
  FakeSocket.dialed = [];
  const c = await connect({ url: ["ws://dead.test", "ws://broker.test"], reconnect: { minDelay: 1, maxDelay: 2 } });
  assert.equal(c.state, "connected");
  assert.deepEqual(FakeSocket.dialed.map((u) => new URL(u).host), ["dead.test", "broker.test"]);
  const connected = new Promise<void>((resolve) => c.on("state", (s) => s === "connected" && resolve()));
  FakePeer.all.at(-1)!.channels[0].close();
  await connected;
  assert.deepEqual(FakeSocket.dialed.map((u) => new URL(u).host), ["dead.test", "broker.test", "broker.test"], "reconnection starts at the live one");
  c.close();

  await assert.rejects(connect({ url: ["ws://dead.test", "ws://dead.test:2"] }), CoordinatorUnreachableError);
});

test("reconnection asks for what was missed on history topics and follows presence again", async () => {
  const c = await connect({ url: "ws://broker.test", reconnect: { minDelay: 1, maxDelay: 2 } });
  await c.subscribe(["chat", "plain"]);
  await c.followPresence(["chat"]);
  const first = FakePeer.all.at(-1)!;
  const got: string[] = [];
  c.on("message", (m) => got.push(new TextDecoder().decode(m.body)));
  const fw = (offset: bigint, body: string) =>
    buf(toBinary(TopicFWMessageSchema, create(TopicFWMessageSchema, {
      type: MessageType.TOPIC_FW, fromAlias: 42n, topic: "chat", body: new TextEncoder().encode(body), stream: { epoch: 9n, offset },
    })));
  first.channels[0].onmessage?.({ data: fw(1n, "one") });
  first.channels[0].onmessage?.({ data: fw(2n, "two") });
  first.channels[0].onmessage?.({ data: fw(2n, "two again") });
  assert.deepEqual(got, ["one", "two"], "a position is delivered once");
  assert.deepEqual(c.streamPosition("chat"), { epoch: 9n, offset: 2n });

  const connected = new Promise<void>((resolve) => c.on("state", (s) => s === "connected" && resolve()));
  first.channels[0].close();
  await connected;
  // Its positions are of server 7's stream, which WELCOME still offers: back to it, not to 8.
  assert.equal(c.serverAlias, 7n, "a client holding stream positions reconnects to the same server");
  const sent = FakePeer.all.at(-1)!.channels[0].sent;
  assert.deepEqual(sent.map(typeOf), [MessageType.AUTH, MessageType.SUBSCRIPTION, MessageType.PRESENCE_REQUEST, MessageType.PING]);
  const sub = fromBinary(SubscriptionMessageSchema, sent[1]);
  assert.deepEqual(sub.recover.map((r) => [r.topic, r.epoch, r.offset]), [["chat", 9n, 2n]]);
  assert.deepEqual(fromBinary(PresenceRequestMessageSchema, sent[2]).topics, ["chat"]);
  c.close();
});

test("a busy refusal (retry_after_ms) is retried on the same socket until the server takes the CONNECT", async () => {
  const dialed = FakeSocket.dialed.length;
  const connects = FakeSocket.connects.length;
  FakeSocket.refusals = [1, 1, 1];
  const c = await connect({ url: "ws://broker.test", server: 7n, reconnect: { maxDelay: 4 } });
  assert.equal(c.state, "connected");
  assert.deepEqual(FakeSocket.connects.slice(connects), [7n, 7n, 7n, 7n], "three refused, the fourth taken");
  assert.equal(FakeSocket.dialed.length - dialed, 1, "one coordinator socket for all of them");
  c.close();
});

test("a refusal without retry_after_ms (max_peers) still fails the connect", async () => {
  FakeSocket.refusals = [0];
  await assert.rejects(connect({ url: "ws://broker.test", server: 7n, reconnect: { disabled: true } }), ServerFullError);
  FakeSocket.refusals = [];
});

test("a second offer on the link being set up is refused with a clear error, as the Go SDK does", async () => {
  FakeSocket.offers = 2;
  try {
    await assert.rejects(connect({ url: "ws://broker.test", reconnect: { disabled: true } }), (err: Error) => {
      assert.ok(err instanceof BrokerError, `${err}`);
      assert.match(err.message, /server 7n? sent a second offer/);
      return true;
    });
    assert.equal(FakePeer.all.at(-1)!.connectionState, "closed", "the half-made connection is closed");
  } finally {
    FakeSocket.offers = 1;
  }
});

test("a channel that goes back to connecting and fires open again (Chromium does, now and then): one link, AUTH once, when open", async () => {
  FakePeer.reopen = true;
  try {
    const c = await connect({ url: "ws://broker.test", reconnect: { disabled: true } });
    assert.equal(c.state, "connected");
    await c.subscribe(["a"]);
    assert.deepEqual(FakePeer.all.at(-1)!.channels[0].sent.map(typeOf), [MessageType.AUTH, MessageType.SUBSCRIPTION, MessageType.PING]);
    c.close();
  } finally {
    FakePeer.reopen = false;
  }
});

test("a second channel with a taken label is refused, as the Go SDK does", async () => {
  FakePeer.labels = ["reliable", "reliable", "unreliable"];
  try {
    await assert.rejects(connect({ url: "ws://broker.test", reconnect: { disabled: true } }), (err: Error) => {
      assert.ok(err instanceof BrokerError, `${err}`);
      assert.match(err.message, /opened channel reliable twice \(ids \d+ and \d+\)/);
      return true;
    });
  } finally {
    FakePeer.labels = ["reliable", "unreliable"];
  }
});
