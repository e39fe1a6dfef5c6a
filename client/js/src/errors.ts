// Errors the SDK throws or rejects with. Each names the cause and, where it
// helps, the fix; `instanceof` tells them apart as errors.Is does in Go.

/** Base class of every error the SDK raises. */
export class BrokerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The coordinator rejected the credentials, or the server refused AUTH. */
export class AuthFailedError extends BrokerError {}
/** The server answered CONNECTION_REFUSED/SERVER_FULL (its max_peers is reached). */
export class ServerFullError extends BrokerError {}
/** A CONNECTION_REFUSED with another reason. */
export class RefusedError extends BrokerError {}
/**
 * The coordinator closed the socket before its WELCOME: unreachable, or it
 * refused the credentials (a browser cannot tell which). With several
 * coordinator URLs the next one is tried.
 */
export class CoordinatorUnreachableError extends BrokerError {}
/** The coordinator's WELCOME listed no server: start a communication server. */
export class NoServersError extends BrokerError {}
/** Every call after close() fails with this. */
export class ClosedError extends BrokerError {}
/** The link to the server is down: a call that cannot wait for it fails so. */
export class NotConnectedError extends BrokerError {}
/** A reliable publish while reconnecting found the queue full (reconnect.queueBytes). */
export class QueueFullError extends BrokerError {}
/** An empty topic or one with a space (the subscription format separates topics with spaces). */
export class InvalidTopicError extends BrokerError {}
/** A step did not finish in time (connectTimeout), or an AbortSignal fired. */
export class TimeoutError extends BrokerError {}
