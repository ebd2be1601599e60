import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type BatchResultErrorEntry,
  type Message,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs';
import {
  BaseBroker,
  ErrorCodes,
  TaskqError,
  type BrokerCapabilities,
  type BrokerInfo,
  type Delivery,
  type EnqueueItem,
  type EnqueueOptions,
} from '@taskq/core';
import { awsErrorCode, isAbort, isQueueMissing, isStaleReceipt, toTaskqError } from './errors.js';
import { resolveSqsOptions, SQS_LIMITS, type ResolvedSqsOptions, type SqsBrokerOptions } from './options.js';
import { decodeBody, encodeBody, ENCODING_ATTRIBUTE, type EncodedBody } from './body.js';

/** Batches (of 10) in flight at once for one enqueueMany / acknowledgeMany / extend flush / dequeue fill. */
const PARALLEL_BATCHES = 4;

export const sqsBrokerCapabilities: BrokerCapabilities = {
  receipts: true,
  extendLease: true,
  exactCounts: false,
  bulkDequeue: true,
  bulkEnqueue: true,
  delay: true,
  priority: false,
  maxPayloadBytes: SQS_LIMITS.maxMessageBytes,
  stats: false,
  listQueued: false,
};

/** FIFO queues take no per-message delay (only a queue-wide DelaySeconds). */
export const sqsFifoBrokerCapabilities: BrokerCapabilities = { ...sqsBrokerCapabilities, delay: false };

interface PendingExtend {
  receipt: string;
  seconds: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** What a failed call does when the queue does not exist. */
type WhenMissing = 'create' | 'ignore';

/**
 * An Amazon SQS broker on @aws-sdk/client-sqs v3. A delivery is an SQS
 * receive with VisibilityTimeout = `retry`; its receipt is the receipt
 * handle; acknowledge deletes the message; `extend` changes its visibility.
 * Sends, deletes and visibility changes go in batches of 10; an idle
 * consumer long-polls (up to 20 s per receive).
 */
export class SqsBroker extends BaseBroker {
  readonly capabilities: BrokerCapabilities;
  /** The SQS queue name: `queuePrefix` + queue (+ `.fifo`). */
  readonly queueName: string;
  readonly client: SQSClient;
  readonly #options: ResolvedSqsOptions;
  /** Aborts every in-flight request (long polls included) on close. */
  readonly #closing = new AbortController();
  #queueUrl: Promise<string> | undefined;
  #pendingExtends: PendingExtend[] = [];

