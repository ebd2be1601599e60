import { describe, expect, it } from 'vitest';
import { nextRunAfter, slotAfter, slotAtOrAfter, upcomingSlots, type SlotRule } from '../src/scheduler/next-run.js';
import type { ScheduleType } from '../src/store/schedule-store.js';
import { fromWallTime, toWallTime } from '../src/scheduler/zoned-time.js';

const d = (iso: string) => new Date(iso);
function rule(type: ScheduleType, anchor: string, extra: Partial<SlotRule> = {}): SlotRule {
  return { type, minutes: null, cron: null, timezone: 'UTC', anchorAt: d(anchor), ...extra };
}
const iso = (dates: Date[]) => dates.map((x) => x.toISOString());

describe('slot series per type (UTC)', () => {
  const cases: Array<[string, SlotRule, string, string[]]> = [
    [
      'Once before its slot',
      rule('Once', '2026-01-01T10:00:00Z'),
      '2026-01-01T09:00:00Z',
      ['2026-01-01T10:00:00.000Z'],
    ],
    ['Once after its slot has none', rule('Once', '2026-01-01T10:00:00Z'), '2026-01-01T10:00:00Z', []],
    [
      'Minutes every 15 from the anchor',
      rule('Minutes', '2026-01-01T10:00:00Z', { minutes: 15 }),
      '2026-01-01T10:07:00Z',
      ['2026-01-01T10:15:00.000Z', '2026-01-01T10:30:00.000Z', '2026-01-01T10:45:00.000Z'],
    ],
    [
      'Minutes before the anchor starts at the anchor',
      rule('Minutes', '2026-01-01T10:00:00Z', { minutes: 90 }),
      '2025-12-31T00:00:00Z',
      ['2026-01-01T10:00:00.000Z', '2026-01-01T11:30:00.000Z'],
    ],
    [
      'Hourly',
      rule('Hourly', '2026-01-01T10:30:00Z'),
      '2026-01-01T10:30:00Z',
      ['2026-01-01T11:30:00.000Z', '2026-01-01T12:30:00.000Z'],
    ],
    [
      'Daily through a leap day',
      rule('Daily', '2024-02-27T09:00:00Z'),
      '2024-02-27T09:00:00Z',
      ['2024-02-28T09:00:00.000Z', '2024-02-29T09:00:00.000Z', '2024-03-01T09:00:00.000Z'],
    ],
    [
      'Weekly',
      rule('Weekly', '2026-01-05T08:00:00Z'),
      '2026-01-05T08:00:00Z',
      ['2026-01-12T08:00:00.000Z', '2026-01-19T08:00:00.000Z'],
    ],
    [
      'Biweekly',
      rule('Biweekly', '2026-01-05T08:00:00Z'),
      '2026-01-05T08:00:00Z',
      ['2026-01-19T08:00:00.000Z', '2026-02-02T08:00:00.000Z'],
    ],
    [
      'Monthly from Jan 31 clamps without drifting',
      rule('Monthly', '2025-01-31T12:00:00Z'),
      '2025-01-31T12:00:00Z',
      ['2025-02-28T12:00:00.000Z', '2025-03-31T12:00:00.000Z', '2025-04-30T12:00:00.000Z', '2025-05-31T12:00:00.000Z'],
    ],
    [
      'Monthly from Jan 31 in a leap year',
      rule('Monthly', '2024-01-31T00:00:00Z'),
      '2024-01-31T00:00:00Z',
      ['2024-02-29T00:00:00.000Z', '2024-03-31T00:00:00.000Z'],
    ],
    [
      'Monthly resumes mid-series from the anchor day',
      rule('Monthly', '2025-01-31T12:00:00Z'),
      '2025-02-28T12:00:00Z',
      ['2025-03-31T12:00:00.000Z'],
    ],
    [
      'Bimonthly from Dec 31',
      rule('Bimonthly', '2025-12-31T06:00:00Z'),
      '2025-12-31T06:00:00Z',
      ['2026-02-28T06:00:00.000Z', '2026-04-30T06:00:00.000Z', '2026-06-30T06:00:00.000Z', '2026-08-31T06:00:00.000Z'],
    ],
    [
      'Quarterly from Nov 30',
      rule('Quarterly', '2025-11-30T00:00:00Z'),
      '2025-11-30T00:00:00Z',
      ['2026-02-28T00:00:00.000Z', '2026-05-30T00:00:00.000Z', '2026-08-30T00:00:00.000Z'],
    ],
    [
      'Yearly from Feb 29 returns to Feb 29 in leap years',
      rule('Yearly', '2024-02-29T10:00:00Z'),
      '2024-02-29T10:00:00Z',
      ['2025-02-28T10:00:00.000Z', '2026-02-28T10:00:00.000Z', '2027-02-28T10:00:00.000Z', '2028-02-29T10:00:00.000Z'],
    ],
    [
      'Cron 5-field weekdays at 22:00',
      rule('Cron', '2026-01-01T00:00:00Z', { cron: '0 22 * * 1-5' }),
      '2026-01-02T22:00:00Z',
      ['2026-01-05T22:00:00.000Z', '2026-01-06T22:00:00.000Z'],
    ],
    [
      'Cron 6-field every 5 seconds',
      rule('Cron', '2026-01-01T00:00:00Z', { cron: '*/5 * * * * *' }),
      '2026-01-01T00:00:03Z',
      ['2026-01-01T00:00:05.000Z', '2026-01-01T00:00:10.000Z'],
    ],
    [
      'Cron every second',
      rule('Cron', '2026-01-01T00:00:00Z', { cron: '* * * * * *' }),
      '2026-01-01T00:00:00.500Z',
      ['2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z'],
    ],
  ];
  it.each(cases)('%s', (_name, r, after, expected) => {
    expect(iso(upcomingSlots(r, d(after), expected.length || 1))).toEqual(expected);
  });
});

