import { ErrorScope, ShipshapeError } from './errors';
import { INT32_MAX } from './validate';

/** Count or percentage, as in Kubernetes' IntOrString fields (maxSurge, maxUnavailable, minAvailable). */
export type CountOrPercent = number | `${number}%`;

const PERCENT = /^(\d+)%$/;

/** Whether a value is a non-negative integer (an int32, as IntOrString holds it) or a percentage from "0%" to "100%". */
export function isCountOrPercent(value: unknown): value is CountOrPercent {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= INT32_MAX;
  const match = typeof value === 'string' ? PERCENT.exec(value) : null;
  return match !== null && Number(match[1]) <= 100;
}

/**
 * Resolves a count-or-percent against a total the way Kubernetes does: percentages of
 * surge and availability round up, percentages of unavailability round down.
 */
export function resolveCountOrPercent(value: number | string, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const pct = Number(value.replace('%', '')) / 100;
  return roundUp ? Math.ceil(pct * total) : Math.floor(pct * total);
}

/** A CPU amount as cdk8s-plus' `Cpu` holds it (`Cpu.millis(250)` → "250m", `Cpu.units(0.5)` → "0.5"). */
export interface CpuLike {
  readonly amount: string;
}

/** A memory or storage size as cdk8s' `Size` converts it. */
export interface SizeLike {
  toKibibytes(opts?: { rounding?: number }): number;
  toMebibytes(opts?: { rounding?: number }): number;
}

/** Container resources in cdk8s-plus' shape. */
export interface ResourcesLike {
  readonly cpu?: { readonly request?: CpuLike; readonly limit?: CpuLike };
  readonly memory?: { readonly request?: SizeLike; readonly limit?: SizeLike };
}

// cdk8s' SizeRoundingBehavior.NONE: convert without rounding or throwing, so NaN and fractions stay visible.
const NO_ROUNDING = 2;
const CPU_AMOUNT = /^([0-9]+(?:\.[0-9]+)?)(m?)$/;

/**
 * Millicores of a `Cpu`; throws a ShipshapeError naming `field` for anything that is not a finite, positive
 * amount (NaN, Infinity, a negative number, zero unless `allowZero`, a string where a Cpu belongs).
 */
export function cpuMillicores(scope: ErrorScope, field: string, cpu: unknown, options: { allowZero?: boolean } = {}): number {
  const amount = typeof cpu === 'object' && cpu !== null && typeof (cpu as CpuLike).amount === 'string' ? (cpu as CpuLike).amount : undefined;
  const m = amount === undefined ? null : CPU_AMOUNT.exec(amount);
  const millis = m ? Number(m[1]) * (m[2] === 'm' ? 1 : 1000) : Number.NaN;
  if (!Number.isFinite(millis) || millis < 0 || (millis === 0 && !options.allowZero)) {
    throw new ShipshapeError(scope, {
      problem: `${field} must be a finite, positive CPU amount${amount === undefined ? ' (a Cpu object)' : ''}${millis === 0 ? '; a zero request leaves the scheduler nothing to place by and an HPA nothing to scale on' : ''}`,
      value: amount ?? cpu,
      fix: `set ${field} to e.g. Cpu.millis(100) or Cpu.units(0.5)`,
    });
  }
  return millis;
}

// 2^63 bytes in MiB: Kubernetes quantities are int64 underneath, and larger amounts lose their integer form.
const MAX_MEBIBYTES = 2 ** 43;

/**
 * Mebibytes of a `Size` (possibly fractional); throws a ShipshapeError naming `field` for anything that is
 * not a finite, positive size (NaN, Infinity, zero unless `allowZero`, above 2^63 bytes, a string or number where a Size belongs).
 */
export function sizeMebibytes(scope: ErrorScope, field: string, size: unknown, options: { allowZero?: boolean } = {}): number {
  const isSize = typeof size === 'object' && size !== null && typeof (size as SizeLike).toMebibytes === 'function';
  const mebibytes = isSize ? (size as SizeLike).toMebibytes({ rounding: NO_ROUNDING }) : Number.NaN;
  if (!Number.isFinite(mebibytes) || mebibytes < 0 || (mebibytes === 0 && !options.allowZero)) {
    throw new ShipshapeError(scope, {
      problem: `${field} must be a finite, positive Size${isSize ? '' : ` (a Size object, not ${typeof size === 'string' ? `the string "${size}"` : typeof size})`}${mebibytes === 0 ? '; a zero memory limit or request cannot run any container' : ''}`,
      value: isSize ? mebibytes : size,
      fix: `set ${field} to e.g. Size.mebibytes(256) or Size.gibibytes(1)`,
    });
  }
  if (mebibytes > MAX_MEBIBYTES) {
    throw new ShipshapeError(scope, {
      problem: `${field} is larger than 8 EiB (2^63 bytes), the most a Kubernetes quantity holds; beyond it a Size is written in exponent notation ("1.024e+24Mi"), which is no quantity`,
      value: mebibytes,
      fix: `set ${field} to a real size, e.g. Size.gibibytes(64) or Size.tebibytes(2)`,
    });
  }
  return mebibytes;
}

