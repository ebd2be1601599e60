export { IronMqBroker, ironMqBrokerCapabilities, type IronMqBrokerOptions } from './ironmq-broker.js';
export {
  IronMqClient,
  asciiJson,
  type CallOptions,
  type IronMqClientOptions,
  type NewMessage,
  type PeekedMessage,
  type QueueInfo,
  type ReserveOptions,
  type ReservedMessage,
} from './client.js';
export { IronMqHttpError, toTaskqError } from './errors.js';
export {
  DEFAULT_HOST,
  DEFAULT_MAX_PAYLOAD_BYTES,
  parseIronMqUrl,
  resolveIronMqOptions,
  type IronMqConnectionOptions,
  type ResolvedIronMqOptions,
} from './options.js';
export { brokerFactory } from './factories.js';
