import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux). */
export const CLOCK_TICKS = 100;

/**
 * utime + stime (clock ticks) from the text of /proc/<pid>/stat or
 * /proc/<pid>/task/<tid>/stat. The command name (field 2) is in parentheses and
 * may contain spaces, so fields are counted after the last ')'.
 */
export function parseStatTicks(text: string): number | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  // after ')' come fields 3 (state) … ; utime is field 14, stime field 15
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : null;
}

/** Busy and total ticks of the whole machine from the first line of /proc/stat. */
export function parseMachineTicks(text: string): { busy: number; total: number } | null {
  const line = text.split('\n', 1)[0] ?? '';
  if (!line.startsWith('cpu ')) return null;
  const n = line.trim().split(/\s+/).slice(1).map(Number);
  const total = n.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  const idle = (n[3] ?? 0) + (n[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** CPU ticks of a process (all its threads), or null when it is gone. */
export function processTicks(pid: number): number | null {
  const text = read(`/proc/${pid}/stat`);
  return text === null ? null : parseStatTicks(text);
}

/** CPU ticks of a process's main thread (its tid is its pid), or null. */
export function mainThreadTicks(pid: number): number | null {
  const text = read(`/proc/${pid}/task/${pid}/stat`);
  return text === null ? null : parseStatTicks(text);
}

export function machineTicks(): { busy: number; total: number } | null {
  const text = read('/proc/stat');
  return text === null ? null : parseMachineTicks(text);
}

/** Pids whose command name (/proc/<pid>/comm) is `comm`, e.g. every PostgreSQL server process. */
export function pidsByComm(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (read(`/proc/${entry}/comm`)?.trim() === comm) pids.push(Number(entry));
  }
  return pids;
}

/** A named group of processes whose CPU is sampled over a window. */
export interface CpuGroup {
  name: string;
  /** Pids to sample (called at every sample, so new processes are picked up). */
  pids: () => number[];
  /** Sample only the main thread of each pid (the event loop of a Node process). */
  mainThread?: boolean;
}

/** CPU use of each group over a window, as a share of one core (1.0 = one core busy). */
export interface CpuShares {
  windowS: number;
  machineBusyCores: number | null;
  groups: Record<string, { cores: number; busiestProcessCores: number }>;
}

/**
 * Samples groups of processes every `intervalMs` until stopped; a process seen
 * for the first time counts from its first sample (processes started during
 * the window lose at most one interval), one gone before the end keeps its last.
 */
export function sampleCpu(groups: readonly CpuGroup[], intervalMs = 250): () => CpuShares {
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  const began = performance.now();
  const machine0 = machineTicks();
  const take = () => {
    for (const group of groups) {
      for (const pid of group.pids()) {
        const key = `${group.name}:${pid}`;
        const ticks = group.mainThread ? mainThreadTicks(pid) : processTicks(pid);
        if (ticks === null) continue;
        if (!first.has(key)) first.set(key, ticks);
        last.set(key, ticks);
      }
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    take();
    const windowS = (performance.now() - began) / 1000;
    const machine1 = machineTicks();
    const result: CpuShares = {
      windowS: Math.round(windowS * 100) / 100,
      machineBusyCores:
        machine0 && machine1 && machine1.total > machine0.total
          ? shareOf(machine1.busy - machine0.busy, machine1.total - machine0.total, cpuCount())
          : null,
      groups: {},
    };
    for (const group of groups) {
      let sum = 0;
      let busiest = 0;
      for (const [key, end] of last) {
        if (!key.startsWith(`${group.name}:`)) continue;
        const used = end - (first.get(key) ?? end);
        sum += used;
        busiest = Math.max(busiest, used);
      }
      const cores = (ticks: number) => Math.round((ticks / CLOCK_TICKS / Math.max(windowS, 0.001)) * 100) / 100;
      result.groups[group.name] = { cores: cores(sum), busiestProcessCores: cores(busiest) };
    }
    return result;
  };
}

function shareOf(busy: number, total: number, cores: number): number {
  return Math.round((busy / total) * cores * 100) / 100;
}

function cpuCount(): number {
  const text = read('/proc/stat') ?? '';
  return Math.max(1, (text.match(/^cpu\d+ /gm) ?? []).length);
}

/**
 * Which resource bounds a run, from its CPU shares: a single-threaded server
 * (Redis) or a Node main thread at (nearly) one core, else the machine when its
 * cores are (nearly) all busy — "shared" when processes outside `accounted`
 * (the groups that together are everything this run started) used a quarter
 * of the machine or more — else nothing CPU-bound (round trips bound it).
 */
export function saturation(
  shares: CpuShares,
  cores: number,
  singleThreaded: readonly string[],
  accounted: readonly string[] = [],
  threshold = 0.9,
): { saturated: string; detail: string; otherProcessesCores: number | null } {
  const top = Object.entries(shares.groups)
    .sort((a, b) => b[1].cores - a[1].cores)
    .map(([name, g]) => `${name} ${g.cores}`)
    .join(', ');
  const machine = shares.machineBusyCores;
  const others =
    machine === null || accounted.length === 0
      ? null
      : Math.max(
          0,
          Math.round((machine - accounted.reduce((sum, name) => sum + (shares.groups[name]?.cores ?? 0), 0)) * 100) /
            100,
        );
  const used = `cores used: ${top}${others === null ? '' : `, other processes ${others}`}`;
  for (const name of singleThreaded) {
    const group = shares.groups[name];
    if (group && group.busiestProcessCores >= threshold) {
      return {
        saturated: name,
        detail: `${name} at ${group.busiestProcessCores} of one core (single-threaded); ${used}`,
        otherProcessesCores: others,
      };
    }
  }
  if (machine !== null && machine >= cores * threshold) {
    const shared = others !== null && others >= cores / 4;
    return {
      saturated: shared ? 'machine CPU (shared with other processes)' : 'machine CPU',
      detail: `${machine} of ${cores} cores busy; ${used}`,
      otherProcessesCores: others,
    };
  }
  return {
    saturated: 'none (latency-bound)',
    detail: `${machine ?? '?'} of ${cores} cores busy; ${used}`,
    otherProcessesCores: others,
  };
}
