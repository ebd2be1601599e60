import { createHash, randomBytes } from 'node:crypto';

/**
 * The job and queue model of Disque 1.0-rc1 (README "Main API" and "ACKs and
 * retries"): a job is `active` (held, not queued: delivered, or waiting out its
 * DELAY), `queued` (deliverable), or gone (acknowledged, deleted or expired).
 * A job's retry clock starts when it is queued; when it passes while the job is
 * active, the job is queued again and `additional-deliveries` grows; NACK queues
 * it at once and grows `nacks`. Queues are ordered by creation time.
 */
export type JobState = 'active' | 'queued';

export interface Job {
  readonly id: string;
  /** Creation order across the cluster, for JSCAN cursors. */
  readonly seq: number;
  readonly queue: Buffer;
  readonly queueKey: string;
  readonly body: Buffer;
  /** Milliseconds since the epoch × 1,000,000 plus a counter, as Disque sorts queues. */
  readonly ctime: bigint;
  readonly createdMs: number;
  /** When the job is deleted whatever its state (ms). */
  readonly expiresMs: number;
  readonly ttlSeconds: number;
  readonly delaySeconds: number;
  readonly retrySeconds: number;
  readonly replicate: number;
  state: JobState;
  /** When an active job is queued (again); 0 = never (at-most-once job already queued). */
  requeueAtMs: number;
  /** Set on the first queueing: later queueings count as additional deliveries. */
  queuedBefore: boolean;
  delivered: boolean;
  nacks: number;
  additionalDeliveries: number;
  timer: NodeJS.Timeout | undefined;
}

export interface Queue {
  readonly name: Buffer;
  /** Queued jobs, oldest `ctime` first. */
  readonly jobs: Job[];
  readonly createdMs: number;
  touchedMs: number;
  jobsIn: number;
  jobsOut: number;
}

/** Someone blocked in GETJOB: served one job as soon as one of its queues has one. */
export interface Waiter {
  readonly queueKeys: readonly string[];
  /** Only live waiters are registered: a closing connection unregisters its waiter first. */
  readonly deliver: (job: Job) => void;
}

export interface AddJobOptions {
  queue: Buffer;
  body: Buffer;
  ttlSeconds: number;
  delaySeconds: number;
  retrySeconds: number;
  replicate: number;
  nodeId: string;
}

/** The jobs of one Disque cluster, shared by its nodes (every job replicated to every node). */
export class JobStore {
  readonly jobs = new Map<string, Job>();
  readonly queues = new Map<string, Queue>();
  readonly #waiters: Waiter[] = [];
  readonly #seed = randomBytes(20);
  #idCounter = 0n;
  #seq = 0;
  #lastCtime = 0n;

