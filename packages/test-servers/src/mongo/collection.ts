import { Query } from 'mingo';
import { compare } from 'mingo/util';
import type { Document } from 'bson';
import { canonical, getPath } from './values.js';

/** A command failure as MongoDB reports it: `{ ok: 0, errmsg, code, codeName, … }`. */
export class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
    readonly extra: Document = {},
  ) {
    super(message);
  }

  toReply(): Document {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extra };
  }
}

export interface IndexSpec {
  v: number;
  key: Document;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  expireAfterSeconds?: number;
  partialFilterExpression?: Document;
}

/** Index options that must match for createIndexes to be a no-op on an existing index. */
const OPTION_FIELDS = ['unique', 'sparse', 'expireAfterSeconds', 'partialFilterExpression'] as const;

export type SortSpec = Array<[field: string, direction: 1 | -1]>;

/** Ids kept in one sort order, maintained on every write, so a sorted query with a limit stops early. */
interface SortedView {
  spec: SortSpec;
  ids: string[];
}

/** Sort orders kept per collection (the oldest is dropped past this). */
const MAX_VIEWS = 8;

interface Index {
  spec: IndexSpec;
  fields: string[];
  /** Key → canonical _id of the document holding it (unique indexes only). */
  entries: Map<string, string> | null;
  partial: Query | null;
}

/**
 * One collection: documents in insertion order keyed by their `_id`, plus
 * index definitions. Unique indexes (including `_id`) are enforced, partial
 * and sparse ones included; TTL indexes are applied by {@link expire}.
 * Non-unique indexes are recorded for listIndexes but queries scan.
 */
export class Collection {
  readonly docs = new Map<string, Document>();
  readonly indexes = new Map<string, Index>();
  readonly #views = new Map<string, SortedView>();

  constructor(
    readonly db: string,
    readonly name: string,
  ) {
    this.indexes.set('_id_', {
      spec: { v: 2, key: { _id: 1 }, name: '_id_' },
      fields: ['_id'],
      entries: null,
      partial: null,
    });
  }

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  all(): Document[] {
    return [...this.docs.values()];
  }

