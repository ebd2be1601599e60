import type { BrokerFactory } from '@taskq/core';
import { SqsBroker } from './sqs-broker.js';

export { SqsBroker, sqsBrokerCapabilities, sqsFifoBrokerCapabilities } from './sqs-broker.js';
export {
  parseSqsUrl,
  resolveSqsOptions,
  SQS_LIMITS,
  type SqsBrokerOptions,
  type SqsConnectionOptions,
} from './options.js';
export { awsErrorCode } from './errors.js';

/** `broker: 'sqs://us-east-1/prefix-?endpoint=…'` resolves here. SQS keeps no results: configure a `store`. */
export const brokerFactory: BrokerFactory = {
  schemes: ['sqs'],
  create: (url, options) => new SqsBroker({ ...options, url }),
};
