import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { Role } from './options.js';

/** `scrypt:<salt>:<hash>`: store this instead of a plain password (`taskq dashboard --hash-password`). */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return `scrypt:${salt.toString('hex')}:${scryptSync(password, salt, 32).toString('hex')}`;
}

/** Constant-time check of a password against a plain or scrypt-hashed one. */
export function verifyPassword(given: string, stored: string): boolean {
  if (stored.startsWith('scrypt:')) {
    const [, saltHex = '', hashHex = ''] = stored.split(':');
    const expected = Buffer.from(hashHex, 'hex');
    const actual = scryptSync(given, Buffer.from(saltHex, 'hex'), expected.length || 32);
    return expected.length > 0 && timingSafeEqual(actual, expected);
  }
  // hash both sides so the comparison takes the same time whatever the lengths
  const salt = 'taskq-dashboard-compare';
  return timingSafeEqual(scryptSync(given, salt, 32), scryptSync(stored, salt, 32));
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

export interface Session {
  id: string;
  username: string;
  role: Role;
  csrf: string;
  expiresAt: number;
}

/** Server-side sessions in memory: the cookie carries only a random id. */
export class Sessions {
  readonly #sessions = new Map<string, Session>();

  constructor(readonly ttlMs: number) {}

  create(username: string, role: Role): Session {
    this.#sweep();
    const session: Session = {
      id: randomToken(),
      username,
      role,
      csrf: randomToken(),
      expiresAt: Date.now() + this.ttlMs,
    };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session for a cookie value, its expiry pushed forward; undefined when unknown or expired. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt <= Date.now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    session.expiresAt = Date.now() + this.ttlMs;
    return session;
  }

  delete(id: string): void {
    this.#sessions.delete(id);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(id);
  }
}

/** Failed logins per key (client address, user name) in a sliding window. */
export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
  ) {}

  /** Seconds until another attempt is allowed for any of the keys, or 0. */
  blockedFor(keys: readonly string[]): number {
    const now = Date.now();
    let wait = 0;
    for (const key of keys) {
      const recent = this.#recent(key, now);
      if (recent.length >= this.max) wait = Math.max(wait, Math.ceil((recent[0]! + this.windowMs - now) / 1000));
    }
    return wait;
  }

  fail(keys: readonly string[]): void {
    const now = Date.now();
    for (const key of keys) this.#failures.set(key, [...this.#recent(key, now), now]);
    // forget only what has left the window: clearing everything would reset an attacker's counters too
    if (this.#failures.size > 10_000) {
      for (const [key] of this.#failures) if (this.#recent(key, now).length === 0) this.#failures.delete(key);
    }
  }

  succeed(keys: readonly string[]): void {
    for (const key of keys) this.#failures.delete(key);
  }

  #recent(key: string, now: number): number[] {
    return (this.#failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
  }
}
