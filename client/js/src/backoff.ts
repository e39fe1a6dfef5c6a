/**
 * The delay before reconnection attempt n (0-based): min doubling up to max,
 * with full jitter over its upper half so that clients that lost the same
 * server do not come back in step.
 */
export function backoffDelay(n: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.min(n, 30));
  return d / 2 + (random() * d) / 2;
}
