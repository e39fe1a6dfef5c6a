// The browser client: one server link at a time, replaced by reconnection
// when it is lost. The API is client/README.md's, as alike the Go SDK as a
// browser allows.
import { backoffDelay } from "./backoff.js";
import { BrokerError, ClosedError, CoordinatorUnreachableError, InvalidTopicError, NotConnectedError, QueueFullError, TimeoutError } from "./errors.js";
import { Dedupe } from "./handover.js";
import { Link, connectURL, openLink } from "./link.js";
import { World } from "./world.js";
import { Recovery, Streams, StreamPosition } from "./streams.js";
import {
  Bytes,
  Inbound,
  Message,
  Position,
  Presence,
  ServerError,
  concat,
  decodeData,
  encodePing,
  encodePresenceRequest,
  encodeSubscription,
  encodeTopic,
  topicSet,
  validTopic,
} from "./wire.js";

export type State = "connecting" | "connected" | "reconnecting" | "closed";

export interface ReconnectOptions {
  disabled?: boolean;
  /** Milliseconds before the first retry; doubled per failure up to maxDelay. Default 100. */
  minDelay?: number;
  /** Default 5000 ms. */
  maxDelay?: number;
  /** Reliable publishes queued while reconnecting, in bytes. Default 1 MiB. */
  queueBytes?: number;
}

export interface Options {
  /**
   * ws:// or wss:// base URL; /connect is added when there is no path. A
   * list names the coordinators of a cluster that has several: every
   * connection, the first and each reconnection, tries them in turn from
   * the last that answered, moving on when one closes before its WELCOME.
   */
  url: string | string[];
  /** Sent as ?token= (browsers cannot set headers on a WebSocket). */
  token?: string;
  /** Further coordinator credentials, in the query. */
  query?: Record<string, string>;
  /** The body of AUTH; a string is sent as UTF-8. */
  authBody?: Uint8Array | string;
  /** A topic set longer than this many bytes is sent gzip-compressed. Default 1024. */
  gzipAbove?: number;
  reconnect?: ReconnectOptions;
  /** Bounds one connection attempt (coordinator, signaling, ICE, channels). Default 15000 ms. */
  connectTimeout?: number;
  /** ICE servers for the peer connection. Default none: host candidates only. */
  iceServers?: RTCIceServer[];
  /**
   * A server alias for the first connection instead of WELCOME's first
   * (tests place clients on given servers); reconnection picks from WELCOME.
   */
  server?: bigint;
  /**
   * Speak the 2019 protocol's wire: AUTH lists no features, so the server
   * never sends a BATCH, and one that arrives anyway is ignored. By default
   * AUTH lists FEATURE_BATCH and the read loop unpacks the batches the
   * server then sends. Tests and benchmarks set it to act as a 2019 client.
   */
  disableBatching?: boolean;
}

export interface SendOptions {
  reliable?: boolean;
  /** The sender's position, for a world topic (see World). */
  position?: Position;
}

export interface WaitOptions {
  /** Gives up waiting (the Go SDK's context). */
  signal?: AbortSignal;
}

interface Events {
  message: (m: Message) => void;
  error: (e: ServerError) => void;
  state: (s: State, err?: Error) => void;
  /** PRESENCE of the topics followed with followPresence. */
  presence: (p: Presence) => void;
  /** The server's answer for a history topic after a reconnection, before the replay. */
  recovery: (r: Recovery) => void;
}

const defaults = { gzipAbove: 1024, minDelay: 100, maxDelay: 5000, queueBytes: 1 << 20, connectTimeout: 15000 };

/**
 * A move away from a draining server (see #move; the Go SDK's client/drain.go):
 * old still delivers, and what it delivers is remembered; next holds what it
 * receives until old is closed, then delivers what old did not.
 */
interface Handover {
  old: Link;
  /** Unset until an attempt has a new link. */
  next?: Link;
  /** What old delivered and, once ended, what next still owes (handover.ts). */
  dedupe: Dedupe;
  held: Message[];
  ended: boolean;
  /** The handover that made old the new link, if recent: old may still owe its drops. */
  prev?: Handover;
}

/** Consumes a copy of what h's old link delivered, owed by h's next one; reports whether m was one. */
function skipCopy(h: Handover, m: Message): boolean {
  return h.ended && h.dedupe.dropOwed(m);
}

