// History positions and presence on the client side: what is delivered,
// what is asked for after a reconnection, and how the messages decode.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  MessageType,
  PresenceMessageSchema,
  RecoveryMessageSchema,
  Role,
  SubscriptionMessageSchema,
  TopicFWMessageSchema,
} from "../src/gen/broker_pb.js";
import { Streams } from "../src/streams.js";
import { concat, decodeData, encodeSubscription } from "../src/wire.js";
import { Format } from "../src/gen/broker_pb.js";

test("a stream delivers each position once and drops a replay of the client's own messages", () => {
  const s = new Streams();
  s.linked(5n);
  assert.ok(s.seen("chat", 9n, { epoch: 1n, offset: 1n }));
  assert.ok(!s.seen("chat", 9n, { epoch: 1n, offset: 1n }), "a duplicate");
  assert.ok(!s.seen("chat", 5n, { epoch: 1n, offset: 2n }), "its own, under an earlier alias");
  assert.equal(s.position("chat")?.offset, 2n, "its own still advance the position");
  assert.ok(s.seen("chat", 9n, { epoch: 1n, offset: 3n }));
  assert.ok(s.seen("chat", 9n, { epoch: 2n, offset: 1n }), "another epoch");
  s.answered({ topic: "chat", recovered: false, replayed: 0, position: { epoch: 3n, offset: 40n } });
  assert.deepEqual(s.position("chat"), { epoch: 3n, offset: 40n });
  assert.ok(!s.seen("chat", 9n, { epoch: 3n, offset: 40n }));
});

test("the re-subscription carries the last position of each history topic of the set", () => {
  const s = new Streams();
  s.seen("chat", 9n, { epoch: 7n, offset: 12n });
  s.seen("gone", 9n, { epoch: 7n, offset: 1n });
  const sub = concat(encodeSubscription(Format.PLAIN, new TextEncoder().encode("chat other")), s.recoverField(["chat", "other"]));
  const m = fromBinary(SubscriptionMessageSchema, sub);
  assert.equal(m.type, MessageType.SUBSCRIPTION);
  assert.equal(new TextDecoder().decode(m.topics), "chat other");
  assert.deepEqual(m.recover.map((r) => [r.topic, r.epoch, r.offset]), [["chat", 7n, 12n]]);
  assert.equal(s.recoverField(["other"]).length, 0);
});

test("stream positions, PRESENCE and RECOVERY decode", () => {
  const fw = decodeData(toBinary(TopicFWMessageSchema, create(TopicFWMessageSchema, {
    type: MessageType.TOPIC_FW, fromAlias: 3n, topic: "chat", body: new Uint8Array([1]), stream: { epoch: 4n, offset: 5n },
  })));
  assert.ok(fw.kind === "message");
  assert.deepEqual(fw.message.stream, { epoch: 4n, offset: 5n });
  const p = decodeData(toBinary(PresenceMessageSchema, create(PresenceMessageSchema, {
    type: MessageType.PRESENCE, topic: "room", joined: [{ alias: 8n, identity: new Uint8Array([2]), role: Role.CLIENT }], count: 3,
  })));
  assert.ok(p.kind === "presence");
  assert.equal(p.presence.topic, "room");
  assert.deepEqual(p.presence.joined.map((m) => m.alias), [8n]);
  assert.equal(p.presence.count, 3);
  const r = decodeData(toBinary(RecoveryMessageSchema, create(RecoveryMessageSchema, {
    type: MessageType.RECOVERY, topic: "chat", recovered: true, replayed: 2, position: { epoch: 4n, offset: 7n },
  })));
  assert.ok(r.kind === "recovery");
  assert.deepEqual(r.recovery, { topic: "chat", recovered: true, replayed: 2, position: { epoch: 4n, offset: 7n } });
});
