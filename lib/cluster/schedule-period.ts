import { parseCronSchedule } from '../core/cron';

// The longest wait between two runs of a CronJob schedule, as the CronJob controller runs it (robfig/cron: a day
// matches when day-of-month OR day-of-week matches if both are restricted, AND if either is `*`), in UTC.

// Dates and weekdays repeat every 28 years between two century years that are not leap years; 2000-2027 is one
// whole cycle, so every day-of-month/month/weekday combination a schedule can name occurs in it.
const CYCLE_START_YEAR = 2000;
const CYCLE_DAYS = (Date.UTC(2028, 0, 1) - Date.UTC(CYCLE_START_YEAR, 0, 1)) / 86_400_000;
// 1 January 2000 was a Saturday.
const CYCLE_START_WEEKDAY = new Date(Date.UTC(CYCLE_START_YEAR, 0, 1)).getUTCDay();

/** Days in `month` (1-12) of `year`. */
function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * The longest time, in seconds, from one run of `schedule` to the next (UTC); `undefined` when the schedule
 * never fires (e.g. `0 0 30 2 *`). Throws a plain Error for a schedule the CronJob controller would refuse;
 * validate it first.
 */
export function longestScheduleGapSeconds(schedule: string): number | undefined {
  const parsed = parseCronSchedule(schedule);
  if (!parsed.schedule) throw new Error(`"${schedule}": ${parsed.problem}`);
  if (parsed.schedule.kind === 'every') return parsed.schedule.seconds;
  const { minute, hour, dayOfMonth: dom, month, dayOfWeek: dow } = parsed.schedule;
  const times = [...hour.values].flatMap((h) => [...minute.values].map((m) => h * 60 + m)).sort((a, b) => a - b);
  if (times.length === 0) return undefined;
  const days: number[] = [];
  // The cycle's calendar, counted without a Date per day: 10,227 Dates cost milliseconds per schedule.
  let d = 0;
  let weekday = CYCLE_START_WEEKDAY;
  for (let year = CYCLE_START_YEAR; d < CYCLE_DAYS; year++) {
    for (let m = 1; m <= 12; m++) {
      const monthMatch = month.values.has(m);
      const length = daysInMonth(year, m);
      for (let day = 1; day <= length; day++, d++, weekday = (weekday + 1) % 7) {
        if (!monthMatch) continue;
        const domMatch = dom.values.has(day);
        const dowMatch = dow.values.has(weekday);
        if (dom.star || dow.star ? domMatch && dowMatch : domMatch || dowMatch) days.push(d);
      }
    }
  }
  if (days.length === 0) return undefined;
  // Within a day the runs are the same every day; between days, from the last run of one to the first of the next.
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i] - times[i - 1]);
  const across = (from: number, to: number) => (to - from) * 1440 - times[times.length - 1] + times[0];
  for (let i = 1; i < days.length; i++) longest = Math.max(longest, across(days[i - 1], days[i]));
  longest = Math.max(longest, across(days[days.length - 1], days[0] + CYCLE_DAYS));
  return longest * 60;
}

/** A duration as Prometheus and people write it: `6h`, `1d12h`, `90s`. */
export function formatDuration(seconds: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  let rest = Math.round(seconds);
  let out = '';
  for (const [unit, size] of units) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out || '0s';
}
