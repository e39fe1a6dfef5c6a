// Encoding and decoding of coordinator and data-channel messages, through
// the code protoc-gen-es generated from protocol/broker.proto.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AuthMessageSchema,
  BatchMessageSchema,
  ConnectionRefusedMessageSchema,
  ConnectMessageSchema,
  DrainMessageSchema,
  ErrorCode,
  ErrorMessageSchema,
  Feature,
  Format,
  MessageHeaderSchema,
  MessageType,
  PingMessageSchema,
  PositionSchema,
  PresenceMessageSchema,
  PresenceRequestMessageSchema,
  RecoveryMessageSchema,
  Role,
  SubscriptionMessageSchema,
  TopicFWMessageSchema,
  TopicIdentityFWMessageSchema,
  TopicIdentityMessageSchema,
  TopicMessageSchema,
  WebRtcMessageSchema,
  WelcomeMessageSchema,
} from "./gen/broker_pb.js";
import type { Recovery, StreamPosition } from "./streams.js";

/** Bytes as the browser's send() calls take them. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** A point in a world topic's space (protocol.Position). */
export interface Position {
  x: number;
  y: number;
  z?: number;
}

/**
 * One received topic message. Identity and role are set on identity
 * messages only; position on world topics' messages (the sender's).
 */
export interface Message {
  type: MessageType;
  topic: string;
  fromAlias: bigint;
  body: Uint8Array;
  channel: "reliable" | "unreliable";
  identity?: Uint8Array;
  role?: Role;
  position?: Position;
  /** The message's place in a history topic's stream (reliable messages on history topics). */
  stream?: StreamPosition;
}

/** A member of a topic's presence, as the server's authentication knows it. */
export interface Member {
  alias: bigint;
  identity: Uint8Array;
  role: Role;
}

/**
 * A topic's presence: a snapshot (members is everyone) or a change (joined,
 * left). Above the server's presence.max_members only count is set
 * (countsOnly, members unknown).
 */
export interface Presence {
  topic: string;
  snapshot: boolean;
  members: Member[];
  joined: Member[];
  left: Member[];
  count: number;
  countsOnly: boolean;
}

/** A server ERROR: a denied subscription, a dropped publish, a failed AUTH. */
export interface ServerError {
  code: ErrorCode;
  /** The code's name, e.g. "ERROR_SUBSCRIPTION_DENIED". */
  codeName: string;
  topic: string;
  reason: string;
}

/** What the data-channel reader makes of one message. */
export type Inbound =
  | { kind: "message"; message: Omit<Message, "channel"> }
  | { kind: "error"; error: ServerError }
  | { kind: "ping"; time: number }
  | { kind: "batch"; messages: Uint8Array[] }
  | { kind: "drain"; graceMs: number }
  | { kind: "presence"; presence: Presence }
  | { kind: "recovery"; recovery: Recovery }
  | { kind: "other"; type: MessageType };

/**
 * The client's AUTH. With batching (the default) it lists FEATURE_BATCH, and
 * the server may then send BATCH, and with drain (unless reconnection is off)
 * FEATURE_DRAIN, and a draining server tells the client to move. Without
 * batching it acts as a 2019 client: the 2019 AUTH byte for byte.
 */
export function encodeAuth(body: Uint8Array, batching = true, drain = true): Bytes {
  const features = batching ? [Feature.BATCH, ...(drain ? [Feature.DRAIN] : [])] : [];
  return <Bytes>toBinary(AuthMessageSchema, create(AuthMessageSchema, { type: MessageType.AUTH, role: Role.CLIENT, body, features }));
}

export function encodePing(time: number): Bytes {
  return <Bytes>toBinary(PingMessageSchema, create(PingMessageSchema, { type: MessageType.PING, time }));
}

export function encodeSubscription(format: Format, topics: Uint8Array): Bytes {
  return <Bytes>toBinary(
    SubscriptionMessageSchema,
    create(SubscriptionMessageSchema, { type: MessageType.SUBSCRIPTION, format, topics }),
  );
}

