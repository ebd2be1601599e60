import { ErrorCodes, TaskqError } from '../errors.js';
import type { Serializer } from '../serialize/serializer.js';
import type { TaskMessage } from '../task/task.js';
import type { Signer } from './signer.js';

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
