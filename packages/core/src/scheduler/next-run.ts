import { Cron } from 'croner';
import type { ScheduleType } from '../store/schedule-store.js';
import {
  addDays,
  addMonthsClamped,
  dayDiff,
  fromWallTime,
  monthDiff,
  toWallTime,
  type WallTime,
} from './zoned-time.js';

/**
 * Pure next-run computation. A schedule's slots are a series counted from its
 * anchor (its first slot): Minutes/Hourly add fixed durations; Daily…Biweekly
 * add calendar days and Monthly…Yearly add months to the anchor's wall-clock
 * date in the schedule's time zone, keeping the anchor's time of day and day
 * of month (clamped to short months, never drifting); Cron asks croner.
 */
export interface SlotRule {
  type: ScheduleType;
  minutes: number | null;
  cron: string | null;
  timezone: string;
  anchorAt: Date;
}

const DAY_STEPS: Partial<Record<ScheduleType, number>> = { Daily: 1, Weekly: 7, Biweekly: 14 };
const MONTH_STEPS: Partial<Record<ScheduleType, number>> = { Monthly: 1, Bimonthly: 2, Quarterly: 3, Yearly: 12 };
const HOUR_MS = 3_600_000;

/** The cron modes taskq accepts: 5 fields (minute precision) or 6 (seconds first). */
export const CRON_MODE = '5-or-6-parts' as const;

const crons = new Map<string, Cron>();

/** A parsed cron (cached); throws croner's error for a bad pattern or time zone. */
export function cronFor(pattern: string, timezone: string): Cron {
  const key = `${timezone}\u0000${pattern}`;
  let cron = crons.get(key);
  if (!cron) {
    cron = new Cron(pattern, { timezone, mode: CRON_MODE });
    if (crons.size >= 500) crons.clear();
    crons.set(key, cron);
  }
  return cron;
}

/** The first slot strictly after `after`; null when the series has none (Once already passed, impossible cron). */
export function slotAfter(rule: SlotRule, after: Date): Date | null {
  const t = after.getTime();
  const anchor = rule.anchorAt.getTime();
  switch (rule.type) {
    case 'Once':
      return anchor > t ? new Date(anchor) : null;
    case 'Cron':
      return cronFor(rule.cron ?? '', rule.timezone).nextRun(after);
    case 'Minutes':
    case 'Hourly': {
      const interval = rule.type === 'Hourly' ? HOUR_MS : (rule.minutes ?? 1) * 60_000;
      const k = t < anchor ? 0 : Math.floor((t - anchor) / interval) + 1;
      return new Date(anchor + k * interval);
    }
    default:
      return new Date(calendarSlotAfter(rule, t));
  }
}

/** The first slot at or after `from` (for a new cron schedule, or resuming). */
export function slotAtOrAfter(rule: SlotRule, from: Date): Date | null {
  return slotAfter(rule, new Date(from.getTime() - 1));
}

/**
 * nextRun after the slot `slot` ran at `now`: with catchUp the following slot
 * (past slots then run one by one), without it the first slot after now.
 */
export function nextRunAfter(rule: SlotRule, slot: Date, now: Date, catchUp: boolean): Date | null {
  const from = catchUp || slot.getTime() >= now.getTime() ? slot : now;
  return slotAfter(rule, from);
}

/** The next `count` slots after `after` (for previews in docs, CLI and dashboard). */
export function upcomingSlots(rule: SlotRule, after: Date, count: number): Date[] {
  const out: Date[] = [];
  let cursor: Date | null = after;
  while (out.length < count && cursor) {
    cursor = slotAfter(rule, cursor);
    if (cursor) out.push(cursor);
  }
  return out;
}

function calendarSlotAfter(rule: SlotRule, t: number): number {
  const anchorWall = toWallTime(rule.anchorAt.getTime(), rule.timezone);
  const dayStep = DAY_STEPS[rule.type];
  const monthStep = MONTH_STEPS[rule.type];
  if (dayStep === undefined && monthStep === undefined) throw new Error(`not a calendar type: ${rule.type}`);
  const slot = (k: number): number => {
    const wall: WallTime =
      dayStep !== undefined ? addDays(anchorWall, k * dayStep) : addMonthsClamped(anchorWall, k * (monthStep ?? 1));
    return fromWallTime(wall, rule.timezone);
  };
  // Estimate the index from the wall dates, then settle on the first slot > t.
  const nowWall = toWallTime(t, rule.timezone);
  let k =
    dayStep !== undefined
      ? Math.floor(dayDiff(anchorWall, nowWall) / dayStep)
      : Math.floor(monthDiff(anchorWall, nowWall) / (monthStep ?? 1));
  k = Math.max(0, k);
  while (k > 0 && slot(k - 1) > t) k--;
  while (slot(k) <= t) k++;
  return slot(k);
}
