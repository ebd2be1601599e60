import { describe, expect, it } from 'vitest';
import { BatchRunner } from '../src/cluster/batch-runner.js';
import { executeJobOf, type TaskHandOff, type WorkerMessage, type WorkerOutcome } from '../src/cluster/jobs.js';
import { TaskqError } from '../src/errors.js';
import type { TaskMessage } from '../src/task/task.js';

const message = (id: string): TaskMessage => ({ id, name: id, func: 'noop', args: [], enqueuedAt: 0 });
const item = (id: string): TaskHandOff => ({ key: id, payload: id, deliveries: 1, deliveredAt: 0 });
const ok = (): WorkerOutcome => ({ ok: true, startedAt: 0, stoppedAt: 0, threadId: 1 });
const tick = () => new Promise((resolve) => setImmediate(resolve));
/** Lets finished executions reach the runner and its once-per-turn flush run. */
const turn = async () => {
  await tick();
  await tick();
};

/** A runner whose executions finish when the test says, recording every message it posts and every start. */
function harness(options: { concurrency: number; startsAllowed?: number }) {
  const posted: WorkerMessage[] = [];
  const events: string[] = [];
  const finish = new Map<string, () => void>();
  let starts = 0;
  const runner = new BatchRunner({
    threadId: 1,
    concurrency: options.concurrency,
    decode: (payload) => {
      if (payload.startsWith('bad')) throw new TaskqError('TASKQ_BAD_SIGNATURE', 'forged');
      return message(payload);
    },
    peekTaskId: (payload) => payload,
    toJob: (m, i) => executeJobOf(m, i, { timeoutMs: null, cluster: 'test' }),
    execute: (job) => {
      events.push(`start ${job.key}`);
      return new Promise((resolve) => finish.set(job.key, () => resolve(ok())));
    },
    post: (m) => {
      posted.push(m);
      if (m.taskq === 'accepted' || m.taskq === 'outcomes') events.push(`post ${m.taskq} [${m.started.join(',')}]`);
    },
    mayStart: () => ++starts <= (options.startsAllowed ?? Infinity),
  });
  return { runner, posted, events, finish };
}

describe('a worker thread running batches', () => {
  it('runs at most `concurrency` at once, reports each start before it begins, and sends outcomes together', async () => {
    const { runner, posted, events, finish } = harness({ concurrency: 2 });
    const done = runner.run({ kind: 'batch', items: ['a', 'b', 'c', 'd', 'e'].map(item) });
    await turn();
    expect(events).toEqual(['post accepted [a,b]', 'start a', 'start b']);
    finish.get('a')!();
    finish.get('b')!();
    await turn();
    // One message for both outcomes; c and d were reported in it and started only after it was posted.
    expect(events.slice(3)).toEqual(['post outcomes [c,d]', 'start c', 'start d']);
    const outcomes = posted.filter((m) => m.taskq === 'outcomes');
    expect(outcomes.map((m) => m.outcomes.map(([key]) => key))).toEqual([['a', 'b']]);
    for (const key of ['c', 'd']) finish.get(key)!();
    await turn();
    finish.get('e')!();
    await done;
    const all = posted.flatMap((m) => (m.taskq === 'outcomes' ? m.outcomes.map(([key]) => key) : []));
    expect(all.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('rejects a package it cannot verify in its accepted report and runs the rest', async () => {
    const { runner, posted, finish } = harness({ concurrency: 4 });
    const done = runner.run({ kind: 'batch', items: ['a', 'bad-one', 'c'].map(item) });
    await turn();
    const accepted = posted.find((m) => m.taskq === 'accepted');
    expect(accepted).toMatchObject({
      tasks: [{ key: 'a' }, { key: 'c' }],
      rejected: [{ key: 'bad-one', claimedId: 'bad-one', error: { code: 'TASKQ_BAD_SIGNATURE' } }],
      started: ['a', 'c'],
    });
    finish.get('a')!();
    finish.get('c')!();
    await done;
  });

  it('refuses what still waits once the thread has started `recycle` tasks, so it runs elsewhere', async () => {
    const { runner, posted, events, finish } = harness({ concurrency: 2, startsAllowed: 3 });
    const done = runner.run({ kind: 'batch', items: ['a', 'b', 'c', 'd', 'e'].map(item) });
    await turn();
    finish.get('a')!();
    await turn();
    finish.get('b')!();
    finish.get('c')!();
    await done;
    expect(events.filter((e) => e.startsWith('start'))).toEqual(['start a', 'start b', 'start c']);
    const refused = posted.flatMap((m) => (m.taskq === 'outcomes' ? m.refused : []));
    expect(refused).toEqual(['d', 'e']);
  });

  it('turns a failure of the execution itself into a failed outcome, so its batch still finishes', async () => {
    const posted: WorkerMessage[] = [];
    const runner = new BatchRunner({
      threadId: 1,
      concurrency: 2,
      decode: message,
      peekTaskId: () => null,
      toJob: (m, i) => executeJobOf(m, i, { timeoutMs: null, cluster: 'test' }),
      execute: () => Promise.reject(new Error('tracing did not load')),
      post: (m) => posted.push(m),
      mayStart: () => true,
    });
    await runner.run({ kind: 'batch', items: [item('a')] });
    const outcomes = posted.flatMap((m) => (m.taskq === 'outcomes' ? m.outcomes : []));
    expect(outcomes).toMatchObject([['a', { ok: false, error: { message: 'tracing did not load' } }]]);
  });
});
