import { uniqueName } from '@taskq/conformance';
import { FAUXQS_CREDENTIALS, FAUXQS_REGION, FauxqsServer } from '@taskq/test-servers/sqs';
import { SqsBroker, type SqsBrokerOptions } from '../../src/index.js';

export { FauxqsServer, FAUXQS_CREDENTIALS, FAUXQS_REGION };

/**
 * Credentials for URL-configured brokers come from the SDK's default chain: the
 * environment here, so the chain never looks further (e.g. an instance role).
 */
export function useFauxqsCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = FAUXQS_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = FAUXQS_CREDENTIALS.secretAccessKey;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  // The SDK warns once that its releases after January 2027 need Node 22; the pinned one runs on 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
}

/** A broker on `server` with a unique queue prefix per test run. */
export function brokerOn(
  server: FauxqsServer,
  options: Omit<SqsBrokerOptions, 'queue' | 'retrySeconds'> &
    Partial<Pick<SqsBrokerOptions, 'queue' | 'retrySeconds'>> = {},
): SqsBroker {
  return new SqsBroker({
    queue: uniqueName('q'),
    retrySeconds: 30,
    region: FAUXQS_REGION,
    endpoint: server.endpoint,
    ...options,
    client: { credentials: FAUXQS_CREDENTIALS, ...options.client },
  });
}