  /** A 40-character id: `D-` + 8 chars of the node id + `-` + 144 random bits in base64 + `-` + TTL minutes in hex. */
  #newId(nodeId: string, ttlSeconds: number, retrySeconds: number): string {
    this.#idCounter += 1n;
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(this.#idCounter);
    const random = createHash('sha1').update(this.#seed).update(counter).digest().subarray(0, 18).toString('base64');
    // The TTL in minutes is odd for at-least-once jobs (retry > 0) and even for at-most-once ones.
    let minutes = Math.min(0xffff, Math.floor(ttlSeconds / 60));
    minutes = retrySeconds > 0 ? minutes | 1 : minutes & ~1;
    return `D-${nodeId.slice(0, 8)}-${random}-${minutes.toString(16).padStart(4, '0')}`;
  }

  add(options: AddJobOptions): Job {
    const now = Date.now();
    let ctime = BigInt(now) * 1_000_000n;
    if (ctime <= this.#lastCtime) ctime = this.#lastCtime + 1n;
    this.#lastCtime = ctime;
    const job: Job = {
      id: this.#newId(options.nodeId, options.ttlSeconds, options.retrySeconds),
      seq: ++this.#seq,
      queue: options.queue,
      queueKey: options.queue.toString('latin1'),
      body: options.body,
      ctime,
      createdMs: now,
      expiresMs: now + options.ttlSeconds * 1000,
      ttlSeconds: options.ttlSeconds,
      delaySeconds: options.delaySeconds,
      retrySeconds: options.retrySeconds,
      replicate: options.replicate,
      state: 'active',
      requeueAtMs: options.delaySeconds > 0 ? now + options.delaySeconds * 1000 : now + options.retrySeconds * 1000,
      queuedBefore: false,
      delivered: false,
      nacks: 0,
      additionalDeliveries: 0,
      timer: undefined,
    };
    this.jobs.set(job.id, job);
    if (options.delaySeconds > 0) this.#schedule(job);
    else this.enqueue(job, false);
    return job;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  queueLength(queueKey: string): number {
    return this.queues.get(queueKey)?.jobs.length ?? 0;
  }

  /** Queues an active job (first time, retry, ENQUEUE or NACK). False when it is already queued or at-most-once and delivered. */
  enqueue(job: Job, nack: boolean): boolean {
    if (job.state === 'queued' || job.requeueAtMs === 0) return false;
    if (job.retrySeconds === 0 && job.delivered) return false;
    job.state = 'queued';
    job.requeueAtMs = job.retrySeconds > 0 ? Date.now() + job.retrySeconds * 1000 : 0;
    if (job.queuedBefore || nack) {
      if (nack) job.nacks += 1;
      else job.additionalDeliveries += 1;
    } else {
      job.queuedBefore = true;
    }
    const queue = this.#queue(job.queue, job.queueKey);
    insertSorted(queue.jobs, job);
    queue.jobsIn += 1;
    queue.touchedMs = Date.now();
    this.#schedule(job);
    this.#serveWaiters(queue);
    return true;
  }

  /** Takes a queued job out of its queue (it becomes active). */
  dequeue(job: Job): boolean {
    if (job.state !== 'queued') return false;
    const queue = this.queues.get(job.queueKey);
    if (queue) {
      const index = queue.jobs.indexOf(job);
      if (index !== -1) queue.jobs.splice(index, 1);
      this.#dropIfEmpty(queue, job.queueKey);
    }
    job.state = 'active';
    return true;
  }

  /** Pops the oldest queued job of a queue for delivery. */
  fetch(queueKey: string): Job | undefined {
    const queue = this.queues.get(queueKey);
    const job = queue?.jobs.shift();
    if (!queue || !job) return undefined;
    job.state = 'active';
    job.delivered = true;
    // While queued, Disque keeps pushing the requeue time one retry period ahead; the
    // retry clock of a fetched job therefore runs from its last queueing, not from now.
    const now = Date.now();
    if (job.retrySeconds > 0 && job.requeueAtMs <= now) {
      const period = job.retrySeconds * 1000;
      job.requeueAtMs += Math.ceil((now - job.requeueAtMs + 1) / period) * period;
    }
    this.#schedule(job);
    queue.jobsOut += 1;
    queue.touchedMs = now;
    this.#dropIfEmpty(queue, queueKey);
    return job;
  }

  /** WORKING: the next requeue is one retry period from now. Returns the retry seconds. */
  postpone(job: Job): number {
    this.dequeue(job);
    job.requeueAtMs = Date.now() + job.retrySeconds * 1000;
    this.#schedule(job);
    return job.retrySeconds;
  }

  /** Removes a job whatever its state (ACKJOB, FASTACK, DELJOB, expiry). */
  remove(job: Job): void {
    this.dequeue(job);
    clearTimeout(job.timer);
    this.jobs.delete(job.id);
  }

  clear(): void {
    for (const job of [...this.jobs.values()]) this.remove(job);
  }

  /** Registers a blocked GETJOB; returns a function that unregisters it. */
  wait(waiter: Waiter): () => void {
    this.#waiters.push(waiter);
    return () => {
      const index = this.#waiters.indexOf(waiter);
      if (index !== -1) this.#waiters.splice(index, 1);
    };
  }

  /** Blocked clients get one job each, first come first served (Disque serves a woken GETJOB one job). */
  #serveWaiters(queue: Queue): void {
    const key = queue.name.toString('latin1');
    for (let i = 0; i < this.#waiters.length && queue.jobs.length > 0;) {
      const waiter = this.#waiters[i] as Waiter;
      if (!waiter.queueKeys.includes(key)) {
        i++;
        continue;
      }
      this.#waiters.splice(i, 1);
      const job = this.fetch(key);
      if (job) waiter.deliver(job);
    }
  }

  #queue(name: Buffer, key: string): Queue {
    let queue = this.queues.get(key);
    if (!queue) {
      const now = Date.now();
      queue = { name, jobs: [], createdMs: now, touchedMs: now, jobsIn: 0, jobsOut: 0 };
      this.queues.set(key, queue);
    }
    return queue;
  }

  /** Disque evicts empty queues; a queue with blocked clients stays. */
  #dropIfEmpty(queue: Queue, key: string): void {
    if (queue.jobs.length > 0) return;
    if (this.#waiters.some((waiter) => waiter.queueKeys.includes(key))) return;
    this.queues.delete(key);
  }

  /** One timer per job, for whichever comes first: its expiry or its (re)queue time. */
  #schedule(job: Job): void {
    clearTimeout(job.timer);
    const due =
      job.state === 'active' && job.requeueAtMs > 0 ? Math.min(job.requeueAtMs, job.expiresMs) : job.expiresMs;
    job.timer = setTimeout(() => this.#process(job), Math.max(0, due - Date.now()));
    job.timer.unref();
  }

  #process(job: Job): void {
    if (this.jobs.get(job.id) !== job) return;
    const now = Date.now();
    if (job.expiresMs <= now) {
      this.remove(job);
      return;
    }
    if (job.state === 'active' && job.requeueAtMs > 0 && job.requeueAtMs <= now) {
      if (!this.enqueue(job, false)) this.#schedule(job);
      return;
    }
    this.#schedule(job);
  }
}

function insertSorted(jobs: Job[], job: Job): void {
  let low = 0;
  let high = jobs.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((jobs[mid] as Job).ctime < job.ctime) low = mid + 1;
    else high = mid;
  }
  jobs.splice(low, 0, job);
}
