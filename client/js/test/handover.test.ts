// The dedupe of a move (src/handover.ts), the cases of the Go SDK's
// TestHandoverRepeatedBodyIsNotCollapsed and TestHandoverDeliversTheOverlapOnceInOrder:
// "o:" the old link delivers, "n:" the new one, "next" the new link comes to
// exist, "end" the old link is closed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Dedupe } from "../src/handover.js";
import { MessageType } from "../src/gen/broker_pb.js";
import type { Message } from "../src/wire.js";

function run(steps: string[], channel: "reliable" | "unreliable" = "reliable", from = (_: string) => 7n): string[] {
  const d = new Dedupe();
  const got: string[] = [];
  let next = false;
  let ended = false;
  let held: Message[] = [];
  const msg = (body: string): Message => ({
    type: MessageType.TOPIC_FW,
    topic: "t",
    fromAlias: from(body),
    body: new TextEncoder().encode(body),
    channel,
  });
  const text = (m: Message) => new TextDecoder().decode(m.body);
  for (const step of steps) {
    if (step === "next") next = true;
    else if (step === "end") {
      for (const m of d.end(held)) got.push(text(m));
      held = [];
      ended = true;
    } else if (step.startsWith("o:")) {
      if (ended) continue; // the old link is muted
      d.old(msg(step.slice(2)), next);
      got.push(step.slice(2));
    } else if (!ended) held.push(msg(step.slice(2)));
    else if (!d.dropOwed(msg(step.slice(2)))) got.push(step.slice(2));
  }
  return got;
}

test("the overlap is delivered once, in order (the Go SDK's cases)", () => {
  assert.deepEqual(run(["next", "o:m1", "n:m2", "o:m2", "n:m3", "n:m4", "end", "o:m3", "n:m5"]), ["m1", "m2", "m3", "m4", "m5"]);
  assert.deepEqual(run(["next", "o:m1", "o:m2", "n:m2", "o:m3", "o:m4", "end", "n:m3", "n:m4", "o:m5", "n:m5"]), ["m1", "m2", "m3", "m4", "m5"]);
  assert.deepEqual(run(["next", "o:m1", "end", "n:m2"]), ["m1", "m2"]);
});

test("a sender's repeated body is not collapsed", () => {
  assert.deepEqual(run(["o:x", "next", "end", "n:x"]), ["x", "x"], "published again after the move");
  assert.deepEqual(run(["o:x", "next", "end", "n:x"], "unreliable"), ["x", "x"], "the same, unreliable");
  assert.deepEqual(run(["o:x", "next", "o:x", "n:x", "end", "n:x"]), ["x", "x", "x"], "twice during the move, then again");
  assert.deepEqual(run(["next", "o:x", "o:y", "n:y", "end", "n:x"]), ["x", "y", "x"], "an earlier body is not owed");
  assert.deepEqual(
    run(["next", "o:a", "o:b", "o:x", "n:a", "end", "n:b", "n:x", "n:c", "n:x"]),
    ["a", "b", "x", "c", "x"],
    "a reliable stream past what was owed owes nothing more",
  );
  assert.deepEqual(run(["next", "o:x", "n:x", "n:y", "n:x", "o:y", "end", "n:z"]), ["x", "y", "x", "z"], "the new link ahead");
  assert.deepEqual(run(["next", "o:x", "o:x", "n:x", "n:x", "n:x", "end"]), ["x", "x", "x", "x"], "ambiguous: the shortest overlap, at worst a duplicate");
});

test("each sender's stream is aligned on its own", () => {
  // Bodies "1a" are sender 1's "a": the sender is the first character.
  const from = (b: string) => BigInt(b[0]);
  assert.deepEqual(
    run(["next", "o:1a", "o:2a", "n:2a", "n:1a", "o:1b", "n:2b", "end", "n:1b", "n:1a"], "reliable", from),
    ["1a", "2a", "1b", "2b", "1a"],
  );
});
