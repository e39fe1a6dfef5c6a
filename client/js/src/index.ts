// webrtc-broker's browser SDK. The API is written down in client/README.md;
// the Go SDK (client/) follows the same design.
export { connect, Client } from "./client.js";
export type { Options, ReconnectOptions, SendOptions, State, WaitOptions } from "./client.js";
export type { Member, Message, Position, Presence, ServerError } from "./wire.js";
export type { Recovery, StreamPosition } from "./streams.js";
export { World } from "./world.js";
export * from "./errors.js";
export { ErrorCode, MessageType, Role } from "./gen/broker_pb.js";
