import { IConstruct } from 'constructs';

/** Where a problem was found: a construct, or a plain path such as `environment:prod`. */
export type ErrorScope = IConstruct | string;

/** The parts of a {@link ShipshapeError}. */
export interface ShipshapeErrorDetails {
  /** What is wrong, as one sentence. */
  readonly problem: string;
  /**
   * The offending value, rendered as given.
   * @default - no value in the message
   */
  readonly value?: unknown;
  /** How to fix it. */
  readonly fix: string;
}

/** Renders the path of a scope: the construct path, or the string itself. */
export function scopePath(scope: ErrorScope): string {
  return typeof scope === 'string' ? scope : scope.node.path || '<root>';
}

// JSON has no NaN or Infinity (it writes null); they are marked while stringifying and unquoted after.
const NON_FINITE = '\uE000';

/** The value as it would read in code: JSON, except that NaN, ±Infinity and undefined keep their names. */
export function renderValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) return String(value);
  try {
    const json = JSON.stringify(value, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? `${NON_FINITE}${v}` : typeof v === 'bigint' ? `${NON_FINITE}${v}n` : v));
    return json === undefined ? String(value) : json.replace(new RegExp(`"${NON_FINITE}([^"]*)"`, 'g'), '$1');
  } catch {
    return String(value);
  }
}

/**
 * The error every shipshape construct throws for bad input: one paragraph that
 * names the construct path, the bad value and the fix.
 */
export class ShipshapeError extends Error {
  /** Construct path (or pseudo-path) the error is about. */
  declare public readonly path: string;
  /** The offending value, when there is one. */
  declare public readonly value: unknown;
  /** How to fix it. */
  declare public readonly fix: string;

  constructor(scope: ErrorScope, details: ShipshapeErrorDetails) {
    const path = scopePath(scope);
    const value = 'value' in details ? ` (got ${renderValue(details.value)})` : '';
    super(`${path}: ${details.problem}${value}. Fix: ${details.fix}`);
    this.name = 'ShipshapeError';
    defineHidden(this, { path, value: details.value, fix: details.fix });
  }
}

/** Several problems found in one pass; synth reports all of them at once. */
export class ShipshapeAggregateError extends Error {
  /** Every problem, one line each, as the message lists them. */
  declare public readonly problems: readonly string[];

  constructor(heading: string, problems: readonly string[]) {
    super(`${heading} (${problems.length}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ShipshapeAggregateError';
    defineHidden(this, { problems });
  }
}

/**
 * Sets read-only fields that are not enumerable: Node prints an uncaught error's message and then every
 * enumerable field, so each problem and fix the message already holds would be printed a second time.
 */
function defineHidden(error: Error, fields: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(fields)) Object.defineProperty(error, key, { value, enumerable: false, writable: false, configurable: true });
}
