import { html } from 'hono/html';
import type { TaskMeta } from '@taskq/core';

/** `2026-11-29 18:04:05` in UTC (or in `timeZone`). */
export function formatTime(date: Date | null | undefined, timeZone = 'UTC'): string {
  if (!date) return '—';
  if (timeZone === 'UTC') return date.toISOString().replace('T', ' ').slice(0, 19);
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.floor(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Stored JSON text pretty-printed when it parses; the text as is otherwise. */
export function prettyJson(text: string | null): string {
  if (text === null) return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function shorten(text: string | null | undefined, max = 80): string {
  if (!text) return '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The header cell that selects every row, and each row's selection cell, of a list that bulk actions act on. */
export function selectAllCell(canChange: boolean) {
  return canChange ? html`<th><input type="checkbox" data-select-all aria-label="select all" /></th>` : '';
}

export function selectCell(canChange: boolean, record: { id: string; name: string }) {
  return canChange
    ? html`<td><input type="checkbox" name="ids" value="${record.id}" aria-label="select ${record.name}" /></td>`
    : '';
}

export function stateBadge(success: boolean) {
  return success ? html`<span class="badge ok">success</span>` : html`<span class="badge fail">failure</span>`;
}

/** A progress value as a percentage when it is a number (0..1 is a fraction, up to 100 a percent); else null. */
export function progressPercent(value: unknown): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) return null;
  return Math.round((value <= 1 ? value * 100 : value) * 10) / 10;
}

/** A task's progress and log lines (from its record's meta, or live from its cluster). */
export function metaView(meta: TaskMeta | null | undefined, timeZone = 'UTC') {
  if (!meta || (meta.progress === undefined && !meta.logs?.length && !meta.droppedLogs)) {
    return html`<p class="empty" data-testid="task-no-progress">The task reported no progress or log lines.</p>`;
  }
  const percent = progressPercent(meta.progress);
  return html`${
    meta.progress === undefined
      ? ''
      : percent !== null
        ? html`<p class="progress" data-testid="task-progress">
            <progress max="100" value="${percent}" aria-label="progress"></progress> <span>${percent}%</span>
          </p>`
        : html`<pre data-testid="task-progress">${JSON.stringify(meta.progress, null, 2)}</pre>`
  }
  ${
    meta.logs?.length || meta.droppedLogs
      ? html`<table class="list logs" data-testid="task-logs">
            <thead>
              <tr>
                <th>Time</th>
                <th>Level</th>
                <th>Message</th>
                <th>Fields</th>
              </tr>
            </thead>
            <tbody>
              ${(meta.logs ?? []).map(
                (line) =>
                  html`<tr class="log-${line.level}">
                    <td class="mono">
                      ${formatTime(new Date(line.at), timeZone)}.${String(line.at % 1000).padStart(3, '0')}
                    </td>
                    <td><span class="badge level-${line.level}">${line.level}</span></td>
                    <td>${line.message}</td>
                    <td class="mono">
                      ${line.fields && Object.keys(line.fields).length ? JSON.stringify(line.fields) : ''}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>
          ${meta.droppedLogs ? html`<p class="hint">${meta.droppedLogs} older log lines were dropped.</p>` : ''}`
      : ''
  }`;
}
