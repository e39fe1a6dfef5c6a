// The protocol's test vectors (protocol/testdata/vectors.json, written from
// the Go code): the generated es code must decode each to its fields and
// encode the fields back to the same bytes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fromBinary, fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { file_broker, MessageHeaderSchema, MessageType } from "../src/gen/broker_pb.js";
import { decodeData } from "../src/wire.js";

interface Vector {
  name: string;
  message: string;
  hex: string;
  fields: JsonValue;
}

// Tests run from build/test/, two levels below client/js.
const vectors: Vector[] = JSON.parse(
  readFileSync(new URL("../../../../protocol/testdata/vectors.json", import.meta.url), "utf8"),
);

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

for (const v of vectors) {
  test(`vector ${v.name}`, () => {
    const schema = file_broker.messages.find((m) => m.typeName === v.message);
    assert.ok(schema, `no generated schema for ${v.message}`);
    const wire = new Uint8Array(Buffer.from(v.hex, "hex"));
    assert.deepEqual(toJson(schema, fromBinary(schema, wire)), v.fields);
    assert.equal(hex(toBinary(schema, fromJson(schema, v.fields))), v.hex);
  });
}

test("every message type has a vector", () => {
  const seen = new Set(vectors.map((v) => fromBinary(MessageHeaderSchema, new Uint8Array(Buffer.from(v.hex, "hex"))).type));
  for (const t of Object.values(MessageType).filter((x): x is MessageType => typeof x === "number")) {
    if (t !== MessageType.UNKNOWN_MESSAGE_TYPE) assert.ok(seen.has(t), `no vector for ${MessageType[t]}`);
  }
});

test("the SDK's reader unpacks the batch vector into its messages", () => {
  const v = vectors.find((x) => x.name === "batch")!;
  const d = decodeData(new Uint8Array(Buffer.from(v.hex, "hex")));
  assert.equal(d.kind, "batch");
  assert.deepEqual(d.kind === "batch" && d.messages.map(hex), ["080a1005", "080c"]);
});

test("the SDK's reader decodes the topic and error vectors", () => {
  const byName = new Map(vectors.map((v) => [v.name, new Uint8Array(Buffer.from(v.hex, "hex"))]));
  assert.deepEqual(decodeData(byName.get("topic identity fw")!), {
    kind: "message",
    message: {
      type: MessageType.TOPIC_IDENTITY_FW,
      topic: "chat",
      fromAlias: 5n,
      body: new TextEncoder().encode("hi"),
      identity: new TextEncoder().encode("alice"),
      role: 1,
    },
  });
  const e = decodeData(byName.get("error subscription denied")!);
  assert.equal(e.kind, "error");
  assert.deepEqual(e.kind === "error" && e.error, {
    code: 2,
    codeName: "ERROR_SUBSCRIPTION_DENIED",
    topic: "admin",
    reason: "denied by policy",
  });
  assert.deepEqual(decodeData(byName.get("ping")!), { kind: "ping", time: 1764687600123.25 });
});