/**
 * Checks every amount of a container's resources (finite, positive, of the right type; memory in whole
 * KiB so cdk8s-plus can render it) and returns the resources.
 */
export function assertContainerResources<R>(scope: ErrorScope, field: string, resources: R): R {
  const r = resources as unknown as ResourcesLike | undefined;
  if (r === undefined || r === null || typeof r !== 'object') {
    throw new ShipshapeError(scope, {
      problem: `${field} must be an object with cpu and memory`,
      value: resources,
      fix: `set ${field} to e.g. { cpu: { request: Cpu.millis(100) }, memory: { request: Size.mebibytes(128), limit: Size.mebibytes(256) } }`,
    });
  }
  for (const kind of ['request', 'limit'] as const) {
    if (r.cpu?.[kind] !== undefined) cpuMillicores(scope, `${field}.cpu.${kind}`, r.cpu[kind]);
    const size = r.memory?.[kind];
    if (size === undefined) continue;
    sizeMebibytes(scope, `${field}.memory.${kind}`, size);
    // cdk8s-plus renders memory in whole MiB and throws a bare Error otherwise.
    try {
      (size as SizeLike).toMebibytes();
    } catch {
      throw new ShipshapeError(scope, {
        problem: `${field}.memory.${kind} is not a whole number of mebibytes`,
        value: (size as SizeLike).toKibibytes({ rounding: NO_ROUNDING }),
        fix: 'use whole mebibytes, e.g. Size.mebibytes(384)',
      });
    }
  }
  return resources;
}

// Kubernetes resource.Quantity: a signed decimal with an optional binary or decimal suffix or exponent.
const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/;

const QUANTITY_SCALE: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Numeric value of a Kubernetes quantity (`250m`, `1.5`, `512Mi`, 2); undefined when it is not one. */
export function quantityValue(quantity: unknown): number | undefined {
  if (typeof quantity === 'number') return Number.isFinite(quantity) ? quantity : undefined;
  if (typeof quantity !== 'string') return undefined;
  const m = QUANTITY.exec(quantity);
  if (!m) return undefined;
  const suffix = m[2] ?? '';
  const scale = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : QUANTITY_SCALE[suffix];
  return Number(m[1]) * scale;
}

/** Whether a manifest's request or limit is present and above zero; a zero request is as good as none. */
export function isPositiveQuantity(quantity: unknown): boolean {
  const value = quantityValue(quantity);
  return value !== undefined && value > 0;
}

/** A duration as cdk8s' `Duration` converts it. */
export interface DurationLike {
  toSeconds(opts?: { integral?: boolean }): number;
}

/**
 * Whole seconds of a `Duration` within [min, max] seconds; throws a ShipshapeError naming `field` for anything
 * else (a number where a Duration belongs, a fraction of a second, out of range). Kubernetes' `*Seconds` fields
 * and Fluentd's time parameters take integers, so a fraction is refused rather than rounded.
 */
export function durationSeconds(scope: ErrorScope, field: string, duration: unknown, min: number, max = INT32_MAX): number {
  const isDuration = typeof duration === 'object' && duration !== null && typeof (duration as DurationLike).toSeconds === 'function';
  const seconds = isDuration ? (duration as DurationLike).toSeconds({ integral: false }) : Number.NaN;
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw new ShipshapeError(scope, {
      problem: `${field} must be a Duration of whole seconds from ${min} to ${max} s${isDuration ? '' : ` (a Duration object, not ${typeof duration === 'number' ? `the number ${duration}` : typeof duration})`}`,
      value: isDuration ? `${seconds} s` : duration,
      fix: `set ${field} to e.g. Duration.seconds(${Math.max(min, Math.min(30, max))})`,
    });
  }
  return seconds;
}
