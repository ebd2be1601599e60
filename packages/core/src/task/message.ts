import { humanize, newTaskId } from './ids.js';
import { assertOptionValues } from './option-values.js';
import type { ChainLink, IterInfo, LinkOptions, TaskMessage } from './task.js';

/** Everything needed to build one task message besides its options. */
export interface MessageParts {
  func: string;
  args: unknown[];
  options?: LinkOptions;
  id?: string;
  group?: string;
  chain?: ChainLink[];
  iter?: IterInfo;
  cluster?: string;
}

/** Builds a task message; options that are undefined stay out of the package. */
export function buildTaskMessage(parts: MessageParts): TaskMessage {
  const id = parts.id ?? newTaskId();
  const o = parts.options ?? {};
  assertOptionValues(o as Record<string, unknown>);
  const message: TaskMessage = {
    id,
    name: o.taskName ?? humanize(id),
    func: parts.func,
    args: parts.args,
    enqueuedAt: Date.now(),
  };
  const group = parts.group ?? o.group;
  if (group !== undefined) message.group = group;
  if (o.hook !== undefined) message.hook = o.hook;
  if (o.timeout !== undefined) message.timeout = o.timeout;
  if (o.save !== undefined) message.save = o.save;
  if (o.ackFailure !== undefined) message.ackFailure = o.ackFailure;
  if (o.maxAttempts !== undefined) message.maxAttempts = o.maxAttempts;
  if (o.cached !== undefined) message.cached = o.cached;
  if (o.retry !== undefined) message.retry = o.retry;
  if (o.priority !== undefined) message.priority = o.priority;
  if (parts.chain !== undefined && parts.chain.length > 0) message.chain = parts.chain;
  if (parts.iter !== undefined) message.iter = parts.iter;
  if (parts.cluster !== undefined) message.cluster = parts.cluster;
  return message;
}
