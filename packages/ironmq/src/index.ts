import type { BrokerFactory } from '@taskq/core';
import { IronMqBroker } from './ironmq-broker.js';

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

/**
 * `broker: 'ironmq://TOKEN@HOST/PROJECT_ID[/QUEUE]'` resolves here. IronMQ keeps
 * no results: the cluster's `store` (and its stats) live elsewhere.
 */
export const brokerFactory: BrokerFactory = {
  schemes: ['ironmq'],
  create: (url, options) => new IronMqBroker({ ...options, url }),
};
