// History topics and presence (issue 14): what the client remembers across
// reconnections. A server numbers the reliable messages of its history
// topics (StreamPosition: epoch, offset); the client keeps the last position
// received per topic and sends it with the SUBSCRIPTION that restores its
// set after a reconnection, and the server answers each topic with a
// RECOVERY, then what was missed, then live messages.
import { create, toBinary } from "@bufbuild/protobuf";
import { SubscriptionMessageSchema, TopicPositionSchema } from "./gen/broker_pb.js";

export interface StreamPosition {
  epoch: bigint;
  offset: bigint;
}

/** A server's answer for one history topic after a reconnection. */
export interface Recovery {
  topic: string;
  /** false: the history no longer covers the gap (or this is another server's stream). */
  recovered: boolean;
  replayed: number;
  /** Where the server's stream stands now. */
  position: StreamPosition;
}

export class Streams {
  #last = new Map<string, StreamPosition>();
  #aliases = new Set<bigint>();

  /**
   * Records a received message's position; false when it is not to be
   * delivered: already received (same epoch, not later), or sent by this
   * client under an earlier alias (a replay after a reconnection holds those).
   */
  seen(topic: string, from: bigint, pos: StreamPosition): boolean {
    const last = this.#last.get(topic);
    const newer = !last || last.epoch !== pos.epoch || pos.offset > last.offset;
    if (this.#aliases.has(from)) {
      if (last && last.epoch === pos.epoch && pos.offset > last.offset) this.#last.set(topic, pos);
      return false;
    }
    if (!newer) return false;
    this.#last.set(topic, pos);
    return true;
  }

  /** Records one of this client's aliases. */
  linked(alias: bigint): void {
    this.#aliases.add(alias);
  }

  /** A stream in another epoch starts from where the server stands. */
  answered(r: Recovery): void {
    if (r.position.epoch === 0n) return; // no history there: nothing to remember
    const last = this.#last.get(r.topic);
    if (!last || last.epoch !== r.position.epoch) this.#last.set(r.topic, r.position);
  }

  /** Whether any stream position is known: a reconnection then goes back to the same server if it can. */
  positioned(): boolean {
    return this.#last.size > 0;
  }

  position(topic: string): StreamPosition | undefined {
    return this.#last.get(topic);
  }

  /**
   * The recover field for the topics of set with a known position, encoded
   * so that appended to a SUBSCRIPTION it adds the field.
   */
  recoverField(set: readonly string[]): Uint8Array {
    const recover = [];
    for (const topic of set) {
      const p = this.#last.get(topic);
      if (p) recover.push(create(TopicPositionSchema, { topic, epoch: p.epoch, offset: p.offset }));
    }
    if (recover.length === 0) return new Uint8Array();
    return toBinary(SubscriptionMessageSchema, create(SubscriptionMessageSchema, { recover }));
  }
}
