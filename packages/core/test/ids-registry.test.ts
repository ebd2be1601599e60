import { describe, expect, it } from 'vitest';
import { humanize, isTaskId, newTaskId } from '../src/task/ids.js';
import { TaskRegistry } from '../src/task/registry.js';
import { TASKS } from './helpers.js';

describe('task ids and names', () => {
  it('makes 32-hex ids and stable four-word names', () => {
    const id = newTaskId();
    expect(isTaskId(id)).toBe(true);
    expect(humanize(id)).toBe(humanize(id));
    expect(humanize(id).split('-')).toHaveLength(4);
    expect(humanize('00'.repeat(16))).not.toBe(humanize('01' + '00'.repeat(15)));
  });
});

describe('task registry', () => {
  it('resolves exported functions by name', async () => {
    const registry = await TaskRegistry.load([TASKS]);
    expect(registry.get('add')).toBeTypeOf('function');
    expect(registry.names()).toContain('spin');
  });

  it('refuses unknown tasks and broken modules with typed errors', async () => {
    const registry = await TaskRegistry.load([TASKS]);
    expect(() => registry.get('eval')).toThrow(expect.objectContaining({ code: 'TASKQ_UNKNOWN_TASK' }));
    await expect(TaskRegistry.load(['./does-not-exist.mjs'])).rejects.toMatchObject({
      code: 'TASKQ_TASK_MODULE_FAILED',
    });
  });
});
