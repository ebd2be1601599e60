import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ErrorCodes, TaskqError } from '../errors.js';
import type { SignedContent, Signer } from './signer.js';

/**
 * Django Q's scheme: `[.]payload:timestamp:signature`.
 * - payload: base64url of the UTF-8 text, or with a leading `.` of its raw
 *   deflate, used only when that is shorter;
 * - timestamp: signing time in ms, base36;
 * - signature: base64url HMAC-SHA256 over `payload:timestamp`, keyed by
 *   sha256(salt + "signer" + secretKey), where the salt is the cluster name.
 */
export interface HmacSignerOptions {
  secretKey: string;
  /** The cluster name; packages signed under another name do not verify. */
  salt: string;
  compress?: boolean;
  /** Injectable clock for tests. */
  now?: () => number;
}

const SEPARATOR = ':';
const COMPRESSED_PREFIX = '.';

export class HmacSigner implements Signer {
  readonly #key: Buffer;
  readonly #compress: boolean;
  readonly #now: () => number;

  constructor(options: HmacSignerOptions) {
    if (!options.secretKey) {
      throw new TaskqError(ErrorCodes.NO_SECRET_KEY, 'HmacSigner needs a non-empty secretKey.');
    }
    this.#key = createHash('sha256').update(`${options.salt}signer${options.secretKey}`).digest();
    this.#compress = options.compress ?? false;
    this.#now = options.now ?? Date.now;
  }

  sign(text: string): string {
    const raw = Buffer.from(text, 'utf8');
    let payload = raw.toString('base64url');
    if (this.#compress) {
      const compressed = COMPRESSED_PREFIX + deflateRawSync(raw).toString('base64url');
      if (compressed.length < payload.length) payload = compressed;
    }
    const signedPart = `${payload}${SEPARATOR}${this.#now().toString(36)}`;
    return `${signedPart}${SEPARATOR}${this.#signature(signedPart).toString('base64url')}`;
  }

  unsign(pkg: string, options: { maxAgeSeconds?: number | null } = {}): SignedContent {
    if (typeof pkg !== 'string') throw badPackage('a package must be a string');
    const lastSep = pkg.lastIndexOf(SEPARATOR);
    const tsSep = lastSep > 0 ? pkg.lastIndexOf(SEPARATOR, lastSep - 1) : -1;
    if (tsSep <= 0) throw badPackage('expected "payload:timestamp:signature"');
    const signedPart = pkg.slice(0, lastSep);
    const given = Buffer.from(pkg.slice(lastSep + 1), 'base64url');
    const expected = this.#signature(signedPart);
    // Compare in constant time; a length mismatch is already a forgery.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new TaskqError(
        ErrorCodes.BAD_SIGNATURE,
        'Package signature does not match: it was forged, or signed with another secretKey or cluster name.',
      );
    }
    const signedAt = parseInt(pkg.slice(tsSep + 1, lastSep), 36);
    if (!Number.isFinite(signedAt)) throw badPackage('timestamp is not base36');
    const maxAge = options.maxAgeSeconds;
    if (maxAge != null && this.#now() - signedAt > maxAge * 1000) {
      throw new TaskqError(
        ErrorCodes.PACKAGE_EXPIRED,
        `Package is ${Math.round((this.#now() - signedAt) / 1000)} s old, older than maxAge ${maxAge} s.`,
      );
    }
    return { text: decodePayload(pkg.slice(0, tsSep)), signedAt };
  }

  #signature(signedPart: string): Buffer {
    return createHmac('sha256', this.#key).update(signedPart).digest();
  }
}

function decodePayload(payload: string): string {
  try {
    if (payload.startsWith(COMPRESSED_PREFIX)) {
      return inflateRawSync(Buffer.from(payload.slice(1), 'base64url')).toString('utf8');
    }
    return Buffer.from(payload, 'base64url').toString('utf8');
  } catch (error) {
    throw new TaskqError(ErrorCodes.BAD_PACKAGE, 'Package payload could not be decompressed.', { cause: error });
  }
}

function badPackage(why: string): TaskqError {
  return new TaskqError(ErrorCodes.BAD_PACKAGE, `Not a taskq package: ${why}.`);
}
