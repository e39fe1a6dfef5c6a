import assert from "node:assert/strict";
import { test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { backoffDelay } from "../src/backoff.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { Format, MessageType, TopicFWMessageSchema, TopicIdentityMessageSchema, TopicMessageSchema } from "../src/gen/broker_pb.js";
import { connectURL, pickServer } from "../src/link.js";
import { decodeData, encodeTopic, topicSet, validTopic } from "../src/wire.js";
import { World } from "../src/world.js";

test("a topic set up to gzipAbove bytes goes plain, a longer one gzip", async () => {
  const small = await topicSet(["a", "b"], 3);
  assert.equal(small.format, Format.PLAIN);
  assert.equal(new TextDecoder().decode(small.bytes), "a b");

  const topics = Array.from({ length: 200 }, (_, i) => `room/${i}`);
  const big = await topicSet(topics, 1024);
  assert.equal(big.format, Format.GZIP);
  assert.deepEqual([big.bytes[0], big.bytes[1]], [0x1f, 0x8b]);
  const inflated = new Blob([big.bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
  assert.equal(await new Response(inflated).text(), topics.join(" "));
});

test("a client's publish carries no from_alias, identity or role", () => {
  const t = fromBinary(TopicMessageSchema, encodeTopic(false, "chat", new Uint8Array([1])));
  assert.equal(t.fromAlias, 0n);
  assert.equal(t.topic, "chat");
  const i = fromBinary(TopicIdentityMessageSchema, encodeTopic(true, "chat", new Uint8Array([1])));
  assert.equal(i.fromAlias, 0n);
  assert.equal(i.identity.length, 0);
  assert.equal(i.role, 0);
  assert.deepEqual(i.body, new Uint8Array([1]));
});

test("topics are non-empty and have no space", () => {
  assert.ok(validTopic("a/b"));
  assert.ok(!validTopic(""));
  assert.ok(!validTopic("a b"));
});

test("backoff doubles from min, is capped at max and jittered over its upper half", () => {
  assert.equal(backoffDelay(0, 100, 5000, () => 1), 100);
  assert.equal(backoffDelay(0, 100, 5000, () => 0), 50);
  assert.equal(backoffDelay(3, 100, 5000, () => 1), 800);
  assert.equal(backoffDelay(10, 100, 5000, () => 1), 5000);
  assert.equal(backoffDelay(1000, 100, 5000, () => 0), 2500);
});

test("the coordinator URL gets /connect and the token in the query", () => {
  assert.equal(connectURL("ws://127.0.0.1:9090", "t k"), "ws://127.0.0.1:9090/connect?token=t+k");
  assert.equal(connectURL("http://h/x", undefined, { a: "1" }), "ws://h/x?a=1");
  assert.throws(() => connectURL("ftp://h"), /scheme must be ws or wss/);
});

test("reconnection prefers a server other than the one lost", () => {
  assert.equal(pickServer([1n, 2n], 1n), 2n);
  assert.equal(pickServer([1n], 1n), 1n);
  assert.equal(pickServer([], 1n), undefined);
  // A reconnection holding stream positions goes back to the lost server when offered.
  assert.equal(pickServer([2n, 3n, 1n], undefined, 1n), 1n);
  assert.equal(pickServer([2n, 3n], undefined, 1n), 2n);
});

test("a world publish carries the position, and a received one gives it back", () => {
  const t = fromBinary(TopicMessageSchema, encodeTopic(false, "world.a", new Uint8Array([1]), { x: 1.5, y: -2 }));
  assert.deepEqual([t.position?.x, t.position?.y, t.position?.z], [1.5, -2, 0]);
  // At the origin the position is still sent: it says "here", not "nowhere".
  assert.ok(fromBinary(TopicMessageSchema, encodeTopic(false, "w", new Uint8Array(), { x: 0, y: 0 })).position);
  assert.equal(fromBinary(TopicMessageSchema, encodeTopic(false, "chat", new Uint8Array([1]))).position, undefined);

  const fw = toBinary(TopicFWMessageSchema, create(TopicFWMessageSchema, {
    type: MessageType.TOPIC_FW, fromAlias: 7n, topic: "world.a", body: new Uint8Array([2]), position: { x: 3, y: 4, z: 5 },
  }));
  const got = decodeData(fw);
  assert.equal(got.kind, "message");
  if (got.kind === "message") assert.deepEqual(got.message.position, { x: 3, y: 4, z: 5 });
  const plain = decodeData(toBinary(TopicFWMessageSchema, create(TopicFWMessageSchema, { type: MessageType.TOPIC_FW, topic: "c" })));
  if (plain.kind === "message") assert.equal("position" in plain.message, false);
});

test("World puts its position on every publish; setPosition sends a reliable move with no body", () => {
  const sent: { topic: string; body: Uint8Array | string; options?: { reliable?: boolean; position?: unknown } }[] = [];
  const record = (topic: string, body: Uint8Array | string, options?: { reliable?: boolean; position?: unknown }) => {
    sent.push({ topic, body, options });
    return true;
  };
  const w = new World({ publish: record, publishIdentity: record }, "world.a");
  w.setPosition({ x: 1, y: 2 });
  w.publish("s1", { reliable: false });
  w.publishAt({ x: 9, y: 9, z: 1 }, "s2");
  assert.deepEqual(w.position, { x: 9, y: 9, z: 1 });
  assert.deepEqual(sent.map((s) => [s.topic, s.options?.reliable, s.options?.position]), [
    ["world.a", true, { x: 1, y: 2 }],
    ["world.a", false, { x: 1, y: 2 }],
    ["world.a", true, { x: 9, y: 9, z: 1 }],
  ]);
  assert.equal((sent[0].body as Uint8Array).length, 0);
  assert.deepEqual(w.placedAt(), { x: 9, y: 9, z: 1 });
  assert.equal(new World({ publish: record, publishIdentity: record }, "w").placedAt(), undefined);
});