/**
 * A client's TOPIC or TOPIC_IDENTITY: no from_alias, identity or role, which
 * the server stamps and never takes from a client; with the sender's
 * position on a world topic.
 */
export function encodeTopic(identity: boolean, topic: string, body: Uint8Array, position?: Position): Bytes {
  const pos = position && create(PositionSchema, { x: position.x, y: position.y, z: position.z ?? 0 });
  if (identity) {
    return <Bytes>toBinary(
      TopicIdentityMessageSchema,
      create(TopicIdentityMessageSchema, { type: MessageType.TOPIC_IDENTITY, topic, body, position: pos }),
    );
  }
  return <Bytes>toBinary(TopicMessageSchema, create(TopicMessageSchema, { type: MessageType.TOPIC, topic, body, position: pos }));
}

/** The relay's view of a received position: absent when the message has none. */
function positionOf(p: { x: number; y: number; z: number } | undefined): { position?: Position } {
  return p ? { position: { x: p.x, y: p.y, z: p.z } } : {};
}

/** Decodes one data-channel message; throws on bytes that are not protobuf. */
export function decodeData(b: Uint8Array): Inbound {
  const { type } = fromBinary(MessageHeaderSchema, b);
  switch (type) {
    case MessageType.TOPIC: {
      const m = fromBinary(TopicMessageSchema, b);
      return { kind: "message", message: { type, topic: m.topic, fromAlias: m.fromAlias, body: m.body, ...positionOf(m.position) } };
    }
    case MessageType.TOPIC_FW: {
      const m = fromBinary(TopicFWMessageSchema, b);
      return { kind: "message", message: { type, topic: m.topic, fromAlias: m.fromAlias, body: m.body, ...positionOf(m.position), ...stream(m.stream) } };
    }
    case MessageType.TOPIC_IDENTITY: {
      const m = fromBinary(TopicIdentityMessageSchema, b);
      return {
        kind: "message",
        message: {
          type,
          topic: m.topic,
          fromAlias: m.fromAlias,
          body: m.body,
          identity: m.identity,
          role: m.role,
          ...positionOf(m.position),
        },
      };
    }
    case MessageType.TOPIC_IDENTITY_FW: {
      const m = fromBinary(TopicIdentityFWMessageSchema, b);
      return {
        kind: "message",
        message: {
          type,
          topic: m.topic,
          fromAlias: m.fromAlias,
          body: m.body,
          identity: m.identity,
          role: m.role,
          ...positionOf(m.position),
          ...stream(m.stream),
        },
      };
    }
    case MessageType.PING:
      return { kind: "ping", time: fromBinary(PingMessageSchema, b).time };
    case MessageType.BATCH: {
      // The inner messages are views into b, each decoded (decodeData) as
      // if it had come alone: a batch costs no more per message.
      const { messages } = fromBinary(BatchMessageSchema, b);
      if (messages.length === 0) throw new Error("BATCH carries no message");
      return { kind: "batch", messages };
    }
    case MessageType.DRAIN:
      return { kind: "drain", graceMs: fromBinary(DrainMessageSchema, b).graceMs };
    case MessageType.PRESENCE: {
      const m = fromBinary(PresenceMessageSchema, b);
      const members = (ms: { alias: bigint; identity: Uint8Array; role: Role }[]) =>
        ms.map(({ alias, identity, role }) => ({ alias, identity, role }));
      return {
        kind: "presence",
        presence: {
          topic: m.topic,
          snapshot: m.snapshot,
          members: members(m.members),
          joined: members(m.joined),
          left: members(m.left),
          count: m.count,
          countsOnly: m.countsOnly,
        },
      };
    }
    case MessageType.RECOVERY: {
      const m = fromBinary(RecoveryMessageSchema, b);
      return {
        kind: "recovery",
        recovery: {
          topic: m.topic,
          recovered: m.recovered,
          replayed: m.replayed,
          position: { epoch: m.position?.epoch ?? 0n, offset: m.position?.offset ?? 0n },
        },
      };
    }
    case MessageType.ERROR: {
      const m = fromBinary(ErrorMessageSchema, b);
      return {
        kind: "error",
        error: { code: m.code, codeName: ErrorCode[m.code] ?? String(m.code), topic: m.topic, reason: m.reason },
      };
    }
    default:
      return { kind: "other", type };
  }
}