  #keyOf(index: Index, doc: Document): string | null {
    if (index.partial && !index.partial.test(doc)) return null;
    const values = index.fields.map((field) => getPath(doc, field));
    if (index.spec.sparse && values.every((v) => v === undefined)) return null;
    return values.map(canonical).join('|');
  }

  #duplicate(index: Index, doc: Document): CommandError {
    const keyValue: Document = {};
    for (const field of index.fields) keyValue[field] = getPath(doc, field) ?? null;
    const shown = Object.entries(keyValue)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join(', ');
    return new CommandError(
      11000,
      'DuplicateKey',
      `E11000 duplicate key error collection: ${this.ns} index: ${index.spec.name} dup key: { ${shown} }`,
      { keyPattern: index.spec.key, keyValue },
    );
  }

  /** Throws DuplicateKey when `doc` would collide with another document (other than `self`). */
  #checkUnique(doc: Document, self: string | null): void {
    const id = canonical(doc._id);
    if (id !== self && this.docs.has(id)) throw this.#duplicate(this.indexes.get('_id_') as Index, doc);
    for (const index of this.indexes.values()) {
      if (!index.entries) continue;
      const key = this.#keyOf(index, doc);
      if (key === null) continue;
      const holder = index.entries.get(key);
      if (holder !== undefined && holder !== self) throw this.#duplicate(index, doc);
    }
  }

  #indexAdd(doc: Document, id: string): void {
    for (const index of this.indexes.values()) {
      const key = index.entries ? this.#keyOf(index, doc) : null;
      if (key !== null) index.entries!.set(key, id);
    }
  }

  #indexRemove(doc: Document): void {
    for (const index of this.indexes.values()) {
      const key = index.entries ? this.#keyOf(index, doc) : null;
      if (key !== null) index.entries!.delete(key);
    }
  }

  insert(doc: Document): void {
    this.#checkUnique(doc, null);
    const id = canonical(doc._id);
    this.docs.set(id, doc);
    this.#indexAdd(doc, id);
    for (const view of this.#views.values()) this.#viewInsert(view, id, doc);
  }

  /** Replaces `current` (same `_id`) with `next`, keeping its place in natural order. */
  replace(current: Document, next: Document): void {
    const id = canonical(current._id);
    if (canonical(next._id) !== id) {
      throw new CommandError(
        66,
        'ImmutableField',
        "Performing an update on the path '_id' would modify the immutable field '_id'",
      );
    }
    this.#checkUnique(next, id);
    this.#indexRemove(current);
    const moved = [...this.#views.values()].filter((view) =>
      view.spec.some(([field]) => canonical(getPath(current, field)) !== canonical(getPath(next, field))),
    );
    for (const view of moved) this.#viewRemove(view, id, current);
    this.docs.set(id, next);
    this.#indexAdd(next, id);
    for (const view of moved) this.#viewInsert(view, id, next);
  }

  remove(doc: Document): void {
    const id = canonical(doc._id);
    for (const view of this.#views.values()) this.#viewRemove(view, id, doc);
    this.#indexRemove(doc);
    this.docs.delete(id);
  }

  /** Documents in `spec` order (ties in natural order), from a view kept up to date by every write. */
  *sorted(spec: SortSpec): Generator<Document> {
    const key = JSON.stringify(spec);
    let view = this.#views.get(key);
    if (!view) {
      const order = compareBy(spec);
      const ids = [...this.docs.keys()];
      ids.sort((a, b) => order(this.docs.get(a) as Document, this.docs.get(b) as Document));
      view = { spec, ids };
      if (this.#views.size >= MAX_VIEWS) this.#views.delete(this.#views.keys().next().value as string);
      this.#views.set(key, view);
    }
    const ids = view.ids;
    for (let i = 0; i < ids.length; i++) {
      const doc = this.docs.get(ids[i] as string);
      if (doc) yield doc;
    }
  }

  /** First position whose document sorts after `doc` (an insert there keeps ties in insertion order). */
  #upperBound(view: SortedView, doc: Document): number {
    const order = compareBy(view.spec);
    let lo = 0;
    let hi = view.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order(this.docs.get(view.ids[mid] as string) as Document, doc) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #viewInsert(view: SortedView, id: string, doc: Document): void {
    view.ids.splice(this.#upperBound(view, doc), 0, id);
  }

  /** Removes `id`, whose document currently sorts like `doc` (called before the document changes). */
  #viewRemove(view: SortedView, id: string, doc: Document): void {
    const order = compareBy(view.spec);
    for (let i = this.#upperBound(view, doc) - 1; i >= 0; i--) {
      if (view.ids[i] === id) {
        view.ids.splice(i, 1);
        return;
      }
      if (order(this.docs.get(view.ids[i] as string) as Document, doc) !== 0) break;
    }
    const index = view.ids.indexOf(id);
    if (index !== -1) view.ids.splice(index, 1);
  }

  /** Adds an index; false when an identical one exists. Building a unique index over duplicates fails. */
  createIndex(spec: IndexSpec): boolean {
    const existing = this.indexes.get(spec.name);
    const sameOptions = (a: IndexSpec, b: IndexSpec) =>
      OPTION_FIELDS.every((f) => canonical(a[f] ?? null) === canonical(b[f] ?? null));
    if (existing) {
      if (canonical(existing.spec.key) === canonical(spec.key) && sameOptions(existing.spec, spec)) return false;
      throw new CommandError(
        86,
        'IndexKeySpecsConflict',
        `An existing index has the same name as the requested index: ${spec.name}`,
      );
    }
    for (const other of this.indexes.values()) {
      if (canonical(other.spec.key) !== canonical(spec.key)) continue;
      if (sameOptions(other.spec, spec) && other.spec.name !== spec.name) {
        throw new CommandError(
          85,
          'IndexOptionsConflict',
          `Index already exists with a different name: ${other.spec.name}`,
        );
      }
    }
    const index: Index = {
      spec,
      fields: Object.keys(spec.key),
      entries: spec.unique ? new Map() : null,
      partial: spec.partialFilterExpression ? new Query(spec.partialFilterExpression) : null,
    };
    if (index.entries) {
      for (const [id, doc] of this.docs) {
        const key = this.#keyOf(index, doc);
        if (key === null) continue;
        if (index.entries.has(key)) throw this.#duplicate(index, doc);
        index.entries.set(key, id);
      }
    }
    this.indexes.set(spec.name, index);
    return true;
  }

  dropIndex(name: string): void {
    if (name === '_id_') throw new CommandError(72, 'InvalidOptions', 'cannot drop _id index');
    if (!this.indexes.delete(name)) throw new CommandError(27, 'IndexNotFound', `index not found with name [${name}]`);
  }

  indexNameForKey(key: Document): string {
    for (const index of this.indexes.values()) if (canonical(index.spec.key) === canonical(key)) return index.spec.name;
    throw new CommandError(27, 'IndexNotFound', `can't find index with key: ${JSON.stringify(key)}`);
  }

  /**
   * The TTL monitor's pass: removes documents whose indexed date (the earliest,
   * for an array) is more than expireAfterSeconds in the past. Other values never expire.
   */
  expire(now: number): number {
    let removed = 0;
    for (const index of this.indexes.values()) {
      const seconds = index.spec.expireAfterSeconds;
      if (seconds === undefined || index.fields.length !== 1) continue;
      for (const doc of this.all()) {
        const value = getPath(doc, index.fields[0] as string);
        const dates = (Array.isArray(value) ? value : [value]).filter((v): v is Date => v instanceof Date);
        if (dates.length === 0) continue;
        const earliest = Math.min(...dates.map((d) => d.getTime()));
        if (earliest + seconds * 1000 <= now) {
          this.remove(doc);
          removed += 1;
        }
      }
    }
    return removed;
  }
}

/** MongoDB's sort order over BSON values (mingo's comparison), field by field. */
export function compareBy(spec: SortSpec): (a: Document, b: Document) => number {
  return (a, b) => {
    for (const [field, direction] of spec) {
      const order = compare(getPath(a, field), getPath(b, field));
      if (order !== 0) return order * direction;
    }
    return 0;
  };
}
