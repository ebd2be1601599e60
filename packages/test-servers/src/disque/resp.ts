/**
 * RESP2, the wire format Disque shares with Redis: requests arrive as arrays
 * of bulk strings (or as one inline line, as telnet sends them); replies are
 * simple strings, errors, integers, bulk strings and arrays, with `$-1` (null
 * bulk) and `*-1` (null array) for "nothing".
 */

/** A reply before encoding. Plain values are bulk strings, numbers are integers, arrays nest. */
export type Reply = Buffer | string | number | null | Reply[] | Status | ErrorReply | NullArray;

export class Status {
  constructor(readonly text: string) {}
}

export class ErrorReply {
  /** `text` starts with the error code, e.g. `ERR …`, `BADID …`, `NOJOB …`. */
  constructor(readonly text: string) {}
}

export class NullArray {}

export const NULL_ARRAY = new NullArray();
export const OK = new Status('OK');

const CRLF = Buffer.from('\r\n');

/** Encodes one reply into the chunks written to the socket. */
export function encode(reply: Reply, out: Buffer[] = []): Buffer[] {
  if (reply === null) out.push(Buffer.from('$-1\r\n'));
  else if (reply instanceof NullArray) out.push(Buffer.from('*-1\r\n'));
  else if (reply instanceof Status) out.push(Buffer.from(`+${reply.text}\r\n`));
  else if (reply instanceof ErrorReply) out.push(Buffer.from(`-${reply.text.replace(/[\r\n]/g, ' ')}\r\n`));
  else if (typeof reply === 'number') out.push(Buffer.from(`:${Math.trunc(reply)}\r\n`));
  else if (Array.isArray(reply)) {
    out.push(Buffer.from(`*${reply.length}\r\n`));
    for (const item of reply) encode(item, out);
  } else {
    const data = typeof reply === 'string' ? Buffer.from(reply) : reply;
    out.push(Buffer.from(`$${data.length}\r\n`), data, CRLF);
  }
  return out;
}

/** Thrown for bytes that are not RESP; the server answers with the message and closes the connection. */
export class ProtocolError extends Error {}

/**
 * Incremental request parser: feed it socket chunks, take whole commands
 * (arrays of arguments) out as they complete. Partial input is kept.
 */
export class RequestParser {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[][] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const commands: Buffer[][] = [];
    let offset = 0;
    for (;;) {
      const parsed = this.#parseOne(offset);
      if (parsed === null) break;
      offset = parsed.next;
      if (parsed.args.length > 0) commands.push(parsed.args);
    }
    this.#buffer = this.#buffer.subarray(offset);
    return commands;
  }

  #line(offset: number): { text: string; next: number } | null {
    const end = this.#buffer.indexOf('\r\n', offset);
    if (end === -1) {
      if (this.#buffer.length - offset > 64 * 1024) throw new ProtocolError('Protocol error: too big inline request');
      return null;
    }
    return { text: this.#buffer.toString('latin1', offset, end), next: end + 2 };
  }

  #parseOne(offset: number): { args: Buffer[]; next: number } | null {
    if (offset >= this.#buffer.length) return null;
    if (this.#buffer[offset] !== 0x2a /* '*' */) {
      // Inline command: one line, arguments separated by spaces.
      const line = this.#line(offset);
      if (line === null) return null;
      const args = line.text
        .split(' ')
        .filter((part) => part.length > 0)
        .map((part) => Buffer.from(part, 'latin1'));
      return { args, next: line.next };
    }
    const header = this.#line(offset);
    if (header === null) return null;
    const count = Number(header.text.slice(1));
    if (!Number.isInteger(count) || count > 1024 * 1024)
      throw new ProtocolError('Protocol error: invalid multibulk length');
    let next = header.next;
    const args: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const sizeLine = this.#line(next);
      if (sizeLine === null) return null;
      if (!sizeLine.text.startsWith('$')) {
        throw new ProtocolError(`Protocol error: expected '$', got '${sizeLine.text.charAt(0)}'`);
      }
      const size = Number(sizeLine.text.slice(1));
      if (!Number.isInteger(size) || size < 0 || size > 512 * 1024 * 1024) {
        throw new ProtocolError('Protocol error: invalid bulk length');
      }
      const end = sizeLine.next + size;
      if (this.#buffer.length < end + 2) return null;
      args.push(Buffer.from(this.#buffer.subarray(sizeLine.next, end)));
      next = end + 2;
    }
    return { args, next };
  }
}
