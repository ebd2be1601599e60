import { BSON, type Document } from 'bson';

/**
 * MongoDB wire-protocol framing: the 16-byte header, OP_MSG (every command
 * since MongoDB 3.6) and the legacy OP_QUERY / OP_REPLY pair, which drivers
 * still use for the first `hello` of each connection before they know the
 * server's wire version (the mongodb 7 driver does).
 */
export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

const HEADER_BYTES = 16;
const CHECKSUM_PRESENT = 1;
const MORE_TO_COME = 2;
/** The largest message the server accepts (what it reports as maxMessageSizeBytes). */
export const MAX_MESSAGE_BYTES = 48_000_000;

export interface Header {
  length: number;
  requestId: number;
  responseTo: number;
  opCode: number;
}

/** A decoded request: the command document, plus how to answer it. */
export interface Request {
  header: Header;
  command: Document;
  /** OP_MSG with moreToCome (unacknowledged write): the client expects no reply. */
  noReply: boolean;
}

export class ProtocolError extends Error {}

/** Length of the first complete message in `buffer`, or 0 when more bytes are needed. */
export function completeMessageLength(buffer: Buffer): number {
  if (buffer.length < 4) return 0;
  const length = buffer.readInt32LE(0);
  if (length < HEADER_BYTES || length > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(`message length ${length} is out of range`);
  }
  return buffer.length >= length ? length : 0;
}

function readHeader(message: Buffer): Header {
  return {
    length: message.readInt32LE(0),
    requestId: message.readInt32LE(4),
    responseTo: message.readInt32LE(8),
    opCode: message.readInt32LE(12),
  };
}

function readCString(buffer: Buffer, offset: number): [string, number] {
  const end = buffer.indexOf(0, offset);
  if (end === -1) throw new ProtocolError('unterminated C string');
  return [buffer.toString('utf8', offset, end), end + 1];
}

function readDocument(buffer: Buffer, offset: number): [Document, number] {
  const size = buffer.readInt32LE(offset);
  if (size < 5 || offset + size > buffer.length) throw new ProtocolError('document runs past the message');
  return [BSON.deserialize(buffer.subarray(offset, offset + size)), offset + size];
}

/** Decodes one complete message into the command it carries. */
export function decodeRequest(message: Buffer): Request {
  const header = readHeader(message);
  if (header.opCode === OP_MSG) return decodeOpMsg(header, message);
  if (header.opCode === OP_QUERY) return decodeOpQuery(header, message);
  if (header.opCode === OP_COMPRESSED) throw new ProtocolError('compression was not negotiated');
  throw new ProtocolError(`unsupported opCode ${header.opCode}`);
}

/**
 * OP_MSG: flagBits, then sections. Kind 0 is the command body; kind 1 is a
 * document sequence (e.g. `documents` of an insert) that becomes a field of it.
 */
function decodeOpMsg(header: Header, message: Buffer): Request {
  const flags = message.readUInt32LE(HEADER_BYTES);
  const end = flags & CHECKSUM_PRESENT ? message.length - 4 : message.length;
  let offset = HEADER_BYTES + 4;
  let body: Document | undefined;
  const sequences: Array<[string, Document[]]> = [];
  while (offset < end) {
    const kind = message.readUInt8(offset);
    offset += 1;
    if (kind === 0) {
      [body, offset] = readDocument(message, offset);
    } else if (kind === 1) {
      const sectionEnd = offset + message.readInt32LE(offset);
      const [identifier, first] = readCString(message, offset + 4);
      let cursor = first;
      const documents: Document[] = [];
      while (cursor < sectionEnd) {
        const [doc, next] = readDocument(message, cursor);
        documents.push(doc);
        cursor = next;
      }
      sequences.push([identifier, documents]);
      offset = sectionEnd;
    } else {
      throw new ProtocolError(`unknown OP_MSG section kind ${kind}`);
    }
  }
  if (!body) throw new ProtocolError('OP_MSG without a body section');
  for (const [identifier, documents] of sequences) body[identifier] = documents;
  return { header, command: body, noReply: (flags & MORE_TO_COME) !== 0 };
}

/** OP_QUERY on `<db>.$cmd`: a command in legacy framing (the handshake's hello). */
function decodeOpQuery(header: Header, message: Buffer): Request {
  const offset = HEADER_BYTES + 4;
  const [collection, afterName] = readCString(message, offset);
  const [query] = readDocument(message, afterName + 8);
  if (!collection.endsWith('.$cmd')) throw new ProtocolError('OP_QUERY is only supported for commands');
  // a read preference wraps the command as { $query: {...}, $readPreference }
  const command: Document = query.$query && typeof query.$query === 'object' ? { ...query.$query } : { ...query };
  command.$db = collection.slice(0, -'.$cmd'.length);
  return { header, command, noReply: false };
}

let nextRequestId = 1;

function header(length: number, responseTo: number, opCode: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  out.writeInt32LE(length, 0);
  out.writeInt32LE(nextRequestId++ & 0x7fffffff, 4);
  out.writeInt32LE(responseTo, 8);
  out.writeInt32LE(opCode, 12);
  return out;
}

/** The reply to `request` in the framing it came in. */
export function encodeReply(request: Request, reply: Document): Buffer {
  const body = BSON.serialize(reply);
  if (request.header.opCode === OP_QUERY) {
    // OP_REPLY: responseFlags, cursorID (int64), startingFrom, numberReturned, documents
    const fields = Buffer.alloc(20);
    fields.writeInt32LE(1, 16);
    return Buffer.concat([header(HEADER_BYTES + 20 + body.length, request.header.requestId, OP_REPLY), fields, body]);
  }
  const prefix = Buffer.alloc(5); // flagBits 0, then section kind 0
  return Buffer.concat([header(HEADER_BYTES + 5 + body.length, request.header.requestId, OP_MSG), prefix, body]);
}

/** Builds an OP_MSG request (for tests that speak the protocol without a driver). */
export function encodeOpMsg(command: Document, requestId = 1): Buffer {
  const body = BSON.serialize(command);
  const out = Buffer.alloc(HEADER_BYTES + 5);
  out.writeInt32LE(HEADER_BYTES + 5 + body.length, 0);
  out.writeInt32LE(requestId, 4);
  out.writeInt32LE(OP_MSG, 12);
  return Buffer.concat([out, body]);
}

/** Reads the command reply out of an OP_MSG or OP_REPLY message (for tests). */
export function decodeReply(message: Buffer): { header: Header; reply: Document } {
  const head = readHeader(message);
  if (head.opCode === OP_MSG) return { header: head, reply: readDocument(message, HEADER_BYTES + 5)[0] };
  if (head.opCode === OP_REPLY) return { header: head, reply: readDocument(message, HEADER_BYTES + 20)[0] };
  throw new ProtocolError(`not a reply opCode: ${head.opCode}`);
}
