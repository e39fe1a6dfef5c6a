// The dedupe of a move away from a draining server: which of the new link's
// messages are copies of what the old link delivered. The Go SDK's
// client/handover_dedupe.go is the same algorithm; its comment says why.
//
// In short: a copy relayed by two servers has only sender, topic, channel
// and body in common (history stream positions are numbered per server, so
// a copy carries another epoch and offset; no per-sender sequence is on the
// wire). Each link carries a contiguous stretch of each sender's reliable
// stream, in order, so copies are found by aligning the two stretches per
// (sender, topic, channel), not by counting bodies: a sender publishing the
// same body again is delivered again. When a sender repeats one body the
// alignment takes the shortest overlap that fits: a wrong guess costs
// duplicates of the repeated body, never a loss.
import type { Message } from "./wire.js";

interface OldEntry {
  body: string;
  /** The new link existed when the old one delivered it. */
  afterNext: boolean;
}

const bodyKey = (b: Uint8Array): string => {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return s;
};

/** Names m's stream: sender, channel and topic (length first: a topic may hold any byte but a space). */
const streamKey = (m: Message): string => `${m.fromAlias}|${m.channel}|${m.topic.length}:${m.topic}`;

/** The overlap of one move: what the old link delivered, per stream, and once ended what the new link still owes. */
export class Dedupe {
  #old = new Map<string, OldEntry[]>();
  #owed = new Map<string, string[]>();

  /** Records m, delivered by the old link; afterNext: the new link exists. */
  old(m: Message, afterNext: boolean): void {
    const k = streamKey(m);
    let q = this.#old.get(k);
    if (!q) this.#old.set(k, (q = []));
    q.push({ body: bodyKey(m.body), afterNext });
  }

  /** Ends the overlap: returns what of held (the new link's messages, in arrival order) is not a copy, in order. */
  end(held: Message[]): Message[] {
    const byStream = new Map<string, string[]>();
    for (const m of held) {
      const k = streamKey(m);
      let q = byStream.get(k);
      if (!q) byStream.set(k, (q = []));
      q.push(bodyKey(m.body));
    }
    for (const k of this.#old.keys()) if (!byStream.has(k)) byStream.set(k, []);
    const copies = new Map<string, number>();
    for (const [k, bodies] of byStream) {
      const [n, owed] = align(this.#old.get(k) ?? [], bodies, k.slice(k.indexOf("|") + 1).startsWith("reliable|"));
      copies.set(k, n);
      if (owed.length > 0) this.#owed.set(k, owed);
    }
    this.#old.clear();
    const out: Message[] = [];
    for (const m of held) {
      const k = streamKey(m);
      const n = copies.get(k) ?? 0;
      if (n > 0) copies.set(k, n - 1);
      else out.push(m);
    }
    return out;
  }

  /** After the end: reports whether m, from the new link, is a copy it owed, and consumes it. */
  dropOwed(m: Message): boolean {
    const k = streamKey(m);
    const q = this.#owed.get(k);
    if (!q || q.length === 0) return false;
    const body = bodyKey(m.body);
    if (q[0] === body) {
      q.shift();
      return true;
    }
    if (m.channel === "reliable") {
      this.#owed.delete(k); // the new link is past what was owed
      return false;
    }
    const j = q.indexOf(body);
    if (j < 0) return false;
    q.splice(0, j + 1); // the new link lost those before it
    return true;
  }
}

/** Matches held against old for one stream: how many of held, from the first, are copies, and what of old is still owed. */
function align(old: OldEntry[], held: string[], reliable: boolean): [number, string[]] {
  const n = old.length;
  const m = held.length;
  if (m === 0) return [0, old.filter((e) => e.afterNext).map((e) => e.body)];
  if (!reliable) return alignLossy(old, held);
  const valid = (s: number) => {
    for (let j = 0; j < m && s + j < n; j++) if (old[s + j].body !== held[j]) return false;
    return true;
  };
  let best = -1;
  for (const wantAfter of [true, false]) {
    for (let s = n - 1; s >= Math.max(0, n - m) && best < 0; s--) if ((!wantAfter || old[s].afterNext) && valid(s)) best = s;
    for (let s = n - m - 1; s >= 0 && best < 0; s--) if ((!wantAfter || old[s].afterNext) && valid(s)) best = s;
    if (best >= 0) break;
  }
  if (best < 0) return [0, []];
  if (n - best >= m) return [m, old.slice(best + m).map((e) => e.body)];
  return [n - best, []];
}

function alignLossy(old: OldEntry[], held: string[]): [number, string[]] {
  let start = -1;
  for (let s = old.length - 1; s >= 0; s--) {
    if (old[s].body === held[0]) {
      start = s;
      if (old[s].afterNext) break;
    }
  }
  if (start < 0) return [0, []];
  let i = start;
  let copies = 0;
  for (const b of held) {
    let j = i;
    while (j < old.length && old[j].body !== b) j++;
    if (j === old.length) break;
    copies++;
    i = j + 1;
  }
  return [copies, old.slice(i).map((e) => e.body)];
}