describe('wall-clock time kept across DST', () => {
  const ams = (type: ScheduleType, anchor: string, extra: Partial<SlotRule> = {}) =>
    rule(type, anchor, { timezone: 'Europe/Amsterdam', ...extra });
  const ny = (type: ScheduleType, anchor: string, extra: Partial<SlotRule> = {}) =>
    rule(type, anchor, { timezone: 'America/New_York', ...extra });
  const cases: Array<[string, SlotRule, string, string[]]> = [
    [
      // django-q2's own DST test: Daily 01:00 local, 2021 changes
      'Amsterdam Daily 01:00 through spring forward',
      ams('Daily', '2021-03-27T00:00:00Z'),
      '2021-03-27T00:00:00Z',
      ['2021-03-28T00:00:00.000Z', '2021-03-28T23:00:00.000Z', '2021-03-29T23:00:00.000Z'],
    ],
    [
      'Amsterdam Daily 01:00 through fall back',
      ams('Daily', '2021-10-29T23:00:00Z'),
      '2021-10-29T23:00:00Z',
      ['2021-10-30T23:00:00.000Z', '2021-11-01T00:00:00.000Z', '2021-11-02T00:00:00.000Z'],
    ],
    [
      'Amsterdam Daily 02:30 in the spring gap runs at 03:30, then 02:30 again',
      ams('Daily', '2026-03-28T01:30:00Z'),
      '2026-03-28T01:30:00Z',
      ['2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z'],
    ],
    [
      'Amsterdam Daily 02:30 on the fall-back day runs once, at the first 02:30',
      ams('Daily', '2026-10-24T00:30:00Z'),
      '2026-10-24T00:30:00Z',
      ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z'],
    ],
    [
      'Amsterdam Hourly is a fixed duration',
      ams('Hourly', '2026-03-29T00:30:00Z'),
      '2026-03-29T00:30:00Z',
      ['2026-03-29T01:30:00.000Z', '2026-03-29T02:30:00.000Z'],
    ],
    [
      'Amsterdam Cron 09:00 daily',
      ams('Cron', '2026-03-01T00:00:00Z', { cron: '0 9 * * *' }),
      '2026-03-28T08:00:00Z',
      ['2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z'],
    ],
    [
      'New York Daily 09:00 through spring forward',
      ny('Daily', '2026-03-07T14:00:00Z'),
      '2026-03-07T14:00:00Z',
      ['2026-03-08T13:00:00.000Z', '2026-03-09T13:00:00.000Z'],
    ],
    [
      'New York Daily 09:00 through fall back',
      ny('Daily', '2026-10-31T13:00:00Z'),
      '2026-10-31T13:00:00Z',
      ['2026-11-01T14:00:00.000Z', '2026-11-02T14:00:00.000Z'],
    ],
    [
      'New York Weekly 01:30 takes the first 01:30 on the fall-back day',
      ny('Weekly', '2026-10-25T05:30:00Z'),
      '2026-10-25T05:30:00Z',
      ['2026-11-01T05:30:00.000Z', '2026-11-08T06:30:00.000Z'],
    ],
    [
      'New York Monthly 02:30 moves out of the gap and back',
      ny('Monthly', '2026-02-08T07:30:00Z'),
      '2026-02-08T07:30:00Z',
      ['2026-03-08T07:30:00.000Z', '2026-04-08T06:30:00.000Z'],
    ],
    [
      'New York Yearly keeps local noon',
      ny('Yearly', '2026-01-15T17:00:00Z'),
      '2026-01-15T17:00:00Z',
      ['2027-01-15T17:00:00.000Z'],
    ],
    [
      'New York Cron 6-field 09:30:15 weekdays',
      ny('Cron', '2026-03-01T00:00:00Z', { cron: '15 30 9 * * 1-5' }),
      '2026-03-06T15:00:00Z',
      ['2026-03-09T13:30:15.000Z'],
    ],
  ];
  it.each(cases)('%s', (_name, r, after, expected) => {
    expect(iso(upcomingSlots(r, d(after), expected.length))).toEqual(expected);
  });

  it('reads and writes wall times in a zone', () => {
    expect(toWallTime(Date.parse('2026-07-01T10:00:00.250Z'), 'Europe/Amsterdam')).toEqual({
      year: 2026,
      month: 7,
      day: 1,
      hour: 12,
      minute: 0,
      second: 0,
      millisecond: 250,
    });
    const wall = { year: 2026, month: 3, day: 8, hour: 2, minute: 30, second: 0, millisecond: 0 };
    expect(new Date(fromWallTime(wall, 'America/New_York')).toISOString()).toBe('2026-03-08T07:30:00.000Z');
  });
});

