import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { Taskq, taskRefs } from '@taskq/core';
import { linesOf, makeClient, tempFile } from './helpers.js';

const execFileAsync = promisify(execFile);

type Tasks = typeof import('./fixtures/tasks.mjs');
const tasks = taskRefs<Tasks>();

let client: Taskq | null = null;
afterEach(async () => {
  await client?.close();
  client = null;
});

describe('sync mode and the client API', () => {
  it('runs a task inline through sign → unsign → execute → save', async () => {
    client = makeClient({ sync: true });
    const id = await client.enqueue(tasks.add, [2, 3]);
    expect(await client.result(id)).toBe(5);
    expect((await client.fetch(id))?.args).toEqual([2, 3]);
  });

  it("propagates the task's exception after saving the failure", async () => {
    client = makeClient();
    await expect(client.enqueue('fail', ['nope'], { sync: true })).rejects.toThrow('nope');
    const { records } = await (await client.runtime()).store.list({ success: false });
    expect(records[0]?.error).toMatchObject({ message: 'nope', code: 'E_TEST' });
  });

  it('runs chains inline and hooks after each task', async () => {
    client = makeClient({ sync: true });
    const runs = tempFile();
    const group = await client.chain([
      { task: 'countRun', args: [runs, 1] },
      { task: 'countRun', args: [runs, 2], options: { hook: 'recordHook' } },
    ]);
    expect(await client.resultGroup(group)).toEqual([1, 2]);
    expect(linesOf(runs)).toEqual(['1', '2', expect.stringContaining('"success":true')]);
  });

  it('refuses to enqueue to a shared broker without a secret key, saying how to set one', async () => {
    client = new Taskq({ broker: 'redis://127.0.0.1:1', logLevel: 'silent' });
    await expect(client.enqueue('add', [1, 2])).rejects.toMatchObject({
      code: 'TASKQ_NO_SECRET_KEY',
      message: expect.stringContaining('TASKQ_SECRET_KEY'),
    });
  });

  it('names the package to install when the broker package is not installed', async () => {
    // A child process where @taskq/disque cannot be resolved, as in a project that did not install it.
    const script = `
      import { Taskq } from '@taskq/core';
      const client = new Taskq({ broker: 'disque://127.0.0.1:7711', secretKey: 'x', logLevel: 'silent' });
      const error = await client.enqueue('add', [1, 2]).then(() => null, (e) => e);
      console.log(JSON.stringify({ code: error?.code, message: error?.message }));
      await client.close();`;
    const { stdout } = await execFileAsync(
      process.execPath,
      [
        '--import',
        fileURLToPath(new URL('./fixtures/hide-packages.mjs', import.meta.url)),
        '--input-type=module',
        '-e',
        script,
      ],
      { env: { ...process.env, TASKQ_HIDE_PACKAGES: '@taskq/disque' } },
    );
    expect(JSON.parse(stdout)).toMatchObject({
      code: 'TASKQ_ADAPTER_MISSING',
      message: expect.stringContaining('npm install @taskq/disque'),
    });
  });

  it('emits preEnqueue before signing, so listeners can change the task', async () => {
    client = makeClient({ sync: true });
    client.on('preEnqueue', (task) => {
      task.args = [40, 2];
    });
    expect(await client.result(await client.enqueue('add', [1, 1]))).toBe(42);
  });

  it('validates arguments', async () => {
    client = makeClient();
    await expect(client.enqueue('add', 'x' as never)).rejects.toMatchObject({ code: 'TASKQ_INVALID_ARGUMENT' });
    await expect(client.chain([])).rejects.toMatchObject({ code: 'TASKQ_INVALID_ARGUMENT' });
  });

  it('delays tasks with `delay` and reports queue sizes', async () => {
    client = makeClient();
    await client.enqueue('add', [1, 1], { delay: 60_000 });
    expect(await client.queueSize()).toBe(1);
    const runtime = await client.runtime();
    expect(await runtime.broker.dequeue({ max: 5 })).toEqual([]);
  });
});

describe('AsyncTask, Chain and Iter objects', () => {
  it('run and read results like Django Q', async () => {
    const { AsyncTask, Chain, Iter } = await import('@taskq/core');
    client = makeClient({ sync: true });
    const task = new AsyncTask(client, tasks.add, [1, 2]);
    expect(await task.result()).toBeUndefined(); // not started
    await task.run();
    expect(await task.result()).toBe(3);

    const chain = new Chain(client);
    await chain.append('add', [1, 1]);
    await chain.append('echo', ['two']);
    await chain.run();
    expect(await chain.result({ wait: 5000 })).toEqual([2, 'two']);
    expect(await chain.current()).toBe(2);

    const iter = new Iter(client, 'echo', [['a'], ['b']]);
    iter.append('c');
    await iter.run();
    expect(await iter.result({ wait: 5000 })).toEqual(['a', 'b', 'c']);
  });
});
