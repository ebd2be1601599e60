import type { ControlStore } from './control-store.js';

interface Value {
  value: string;
  expiresAt: number | null;
}

interface Members {
  members: Set<string>;
  expiresAt: number | null;
}

/** The {@link ControlStore} calls for an in-process store: plain maps, expiry checked on every read. */
export class MemoryControlValues implements ControlStore {
  readonly #values = new Map<string, Value>();
  readonly #sets = new Map<string, Members>();

  constructor(private readonly now: () => number = Date.now) {}

  async claimValue(key: string, value: string, ttlMs: number | null): Promise<string | null> {
    const held = this.#live(key);
    if (held !== undefined) return held.value;
    this.#values.set(key, { value, expiresAt: this.#expiry(ttlMs) });
    return null;
  }

  async setValue(key: string, value: string, ttlMs: number | null): Promise<void> {
    this.#values.set(key, { value, expiresAt: this.#expiry(ttlMs) });
  }

  async getValues(keys: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const key of keys) {
      const held = this.#live(key);
      if (held !== undefined) out.set(key, held.value);
    }
    return out;
  }

  async deleteValue(key: string, expected?: string): Promise<boolean> {
    const held = this.#live(key);
    if (held === undefined || (expected !== undefined && held.value !== expected)) return false;
    return this.#values.delete(key);
  }

  async listValues(prefix: string, limit: number): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const key of [...this.#values.keys()]) {
      if (out.size >= limit) break;
      if (!key.startsWith(prefix)) continue;
      const held = this.#live(key);
      if (held !== undefined) out.set(key, held.value);
    }
    return out;
  }

  async addMember(key: string, member: string, ttlMs: number | null): Promise<number> {
    let set = this.#sets.get(key);
    if (set === undefined || (set.expiresAt !== null && set.expiresAt <= this.now())) {
      set = { members: new Set(), expiresAt: null };
      this.#sets.set(key, set);
    }
    set.members.add(member);
    set.expiresAt = this.#expiry(ttlMs);
    return set.members.size;
  }

  #expiry(ttlMs: number | null): number | null {
    return ttlMs === null ? null : this.now() + ttlMs;
  }

  #live(key: string): Value | undefined {
    const held = this.#values.get(key);
    if (held?.expiresAt != null && held.expiresAt <= this.now()) {
      this.#values.delete(key);
      return undefined;
    }
    return held;
  }
}