/** How long the old link keeps delivering once the new one carries the publishes. */
const handoverOverlapMs = 1000;
/** After the overlap, the new link still drops copies of what the old one delivered ahead of it this long (a copy relayed through another server can trail by a second or more). */
const handoverLingerMs = 5000;
/** Publishes are held this long (plus two round trips, at most 500 ms) after the old server echoed the PING sent after them. */
const switchSettleMs = 50;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Connects to a communication server through the coordinator; resolves once AUTH is written. */
export async function connect(options: Options): Promise<Client> {
  const c = new Client(options);
  await c.start();
  return c;
}

export class Client {
  #opts: Options;
  #urls: string[];
  #firstURL = 0; // the coordinator that answered last
  #authBody: Uint8Array;
  #state: State = "connecting";
  #link?: Link;
  #alias = 0n;
  #server = 0n;
  #topics: string[] = [];
  #worlds = new Map<string, World>();
  #followed?: string[]; // the last followPresence set; undefined before the first
  #streams = new Streams();
  #queue: Bytes[] = [];
  #queued = 0;
  #pings = new Map<number, () => void>();
  #lastPing = 0;
  #ready: Array<() => void> = []; // woken on every state change
  #listeners: { [K in keyof Events]: Set<Events[K]> } = {
    message: new Set(),
    error: new Set(),
    state: new Set(),
    presence: new Set(),
    recovery: new Set(),
  };
  #retry?: ReturnType<typeof setTimeout>;
  #ho?: Handover;
  #moving = false; // a move is in progress
  #switching = false; // publishes are held while the move switches links

  /** Use connect(). */
  constructor(options: Options) {
    this.#opts = options;
    const urls = typeof options.url === "string" ? [options.url] : options.url;
    if (urls.length === 0) throw new BrokerError("url: no coordinator URL");
    this.#urls = urls.map((u) => connectURL(u, options.token, options.query));
    const b = options.authBody ?? new Uint8Array();
    this.#authBody = typeof b === "string" ? new TextEncoder().encode(b) : b;
  }

  get state(): State {
    return this.#state;
  }
  /** The coordinator's alias for this client; it changes on every reconnection. */
  get alias(): bigint {
    return this.#alias;
  }
  get serverAlias(): bigint {
    return this.#server;
  }
  /** Bytes the reliable channel has yet to send: a fast publisher paces itself by it. */
  get bufferedAmount(): number {
    return this.#link?.reliable.bufferedAmount ?? this.#queued;
  }

  /** Adds a handler; returns the function that removes it. */
  on<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    this.#listeners[event].add(fn);
    return () => this.#listeners[event].delete(fn);
  }

  /** @internal */
  async start(): Promise<void> {
    this.#adopt(await this.#open());
    this.#setState("connected");
  }

  close(): void {
    if (this.#state === "closed") return;
    clearTimeout(this.#retry);
    this.#drop();
    this.#queue = [];
    this.#queued = 0;
    this.#setState("closed");
  }

  /**
   * Publishes body on topic. Reliable publishes while reconnecting are
   * queued (QueueFullError past reconnect.queueBytes); unreliable ones
   * return false then.
   */
  publish(topic: string, body: Uint8Array | string, options: SendOptions = { reliable: true }): boolean {
    return this.#publish(false, topic, body, options);
  }

  /** publish, received with the identity and role that authentication gave this client. */
  publishIdentity(topic: string, body: Uint8Array | string, options: SendOptions = { reliable: true }): boolean {
    return this.#publish(true, topic, body, options);
  }

  /**
   * The handle on the world topic (spatial interest), the same one for the
   * same topic: see World. After a reconnection the client sends each
   * world's last position again, since the new server has none.
   */
  world(topic: string): World {
    let w = this.#worlds.get(topic);
    if (!w) {
      w = new World(this, topic);
      this.#worlds.set(topic, w);
    }
    return w;
  }

  /** Replaces the whole topic set; resolves once the server has it in force. */
  async subscribe(topics: readonly string[], options: WaitOptions = {}): Promise<void> {
    for (const t of topics) if (!validTopic(t)) throw new InvalidTopicError(`subscribe ${JSON.stringify(t)}: empty or contains a space`);
    this.#topics = [...topics];
    for (;;) {
      const link = await this.#connected(options.signal);
      const set = await topicSet(this.#topics, this.#opts.gzipAbove ?? defaults.gzipAbove);
      if (link !== this.#link) continue; // reconnected meanwhile: it re-subscribed
      if (this.#send(link.reliable, encodeSubscription(set.format, set.bytes))) {
        // The server handles a channel's messages in order, so the echo of
        // a PING sent after SUBSCRIPTION proves the set is in force.
        if (await this.#ping(link, true, options.signal)) return;
      }
    }
  }

  /**
   * Replaces the set of topics whose presence is followed (none stops);
   * resolves once the server has it, the snapshots of newly followed topics
   * delivered to "presence" handlers. Sent again after every reconnection.
   */
  async followPresence(topics: readonly string[], options: WaitOptions = {}): Promise<void> {
    for (const t of topics) if (!validTopic(t)) throw new InvalidTopicError(`followPresence ${JSON.stringify(t)}: empty or contains a space`);
    this.#followed = [...topics];
    for (;;) {
      const link = await this.#connected(options.signal);
      if (this.#send(link.reliable, encodePresenceRequest(this.#followed))) {
        if (await this.#ping(link, true, options.signal)) return;
      }
    }
  }

  /** The last stream position received on a history topic. */
  streamPosition(topic: string): StreamPosition | undefined {
    return this.#streams.position(topic);
  }

  /** Round-trip time to the server in milliseconds; waits for the link when it is down. */
  async ping(options: SendOptions & WaitOptions = {}): Promise<number> {
    for (;;) {
      const link = await this.#connected(options.signal);
      const start = performance.now();
      if (await this.#ping(link, options.reliable ?? true, options.signal)) return performance.now() - start;
    }
  }

  #publish(identity: boolean, topic: string, body: Uint8Array | string, options: SendOptions): boolean {
    if (this.#state === "closed") throw new ClosedError("publish: client closed");
    if (!validTopic(topic)) throw new InvalidTopicError(`publish ${JSON.stringify(topic)}: empty or contains a space`);
    const b = encodeTopic(identity, topic, typeof body === "string" ? new TextEncoder().encode(body) : body, options.position);
    const reliable = options.reliable ?? true;
    if (this.#state === "connected" && this.#link && !this.#switching) {
      const ch = reliable ? this.#link.reliable : this.#link.unreliable;
      if (ch.readyState === "open") {
        try {
          ch.send(b);
          return true;
        } catch (err) {
          // The browser's send buffer is full: a browser cannot block the
          // caller as the Go SDK's flow control does, so it is told.
          if (!reliable) return false;
          throw new QueueFullError(
            `publish ${topic}: the channel's send buffer is full (${ch.bufferedAmount} bytes): pace with bufferedAmount`,
            { cause: err },
          );
        }
      }
    }
    if (!reliable) return false; // stale state is not worth queueing
    const max = this.#opts.reconnect?.queueBytes ?? defaults.queueBytes;
    if (this.#queued + b.length > max) {
      throw new QueueFullError(`publish ${topic}: ${this.#queued} bytes queued while reconnecting, bound ${max}`);
    }
    this.#queue.push(b);
    this.#queued += b.length;
    return true;
  }

  /** Sends the followed presence set again, if there is one. */
  #sendFollowed(link: Link): boolean {
    return this.#followed === undefined || this.#send(link.reliable, encodePresenceRequest(this.#followed));
  }

  #send(ch: RTCDataChannel, b: Bytes): boolean {
    if (ch.readyState !== "open") return false;
    try {
      ch.send(b);
      return true;
    } catch {
      return false; // closing under us: the loss handler reconnects
    }
  }

  /** Resolves true on the echo, false when the link was lost first. */
  #ping(link: Link, reliable: boolean, signal?: AbortSignal): Promise<boolean> {
    // The time is echoed unchanged: milliseconds since the epoch as the 2019
    // protocol has it, nudged up so that every pending ping is unique.
    let t = performance.timeOrigin + performance.now();
    if (t <= this.#lastPing) t = this.#lastPing + 1e-3;
    this.#lastPing = t;
    return new Promise<boolean>((resolve, reject) => {
      const done = (v: boolean | Error) => {
        this.#pings.delete(t);
        signal?.removeEventListener("abort", onAbort);
        if (v instanceof Error) reject(v);
        else resolve(v);
      };
      const onAbort = () => done(new TimeoutError("ping: aborted", { cause: signal?.reason }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort);
      this.#pings.set(t, () => done(this.#link === link || this.#ho?.next === link));
      if (!this.#send(reliable ? link.reliable : link.unreliable, encodePing(t))) done(false);
    });
  }

  /** Waits for state connected (resolving its link), bounded by signal. */
  async #connected(signal?: AbortSignal): Promise<Link> {
    for (;;) {
      if (this.#state === "closed") throw new ClosedError("client closed");
      if (this.#state === "connected" && this.#link) return this.#link;
      if (signal?.aborted) throw new TimeoutError("waiting for the link: aborted", { cause: signal.reason });
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener("abort", wake);
          resolve();
        };
        this.#ready.push(wake);
        signal?.addEventListener("abort", wake);
      });
    }
  }

  async #open(avoid?: bigint, onlyOthers = false, prefer?: bigint): Promise<Link> {
    for (let i = 0; ; i++) {
      const k = (this.#firstURL + i) % this.#urls.length;
      try {
        const link = await this.#openVia(this.#urls[k], avoid, onlyOthers, prefer);
        this.#firstURL = k;
        return link;
      } catch (err) {
        if (!(err instanceof CoordinatorUnreachableError) || i + 1 >= this.#urls.length) throw err;
      }
    }
  }

  #openVia(url: string, avoid: bigint | undefined, onlyOthers: boolean, prefer?: bigint): Promise<Link> {
    return openLink({
      url,
      authBody: this.#authBody,
      batching: !this.#opts.disableBatching,
      drain: !this.#opts.reconnect?.disabled,
      iceServers: this.#opts.iceServers ?? [],
      timeoutMs: this.#opts.connectTimeout ?? defaults.connectTimeout,
      maxDelayMs: this.#opts.reconnect?.maxDelay ?? defaults.maxDelay,
      // reconnection picks from WELCOME
      server: avoid === undefined && prefer === undefined ? this.#opts.server : undefined,
      avoid,
      prefer,
      onlyOthers,
    });
  }

  #attach(link: Link): void {
    this.#streams.linked(link.alias);
    for (const [ch, name] of [[link.reliable, "reliable"], [link.unreliable, "unreliable"]] as const) {
      ch.onmessage = (ev) => this.#deliver(link, new Uint8Array(ev.data as ArrayBuffer), name);
      ch.onclose = () => this.#lost(link, `channel ${name} closed`);
    }
  }

  #adopt(link: Link): void {
    this.#link = link;
    this.#alias = link.alias;
    this.#server = link.server;
    this.#attach(link);
    link.pc.onconnectionstatechange = () => {
      const s = link.pc.connectionState;
      // "disconnected" is transient (ICE may recover); failed is final.
      if (s === "failed" || s === "closed") this.#lost(link, `peer connection ${s}`);
    };
  }

  #deliver(link: Link, b: Uint8Array, channel: "reliable" | "unreliable"): void {
    let in_;
    try {
      in_ = decodeData(b);
    } catch (err) {
      console.warn(`webrtc-broker: dropping undecodable message from server ${link.server} on ${channel}`, err);
      return;
    }
    if (in_.kind !== "batch") return this.#sort(link, in_, channel);
    if (this.#opts.disableBatching) return; // as a 2019 client: never asked for one
    // Each message as if it had come alone, in order; a bad one drops the
    // rest of the batch, as the Go SDK does.
    for (const inner of in_.messages) {
      let m;
      try {
        m = decodeData(inner);
      } catch (err) {
        console.warn(`webrtc-broker: dropping the rest of a BATCH from server ${link.server} on ${channel}`, err);
        return;
      }
      if (m.kind === "batch") {
        console.warn(`webrtc-broker: dropping the rest of a BATCH from server ${link.server} on ${channel}: a BATCH inside it`);
        return;
      }
      this.#sort(link, m, channel);
    }
  }

  #sort(link: Link, in_: Exclude<Inbound, { kind: "batch" }>, channel: "reliable" | "unreliable"): void {
    switch (in_.kind) {
      case "message": {
        const m = { ...in_.message, channel };
        if (channel === "reliable" && m.stream && !this.#streams.seen(m.topic, m.fromAlias, m.stream)) return;
        const h = this.#ho;
        if (h && link === h.old) {
          if (h.ended) return; // the new link has taken over: a late duplicate
          if (h.prev && skipCopy(h.prev, m)) return;
          h.dedupe.old(m, h.next !== undefined);
        } else if (h && link === h.next) {
          if (!h.ended) {
            h.held.push({ ...m, body: m.body.slice() });
            return;
          }
          // old may have been ahead: what it delivered is dropped as it comes
          if (skipCopy(h, m)) return;
        } else if (link !== this.#link) {
          return; // a link a move has left
        }
        this.#emit("message", m);
        return;
      }
      case "drain":
        if (link === this.#link && !this.#moving && !this.#opts.reconnect?.disabled) void this.#move(link, in_.graceMs);
        return;
      case "presence":
        this.#emit("presence", in_.presence);
        return;
      case "recovery":
        this.#streams.answered(in_.recovery);
        if (!in_.recovery.recovered) console.info(`webrtc-broker: messages on ${in_.recovery.topic} were missed while reconnecting`);
        this.#emit("recovery", in_.recovery);
        return;
      case "error":
        this.#emit("error", in_.error);
        return;
      case "ping":
        this.#pings.get(in_.time)?.();
        return;
    }
  }

  #drop(): void {
    const link = this.#link;
    this.#link = undefined;
    if (!link) return;
    link.reliable.onclose = link.unreliable.onclose = null;
    link.pc.onconnectionstatechange = null;
    link.pc.close();
    // Pending pings learn that their link is gone and retry on the next.
    for (const wake of [...this.#pings.values()]) wake();
  }

  /**
   * Moves from old, whose server drains, to another server, make-before-break
   * (the Go SDK's client/drain.go): connect, subscribe there, hold the
   * publishes until the old server echoed a PING sent after them, switch,
   * let the old link deliver for an overlap, close it. Messages that arrive
   * on both links during the overlap are delivered once, in order. If no
   * other server takes this client before old is lost or its grace ends,
   * the loss is handled as any other.
   */
  async #move(old: Link, graceMs: number): Promise<void> {
    this.#moving = true;
    const deadline = performance.now() + graceMs;
    // The handover starts now, before any new link exists: what old delivers
    // from here on is remembered, so a copy the new server relays once the
    // new link's set is in force is known for one.
    const prev = this.#ho?.next === old ? this.#ho : undefined; // a move soon after a move
    const h: Handover = { old, dedupe: new Dedupe(), held: [], ended: false, prev };
    this.#ho = h;
    const r = this.#opts.reconnect ?? {};
    const timeout = this.#opts.connectTimeout ?? defaults.connectTimeout;
    try {
      for (let attempt = 0; ; attempt++) {
        if (this.#isClosed() || this.#link !== old || performance.now() >= deadline) return;
        let next: Link | undefined;
        try {
          next = await this.#open(old.server, true);
          if (this.#isClosed() || this.#link !== old) {
            next.pc.close();
            return;
          }
          h.next = next;
          h.held = [];
          this.#attach(next);
          if (this.#topics.length > 0) {
            const set = await topicSet(this.#topics, this.#opts.gzipAbove ?? defaults.gzipAbove);
            if (
              !this.#send(next.reliable, encodeSubscription(set.format, set.bytes)) ||
              !this.#sendFollowed(next) ||
              !(await this.#ping(next, true, AbortSignal.timeout(timeout)))
            ) {
              throw new NotConnectedError(`server ${next.server}: lost while subscribing`);
            }
          } else if (!this.#sendFollowed(next)) {
            throw new NotConnectedError(`server ${next.server}: lost while following presence`);
          }
          if (this.#link !== old) throw new NotConnectedError(`server ${old.server}: lost during the move`);
          this.#switching = true;
          const start = performance.now();
          if (await this.#ping(old, true, AbortSignal.timeout(timeout)).catch(() => false)) {
            await sleep(Math.min(500, switchSettleMs + 2 * (performance.now() - start)));
          }
          if (this.#isClosed()) return;
          if (this.#link !== old) throw new NotConnectedError(`server ${old.server}: lost during the move`);
          this.#adopt(next);
          const queue = this.#queue;
          this.#queue = [];
          this.#queued = 0;
          for (const b of queue) next.reliable.send(b);
          this.#replaceInWorlds(next);
          this.#switching = false;
          this.#setState("connected");
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, handoverOverlapMs);
            old.reliable.onclose = old.unreliable.onclose = () => {
              clearTimeout(t);
              resolve();
            };
          });
          for (const m of h.dedupe.end(h.held)) this.#emit("message", m);
          h.held = [];
          h.ended = true;
          old.reliable.onclose = old.unreliable.onclose = null;
          old.pc.onconnectionstatechange = null;
          old.pc.close();
          setTimeout(() => {
            if (this.#ho === h) this.#ho = undefined;
          }, handoverLingerMs);
          return;
        } catch (err) {
          this.#switching = false;
          if (next && this.#link !== next) {
            h.next = undefined;
            h.held = [];
            next.reliable.onclose = next.unreliable.onclose = null;
            next.pc.close();
          }
          if (this.#isClosed()) return;
          console.info(`webrtc-broker: moving away from draining server ${old.server}, attempt ${attempt + 1} failed`, err);
          await sleep(backoffDelay(attempt, r.minDelay ?? defaults.minDelay, r.maxDelay ?? defaults.maxDelay));
        }
      }
    } finally {
      this.#moving = false;
      if (this.#ho === h && !h.ended) this.#ho = h.prev; // no move: nothing to hand over
    }
  }

  #isClosed(): boolean {
    return this.#state === "closed";
  }

  #lost(link: Link, why: string): void {
    if (link !== this.#link || this.#state === "closed") return;
    const lost = link.server;
    this.#drop();
    if (this.#opts.reconnect?.disabled) {
      this.#setState("closed", new NotConnectedError(`server ${lost}: ${why}`));
      return;
    }
    this.#setState("reconnecting", new NotConnectedError(`server ${lost}: ${why}`));
    // Stream positions are per server: a client holding some goes back to
    // the lost server first when WELCOME still offers it (alive, neither
    // draining nor full); otherwise, and after that attempt failed, it
    // prefers another, since the lost one may be what failed.
    this.#reconnect(0, lost, this.#streams.positioned());
  }

  #reconnect(attempt: number, avoid: bigint, preferLost = false): void {
    const r = this.#opts.reconnect ?? {};
    const delay = backoffDelay(attempt, r.minDelay ?? defaults.minDelay, r.maxDelay ?? defaults.maxDelay);
    this.#retry = setTimeout(async () => {
      let adopted: Link | undefined;
      try {
        const link = preferLost ? await this.#open(undefined, false, avoid) : await this.#open(avoid);
        if (this.#state === "closed") {
          link.pc.close();
          return;
        }
        this.#adopt(link);
        adopted = link;
        if (this.#topics.length > 0) {
          const set = await topicSet(this.#topics, this.#opts.gzipAbove ?? defaults.gzipAbove);
          // Bounded: a server that never echoes is given up like a lost one.
          const barrier = AbortSignal.timeout(this.#opts.connectTimeout ?? defaults.connectTimeout);
          // What was missed on history topics is asked for with the set.
          const sub = concat(encodeSubscription(set.format, set.bytes), this.#streams.recoverField(this.#topics));
          if (!this.#send(link.reliable, sub) || !this.#sendFollowed(link) || !(await this.#ping(link, true, barrier))) {
            throw new NotConnectedError(`server ${link.server}: lost while re-subscribing`);
          }
        } else if (!this.#sendFollowed(link)) {
          throw new NotConnectedError(`server ${link.server}: lost while following presence again`);
        }
        if (link !== this.#link) return; // lost again: #lost has scheduled the next attempt
        const queue = this.#queue;
        this.#queue = [];
        this.#queued = 0;
        for (const b of queue) link.reliable.send(b);
        this.#replaceInWorlds(link);
        this.#setState("connected");
      } catch (err) {
        if (this.#state === "closed") return;
        // A link lost after adoption was seen by #lost, which has scheduled
        // the next attempt itself.
        if (adopted && adopted !== this.#link) return;
        if (adopted) this.#drop();
        this.#setState("reconnecting", err instanceof Error ? err : new Error(String(err)));
        this.#reconnect(attempt + 1, avoid);
      }
    }, delay);
  }

  /** Sends each placed world's last position on a new link: its server knows none. */
  #replaceInWorlds(link: Link): void {
    for (const w of this.#worlds.values()) {
      const at = w.placedAt();
      if (at) this.#send(link.reliable, encodeTopic(false, w.topic, new Uint8Array(), at));
    }
  }

  #setState(s: State, err?: Error): void {
    this.#state = s;
    for (const wake of this.#ready.splice(0)) wake();
    this.#emit("state", s, err);
  }

  #emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const fn of this.#listeners[event]) {
      try {
        (fn as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (err) {
        console.error(`webrtc-broker: ${event} handler threw`, err);
      }
    }
  }
}
