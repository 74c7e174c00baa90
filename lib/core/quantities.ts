/** Count or percentage, as in Kubernetes' IntOrString fields (maxSurge, maxUnavailable, minAvailable). */
export type CountOrPercent = number | `${number}%`;

const PERCENT = /^(\d+)%$/;

/** Whether a value is a non-negative integer or a percentage from "0%" to "100%". */
export function isCountOrPercent(value: unknown): value is CountOrPercent {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0;
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
