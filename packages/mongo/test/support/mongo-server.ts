import { MongoTestServer } from '@taskq/test-servers/mongo';

/**
 * The MongoDB the tests run against: TASKQ_MONGO_URL when set (a real mongod or Atlas), else the
 * wire-protocol test server from @taskq/test-servers started on a spare loopback port.
 */
export interface TestMongo {
  url: string;
  /** Restarts the server (only for the local test server). */
  restart?: () => Promise<void>;
  stop: () => Promise<void>;
  server?: MongoTestServer;
}

export async function startMongo(): Promise<TestMongo> {
  const external = process.env.TASKQ_MONGO_URL;
  if (external) return { url: external.replace(/\/$/, ''), stop: async () => undefined };
  const server = await MongoTestServer.start({ ttlMonitorIntervalMs: 1000 });
  return {
    url: server.url,
    server,
    restart: async () => {
      await server.stop();
      await server.start();
    },
    stop: () => server.stop(),
  };
}

let counter = 0;

/** A database name no other test uses: every store in the suites starts empty. */
export function freshDatabase(label: string): string {
  counter += 1;
  return `${label}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}
