import type { BrokerFactory } from '@taskq/core';
import { IronMqBroker } from './ironmq-broker.js';

/**
 * `broker: 'ironmq://TOKEN@HOST/PROJECT_ID[/QUEUE]'` resolves here. IronMQ keeps
 * no results: the cluster's `store` (and its stats) live elsewhere.
 */
export const brokerFactory: BrokerFactory = {
  schemes: ['ironmq'],
  create: (url, options) => new IronMqBroker({ ...options, url }),
};
