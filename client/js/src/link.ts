// One attempt at a server link: the coordinator WebSocket for signaling,
// then the peer connection with its two channels and AUTH. It follows the
// Go SDK's handshake (client/dial.go, client/signal.go) step for step.
import { ConnectionRefusedReason, MessageType } from "./gen/broker_pb.js";
import { AuthFailedError, BrokerError, CoordinatorUnreachableError, NoServersError, RefusedError, ServerFullError, TimeoutError } from "./errors.js";
import { backoffDelay } from "./backoff.js";
import { Bytes, decodeSignal, encodeAuth, encodeConnect, encodeWebRtc } from "./wire.js";

export interface LinkOptions {
  url: string;
  authBody: Uint8Array;
  /** List FEATURE_BATCH in AUTH (the server may then send BATCH). */
  batching: boolean;
  /** Declare FEATURE_DRAIN: the client moves when its server drains (off when it does not reconnect). */
  drain: boolean;
  iceServers: RTCIceServer[];
  timeoutMs: number;
  /** The reconnection backoff's cap: a busy server's refusal is retried from its hint, doubling up to this. */
  maxDelayMs: number;
  /** A fixed server alias (tests place clients on given servers). */
  server?: bigint;
  /** The server just lost: another is preferred when WELCOME offers one. */
  avoid?: bigint;
  /** The server just lost, taken again when WELCOME offers it (the client's stream positions are of it). */
  prefer?: bigint;
  /** Never avoid: a move away from a draining server (NoServersError when WELCOME offers no other). */
  onlyOthers?: boolean;
}

/** An established link: both channels open, AUTH written. */
export interface Link {
  alias: bigint;
  server: bigint;
  pc: RTCPeerConnection;
  reliable: RTCDataChannel;
  unreliable: RTCDataChannel;
}

/** The coordinator URL with /connect as the default path and the credentials in the query. */
export function connectURL(base: string, token?: string, query?: Record<string, string>): string {
  const u = new URL(base);
  if (u.protocol === "http:") u.protocol = "ws:";
  if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new BrokerError(`coordinator URL ${base}: scheme must be ws or wss`);
  }
  if (u.pathname === "" || u.pathname === "/") u.pathname = "/connect";
  for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
  if (token !== undefined) u.searchParams.set("token", token);
  return u.toString();
}

export function pickServer(servers: bigint[], avoid?: bigint, prefer?: bigint): bigint | undefined {
  if (prefer !== undefined && servers.includes(prefer)) return prefer;
  return servers.find((s) => s !== avoid) ?? servers[0];
}

/** The backoff of CONNECTs a busy server refused is capped at this many times its retry_after_ms. */
const busyRetrySteps = 4;

