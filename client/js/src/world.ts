// A world topic (spatial interest): the server relays a world message only
// to subscribers within the world's radius of the sender, fewer the further
// they are, always the newest; so each message carries the sender's
// position. The Go SDK's client.World is the same.
import type { SendOptions } from "./client.js";
import type { Position } from "./wire.js";

/** What World needs of its client: publish (type-only, so no import cycle). */
interface Publisher {
  publish(topic: string, body: Uint8Array | string, options?: SendOptions): boolean;
  publishIdentity(topic: string, body: Uint8Array | string, options?: SendOptions): boolean;
}

/**
 * This client's handle on a world topic: it keeps the client's position and
 * puts it on every message it publishes. Subscribing is an ordinary
 * subscribe (include world.topic in the set); the server places the client
 * from the position on its own messages and sends it nothing from the world
 * until it has sent one, so call setPosition once after subscribing and each
 * time the client moves without publishing. Received world messages carry
 * the sender's position in Message.position.
 */
export class World {
  readonly topic: string;
  #client: Publisher;
  #position: Position = { x: 0, y: 0, z: 0 };
  #placed = false;

  constructor(client: Publisher, topic: string) {
    this.#client = client;
    this.topic = topic;
  }

  /** The last position set. */
  get position(): Position {
    return { ...this.#position };
  }

  /** @internal The position to send again after a reconnection; undefined before any. */
  placedAt(): Position | undefined {
    return this.#placed ? { ...this.#position } : undefined;
  }

  /**
   * Moves the client and tells the server, with a message of no body on the
   * reliable channel (the server moves the client and relays nothing).
   */
  setPosition(position: Position): boolean {
    this.#position = { ...position };
    this.#placed = true;
    return this.#client.publish(this.topic, new Uint8Array(), { reliable: true, position: this.#position });
  }

  /** Publishes body (the client's state) from the current position. */
  publish(body: Uint8Array | string, options: SendOptions = { reliable: true }): boolean {
    this.#placed = true;
    return this.#client.publish(this.topic, body, { ...options, position: this.#position });
  }

  /** Moves the client and publishes body from there, in one message. */
  publishAt(position: Position, body: Uint8Array | string, options: SendOptions = { reliable: true }): boolean {
    this.#position = { ...position };
    return this.publish(body, options);
  }

  /** publish, with the identity and role that authentication gave the client. */
  publishIdentity(body: Uint8Array | string, options: SendOptions = { reliable: true }): boolean {
    this.#placed = true;
    return this.#client.publishIdentity(this.topic, body, { ...options, position: this.#position });
  }
}
