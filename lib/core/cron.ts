// robfig/cron v3's standard parser (cron.ParseStandard), which both the API server's CronJob validation and the
// CronJob controller use. shipshape reads a schedule with it to refuse exactly the schedules the API server
// refuses and to know when the others run. Its quirks are kept on purpose: `*-7` is `*` (what follows `*-` is
// never read), numbers may carry a `+` sign, `N/step` means `N-max/step`, empty list items are dropped, and
// `@every` takes Go's duration syntax.

/** One field of a schedule: the values it matches, and robfig/cron's "star bit". */
export interface CronField {
  readonly values: ReadonlySet<number>;
  /** `*` or `?` with step 1 somewhere in the field. A day matches on day-of-month AND day-of-week when either has it, OR otherwise. */
  readonly star: boolean;
  /** The first list item whose step is longer than the whole field (a step of 90 in minutes), so that it matches one value. */
  readonly stepBeyondField?: string;
}

/** A schedule as the CronJob controller runs it. */
export type CronSchedule =
  | {
      readonly kind: 'every';
      /** The duration as written, in nanoseconds (Go's time.Duration). */
      readonly nanoseconds: bigint;
      /** The delay the controller keeps: whole seconds, at least 1. */
      readonly seconds: number;
    }
  | { readonly kind: 'fields'; readonly minute: CronField; readonly hour: CronField; readonly dayOfMonth: CronField; readonly month: CronField; readonly dayOfWeek: CronField };

/** A parsed schedule, or why robfig/cron refuses it. */
export type CronParse = { readonly schedule: CronSchedule; readonly problem?: undefined } | { readonly schedule?: undefined; readonly problem: string };

interface Bounds {
  readonly name: string;
  /** What the field counts within, where a step starts over. */
  readonly cycle: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  readonly first?: number;
}

// robfig/cron's `bounds` for the five standard fields, in order.
const FIELDS: readonly Bounds[] = [
  { name: 'minute', cycle: 'hour', min: 0, max: 59 },
  { name: 'hour', cycle: 'day', min: 0, max: 23 },
  { name: 'day of month', cycle: 'month', min: 1, max: 31 },
  { name: 'month', cycle: 'year', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'], first: 1 },
  { name: 'day of week', cycle: 'week', min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], first: 0 },
];

// robfig/cron's descriptors, as the five fields they set.
const DESCRIPTORS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
/** The descriptors the CronJob controller accepts besides `@every <duration>`. */
const CRON_DESCRIPTORS: readonly string[] = Object.keys(DESCRIPTORS);
const EVERY = '@every ';

// Go's unicode.IsSpace, which strings.Fields splits on: JavaScript's \s adds U+FEFF and lacks U+0085.
const GO_SPACES = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.Atoi followed by robfig/cron's refusal of negative numbers; undefined when `text` is no number at all. */
function nonNegativeInt(text: string): number | string | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const n = BigInt(text);
  if (n > INT64_MAX || n < -INT64_MAX - 1n) return `"${text}" is out of range`;
  if (n < 0n) return `"${text}" is negative`;
  // Anything above a field's maximum is refused later, so the exact value of a large number no longer matters.
  return n > 1_000_000n ? Number.MAX_SAFE_INTEGER : Number(n);
}

function intOrName(text: string, bounds: Bounds): number | string {
  // Go's strings.ToLower maps U+0130 (İ) to a plain "i", where JavaScript gives "i" and a combining dot.
  const name = bounds.names?.indexOf(text.replace(/\u0130/g, 'i').toLowerCase()) ?? -1;
  if (name >= 0) return name + (bounds.first ?? 0);
  return (
    nonNegativeInt(text) ??
    `"${text}" is not a ${bounds.name} (${bounds.min}-${bounds.max}${bounds.names ? ` or ${bounds.names[0].toUpperCase()}-${bounds.names[bounds.names.length - 1].toUpperCase()}` : ''})`
  );
}

/** robfig/cron's getRange: one list item of a field. */
function range(expr: string, bounds: Bounds, values: Set<number>): { star: boolean; step: number } | string {
  const rangeAndStep = expr.split('/');
  const lowAndHigh = rangeAndStep[0].split('-');
  let start: number | string;
  let end: number | string;
  let star = false;
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    [start, end, star] = [bounds.min, bounds.max, true];
  } else {
    start = intOrName(lowAndHigh[0], bounds);
    if (typeof start === 'string') return start;
    if (lowAndHigh.length > 2) return `"${expr}" has more than one "-"`;
    end = lowAndHigh.length === 2 ? intOrName(lowAndHigh[1], bounds) : start;
    if (typeof end === 'string') return end;
  }
  let step = 1;
  if (rangeAndStep.length > 2) return `"${expr}" has more than one "/"`;
  if (rangeAndStep.length === 2) {
    const parsed = nonNegativeInt(rangeAndStep[1]) ?? `"${rangeAndStep[1]}" is not a number`;
    if (typeof parsed === 'string') return `the step in "${expr}" must be a positive number (${parsed})`;
    step = parsed;
    if (lowAndHigh.length === 1) end = bounds.max;
    if (step > 1) star = false;
  }
  if (start < bounds.min || end > bounds.max) return `${bounds.name} "${rangeAndStep[0]}" is outside ${bounds.min}-${bounds.max}`;
  if (start > end) return `the range "${rangeAndStep[0]}" starts after it ends`;
  if (step === 0) return `the step in "${expr}" must be a positive number`;
  for (let v = start; v <= end; v += step) values.add(v);
  return { star, step };
}

