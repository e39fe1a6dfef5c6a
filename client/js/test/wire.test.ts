import assert from "node:assert/strict";
import { test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { backoffDelay } from "../src/backoff.js";
import { Format, TopicIdentityMessageSchema, TopicMessageSchema } from "../src/gen/broker_pb.js";
import { connectURL, pickServer } from "../src/link.js";
import { encodeTopic, topicSet, validTopic } from "../src/wire.js";

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
});
