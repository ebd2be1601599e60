import type { BrokerFactory } from '@taskq/core';
import { DisqueBroker } from './disque-broker.js';

export { DisqueBroker, disqueBrokerCapabilities, jobIdOf, type DisqueBrokerOptions } from './disque-broker.js';
export {
  DEFAULT_URL,
  parseDisqueUrl,
  resolveOptions,
  type DisqueConnectionOptions,
  type DisqueNodeAddress,
  type ResolvedDisqueOptions,
} from './options.js';

/** `broker: 'disque://host1:7711,host2:7711'` resolves here. Disque keeps no results: configure a `store`. */
export const brokerFactory: BrokerFactory = {
  schemes: ['disque'],
  create: (url, options) => new DisqueBroker({ ...options, url }),
};
