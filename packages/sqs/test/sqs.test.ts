import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rejectionCode, uniqueName, waitFor } from '@taskq/conformance';
import { createBroker, Taskq, TaskqError } from '@taskq/core';
import {
  MessageNotInflight,
  PurgeQueueInProgress,
  ReceiptHandleIsInvalid,
  RequestThrottled,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import { awsErrorCode, brokerFactory, parseSqsUrl, SqsBroker } from '../src/index.js';
import { isStaleReceipt, toTaskqError } from '../src/errors.js';
import { brokerOn, FauxqsServer, FAUXQS_CREDENTIALS, FAUXQS_REGION, useFauxqsCredentials } from './support/fauxqs.js';

let server: FauxqsServer;
const open: Array<{ close(): Promise<void>; deleteQueue?: () => Promise<void>; closed?: boolean }> = [];

function track<T extends { close(): Promise<void> }>(value: T): T {
  open.push(value);
  return value;
}

/** Records every SDK command the broker sends (name and input), through the client's middleware stack. */
function recordCommands(broker: SqsBroker): Array<{ name: string; input: Record<string, unknown> }> {
  const calls: Array<{ name: string; input: Record<string, unknown> }> = [];
  broker.client.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push({ name: context.commandName ?? '?', input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: 'initialize', name: 'taskqTestRecorder' },
  );
  return calls;
}

const named = (calls: Array<{ name: string; input: Record<string, unknown> }>, name: string) =>
  calls.filter((c) => c.name === name);

beforeAll(async () => {
  server = await FauxqsServer.start();
  useFauxqsCredentials();
});

afterEach(async () => {
  for (const item of open.splice(0)) {
    if (!item.closed) await item.deleteQueue?.().catch(() => undefined);
    await item.close();
  }
});

afterAll(async () => {
  await server.stop();
});

describe('URL and options', () => {
  it('parses region, queue prefix and options from an sqs:// URL', () => {
    expect(
      parseSqsUrl('sqs://eu-west-1/prod-?endpoint=http://127.0.0.1:4566&fifo=true&createQueue=false&maxAttempts=5'),
    ).toEqual({
      region: 'eu-west-1',
      queuePrefix: 'prod-',
      endpoint: 'http://127.0.0.1:4566',
      fifo: true,
      createQueue: false,
      client: { maxAttempts: 5 },
    });
    expect(parseSqsUrl('sqs://us-east-2')).toEqual({ region: 'us-east-2' });
  });

  it('rejects bad configuration with TASKQ_CONFIG_INVALID and a message naming the fix', () => {
    const bad: Array<[string, RegExp]> = [
      ['sqs://us-east-1/?colour=blue', /Unknown SQS URL option "colour"/],
      ['sqs://AKIA:secret@us-east-1/', /credentials/],
      ['sqs://us-east-1/?fifo=maybe', /true or false/],
      ['sqs://us-east-1/bad name/', /invalid/],
      ['sqs://us-east-1/?endpoint=ftp://x', /http/],
      ['redis://127.0.0.1', /sqs:\/\//],
    ];
    for (const [url, message] of bad) {
      let error: unknown;
      try {
        new SqsBroker({ url, queue: 'app', retrySeconds: 30 });
      } catch (caught) {
        error = caught;
      }
      expect(error, url).toBeInstanceOf(TaskqError);
      expect((error as TaskqError).code, url).toBe('TASKQ_CONFIG_INVALID');
      expect((error as TaskqError).message, url).toMatch(message);
    }
    expect(() => new SqsBroker({ queue: 'app', retrySeconds: 50_000, region: 'us-east-1' })).toThrow(/43200/);
    expect(() => new SqsBroker({ queue: 'app', retrySeconds: 5, messageGroupId: 'g', region: 'us-east-1' })).toThrow(
      /FIFO/,
    );
  });

  it('names the SQS queue prefix + queue, with .fifo for FIFO queues', async () => {
    // No endpoint: these would talk to AWS, so they make no call (closed without deleteQueue).
    const standard = new SqsBroker({ url: 'sqs://us-east-1/prod-', queue: 'app', retrySeconds: 30 });
    expect(standard.queueName).toBe('prod-app');
    const fifo = new SqsBroker({ url: 'sqs://us-east-1/?fifo=true', queue: 'app', retrySeconds: 30 });
    expect(fifo.queueName).toBe('app.fifo');
    expect(fifo.capabilities.delay).toBe(false);
    await Promise.all([standard.close(), fifo.close()]);
  });

  it('resolves sqs:// URLs through core, credentials from the default chain (environment)', async () => {
    const prefix = `${uniqueName('core')}-`;
    const url = `sqs://${FAUXQS_REGION}/${prefix}?endpoint=${encodeURIComponent(server.endpoint)}`;
    const broker = track(await createBroker(url, { queue: 'app', retrySeconds: 30 }));
    // core imports the built package, this test the sources: compare by name.
    expect(broker.constructor.name).toBe('SqsBroker');
    expect(brokerFactory.schemes).toEqual(['sqs']);
    await broker.enqueue('through core');
    const [delivery] = await broker.dequeue({ waitMs: 2000 });
    expect(delivery?.payload).toBe('through core');
    await broker.acknowledge(delivery!.receipt);
    const info = await broker.info();
    expect(info).toMatchObject({ queue: 'app', queueName: `${prefix}app`, region: FAUXQS_REGION });
    // fauxqs hands out queue URLs on a host that does not resolve here; requests still go to the endpoint.
    expect(new URL(String(info.queueUrl)).host).not.toBe(new URL(server.endpoint).host);
  });
});

describe('batches of 10 and long polling', () => {
  it('sends, receives and deletes in batches of 10', async () => {
    const broker = track(brokerOn(server));
    const calls = recordCommands(broker);
    const payloads = Array.from({ length: 25 }, (_, i) => `m${i}`);
    await broker.enqueueMany(payloads.map((payload) => ({ payload })));
    expect(named(calls, 'SendMessageBatchCommand').map((c) => (c.input.Entries as unknown[]).length)).toEqual([
      10, 10, 5,
    ]);
    const got = await broker.dequeue({ max: 25, waitMs: 2000 });
    expect(got.map((d) => d.payload).sort()).toEqual([...payloads].sort());
    const receives = named(calls, 'ReceiveMessageCommand');
    expect(receives.every((c) => Number(c.input.MaxNumberOfMessages) <= 10)).toBe(true);
    expect(receives[0]?.input.VisibilityTimeout).toBe(30);
    await broker.acknowledgeMany(got.map((d) => d.receipt));
    expect(named(calls, 'DeleteMessageBatchCommand').map((c) => (c.input.Entries as unknown[]).length)).toEqual([
      10, 10, 5,
    ]);
    expect(await broker.queueSize()).toBe(0);
    expect(await broker.lockSize()).toBe(0);
  });

  it('an idle dequeue long-polls once for waitMs instead of polling', async () => {
    const broker = track(brokerOn(server));
    await broker.ping();
    const calls = recordCommands(broker);
    expect(await broker.dequeue({ max: 10, waitMs: 2000 })).toEqual([]);
    const receives = named(calls, 'ReceiveMessageCommand');
    expect(receives).toHaveLength(1);
    expect(receives[0]?.input.WaitTimeSeconds).toBe(2);
  });

  it('caps one long poll at 20 s (SQS limit) and ends it when the signal aborts', async () => {
    const broker = track(brokerOn(server));
    await broker.ping();
    const calls = recordCommands(broker);
    const controller = new AbortController();
    const pending = broker.dequeue({ waitMs: 60_000, signal: controller.signal });
    await waitFor(() => named(calls, 'ReceiveMessageCommand').length === 1, { message: 'a receive in flight' });
    controller.abort();
    expect(await pending).toEqual([]);
    expect(named(calls, 'ReceiveMessageCommand')[0]?.input.WaitTimeSeconds).toBe(20);
  });

  it('close() ends an in-flight long poll', async () => {
    const broker = brokerOn(server);
    const calls = recordCommands(broker);
    const pending = broker.dequeue({ waitMs: 20_000 });
    await waitFor(() => named(calls, 'ReceiveMessageCommand').length === 1, { message: 'a receive in flight' });
    await broker.close();
    expect(await pending).toEqual([]);
  });

  it('reports how often a message was delivered (ApproximateReceiveCount)', async () => {
    const broker = track(brokerOn(server, { retrySeconds: 1 }));
    await broker.enqueue('count me');
    const [first] = await broker.dequeue({ waitMs: 2000 });
    expect(first?.deliveries).toBe(1);
    const second = await waitFor(async () => (await broker.dequeue({ waitMs: 1000 }))[0], { message: 'redelivery' });
    expect(second.deliveries).toBe(2);
  });
});

describe('leases', () => {
  it('extends leases in batches of 10 via ChangeMessageVisibilityBatch', async () => {
    const broker = track(brokerOn(server, { retrySeconds: 1 }));
    await broker.enqueueMany(Array.from({ length: 12 }, (_, i) => ({ payload: `x${i}` })));
    const got = [];
    while (got.length < 12) got.push(...(await broker.dequeue({ max: 12 - got.length, waitMs: 1000 })));
    const calls = recordCommands(broker);
    await Promise.all(got.map((d) => broker.extend(d.receipt, 30)));
    const batches = named(calls, 'ChangeMessageVisibilityBatchCommand');
    expect(batches.map((c) => (c.input.Entries as unknown[]).length).sort()).toEqual([10, 2]);
    // Past the 1 s retry window nothing comes back: the extension holds.
    expect(await broker.dequeue({ max: 10, waitMs: 2500 })).toEqual([]);
    expect(await broker.lockSize()).toBe(12);
  });

  it('acknowledging or extending an expired receipt is harmless', async () => {
    const broker = track(brokerOn(server, { retrySeconds: 1 }));
    await broker.enqueue('expires');
    const [first] = await broker.dequeue({ waitMs: 2000 });
    const second = await waitFor(async () => (await broker.dequeue({ waitMs: 1000 }))[0], { message: 'redelivery' });
    await expect(broker.extend(first!.receipt, 30)).resolves.toBeUndefined();
    await expect(broker.acknowledgeMany([first!.receipt, 'not-a-receipt'])).resolves.toBeUndefined();
    await expect(broker.acknowledge(first!.receipt)).resolves.toBeUndefined();
    await broker.acknowledge(second.receipt);
    expect(await broker.dequeue({ waitMs: 1500 })).toEqual([]);
  });
});

describe('delay', () => {
  it('honours delays up to 15 minutes and refuses longer ones with a clear error', async () => {
    const broker = track(brokerOn(server));
    const calls = recordCommands(broker);
    await broker.enqueue('in 15 minutes', { delayMs: 900_000 });
    expect(named(calls, 'SendMessageCommand')[0]?.input.DelaySeconds).toBe(900);
    let error: unknown;
    try {
      await broker.enqueue('in 16 minutes', { delayMs: 960_000 });
    } catch (caught) {
      error = caught;
    }
    expect((error as TaskqError).code).toBe('TASKQ_INVALID_ARGUMENT');
    expect((error as TaskqError).message).toMatch(/15-minute limit/);
    expect(
      await rejectionCode(broker.enqueueMany([{ payload: 'ok' }, { payload: 'no', options: { delayMs: 9e6 } }])),
    ).toBe('TASKQ_INVALID_ARGUMENT');
    expect(await broker.queueSize()).toBe(1); // only the 15-minute one, waiting
    expect(await broker.dequeue({ max: 10 })).toEqual([]);
  });

  it('a FIFO queue refuses a per-message delay', async () => {
    const broker = track(brokerOn(server, { fifo: true }));
    expect(await rejectionCode(broker.enqueue('later', { delayMs: 5000 }))).toBe('TASKQ_INVALID_ARGUMENT');
  });
});

describe('FIFO queues', () => {
  it('a constant message group delivers strictly in order, one message in flight at a time', async () => {
    const broker = track(brokerOn(server, { fifo: true, messageGroupId: 'orders' }));
    const calls = recordCommands(broker);
    await broker.enqueueMany(['a', 'b', 'c'].map((payload) => ({ payload })));
    expect(named(calls, 'SendMessageBatchCommand')[0]?.input.Entries).toEqual(
      ['a', 'b', 'c'].map((body, i) =>
        expect.objectContaining({ Id: String(i), MessageBody: body, MessageGroupId: 'orders' }),
      ),
    );
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const got = await broker.dequeue({ max: 10, waitMs: 2000 });
      expect(got).toHaveLength(1);
      order.push(got[0]!.payload);
      await broker.acknowledge(got[0]!.receipt);
    }
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('the deduplication id drops a repeated send', async () => {
    const broker = track(brokerOn(server, { fifo: true, deduplicationId: (payload) => `dedup-${payload}` }));
    const first = await broker.enqueue('once');
    const second = await broker.enqueue('once');
    expect(second).toBe(first);
    const got = await broker.dequeue({ max: 10, waitMs: 1000 });
    expect(got.map((d) => d.payload)).toEqual(['once']);
  });
});

describe('queues and errors', () => {
  it('creates its queue on first use, or refuses a missing one with createQueue: false', async () => {
    const queue = uniqueName('nocreate');
    const strict = track(brokerOn(server, { queue, createQueue: false }));
    expect(await strict.queueSize()).toBe(0); // reading creates nothing
    let error: unknown;
    try {
      await strict.enqueue('x');
    } catch (caught) {
      error = caught;
    }
    expect((error as TaskqError).code).toBe('TASKQ_CONFIG_INVALID');
    expect((error as TaskqError).message).toMatch(/does not exist/);
    const creating = track(brokerOn(server, { queue }));
    await creating.enqueue('created');
    await expect(strict.enqueue('now it exists')).resolves.toBeTypeOf('string');
    expect(await strict.queueSize()).toBe(2);
  });

  it('re-creates a queue deleted behind its back', async () => {
    const queue = uniqueName('recreate');
    const broker = track(brokerOn(server, { queue }));
    const other = track(brokerOn(server, { queue }));
    await broker.enqueue('before');
    await other.deleteQueue();
    await broker.enqueue('after');
    expect((await broker.dequeue({ max: 10, waitMs: 1000 })).map((d) => d.payload)).toEqual(['after']);
  });

  it('keeps the AWS error (with its code) as cause', async () => {
    const broker = track(brokerOn(server, { queueAttributes: { VisibilityTimeout: '99999' } }));
    let error: unknown;
    try {
      await broker.enqueue('x');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TaskqError);
    expect((error as TaskqError).code).toBe('TASKQ_INVALID_ARGUMENT');
    expect(awsErrorCode((error as TaskqError).cause)).toBe('InvalidAttributeValue');
    expect((error as TaskqError).message).toMatch(/InvalidAttributeValue/);
  });

  it('maps the AWS errors fauxqs never returns (the SDK exceptions as real SQS sends them)', () => {
    const $metadata = { httpStatusCode: 400 };
    const invalid = new ReceiptHandleIsInvalid({ message: 'The input receipt handle is invalid.', $metadata });
    const notInFlight = new MessageNotInflight({ message: 'Message not in flight', $metadata });
    const expired = Object.assign(
      new Error('Value x for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.'),
      {
        name: 'InvalidParameterValue',
      },
    );
    for (const stale of [invalid, notInFlight, expired]) expect(isStaleReceipt(stale)).toBe(true);
    const purge = new PurgeQueueInProgress({
      message: 'Only one PurgeQueue operation is allowed every 60 seconds.',
      $metadata,
    });
    expect(toTaskqError(purge, 'purgeQueue', false)).toMatchObject({ code: 'TASKQ_INVALID_ARGUMENT', cause: purge });
    const throttled = new RequestThrottled({ message: 'Rate exceeded', $metadata });
    expect(toTaskqError(throttled, 'enqueue', false).code).toBe('TASKQ_BROKER_UNAVAILABLE');
    const denied = new SQSServiceException({ name: 'AccessDenied', $fault: 'client', message: 'denied', $metadata });
    expect(toTaskqError(denied, 'enqueue', false).code).toBe('TASKQ_CONFIG_INVALID');
    const server5xx = new SQSServiceException({ name: 'InternalError', $fault: 'server', message: 'oops', $metadata });
    expect(toTaskqError(server5xx, 'enqueue', false)).toMatchObject({
      code: 'TASKQ_BROKER_UNAVAILABLE',
      cause: server5xx,
    });
    expect(toTaskqError(server5xx, 'enqueue', true).code).toBe('TASKQ_BROKER_CLOSED');
    expect(awsErrorCode(invalid)).toBe('ReceiptHandleIsInvalid');
  });

  it('reports an unreachable endpoint with TASKQ_BROKER_UNAVAILABLE, the network error as cause', async () => {
    const gone = await FauxqsServer.start();
    await gone.stop();
    const broker = track(
      new SqsBroker({
        queue: 'app',
        retrySeconds: 30,
        region: FAUXQS_REGION,
        endpoint: gone.endpoint,
        client: { credentials: FAUXQS_CREDENTIALS, maxAttempts: 1 },
      }),
    );
    let error: unknown;
    try {
      await broker.ping();
    } catch (caught) {
      error = caught;
    }
    expect((error as TaskqError).code).toBe('TASKQ_BROKER_UNAVAILABLE');
    expect(JSON.stringify((error as TaskqError).cause) + String((error as TaskqError).cause)).toMatch(/ECONNREFUSED/);
  });

  it('names the missing region as a configuration error', async () => {
    const saved = { region: process.env.AWS_REGION, config: process.env.AWS_CONFIG_FILE };
    delete process.env.AWS_REGION;
    process.env.AWS_CONFIG_FILE = '/nonexistent/taskq-test-aws-config';
    try {
      const broker = track(
        new SqsBroker({
          queue: 'app',
          retrySeconds: 30,
          endpoint: server.endpoint,
          client: { credentials: FAUXQS_CREDENTIALS },
        }),
      );
      let error: unknown;
      try {
        await broker.ping();
      } catch (caught) {
        error = caught;
      }
      expect((error as TaskqError).code).toBe('TASKQ_CONFIG_INVALID');
      expect((error as TaskqError).message).toMatch(/AWS_REGION/);
    } finally {
      if (saved.region !== undefined) process.env.AWS_REGION = saved.region;
      if (saved.config === undefined) delete process.env.AWS_CONFIG_FILE;
      else process.env.AWS_CONFIG_FILE = saved.config;
    }
  });

  it('round-trips payloads SQS would refuse as they are (empty, control characters)', async () => {
    const broker = track(brokerOn(server));
    const payloads = ['', '\u0000', 'tab\there\u0007bell', 'plain'];
    for (const payload of payloads) await broker.enqueue(payload);
    const got = [];
    while (got.length < payloads.length) got.push(...(await broker.dequeue({ max: 10, waitMs: 1000 })));
    expect(got.map((d) => d.payload).sort()).toEqual([...payloads].sort());
  });
});

describe('configuration alone', () => {
  it('`taskq cluster --once` with TASKQ_BROKER_URL=sqs://… runs every task (results in a Redis store)', async () => {
    const redisUrl = process.env.TASKQ_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const storePrefix = uniqueName('taskq-sqs-cli');
    const env = {
      TASKQ_NAME: 'cli',
      TASKQ_SECRET_KEY: 'sqs-cli-test-secret-0123456789abcdef',
      TASKQ_BROKER_URL: `sqs://${FAUXQS_REGION}/${uniqueName('cli')}-?endpoint=${encodeURIComponent(server.endpoint)}`,
      TASKQ_STORE_URL: `${redisUrl}?prefix=${storePrefix}`,
      TASKQ_TASKS: fileURLToPath(new URL('./support/tasks.mjs', import.meta.url)),
    };
    const client = new Taskq({
      name: env.TASKQ_NAME,
      secretKey: env.TASKQ_SECRET_KEY,
      broker: env.TASKQ_BROKER_URL,
      store: env.TASKQ_STORE_URL,
      logLevel: 'warn',
    });
    try {
      const ids = await client.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'double', args: [i] })));
      const bin = join(dirname(createRequire(import.meta.url).resolve('@taskq/core')), 'cli', 'bin.js');
      const exitCode = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, [bin, 'cluster', '--once'], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'inherit', 'inherit'],
        });
        child.once('error', reject);
        child.once('exit', (code) => resolve(code));
      });
      expect(exitCode).toBe(0);
      const results = await Promise.all(ids.map((id) => client.result<number>(id)));
      expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
      expect(await client.queueSize()).toBe(0);
    } finally {
      await client.close();
      const redis = new Redis(redisUrl);
      const keys = await redis.keys(`{${storePrefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  }, 60_000);
});