/** One decoded coordinator message, as the handshake needs it. */
export type Signal =
  | { type: MessageType.WELCOME; alias: bigint; servers: bigint[]; iceServers: RTCIceServer[] }
  | { type: MessageType.WEBRTC_OFFER | MessageType.WEBRTC_ICE_CANDIDATE | MessageType.WEBRTC_ANSWER; from: bigint; data: Uint8Array }
  | { type: MessageType.CONNECTION_REFUSED; from: bigint; reason: number; data: Uint8Array; retryAfterMs: number }
  | { type: MessageType; from?: undefined };

export function decodeSignal(b: Uint8Array): Signal {
  const { type } = fromBinary(MessageHeaderSchema, b);
  switch (type) {
    case MessageType.WELCOME: {
      const m = fromBinary(WelcomeMessageSchema, b);
      // ice_servers (extension): TURN credentials minted for this client;
      // a 2019 coordinator sends none.
      const iceServers = m.iceServers
        .filter((s) => s.urls.length > 0)
        .map((s): RTCIceServer => (s.username || s.credential ? { urls: s.urls, username: s.username, credential: s.credential } : { urls: s.urls }));
      return { type, alias: m.alias, servers: m.availableServers, iceServers };
    }
    case MessageType.WEBRTC_OFFER:
    case MessageType.WEBRTC_ANSWER:
    case MessageType.WEBRTC_ICE_CANDIDATE: {
      const m = fromBinary(WebRtcMessageSchema, b);
      return { type, from: m.fromAlias, data: m.data };
    }
    case MessageType.CONNECTION_REFUSED: {
      const m = fromBinary(ConnectionRefusedMessageSchema, b);
      // retry_after_ms (extension): non-zero when the server is only busy
      // and the CONNECT should be sent again.
      return { type, from: m.fromAlias, reason: m.reason, data: m.data, retryAfterMs: m.retryAfterMs };
    }
    default:
      return { type };
  }
}

export function encodeConnect(to: bigint): Bytes {
  return <Bytes>toBinary(ConnectMessageSchema, create(ConnectMessageSchema, { type: MessageType.CONNECT, toAlias: to }));
}

export function encodeWebRtc(type: MessageType, to: bigint, json: unknown): Bytes {
  const data = new TextEncoder().encode(JSON.stringify(json));
  return <Bytes>toBinary(WebRtcMessageSchema, create(WebRtcMessageSchema, { type, toAlias: to, data }));
}

/** The topic set as SUBSCRIPTION carries it: space separated, gzip past gzipAbove bytes. */
export async function topicSet(topics: readonly string[], gzipAbove: number): Promise<{ format: Format; bytes: Uint8Array }> {
  const plain: Bytes = new TextEncoder().encode(topics.join(" "));
  if (plain.length <= gzipAbove) return { format: Format.PLAIN, bytes: plain };
  const stream = new Blob([plain]).stream().pipeThrough(new CompressionStream("gzip"));
  return { format: Format.GZIP, bytes: new Uint8Array(await new Response(stream).arrayBuffer()) };
}

export function validTopic(t: string): boolean {
  return t.length > 0 && !t.includes(" ");
}

/** The stream field of a relayed message, when it has one. */
function stream(p?: { epoch: bigint; offset: bigint }): { stream?: StreamPosition } {
  return p ? { stream: { epoch: p.epoch, offset: p.offset } } : {};
}

/** A PRESENCE_REQUEST: the whole set of topics whose presence is followed. */
export function encodePresenceRequest(topics: readonly string[]): Bytes {
  return <Bytes>toBinary(
    PresenceRequestMessageSchema,
    create(PresenceRequestMessageSchema, { type: MessageType.PRESENCE_REQUEST, topics: [...topics] }),
  );
}

/** Concatenates encoded fields of one message (protobuf merges them). */
export function concat(a: Uint8Array, b: Uint8Array): Bytes {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
