import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';

/** Message attribute marking a body sent as base64. */
export const ENCODING_ATTRIBUTE = 'taskq.encoding';

/**
 * Characters SQS refuses in a message body (it takes #x9 | #xA | #xD |
 * #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF, and no empty body).
 */
const NOT_ALLOWED = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

export interface EncodedBody {
  MessageBody: string;
  MessageAttributes?: Record<string, MessageAttributeValue>;
  /** What SQS counts against its size limit (body + attributes). */
  bytes: number;
}

/**
 * Signed packages are plain text and go as they are. A payload SQS would
 * refuse (control characters, lone surrogates, empty) goes as base64 with a
 * marker attribute, so any string round-trips.
 */
export function encodeBody(payload: string): EncodedBody {
  if (payload.length > 0 && !NOT_ALLOWED.test(payload)) {
    return { MessageBody: payload, bytes: Buffer.byteLength(payload) };
  }
  const MessageBody = Buffer.from(payload, 'utf8').toString('base64') || '=';
  const value = 'base64';
  return {
    MessageBody,
    MessageAttributes: { [ENCODING_ATTRIBUTE]: { DataType: 'String', StringValue: value } },
    bytes: MessageBody.length + ENCODING_ATTRIBUTE.length + 'String'.length + value.length,
  };
}

export function decodeBody(message: Message): string {
  const body = message.Body ?? '';
  if (message.MessageAttributes?.[ENCODING_ATTRIBUTE]?.StringValue !== 'base64') return body;
  return body === '=' ? '' : Buffer.from(body, 'base64').toString('utf8');
}
