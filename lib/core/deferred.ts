// Values known only at deploy time (a Pulumi Output: the digest of an image Pulumi builds, a role ARN another
// resource creates) travel through the constructs, which take plain strings, as tokens: a placeholder string the
// Pulumi back end replaces with the resolved value before it registers a resource, and that synth refuses to write.
// A token may sit inside a longer string (`jdbc:postgresql://${token}:5432/db`); the rest of the string is kept.

// ASCII only, so JSON and YAML carry it unchanged (YAML quotes the `{`); the `shipshape:deferred:` prefix keeps
// it apart from the `${VAR}` interpolation of compose files, shells and CI templates. The number indexes the
// process-wide registry: a program that creates its values in the same order gets the same tokens every run, so
// hashes computed over a value that holds one (config checksums) stay stable between deployments.
const TOKEN_PREFIX = '${shipshape:deferred:';
const TOKEN_PATTERN = /\$\{shipshape:deferred:(\d+)\}/g;
const TOKEN = /\$\{shipshape:deferred:\d+\}/;

const values: unknown[] = [];
const checks = new Map<string, ((resolved: string) => void)[]>();

/**
 * Registers a value known only at deploy time and returns the token that stands for it. The value is opaque
 * here; the back end that deploys (shipshape/pulumi) knows what it is.
 */
export function deferValue(value: unknown): string {
  values.push(value);
  return `${TOKEN_PREFIX}${values.length - 1}}`;
}

/** A deferred value computed from the resolved text of a string that holds tokens (the checksum of a config). */
export class DerivedValue {
  constructor(
    /** The string holding tokens, resolved first. */
    public readonly template: string,
    /** Computes the value from the resolved template. */
    public readonly derive: (resolved: string) => string,
  ) {}
}

/**
 * A token for `derive` applied to the resolved `template`: a value computed from a deploy-time value (a content
 * hash) follows that value instead of the token that stands for it.
 */
export function deferDerived(template: string, derive: (resolved: string) => string): string {
  return deferValue(new DerivedValue(template, derive));
}

/** Whether `value` is a string holding at least one deferred token. */
export function isDeferred(value: unknown): boolean {
  return typeof value === 'string' && TOKEN.test(value);
}

/** Registry indices of the tokens in `value`, in order of appearance, each once. */
export function deferredIds(value: string): number[] {
  return [...new Set([...value.matchAll(TOKEN_PATTERN)].map((m) => Number(m[1])))];
}

/** The value registered under a token index; throws for an index no {@link deferValue} returned. */
export function deferredValue(id: number): unknown {
  if (!Number.isSafeInteger(id) || id < 0 || id >= values.length) {
    throw new Error(`${TOKEN_PREFIX}${id}} is no deferred value of this program: a token is valid only in the process that created it`);
  }
  return values[id];
}

/**
 * `value` with every token replaced by `resolve(id)`. One pass: a resolved value that itself looks like a token
 * is kept as it is.
 */
export function substituteDeferred(value: string, resolve: (id: number) => string): string {
  return value.replace(TOKEN_PATTERN, (_token, id: string) => resolve(Number(id)));
}

/**
 * Runs `check` on the resolved value of `value` (a string holding tokens) when the back end substitutes it, so a
 * rule a constructor applies to a literal (an image pinned to a version) applies to the deploy-time value too,
 * with the same message. The check throws to refuse the value.
 */
export function checkWhenResolved(value: string, check: (resolved: string) => void): void {
  checks.set(value, [...(checks.get(value) ?? []), check]);
}

/** Runs the checks registered for `template` on its resolved value `resolved`. */
export function runDeferredChecks(template: string, resolved: string): void {
  for (const check of checks.get(template) ?? []) check(resolved);
}

/**
 * Runs the checks registered for every checked value that `template` holds inside a longer text (a config file
 * holding a bucket name), each on that value resolved with `resolve`.
 */
export function runEmbeddedDeferredChecks(template: string, resolve: (id: number) => string): void {
  for (const [value, list] of checks) {
    if (value === template || !template.includes(value)) continue;
    const resolved = substituteDeferred(value, resolve);
    for (const check of list) check(resolved);
  }
}

/** A string field holding deferred tokens, as a dotted path from the object's root (`spec.containers[0].image`). */
export interface DeferredField {
  readonly field: string;
  readonly value: string;
}

/** Every string (or object key) in `root` that holds a deferred token, depth first. */
export function deferredFields(root: unknown): DeferredField[] {
  const found: DeferredField[] = [];
  // Synth walks every field of every object: the path is kept as segments and written out only for a field
  // that holds a token, and a string is matched only when it holds the token's prefix.
  const segments: (string | number)[] = [];
  const here = (): string => segments.reduce<string>((p, s) => (typeof s === 'number' ? `${p}[${s}]` : p === '' ? s : `${p}.${s}`), '');
  const holds = (text: string): boolean => text.includes(TOKEN_PREFIX) && TOKEN.test(text);
  const walk = (node: unknown): void => {
    if (typeof node === 'string') {
      if (holds(node)) found.push({ field: here(), value: node });
    } else if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        segments.push(i);
        walk(node[i]);
        segments.pop();
      }
    } else if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      const keys = Object.keys(o);
      for (let k = 0; k < keys.length; k++) {
        segments.push(keys[k]);
        if (holds(keys[k])) found.push({ field: here(), value: keys[k] });
        walk(o[keys[k]]);
        segments.pop();
      }
    }
  };
  walk(root);
  return found;
}
