/**
 * The control-store keys job control uses (see store/control-store.ts). Every cluster lists the `ctl:` namespace
 * once per guard cycle, so only small, short-lived marks go there: cancels and pauses.
 */
export const CONTROL_NAMESPACE = 'ctl:';

export type CancelTarget = 'id' | 'name' | 'group';

export const controlKeys = {
  dedup: (key: string) => `dedup:${key}`,
  cancel: (target: CancelTarget, value: string) => `${CONTROL_NAMESPACE}cancel:${target}:${value}`,
  pause: (queue: string) => `${CONTROL_NAMESPACE}pause:${queue}`,
  progress: (taskId: string) => `progress:${taskId}`,
  redriven: (taskId: string) => `redriven:${taskId}`,
  fanInSpec: (groupId: string) => `fanin:${groupId}`,
  fanInMembers: (groupId: string) => `fanin-done:${groupId}`,
  fanInFired: (groupId: string) => `fanin-fired:${groupId}`,
};

/** A `ctl:` key read back: what it marks. */
export type ControlMark =
  { kind: 'cancel'; target: CancelTarget; value: string } | { kind: 'pause'; queue: string } | { kind: 'unknown' };

export function parseControlKey(key: string): ControlMark {
  const rest = key.slice(CONTROL_NAMESPACE.length);
  const cancel = /^cancel:(id|name|group):(.*)$/s.exec(rest);
  if (cancel) return { kind: 'cancel', target: cancel[1] as CancelTarget, value: cancel[2] as string };
  if (rest.startsWith('pause:')) return { kind: 'pause', queue: rest.slice('pause:'.length) };
  return { kind: 'unknown' };
}

/** A cancel or pause mark's value: when it was set (ms), as JSON. */
export function markValue(at = Date.now()): string {
  return JSON.stringify({ at });
}

/** When a mark was set; an unreadable value counts as set now (a cancel still applies to what waits). */
export function markTime(value: string): number {
  try {
    const at = (JSON.parse(value) as { at?: unknown }).at;
    if (typeof at === 'number' && Number.isFinite(at)) return at;
  } catch {
    // fall through
  }
  return Date.now();
}

/** How long cancel marks are kept: a task still waiting after this long is no longer cancelled by them. */
export const CANCEL_MARK_TTL_MS = 7 * 24 * 3600 * 1000;
/** How long a running task's progress stays readable from the store after its last update. */
export const PROGRESS_TTL_MS = 24 * 3600 * 1000;
/** How long a fan-in group's bookkeeping is kept (members may wait this long). */
export const FANIN_TTL_MS = 30 * 24 * 3600 * 1000;