export function openLink(o: LinkOptions): Promise<Link> {
  return new Promise<Link>((resolve, reject) => {
    const ws = new WebSocket(o.url);
    ws.binaryType = "arraybuffer";
    let pc: RTCPeerConnection | undefined;
    let alias = 0n;
    let server = 0n;
    let offered = false; // set before the first offer's first await: a second one is refused even mid-answer
    let answered = false;
    let settled = false;
    const pendingLocal: RTCIceCandidateInit[] = []; // gathered before the answer went out
    const early: RTCIceCandidateInit[] = []; // arrived before the offer
    const channels = new Map<string, RTCDataChannel>();
    // A server busy setting up other clients refuses with a retry hint: the
    // CONNECT goes again on this socket after the reconnection backoff (from
    // the hint, jittered, doubling), within timeoutMs.
    let busyAttempt = 0;
    let busyMin = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;

    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(retry);
      // The link does not need the coordinator once up: the client keeps
      // working while the coordinator is away.
      ws.onclose = ws.onerror = ws.onmessage = null;
      ws.close(1000, err ? "failed" : "connected");
      if (err !== undefined) {
        pc?.close();
        reject(err instanceof Error ? err : new BrokerError(String(err)));
        return;
      }
      const reliable = channels.get("reliable")!;
      try {
        reliable.send(encodeAuth(o.authBody, o.batching, o.drain));
      } catch (e) {
        pc?.close();
        reject(new BrokerError(`server ${server}: AUTH not written: ${e instanceof Error ? e.message : String(e)}`));
        return;
      }
      resolve({ alias, server, pc: pc!, reliable, unreliable: channels.get("unreliable")! });
    };
    const timer = setTimeout(() => finish(new TimeoutError(`connect: no link within ${o.timeoutMs} ms`)), o.timeoutMs);
    const send = (b: Bytes) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(b);
    };

    ws.onerror = () => {}; // onclose follows and says more
    ws.onclose = (ev) => {
      // A refused upgrade shows up as a close before WELCOME; a browser
      // does not expose the HTTP status, so 401/403 cannot be told apart
      // from other refusals here (see client/README.md).
      if (alias === 0n) finish(new CoordinatorUnreachableError(`coordinator ${o.url.split("?")[0]} refused or unreachable (close ${ev.code}): check the URL and the token`));
      else finish(new BrokerError(`coordinator connection closed (${ev.code}) before the link was up`));
    };
    ws.onmessage = (ev) => {
      let sig;
      try {
        sig = decodeSignal(new Uint8Array(ev.data as ArrayBuffer));
      } catch {
        return; // as the Go SDK: an undecodable coordinator message is ignored
      }
      if (sig.type === MessageType.WELCOME && "servers" in sig) {
        if (alias !== 0n) return;
        alias = sig.alias;
        const s = o.server ?? (o.onlyOthers ? sig.servers.find((x) => x !== o.avoid) : pickServer(sig.servers, o.avoid, o.prefer));
        if (s === undefined) return finish(new NoServersError(`alias ${alias}: coordinator offered no server`));
        server = s;
        startPeer(sig.iceServers);
        send(encodeConnect(server));
        return;
      }
      if (alias === 0n || sig.from !== server) return;
      void onSignal(sig).catch((err) => finish(err));
    };

    // The WELCOME's ICE servers come after the configured ones, as in the
    // Go SDK, so a page needs no ICE configuration of its own.
    const startPeer = (welcomeIce: RTCIceServer[]) => {
      pc = new RTCPeerConnection({ iceServers: [...o.iceServers, ...welcomeIce] });
      // Chromium announces a server's channel already open and fires open
      // after the datachannel event, but now and then its readyState goes
      // back to "connecting" and open fires again on the same channel (the
      // flake of TestTLSPageConnectsOverWSS: one CONNECT, one offer, one
      // channel per label on the server, yet "opened channel reliable
      // twice" here; or AUTH's send threw). So a channel is taken once, by
      // label, and the link is up at an open event that finds both taken
      // channels open. Another channel with a taken label is the server
      // breaking the protocol, refused as in the Go SDK.
      const opened = (dc: RTCDataChannel) => {
        const had = channels.get(dc.label);
        if (had && had !== dc) {
          return finish(new BrokerError(`server ${server} opened channel ${dc.label} twice (ids ${had.id} and ${dc.id})`));
        }
        if (had) console.debug(`webrtc-broker: server ${server} channel ${dc.label} (id ${dc.id}): open fired again`);
        channels.set(dc.label, dc);
        if (channels.size === 2 && [...channels.values()].every((c) => c.readyState === "open")) finish();
      };
      pc.ondatachannel = (ev) => {
        const dc = ev.channel;
        if (dc.label !== "reliable" && dc.label !== "unreliable") return;
        dc.binaryType = "arraybuffer";
        dc.onopen = () => opened(dc);
      };
      pc.onicecandidate = (ev) => {
        if (!ev.candidate) return;
        const c = ev.candidate.toJSON();
        if (answered) send(encodeWebRtc(MessageType.WEBRTC_ICE_CANDIDATE, server, c));
        else pendingLocal.push(c); // a candidate must not overtake the answer
      };
      pc.onconnectionstatechange = () => {
        if (pc?.connectionState === "failed") finish(new BrokerError(`server ${server}: peer connection failed`));
      };
    };

    const onSignal = async (sig: ReturnType<typeof decodeSignal>) => {
      if (!pc || !("data" in sig)) return;
      const text = new TextDecoder().decode(sig.data);
      switch (sig.type) {
        case MessageType.CONNECTION_REFUSED: {
          const { reason, retryAfterMs } = sig as { reason: number; retryAfterMs: number };
          if (retryAfterMs > 0) {
            if (retry !== undefined) return; // a retry is already due
            if (busyAttempt === 0) busyMin = retryAfterMs;
            // Capped at a few setups (busyRetrySteps hints), as in the Go
            // SDK: a slot freed while everyone waits maxDelay would stand empty.
            const wait = backoffDelay(busyAttempt++, busyMin, Math.min(Math.max(o.maxDelayMs, busyMin), busyRetrySteps * busyMin));
            retry = setTimeout(() => {
              retry = undefined;
              if (!settled) send(encodeConnect(server));
            }, wait);
            return;
          }
          const why = text ? `: ${text}` : "";
          if (reason === ConnectionRefusedReason.SERVER_FULL) throw new ServerFullError(`server ${server} full${why}`);
          if (reason === ConnectionRefusedReason.AUTH_FAILED) throw new AuthFailedError(`server ${server} refused${why}`);
          throw new RefusedError(`server ${server} refused the connection${why}`);
        }
        case MessageType.WEBRTC_OFFER: {
          // A server offers once per CONNECT. Answering a second offer would
          // renegotiate this connection and add two more channels with the
          // same labels: refuse it, as the Go SDK does (client/dial.go).
          if (offered) throw new BrokerError(`server ${server} sent a second offer`);
          offered = true;
          await pc.setRemoteDescription(JSON.parse(text) as RTCSessionDescriptionInit);
          for (const c of early.splice(0)) await pc.addIceCandidate(c).catch(() => {});
          const answer = await pc.createAnswer();
          await pc.setLocalDescription(answer);
          send(encodeWebRtc(MessageType.WEBRTC_ANSWER, server, { type: answer.type, sdp: answer.sdp }));
          answered = true;
          for (const c of pendingLocal.splice(0)) send(encodeWebRtc(MessageType.WEBRTC_ICE_CANDIDATE, server, c));
          return;
        }
        case MessageType.WEBRTC_ICE_CANDIDATE: {
          const c = JSON.parse(text) as RTCIceCandidateInit;
          if (!pc.remoteDescription) early.push(c);
          else await pc.addIceCandidate(c).catch(() => {}); // as Go: a bad candidate is not fatal
          return;
        }
      }
    };
  });
}
