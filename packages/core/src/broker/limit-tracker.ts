import type { KeyedLimit } from './broker.js';

interface KeyState {
  concurrency: number | null;
  rate: { max: number; perMs: number } | null;
  /** Delivered and not yet acknowledged. */
  running: number;
  /** Delivery times (ms) within the last rate window, oldest first: the sliding-window log. */
  starts: number[];
}

/**
 * In-process bookkeeping of keyed limits (see {@link KeyedLimit}) for the memory broker: per key, how many of its
 * messages are out and when the recent ones were delivered. A sliding-window log, not a token bucket: a token
 * bucket lets 2 × max through across a window boundary, the log never lets more than `max` into any window.
 */
export class LimitTracker {
  readonly #keys = new Map<string, KeyState>();

  /** Records the limits of the key's latest enqueue. */
  define(limit: KeyedLimit): void {
    const state = this.#state(limit.key);
    state.concurrency = limit.concurrency ?? null;
    state.rate = limit.rate ?? null;
  }

  /** Whether one more of the key's messages may be delivered at `now`. */
  allows(key: string, now: number): boolean {
    const state = this.#keys.get(key);
    if (state === undefined) return true;
    if (state.concurrency !== null && state.running >= state.concurrency) return false;
    if (state.rate === null) return true;
    this.#forget(state, now);
    return state.starts.length < state.rate.max;
  }

  delivered(key: string, now: number): void {
    const state = this.#state(key);
    state.running++;
    if (state.rate !== null) state.starts.push(now);
  }

  /** A delivery of the key ended (acknowledged, failed, deleted, or its lease expired). */
  released(key: string): void {
    const state = this.#keys.get(key);
    if (state !== undefined && state.running > 0) state.running--;
  }

  /** When the key's rate next lets a delivery through (ms from `now`), or Infinity when only a release can. */
  msUntilRateSlot(key: string, now: number): number {
    const state = this.#keys.get(key);
    if (state?.rate == null) return Number.POSITIVE_INFINITY;
    this.#forget(state, now);
    if (state.starts.length < state.rate.max) return 0;
    return Math.max(0, (state.starts[0] as number) + state.rate.perMs - now);
  }

  #forget(state: KeyState, now: number): void {
    const windowStart = now - (state.rate as { perMs: number }).perMs;
    while (state.starts.length > 0 && (state.starts[0] as number) <= windowStart) state.starts.shift();
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key);
    if (state === undefined) {
      state = { concurrency: null, rate: null, running: 0, starts: [] };
      this.#keys.set(key, state);
    }
    return state;
  }
}
