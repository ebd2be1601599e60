import type { Collection, Filter } from 'mongodb';
import type { MongoConnection } from './connection.js';
import { isDuplicateKey } from './errors.js';

/** A job-control value in `<prefix>_control`: the key as `_id`. */
export interface ControlDoc {
  _id: string;
  value: string;
  /** Hidden from every read and claim once past; the TTL index deletes the document later. Null: kept. */
  expiresAt: Date | null;
}

/** A counted set in `<prefix>_control_sets` (apart from the values: a fan-in keeps a value and a set under one key). */
export interface ControlSetDoc {
  _id: string;
  members: string[];
  /** The whole set's expiry, re-armed by every add; null: kept. */
  expiresAt: Date | null;
}

/**
 * Tries of one call when other writers keep changing its document between steps (each step is one atomic
 * single-document write; a retry only happens when another writer won a race, and then the next step succeeds).
 */
const TRIES = 10;

/** Not expired at `now` (a null or missing expiresAt never expires). */
function live(now: Date) {
  return { $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] };
}

function expiry(ttlMs: number | null, now: Date): Date | null {
  return ttlMs === null ? null : new Date(now.getTime() + Math.ceil(ttlMs));
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The ControlStore calls on MongoDB: one document per key, every change one atomic single-document write. */
export class ControlOps {
  readonly #connection: MongoConnection;
  readonly #values: Collection<ControlDoc>;
  readonly #sets: Collection<ControlSetDoc>;

  constructor(connection: MongoConnection) {
    this.#connection = connection;
    this.#values = connection.collection<ControlDoc>('control');
    this.#sets = connection.collection<ControlSetDoc>('control_sets');
  }

  /**
   * An upsert whose filter matches only an expired holder: it takes an absent key (insert) or an expired one
   * (update); a live holder makes the insert fail on the `_id` index (E11000), and the holder is read back.
   */
  async claim(key: string, value: string, ttlMs: number | null): Promise<string | null> {
    await this.#connection.ensureIndexes('control');
    for (let attempt = 0; attempt < TRIES; attempt++) {
      const now = new Date();
      try {
        await this.#values.updateOne(
          { _id: key, expiresAt: { $lte: now } },
          { $set: { value, expiresAt: expiry(ttlMs, now) } },
          { upsert: true },
        );
        return null;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const holder = await this.#values.findOne({ _id: key, ...live(new Date()) }, { projection: { value: 1 } });
      if (holder) return holder.value;
      // deleted or expired since the claim: claim again
    }
    throw new Error(`Claiming control key "${key}" kept racing with other writers; gave up after ${TRIES} tries.`);
  }

  async set(key: string, value: string, ttlMs: number | null): Promise<void> {
    await this.#connection.ensureIndexes('control');
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#values.updateOne(
          { _id: key },
          { $set: { value, expiresAt: expiry(ttlMs, new Date()) } },
          { upsert: true },
        );
        return;
      } catch (error) {
        // two upserts of one new _id: the server retries the loser itself (4.2+); older ones report E11000
        if (!isDuplicateKey(error) || attempt + 1 >= TRIES) throw error;
      }
    }
  }

  async get(keys: readonly string[]): Promise<Map<string, string>> {
    const docs = await this.#values
      .find({ _id: { $in: [...keys] }, ...live(new Date()) }, { projection: { value: 1 } })
      .toArray();
    return new Map(docs.map((doc) => [doc._id, doc.value]));
  }

  async delete(key: string, expected: string | undefined): Promise<boolean> {
    const filter: Filter<ControlDoc> = { _id: key, ...live(new Date()) };
    if (expected !== undefined) filter.value = expected;
    return (await this.#values.deleteOne(filter)).deletedCount === 1;
  }

  /** A prefix match anchored with `^` on `_id`, which MongoDB answers from the `_id` index. */
  async list(prefix: string, limit: number): Promise<Map<string, string>> {
    const docs = await this.#values
      .find({ _id: new RegExp(`^${escapeRegex(prefix)}`), ...live(new Date()) }, { projection: { value: 1 } })
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
    return new Map(docs.map((doc) => [doc._id, doc.value]));
  }

  /**
   * `$addToSet` on the live set (upserted when absent) returning the set after the add: concurrent adds are
   * serialised by the single-document write, so each sees the size its own add made. An expired set does not match
   * the filter; the upsert's insert then fails on `_id` (E11000) and the expired set is replaced by one holding
   * only this member, matched on its expiresAt so a set that another add renewed meanwhile is left alone.
   */
  async addMember(key: string, member: string, ttlMs: number | null): Promise<number> {
    await this.#connection.ensureIndexes('control_sets');
    for (let attempt = 0; attempt < TRIES; attempt++) {
      const now = new Date();
      const expiresAt = expiry(ttlMs, now);
      try {
        const after = await this.#sets.findOneAndUpdate(
          { _id: key, ...live(now) },
          { $addToSet: { members: member }, $set: { expiresAt } },
          { upsert: true, returnDocument: 'after', projection: { members: 1 } },
        );
        if (after) return after.members.length;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const reset = await this.#sets.updateOne(
        { _id: key, expiresAt: { $lte: now } },
        { $set: { members: [member], expiresAt } },
      );
      if (reset.matchedCount === 1) return 1;
      // renewed or deleted meanwhile: add again
    }
    throw new Error(`Adding to control set "${key}" kept racing with other writers; gave up after ${TRIES} tries.`);
  }
}
