import { randomBytes } from 'node:crypto';
import { MongoConnection } from '@taskq/mongo';
import { MongoTestServer } from '@taskq/test-servers/mongo';
import { runTaskqAlone } from './alone.js';
import type { BenchOptions, BenchSummary } from './types.js';

/**
 * taskq alone on the MongoDB broker with results saved in MongoDB (no peer
 * has a MongoDB backend to compare with). `--url mongodb://…` picks a real
 * server; otherwise the rounds run against the wire-protocol test server of
 * @taskq/test-servers, started in this process on a spare loopback port, so
 * the numbers measure that stand-in as much as taskq. Each round uses its
 * own database, dropped afterwards.
 */
export async function runMongoTarget(options: BenchOptions, log: (line: string) => void): Promise<BenchSummary> {
  const external = options.url.startsWith('mongodb') ? options.url.replace(/\/[^/]*$/, '') : undefined;
  const server = external ? undefined : await MongoTestServer.start();
  const base = external ?? server!.url;
  try {
    const target = {
      name: 'mongo',
      server: external ? 'mongodb (--url)' : 'wire-protocol test server (@taskq/test-servers)',
    };
    return await runTaskqAlone(target, options, log, () => {
      const url = `${base}/bench_${randomBytes(4).toString('hex')}`;
      return { broker: url, store: url, cleanup: () => dropDatabase(url) };
    });
  } finally {
    await server?.stop();
  }
}

async function dropDatabase(url: string): Promise<void> {
  const connection = new MongoConnection({ url });
  try {
    await connection.db.dropDatabase();
  } finally {
    await connection.release();
  }
}