describe('slotAtOrAfter', () => {
  it('includes a slot exactly at the start', () => {
    const r = rule('Cron', '2026-01-01T00:00:00Z', { cron: '0 * * * *' });
    expect(slotAtOrAfter(r, d('2026-01-01T05:00:00Z'))?.toISOString()).toBe('2026-01-01T05:00:00.000Z');
    expect(slotAtOrAfter(r, d('2026-01-01T05:00:01Z'))?.toISOString()).toBe('2026-01-01T06:00:00.000Z');
  });
});

describe('catchUp', () => {
  const hourly = rule('Hourly', '2026-01-01T00:00:00Z');
  const now = d('2026-01-01T05:30:00Z');

  it('true: each missed slot runs in turn', () => {
    const runs: string[] = [];
    let slot: Date | null = d('2026-01-01T00:00:00Z');
    while (slot && slot <= now) {
      runs.push(slot.toISOString());
      slot = nextRunAfter(hourly, slot, now, true);
    }
    expect(runs).toHaveLength(6);
    expect(slot?.toISOString()).toBe('2026-01-01T06:00:00.000Z');
  });

  it('false: one run, then the next future slot (Django: 5.5 h late → now + 30 min)', () => {
    expect(nextRunAfter(hourly, d('2026-01-01T00:00:00Z'), now, false)?.toISOString()).toBe('2026-01-01T06:00:00.000Z');
  });

  it('true for Monthly from Jan 31: no drift while catching up', () => {
    const monthly = rule('Monthly', '2021-01-31T00:00:00Z');
    const later = d('2021-06-01T00:00:00Z');
    const runs: string[] = [];
    let slot: Date | null = monthly.anchorAt;
    while (slot && slot <= later) {
      runs.push(slot.toISOString().slice(0, 10));
      slot = nextRunAfter(monthly, slot, later, true);
    }
    expect(runs).toEqual(['2021-01-31', '2021-02-28', '2021-03-31', '2021-04-30', '2021-05-31']);
  });

  it('a slot in the future stays the reference whatever catchUp says', () => {
    const soon = d('2026-01-01T01:00:00Z');
    expect(nextRunAfter(hourly, soon, d('2026-01-01T00:59:59Z'), false)?.toISOString()).toBe(
      '2026-01-01T02:00:00.000Z',
    );
  });

  it('Once has no next run', () => {
    const once = rule('Once', '2026-01-01T00:00:00Z');
    expect(nextRunAfter(once, once.anchorAt, now, true)).toBeNull();
    expect(slotAfter(once, now)).toBeNull();
  });
});
