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
    return this.signer.sign(this.serializer.serialize(message));
  }

  unpack(pkg: string): TaskMessage {
    const { text } = this.signer.unsign(pkg, { maxAgeSeconds: this.maxAgeSeconds });
    const value = this.serializer.deserialize(text);
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