/** robfig/cron's getField: a comma-separated list, empty items dropped as strings.FieldsFunc drops them. */
function field(text: string, bounds: Bounds): CronField | string {
  const values = new Set<number>();
  let star = false;
  let stepBeyondField: string | undefined;
  for (const expr of text.split(',')) {
    if (expr === '') continue;
    const r = range(expr, bounds, values);
    if (typeof r === 'string') return r;
    star ||= r.star;
    if (r.step > bounds.max - bounds.min + 1) stepBeyondField ??= expr;
  }
  return { values, star, stepBeyondField };
}

// Go's time unitMap (a Map, so that a unit such as "constructor" finds nothing).
const GO_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['µs', 1_000n],
  ['μs', 1_000n],
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

/** Go's time.ParseDuration, in nanoseconds, or undefined where Go returns an error. */
function parseGoDuration(text: string): bigint | undefined {
  let s = text;
  const negative = s.startsWith('-');
  if (negative || s.startsWith('+')) s = s.slice(1);
  if (s === '0') return 0n;
  if (s === '') return undefined;
  const LIMIT = 2n ** 63n;
  let total = 0n;
  for (const [whole, int, fraction, unit] of s.matchAll(/(\d*)(?:\.(\d*))?([^.\d]*)/g)) {
    if (whole === '') continue;
    if (int === '' && !fraction) return undefined;
    const scale = GO_UNITS.get(unit);
    if (scale === undefined) return undefined;
    // Go refuses a whole part whose multiple of the unit passes 2^63.
    const v = BigInt(int || '0');
    if (v > LIMIT / scale) return undefined;
    let ns = v * scale;
    if (fraction) {
      // leadingFraction stops taking digits once they would pass 2^63; Go then scales in float64.
      let f = 0n;
      let factor = 1;
      for (const digit of fraction) {
        const next = f * 10n + BigInt(digit);
        if (next > LIMIT) break;
        [f, factor] = [next, factor * 10];
      }
      ns += BigInt(Math.trunc(Number(f) * (Number(scale) / factor)));
      if (ns > LIMIT) return undefined;
    }
    total += ns;
    if (total > LIMIT) return undefined;
  }
  if (!negative && total > LIMIT - 1n) return undefined;
  return negative ? -total : total;
}

/** Reads `spec` as cron.ParseStandard does (the API server also refuses any "TZ"; see cronScheduleProblem). */
export function parseCronSchedule(spec: string): CronParse {
  if (spec === '') return { problem: 'a schedule must not be empty' };
  if (spec.startsWith('@')) {
    if (spec.startsWith(EVERY)) {
      const nanoseconds = parseGoDuration(spec.slice(EVERY.length));
      if (nanoseconds === undefined) return { problem: `"${spec.slice(EVERY.length)}" is not a Go duration such as "1h30m" (exactly one space after @every, nothing after the duration)` };
      // robfig/cron's Every(): shorter than a second is a second, and the rest is cut to whole seconds.
      const seconds = nanoseconds < 1_000_000_000n ? 1 : Number(nanoseconds / 1_000_000_000n);
      return { schedule: { kind: 'every', nanoseconds, seconds } };
    }
    if (!Object.hasOwn(DESCRIPTORS, spec)) return { problem: `unknown descriptor "${spec}" (use ${CRON_DESCRIPTORS.join(', ')} or "@every <duration>", with no space around it)` };
    return parseCronSchedule(DESCRIPTORS[spec]);
  }
  const texts = spec.split(GO_SPACES).filter((t) => t !== '');
  if (texts.length !== FIELDS.length) return { problem: `a schedule has 5 fields (minute hour day-of-month month day-of-week), not ${texts.length}` };
  const fields: CronField[] = [];
  for (const [i, bounds] of FIELDS.entries()) {
    const parsed = field(texts[i], bounds);
    if (typeof parsed === 'string') return { problem: parsed };
    fields.push(parsed);
  }
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields;
  return { schedule: { kind: 'fields', minute, hour, dayOfMonth, month, dayOfWeek } };
}

/**
 * Why a schedule the controller accepts would not run as written, or undefined. Two forms the API server takes
 * and the controller quietly runs at another interval: an `@every` that is not whole seconds (`@every 500ms`,
 * `@every 1.5s`, `@every -1h` and `@every 0` run every second or at the whole second below), and a step longer
 * than its field (a step of 90 in the minute field runs once an hour, at minute 0: a step does not carry over
 * into the next hour).
 */
export function cronScheduleSurprise(schedule: CronSchedule): { problem: string; fix: string } | undefined {
  if (schedule.kind === 'every') {
    if (schedule.nanoseconds === BigInt(schedule.seconds) * 1_000_000_000n) return undefined;
    return {
      problem: `the CronJob controller runs "@every" schedules in whole seconds, at least one, so this one runs every ${schedule.seconds}s`,
      fix: `write the interval the controller keeps, e.g. "@every ${schedule.seconds}s", or a five-field schedule`,
    };
  }
  const fields = [schedule.minute, schedule.hour, schedule.dayOfMonth, schedule.month, schedule.dayOfWeek];
  for (const [i, f] of fields.entries()) {
    if (f.stepBeyondField === undefined) continue;
    const bounds = FIELDS[i];
    return {
      problem: `the step in "${f.stepBeyondField}" is longer than the ${bounds.name} field (${bounds.min}-${bounds.max}), so it matches only its first value: a step starts over every ${bounds.cycle}`,
      fix: `step at most ${bounds.max - bounds.min + 1} in the ${bounds.name} field, step a larger field (e.g. "0 */2 * * *" for every two hours), or use "@every <duration>"`,
    };
  }
  return undefined;
}
