// The longest wait between two runs of a CronJob schedule, read the way the CronJob controller reads it
// (robfig/cron's standard parser: five fields, month and weekday names, `N/step` meaning `N-max/step`, a day
// matching when day-of-month OR day-of-week matches if both are restricted, AND if either is `*`), in UTC.

// Fields with their bounds and names (robfig/cron's `bounds`).
const FIELDS = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'], offset: 1 },
  { min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], offset: 0 },
] as const;

// The macros the CronJob controller accepts, as the five fields robfig/cron expands them to.
const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

// Go's time.ParseDuration units, in seconds.
const GO_UNITS: Readonly<Record<string, number>> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

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

interface Field {
  readonly values: ReadonlySet<number>;
  /** `*` (or `?`) with step 1 somewhere in the field: robfig/cron's star bit. */
  readonly star: boolean;
}

function value(text: string, field: (typeof FIELDS)[number]): number {
  if (/^\d+$/.test(text)) return Number(text);
  if (!('names' in field) || !(field.names as readonly string[]).includes(text.toLowerCase())) throw new Error(`"${text}" is not a value of this field`);
  return (field.names as readonly string[]).indexOf(text.toLowerCase()) + field.offset;
}

function parseField(expr: string, field: (typeof FIELDS)[number]): Field {
  const values = new Set<number>();
  let star = false;
  // robfig/cron splits a field with strings.FieldsFunc, which drops empty items: "1,,2" is "1,2", and "," alone
  // sets no value, so the schedule never fires.
  for (const part of expr.split(',').filter((p) => p !== '')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let start: number;
    let end: number;
    if (range === '*' || range === '?') {
      [start, end] = [field.min, field.max];
      star ||= step === 1;
    } else {
      const [low, high] = range.split('-');
      start = value(low, field);
      end = high !== undefined ? value(high, field) : stepText !== undefined ? field.max : start;
    }
    if (!(step > 0) || start < field.min || end > field.max || start > end) throw new Error(`"${part}" is outside ${field.min}-${field.max}`);
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return { values, star };
}

function goDurationSeconds(text: string): number {
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(n) * GO_UNITS[unit];
  return total;
}

/**
 * The longest time, in seconds, from one run of `schedule` to the next (UTC); `undefined` when the schedule
 * never fires (e.g. `0 0 30 2 *`). Throws a plain Error for a schedule the CronJob controller would refuse;
 * validate it first.
 */
export function longestScheduleGapSeconds(schedule: string): number | undefined {
  const trimmed = schedule.trim();
  const every = /^@every\s+(\S+)$/.exec(trimmed);
  if (every) return goDurationSeconds(every[1]);
  const fields = (MACROS[trimmed] ?? trimmed).split(/\s+/);
  if (fields.length !== FIELDS.length) throw new Error(`"${schedule}" does not have five fields`);
  const [minute, hour, dom, month, dow] = fields.map((f, i) => parseField(f, FIELDS[i]));
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
