import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { awaitsRetry, resolveConfig, toLogger, type ClusterHandle, type Logger, type Taskq } from '@taskq/core';
import { eventually, linesOf, makeClient, tempFile } from './helpers.js';

let client: Taskq | null = null;
let cluster: ClusterHandle | null = null;

afterEach(async () => {
  await cluster?.stop({ deadlineMs: 2000 });
  await client?.close();
  client = null;
  cluster = null;
});

async function start(options: Parameters<typeof makeClient>[0] = {}) {
  client = makeClient(options);
  cluster = await client.cluster({ handleSignals: false }).start();
  return client;
}

/** A real pino logger writing JSON lines into memory. */
function pinoLines(): { logger: ReturnType<typeof pino>; lines: () => Record<string, unknown>[] } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  return {
    logger,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('failures are visible, and retries end by default', () => {
  it('the default policy runs a failing task 3 times, then acknowledges it (no endless 60 s retries)', async () => {
    expect(resolveConfig({}).maxAttempts).toBe(3);
    const runs = tempFile();
    const q = await start({ retry: 1, guardCycle: 0.1 });
    const id = await q.enqueue('countFail', [runs, 'x']);
    await eventually(async () => (await q.fetch(id))?.attemptCount === 3, 'three attempts', 30_000);
    // Nothing is left to redeliver: the third failure was final and acknowledged.
    await eventually(async () => (await q.queueSize()) + (await q.lockSize()) === 0, 'the final acknowledgement');
    expect(linesOf(runs)).toHaveLength(3);
    const record = await q.fetch(id);
    expect(record?.error).toMatchObject({ maxAttempts: 3 });
    expect(awaitsRetry((await (await q.runtime()).store.get(id))!)).toBe(false);
  });

  it('`maxAttempts: 0` keeps Django Q behaviour: the failure waits for another retry', async () => {
    const runs = tempFile();
    const q = await start({ retry: 1, guardCycle: 0.1, maxAttempts: 0 });
    const id = await q.enqueue('countFail', [runs, 'y']);
    await eventually(async () => (await q.fetch(id))?.attemptCount === 4, 'a fourth attempt', 30_000);
    const saved = await (await q.runtime()).store.get(id);
    expect(saved?.error?.maxAttempts).toBe(0);
    expect(awaitsRetry(saved!)).toBe(true);
  });

  it('writes one structured warn line per failed execution through a pino logger', async () => {
    const { logger, lines } = pinoLines();
    const q = await start({ logger, maxAttempts: 2, retryPolicy: { backoff: 'fixed', delayMs: 20 } });
    const id = await q.enqueue('fail', ['kaput'], { taskName: 'nightly-import' });
    await eventually(() => lines().filter((l) => l['id'] === id).length === 2, 'two failure lines');
    const [first, last] = lines().filter((l) => l['id'] === id);
    // pino's own level number for warn, its msg field, and taskq's fields as structured data.
    expect(first).toMatchObject({
      level: 40,
      msg: 'task failed; will retry',
      code: 'E_TEST',
      id,
      name: 'nightly-import',
      func: 'fail',
      attempt: 1,
      maxAttempts: 2,
      error: 'kaput',
    });
    expect(Date.parse(first!['nextRetry'] as string)).toBeGreaterThan(0);
    expect(last).toMatchObject({ level: 40, msg: 'task failed; no more attempts', attempt: 2, nextRetry: null });
    // Info lines from the cluster went through pino too (message in msg, fields as keys).
    expect(lines().some((l) => l['level'] === 30 && typeof l['msg'] === 'string')).toBe(true);
  });

  it('adapts pino-compatible loggers and leaves taskq loggers as they are', () => {
    const { logger, lines } = pinoLines();
    toLogger(logger).warn('hello', { a: 1 });
    toLogger(logger).info('plain');
    expect(lines()).toMatchObject([
      { level: 40, msg: 'hello', a: 1 },
      { level: 30, msg: 'plain' },
    ]);
    const own: Logger = { debug() {}, info() {}, warn() {}, error() {} };
    expect(toLogger(own)).toBe(own);
  });
});
