import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import { ErrorCodes, TaskqError } from '../errors.js';
import type { Serializer } from '../serialize/serializer.js';
import type { TaskMessage } from '../task/task.js';
import { HmacSigner } from './hmac-signer.js';
import type { Signer } from './signer.js';

/** The settings of an {@link HmacSigner}-based codec; the serializer module is loaded by the thread itself. */
export interface CodecRecipe {
  secretKey: string;
  salt: string;
  compress: boolean;
  maxAgeSeconds: number | null;
}

/** Builds, in a worker thread, the codec a {@link CodecRecipe} describes. */
export function codecFromRecipe(recipe: CodecRecipe, serializer: Serializer): PackageCodec {
  const { secretKey, salt, compress, maxAgeSeconds } = recipe;
  return new PackageCodec(serializer, new HmacSigner({ secretKey, salt, compress }), maxAgeSeconds, recipe);
}

/**
 * A package = serialize(task message) → sign. Unpacking verifies the signature
 * first, then decodes, then checks the message has the fields a worker needs,
 * so forged, truncated or random input never reaches a task function.
 */
export class PackageCodec {
  constructor(
    readonly serializer: Serializer,
    readonly signer: Signer,
    readonly maxAgeSeconds: number | null = null,
    /**
     * How a worker thread builds this same codec, so packages can be verified and decoded off the main thread;
     * null for a codec whose signer cannot be rebuilt from settings (the main thread then decodes).
     */
    readonly recipe: CodecRecipe | null = null,
  ) {}

  pack(message: TaskMessage): string {
    let text: string;
    try {
      text = this.serializer.serialize(message);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new TaskqError(
        ErrorCodes.INVALID_ARGUMENT,
        `Task "${message.func}" has arguments nested too deeply to serialize (${error.message}): pass flatter data, ` +
          'or a reference to it (a key, a URL).',
        { cause: error },
      );
    }
    return this.signer.sign(text);
  }

  /**
   * The task id a package claims, read WITHOUT verifying it — only to file the record of a rejected package where
   * `fetch(id)` finds it (a client with the wrong secretKey). Safe because nothing else of the package is used:
   * the id must be 32 hex characters at the very start of the message, the payload is decoded from a bounded
   * prefix (compressed ones with a bounded inflate), and the pusher writes such a record only where the id has
   * none yet, so a forged copy can never touch a real task's record.
   */
  peekTaskId(pkg: string): string | null {
    if (typeof pkg !== 'string') return null;
    const end = pkg.indexOf(':');
    if (end <= 0) return null;
    let head: string;
    try {
      head = pkg.startsWith('.')
        ? inflateRawSync(Buffer.from(pkg.slice(1, Math.min(end, 4096)), 'base64url'), {
            finishFlush: zlibConstants.Z_SYNC_FLUSH,
            maxOutputLength: 4096,
          }).toString('utf8')
        : Buffer.from(pkg.slice(0, Math.min(end, 64)), 'base64url').toString('utf8');
    } catch {
      return null;
    }
    return /^\{"id":"([0-9a-f]{32})"/.exec(head)?.[1] ?? null;
  }

  unpack(pkg: string): TaskMessage {
    const { text } = this.signer.unsign(pkg, { maxAgeSeconds: this.maxAgeSeconds });
    let value: unknown;
    try {
      value = this.serializer.deserialize(text);
    } catch (error) {
      // Only a signed package gets here, but its data may still be more deeply nested than this thread can decode.
      if (!(error instanceof RangeError)) throw error;
      throw new TaskqError(ErrorCodes.BAD_PACKAGE, `Package data is nested too deeply to decode (${error.message}).`, {
        cause: error,
      });
    }
    assertTaskMessage(value);
    return value;
  }
}

function assertTaskMessage(value: unknown): asserts value is TaskMessage {
  const m = value as Partial<TaskMessage> | null;
  const problem =
    typeof m !== 'object' || m === null
      ? 'not an object'
      : typeof m.id !== 'string' || m.id === ''
        ? 'missing id'
        : typeof m.func !== 'string' || m.func === ''
          ? 'missing func'
          : !Array.isArray(m.args)
            ? 'args is not an array'
            : typeof m.name !== 'string'
              ? 'missing name'
              : null;
  if (problem) throw new TaskqError(ErrorCodes.BAD_PACKAGE, `Package holds no valid task message: ${problem}.`);
}