  constructor(options: SqsBrokerOptions) {
    super(options);
    this.#options = resolveSqsOptions(options);
    this.queueName = this.#options.queueName;
    this.capabilities = this.#options.fifo ? sqsFifoBrokerCapabilities : sqsBrokerCapabilities;
    this.client = new SQSClient(this.#options.client);
  }

  // ---- queue resolution and calls ----

  /**
   * The queue URL, looked up once. `create` calls create a missing queue (when
   * `createQueue`); other calls get `undefined` for a missing queue and create nothing.
   */
  async #url(create: boolean): Promise<string | undefined> {
    if (this.#queueUrl === undefined) {
      const lookup = this.#resolveUrl(create).then((url) => url ?? Promise.reject(new QueueNotFound()));
      this.#queueUrl = lookup;
      lookup.catch(() => {
        if (this.#queueUrl === lookup) this.#queueUrl = undefined;
      });
    }
    try {
      return await this.#queueUrl;
    } catch (error) {
      if (error instanceof QueueNotFound) return create ? this.#url(true) : undefined;
      throw error;
    }
  }

  async #resolveUrl(create: boolean): Promise<string | undefined> {
    const signal = this.#closing.signal;
    try {
      const found = await this.client.send(new GetQueueUrlCommand({ QueueName: this.queueName }), {
        abortSignal: signal,
      });
      return found.QueueUrl!;
    } catch (error) {
      if (!isQueueMissing(error)) throw toTaskqError(error, `SQS queue "${this.queueName}"`, this.closed);
    }
    if (!create) return undefined;
    if (!this.#options.createQueue) {
      throw new TaskqError(
        ErrorCodes.CONFIG,
        `SQS queue "${this.queueName}" does not exist: create it, or set createQueue: true (?createQueue=true).`,
      );
    }
    const attributes: Record<string, string> = { ...this.#options.queueAttributes };
    if (this.#options.fifo) attributes.FifoQueue = 'true';
    try {
      const created = await this.client.send(
        new CreateQueueCommand({ QueueName: this.queueName, Attributes: attributes }),
        { abortSignal: signal },
      );
      return created.QueueUrl!;
    } catch (error) {
      throw toTaskqError(error, `creating SQS queue "${this.queueName}"`, this.closed);
    }
  }

  /**
   * Runs `call` with the queue URL. A queue that disappeared (deleted, or the
   * endpoint restarted) is looked up (and created) again once for `create`
   * calls; `ignore` calls report it as `undefined`.
   */
  async #call<T>(
    what: string,
    whenMissing: WhenMissing,
    call: (queueUrl: string, abortSignal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    const linked = signal ? linkSignals(this.#closing.signal, signal) : undefined;
    try {
      return await this.#attempt(what, whenMissing, call, linked?.signal ?? this.#closing.signal);
    } finally {
      linked?.dispose();
    }
  }

  async #attempt<T>(
    what: string,
    whenMissing: WhenMissing,
    call: (queueUrl: string, abortSignal: AbortSignal) => Promise<T>,
    abortSignal: AbortSignal,
  ): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      const cached = this.#queueUrl;
      const url = await this.#url(whenMissing === 'create');
      if (url === undefined) return undefined;
      try {
        return await call(url, abortSignal);
      } catch (error) {
        if (isQueueMissing(error) && !this.closed) {
          // Forget the URL (unless another call already looked it up again).
          if (this.#queueUrl === cached || cached === undefined) this.#queueUrl = undefined;
          if (whenMissing === 'ignore') return undefined;
          if (attempt === 0 && this.#options.createQueue) continue;
        }
        throw toTaskqError(error, `${what} on SQS queue "${this.queueName}"`, this.closed);
      }
    }
  }

  // ---- enqueue ----

  #entry(payload: string, options: EnqueueOptions): EncodedBody & { DelaySeconds?: number } {
    const body = encodeBody(payload);
    if (body.bytes > SQS_LIMITS.maxMessageBytes) {
      throw new TaskqError(
        ErrorCodes.PAYLOAD_TOO_LARGE,
        `Package is ${body.bytes} bytes once encoded for SQS (it holds characters SQS does not accept, so it is ` +
          `sent as base64); SQS takes at most ${SQS_LIMITS.maxMessageBytes}. Pass a reference instead of the data.`,
      );
    }
    const delayMs = options.delayMs ?? 0;
    if (delayMs <= 0) return body;
    if (this.#options.fifo) {
      throw new TaskqError(
        ErrorCodes.INVALID_ARGUMENT,
        `SQS FIFO queue "${this.queueName}" takes no per-message delay: enqueue without a delay, or use a standard queue.`,
      );
    }
    const seconds = Math.ceil(delayMs / 1000);
    if (seconds > SQS_LIMITS.maxDelaySeconds) {
      throw new TaskqError(
        ErrorCodes.INVALID_ARGUMENT,
        `A delay of ${seconds} s is past SQS's 15-minute limit (${SQS_LIMITS.maxDelaySeconds} s): ` +
          'use a schedule (taskq schedules) for later runs, or a delay of at most 15 minutes.',
      );
    }
    return { ...body, DelaySeconds: seconds };
  }

  #fifoFields(payload: string): { MessageGroupId?: string; MessageDeduplicationId?: string } {
    if (!this.#options.fifo) return {};
    const group = this.#options.messageGroupId;
    return {
      MessageGroupId: group === undefined ? randomUUID() : typeof group === 'string' ? group : group(payload),
      MessageDeduplicationId: this.#options.deduplicationId?.(payload) ?? randomUUID(),
    };
  }

  protected async _enqueue(payload: string, options: EnqueueOptions): Promise<string> {
    const { bytes: _bytes, DelaySeconds, ...message } = this.#entry(payload, options);
    const sent = await this.#call('enqueue', 'create', (QueueUrl, abortSignal) =>
      this.client.send(new SendMessageCommand({ QueueUrl, ...message, DelaySeconds, ...this.#fifoFields(payload) }), {
        abortSignal,
      }),
    );
    return sent!.MessageId!;
  }

  protected override async _enqueueMany(items: readonly EnqueueItem[]): Promise<string[]> {
    const entries = items.map((item, index) => {
      const { bytes, ...message } = this.#entry(item.payload, item.options ?? {});
      const entry: SendMessageBatchRequestEntry = { Id: String(index), ...message, ...this.#fifoFields(item.payload) };
      return { entry, bytes };
    });
    // Batches of at most 10 entries and 1 MiB; FIFO batches go in order, one at a time.
    const batches: SendMessageBatchRequestEntry[][] = [];
    let current: SendMessageBatchRequestEntry[] = [];
    let size = 0;
    for (const { entry, bytes } of entries) {
      if (current.length === SQS_LIMITS.batch || (current.length > 0 && size + bytes > SQS_LIMITS.maxMessageBytes)) {
        batches.push(current);
        current = [];
        size = 0;
      }
      current.push(entry);
      size += bytes;
    }
    if (current.length > 0) batches.push(current);
    const ids: string[] = new Array<string>(items.length);
    await forEachLimited(batches, this.#options.fifo ? 1 : PARALLEL_BATCHES, async (batch) => {
      let pending = batch;
      // Entries SQS failed on its side (not the sender's fault) are sent again, a few times.
      for (let round = 0; pending.length > 0; round++) {
        const result = await this.#call('enqueueMany', 'create', (QueueUrl, abortSignal) =>
          this.client.send(new SendMessageBatchCommand({ QueueUrl, Entries: pending }), { abortSignal }),
        );
        for (const ok of result?.Successful ?? []) ids[Number(ok.Id)] = ok.MessageId!;
        const failed = result?.Failed ?? [];
        if (failed.length === 0) break;
        if (round >= 2 || failed.some((f) => f.SenderFault)) throw batchError('enqueueMany', this.queueName, failed);
        const again = new Set(failed.map((f) => f.Id));
        pending = pending.filter((entry) => again.has(entry.Id));
      }
    });
    return ids;
  }

