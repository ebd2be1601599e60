import pc from 'picocolors';
import { type ClusterStatus } from '../index.js';

/** `H:MM:SS` since `startedAt` (Django Q's uptime column). */
export function formatUptime(startedAt: number, now = Date.now()): string {
  if (!startedAt) return '-';
  const total = Math.max(0, Math.floor((now - startedAt) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

export function formatMb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

export function colorStatus(status: ClusterStatus | string): string {
  switch (status) {
    case 'Working':
      return pc.green(status);
    case 'Idle':
      return status;
    case 'Starting':
    case 'Stopping':
      return pc.yellow(status);
    case 'Stopped':
      return pc.red(status);
    default:
      return 'Unknown';
  }
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export function visibleLength(text: string): number {
  return stripAnsi(text).length;
}

function pad(text: string, width: number): string {
  const length = visibleLength(text);
  if (length > width) return text.replace(ANSI, '').slice(0, Math.max(0, width - 1)) + '…';
  return text + ' '.repeat(width - length);
}

/** The marker after a paused cluster's status (its queue is paused: it claims nothing until resumed). */
export function pausedMarker(): string {
  return pc.yellow('(paused)');
}

/** A plain text table: header row (optionally styled) and rows; cells may carry colours. */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  options: { styleHeader?: (text: string) => string; maxWidth?: number } = {},
): string {
  const widths = headers.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => pad(c, widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const header = line(headers);
  const styled = options.styleHeader ? options.styleHeader(header) : header;
  return [styled, ...rows.map(line)].join('\n');
}

/** Label/value pairs laid out in rows of `perRow` pairs (qinfo's grid). */
export function renderGrid(pairs: readonly [string, string][], perRow = 3): string {
  const labelWidth = Math.max(...pairs.map(([l]) => l.length));
  const valueWidth = Math.max(...pairs.map(([, v]) => visibleLength(v)));
  const out: string[] = [];
  for (let i = 0; i < pairs.length; i += perRow) {
    out.push(
      pairs
        .slice(i, i + perRow)
        .map(([label, value]) => `${pc.cyan(label.padEnd(labelWidth))}  ${pad(value, valueWidth)}`)
        .join('    ')
        .trimEnd(),
    );
  }
  return out.join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
