import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { FAUXQS_CREDENTIALS, FAUXQS_REGION, FauxqsServer } from '@taskq/test-servers/sqs';
import { runTaskqAlone } from './alone.js';
import type { BenchOptions, BenchSummary } from './types.js';

/**
 * taskq alone on SQS: fauxqs 1.9.2 started on 127.0.0.1 by this process,
 * through @aws-sdk/client-sqs; results in Redis (`--url`, a unique key prefix
 * per round, deleted afterwards). No peer speaks this stand-in, so there is
 * no ratio. Each round runs in its own process on a fresh queue.
 */
export async function runSqsTarget(options: BenchOptions, log: (line: string) => void): Promise<BenchSummary> {
  // The rounds' SDK clients take credentials from the default chain: the environment they inherit.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: FAUXQS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAUXQS_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  const server = await FauxqsServer.start();
  try {
    return await runTaskqAlone(
      { name: 'sqs', server: 'fauxqs 1.9.2 (in-process stand-in on 127.0.0.1)' },
      options,
      log,
      () => {
        const prefix = `bench-${randomBytes(4).toString('hex')}`;
        return {
          broker: `sqs://${FAUXQS_REGION}/${prefix}-?endpoint=${encodeURIComponent(server.endpoint)}`,
          store: `${options.url}?prefix=${prefix}`,
          cleanup: () => deleteKeys(options.url, prefix),
        };
      },
    );
  } finally {
    await server.stop();
  }
}

/** Removes a round's result keys (taskq keys start with `{prefix:`). */
async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
}
