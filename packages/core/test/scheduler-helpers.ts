import type { ScheduledEnqueue, ScheduledTaskOptions } from '../src/scheduler/scheduler.js';
import type { ScheduleStore } from '../src/store/schedule-store.js';

export class FakeClock {
  t: number;
  constructor(iso: string) {
    this.t = Date.parse(iso);
  }
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface EnqueueCall {
  func: string;
  args: unknown[];
  options: ScheduledTaskOptions;
}

export function fakeEnqueue(): { calls: EnqueueCall[]; enqueue: ScheduledEnqueue } {
  const calls: EnqueueCall[] = [];
  return {
    calls,
    enqueue: async (func, args, options) => {
      calls.push({ func, args, options });
      return options.id;
    },
  };
}

/** Poll until `check` holds, failing after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Wraps a store so every call yields to the event loop first: interleaves concurrent schedulers. */
export function jittery(store: ScheduleStore): ScheduleStore {
  const pause = () => new Promise<void>((resolve) => setTimeout(resolve, Math.floor(Math.random() * 3)));
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await pause();
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
}