  // ---- dequeue ----

  protected async _dequeue(max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const deadline = Date.now() + waitMs;
    const first = await this.#longPoll(Math.min(SQS_LIMITS.batch, max), deadline, signal);
    const out = [...first];
    let full = first.length === Math.min(SQS_LIMITS.batch, max);
    // More than 10 wanted: short receives, a few at once, while SQS keeps returning full batches.
    while (full && out.length < max && !signal?.aborted && !this.closed) {
      const want = max - out.length;
      const sizes = Array.from({ length: Math.min(Math.ceil(want / SQS_LIMITS.batch), PARALLEL_BATCHES) }, (_, i) =>
        Math.min(SQS_LIMITS.batch, want - i * SQS_LIMITS.batch),
      );
      // Deliveries already received are returned even if a later receive fails.
      const results = await Promise.all(sizes.map((n) => this.#receive(n, 0, signal).catch(() => null)));
      full = results.every((r, i) => r !== null && r.length === sizes[i]);
      for (const r of results) if (r) out.push(...r);
    }
    return out;
  }

  /** Long polls (whole seconds, at most 20 each) until something arrives or the deadline passes. */
  async #longPoll(max: number, deadline: number, signal?: AbortSignal): Promise<Delivery[]> {
    for (;;) {
      if (signal?.aborted || this.closed) return [];
      const remainingMs = deadline - Date.now();
      const waitSeconds = remainingMs > 0 ? Math.min(SQS_LIMITS.maxWaitSeconds, Math.ceil(remainingMs / 1000)) : 0;
      const got = await this.#receive(max, waitSeconds, signal);
      if (got.length > 0 || deadline - Date.now() <= 0) return got;
    }
  }

  async #receive(max: number, waitSeconds: number, signal?: AbortSignal): Promise<Delivery[]> {
    try {
      const result = await this.#call(
        'dequeue',
        'create',
        (QueueUrl, abortSignal) =>
          this.client.send(
            new ReceiveMessageCommand({
              QueueUrl,
              MaxNumberOfMessages: max,
              WaitTimeSeconds: waitSeconds,
              VisibilityTimeout: this.#options.visibilitySeconds,
              MessageSystemAttributeNames: ['ApproximateReceiveCount'],
              MessageAttributeNames: [ENCODING_ATTRIBUTE],
            }),
            { abortSignal },
          ),
        signal,
      );
      return (result?.Messages ?? []).map(toDelivery);
    } catch (error) {
      // An aborted long poll (the caller's signal or close) ends with nothing.
      const cause = error instanceof TaskqError ? error.cause : error;
      if (signal?.aborted || this.closed || isAbort(cause)) return [];
      throw error;
    }
  }

