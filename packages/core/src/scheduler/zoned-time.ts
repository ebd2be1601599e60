/**
 * Wall-clock time in an IANA time zone with nothing but Intl: read the local
 * fields of an instant, and find the instant of a local time. DST rules follow
 * Temporal's "compatible" choice: a time in a gap (spring forward) moves
 * forward by the gap, a time that occurs twice (fall back) takes the earlier.
 */
export interface WallTime {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isValidTimeZone(timeZone: string): boolean {
  if (typeof timeZone !== 'string' || timeZone === '') return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function toWallTime(instant: number, timeZone: string): WallTime {
  const fields: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(instant)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return {
    year: fields['year'] ?? 0,
    month: fields['month'] ?? 1,
    day: fields['day'] ?? 1,
    hour: fields['hour'] ?? 0,
    minute: fields['minute'] ?? 0,
    second: fields['second'] ?? 0,
    millisecond: ((instant % 1000) + 1000) % 1000,
  };
}

/** The wall time read as if it were UTC: the "local milliseconds". */
export function wallToLocalMs(w: WallTime): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.millisecond);
}

/** The zone's UTC offset at an instant, in ms (e.g. +3 600 000 for CET). */
export function offsetAt(instant: number, timeZone: string): number {
  return wallToLocalMs(toWallTime(instant, timeZone)) - instant;
}

/** The instant a wall-clock time names in the zone (gap → later by the gap, overlap → earlier). */
export function fromWallTime(wall: WallTime, timeZone: string): number {
  const local = wallToLocalMs(wall);
  const before = offsetAt(local - DAY_MS, timeZone);
  const after = offsetAt(local + DAY_MS, timeZone);
  const valid = [local - before, local - after].filter((instant) => offsetAt(instant, timeZone) === local - instant);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: reading the time with the offset in force before the gap lands after it.
  return local - before;
}

/** Calendar date `days` after the wall date (time fields kept). */
export function addDays(wall: WallTime, days: number): WallTime {
  const d = new Date(Date.UTC(wall.year, wall.month - 1, wall.day + days));
  return { ...wall, year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** `months` after the wall date, the day clamped to the target month's end (Jan 31 + 1 → Feb 28/29). */
export function addMonthsClamped(wall: WallTime, months: number): WallTime {
  const total = wall.year * 12 + (wall.month - 1) + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12 + 1;
  return { ...wall, year, month, day: Math.min(wall.day, daysInMonth(year, month)) };
}

/** Whole calendar days from a to b (dates only). */
export function dayDiff(a: WallTime, b: WallTime): number {
  return Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / DAY_MS);
}

export function monthDiff(a: WallTime, b: WallTime): number {
  return b.year * 12 + b.month - (a.year * 12 + a.month);
}