  // ---- acknowledge, delete, extend ----

  protected async _acknowledge(receipt: string): Promise<void> {
    await this._delete(receipt);
  }

  protected async _delete(receipt: string): Promise<void> {
    try {
      await this.#call('acknowledge', 'ignore', (QueueUrl, abortSignal) =>
        this.client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: receipt }), { abortSignal }),
      );
    } catch (error) {
      // Deleted already, or its receipt expired: the message is gone or will be redelivered; nothing to do.
      if (error instanceof TaskqError && isStaleReceipt(error.cause)) return;
      throw error;
    }
  }

  protected override async _acknowledgeMany(receipts: readonly string[]): Promise<void> {
    const batches = chunk(receipts, SQS_LIMITS.batch);
    await forEachLimited(batches, PARALLEL_BATCHES, async (batch) => {
      const result = await this.#call('acknowledgeMany', 'ignore', (QueueUrl, abortSignal) =>
        this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl,
            Entries: batch.map((ReceiptHandle, i) => ({ Id: String(i), ReceiptHandle })),
          }),
          { abortSignal },
        ),
      );
      const failed = (result?.Failed ?? []).filter((f) => !isStaleReceipt({ name: f.Code, message: f.Message }));
      // A delete SQS failed on its side is tried once more on its own; stale receipts were harmless.
      for (const f of failed) {
        if (f.SenderFault) throw batchError('acknowledgeMany', this.queueName, [f]);
        await this._delete(batch[Number(f.Id)]!);
      }
    });
  }

  /** Extends made in one tick (the lease keeper extends all due leases at once) go out as batches of 10. */
  protected override _extend(receipt: string, seconds: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pendingExtends.push({ receipt, seconds, resolve, reject });
      if (this.#pendingExtends.length === 1) setImmediate(() => void this.#flushExtends());
    });
  }

  async #flushExtends(): Promise<void> {
    const pending = this.#pendingExtends;
    this.#pendingExtends = [];
    await forEachLimited(chunk(pending, SQS_LIMITS.batch), PARALLEL_BATCHES, async (batch) => {
      try {
        const result = await this.#call('extend', 'ignore', (QueueUrl, abortSignal) =>
          this.client.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl,
              Entries: batch.map((p, i) => ({
                Id: String(i),
                ReceiptHandle: p.receipt,
                VisibilityTimeout: Math.min(SQS_LIMITS.maxVisibilitySeconds, Math.max(0, Math.ceil(p.seconds))),
              })),
            }),
            { abortSignal },
          ),
        );
        const failures = new Map((result?.Failed ?? []).map((f) => [Number(f.Id), f]));
        batch.forEach((p, i) => {
          const failure = failures.get(i);
          // A stale receipt (acknowledged, or redelivered meanwhile) must not lengthen anything: done.
          if (failure === undefined || isStaleReceipt({ name: failure.Code, message: failure.Message })) p.resolve();
          else p.reject(batchError('extend', this.queueName, [failure]));
        });
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    });
  }

  // ---- counts and queue management ----

  async #attributes(
    names: Array<
      'ApproximateNumberOfMessages' | 'ApproximateNumberOfMessagesDelayed' | 'ApproximateNumberOfMessagesNotVisible'
    >,
  ): Promise<number[]> {
    const result = await this.#call('queueSize', 'ignore', (QueueUrl, abortSignal) =>
      this.client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: names }), { abortSignal }),
    );
    return names.map((name) => Number(result?.Attributes?.[name] ?? 0));
  }

  /** Visible plus delayed messages (approximate: SQS counts are eventually consistent). */
  protected async _queueSize(): Promise<number> {
    const [visible = 0, delayed = 0] = await this.#attributes([
      'ApproximateNumberOfMessages',
      'ApproximateNumberOfMessagesDelayed',
    ]);
    return visible + delayed;
  }

  protected async _lockSize(): Promise<number> {
    const [inFlight = 0] = await this.#attributes(['ApproximateNumberOfMessagesNotVisible']);
    return inFlight;
  }

  protected async _purgeQueue(): Promise<void> {
    await this.#call('purgeQueue', 'ignore', (QueueUrl, abortSignal) =>
      this.client.send(new PurgeQueueCommand({ QueueUrl }), { abortSignal }),
    );
  }

  protected async _deleteQueue(): Promise<void> {
    await this.#call('deleteQueue', 'ignore', (QueueUrl, abortSignal) =>
      this.client.send(new DeleteQueueCommand({ QueueUrl }), { abortSignal }),
    );
    this.#queueUrl = undefined;
  }

  protected async _ping(): Promise<void> {
    const timeout = AbortSignal.timeout(this.#options.pingTimeoutMs);
    try {
      await this.#call(
        'ping',
        'create',
        (QueueUrl, abortSignal) =>
          this.client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }), { abortSignal }),
        timeout,
      );
    } catch (error) {
      if (timeout.aborted && !this.closed) {
        throw new TaskqError(
          ErrorCodes.BROKER_UNAVAILABLE,
          `ping: SQS did not answer within ${this.#options.pingTimeoutMs} ms (queue "${this.queueName}").`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  protected async _info(): Promise<BrokerInfo> {
    const endpoint = this.#options.client.endpoint;
    return {
      server: endpoint === undefined ? 'Amazon SQS' : `SQS at ${String(endpoint)}`,
      queue: this.queue,
      queueName: this.queueName,
      queueUrl: (await this.#url(false)) ?? null,
      region: await this.client.config.region().catch(() => null),
      fifo: this.#options.fifo,
    };
  }

  protected async _close(): Promise<void> {
    this.#closing.abort();
    for (const p of this.#pendingExtends.splice(0)) {
      p.reject(new TaskqError(ErrorCodes.BROKER_CLOSED, `Broker for queue "${this.queue}" was closed.`));
    }
    this.client.destroy();
  }
}

/**
 * One signal that aborts when either does, with listeners removed afterwards
 * (the close signal lives as long as the broker; AbortSignal.any would tie a
 * signal per receive to it).
 */
function linkSignals(a: AbortSignal, b: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  if (a.aborted || b.aborted) abort();
  a.addEventListener('abort', abort, { once: true });
  b.addEventListener('abort', abort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      a.removeEventListener('abort', abort);
      b.removeEventListener('abort', abort);
    },
  };
}

/** Internal marker: the queue does not exist (and this call may not create it). */
class QueueNotFound extends Error {}

function toDelivery(message: Message): Delivery {
  const delivery: Delivery = { receipt: message.ReceiptHandle!, payload: decodeBody(message) };
  const count = Number(message.Attributes?.ApproximateReceiveCount);
  if (Number.isInteger(count) && count > 0) delivery.deliveries = count;
  return delivery;
}

function batchError(what: string, queueName: string, failed: readonly BatchResultErrorEntry[]): TaskqError {
  const first = failed[0]!;
  const error = Object.assign(new Error(first.Message ?? first.Code ?? 'batch entry failed'), { name: first.Code });
  const code = first.SenderFault ? ErrorCodes.INVALID_ARGUMENT : ErrorCodes.BROKER_UNAVAILABLE;
  return new TaskqError(
    code,
    `${what} on SQS queue "${queueName}": ${failed.length} batch entries failed (${awsErrorCode(error)}: ${error.message}).`,
    { cause: error },
  );
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first error after all settle. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw failure.error;
}
