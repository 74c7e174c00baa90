import * as pulumi from '@pulumi/pulumi';
import { ShipshapeAggregateError } from '../core/errors';

/** The Pulumi config namespace every key shipshape reads lives in: `shipshape:<key>`. */
export const CONFIG_NAMESPACE = 'shipshape';

/** The keys shipshape reads besides the Swarm secrets, in the {@link CONFIG_NAMESPACE} namespace. */
export const CONFIG_KEYS = {
  /** Path or contents of the kubeconfig of the environment's cluster. */
  kubeconfig: 'kubeconfig',
  /** kubeconfig context of the environment's cluster. */
  context: 'context',
  /** Docker engine of a Swarm manager (`ssh://user@host`, `tcp://host:2376`). */
  dockerHost: 'dockerHost',
  /** Secret object of registry logins, keyed by registry address: `{ "ghcr.io": { username, password } }`. */
  registryAuth: 'registryAuth',
} as const;

/**
 * The config key of a Swarm secret's value: the secret name in camelCase (`dockerhub-token` →
 * `dockerhubToken`, read as `shipshape:dockerhubToken`), so every key of the namespace is spelled alike.
 */
export function secretConfigKey(secretName: string): string {
  const words = secretName.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return words.map((w, i) => (i === 0 ? w.charAt(0).toLowerCase() + w.slice(1) : w.charAt(0).toUpperCase() + w.slice(1))).join('');
}

// Namespaces earlier versions read: `swarm:<secret name>` for Swarm secret values, and the reference platform's
// project namespace for the cluster. Pulumi ignores a key nobody reads, so each is refused by name instead.
const LEGACY_SECRET_NAMESPACE = 'swarm';
const LEGACY_PLATFORM_NAMESPACE = 'shipshape-platform';

/** The `shipshape:` key that replaces an old config key, or undefined when the key is not an old shipshape key. */
export function replacementKey(oldKey: string): string | undefined {
  const colon = oldKey.indexOf(':');
  if (colon < 0) return undefined;
  const namespace = oldKey.slice(0, colon);
  const name = oldKey.slice(colon + 1);
  if (namespace === LEGACY_SECRET_NAMESPACE && name !== '') return `${CONFIG_NAMESPACE}:${secretConfigKey(name)}`;
  if (namespace === LEGACY_PLATFORM_NAMESPACE && (name === CONFIG_KEYS.kubeconfig || name === CONFIG_KEYS.context)) return `${CONFIG_NAMESPACE}:${name}`;
  return undefined;
}

/**
 * Throws when the stack config still sets a key of an earlier version (`swarm:dockerhub-token`,
 * `shipshape-platform:context`): Pulumi would ignore it silently, and the deployment would run without the
 * secret or against another cluster. The message names each old key and the key that replaces it.
 */
export function assertNoLegacyConfig(): void {
  const problems = Object.keys(pulumi.runtime.allConfig())
    .sort()
    .flatMap((key) => {
      const replacement = replacementKey(key);
      if (replacement === undefined) return [];
      const secret = key.startsWith(`${LEGACY_SECRET_NAMESPACE}:`) ? '--secret ' : '';
      return [
        `stack config ${key} is no longer read; shipshape reads every key from the "${CONFIG_NAMESPACE}:" namespace. Fix: pulumi config set ${secret}${replacement} <value> && pulumi config rm ${key}`,
      ];
    });
  if (problems.length > 0) throw new ShipshapeAggregateError(`${pulumi.getStack()}: stack config uses old keys`, problems);
}

// Config keys of the Swarm secrets of every stack deployed in this process: one program may deploy several
// environments, and a key one of them reads is no stray key for the others.
const secretKeysInProcess = new Set<string>();

// A key this close to a key shipshape reads (case aside) is taken for a misspelling of it (kubeConfig, dockerhost, contxt).
const MISSPELLING_DISTANCE = 2;

/** Levenshtein distance of two keys, compared case-insensitively. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) row.push(Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1)));
    previous = row;
  }
  return previous[y.length];
}

/** The key shipshape reads that `key` most likely misspells, or undefined when it is no near miss of any. */
export function closestKnownKey(key: string, known: Iterable<string>): string | undefined {
  const settings: readonly string[] = Object.values(CONFIG_KEYS);
  let best: { key: string; distance: number } | undefined;
  for (const candidate of new Set([...settings, ...known])) {
    const distance = editDistance(key, candidate);
    if (distance <= MISSPELLING_DISTANCE && (best === undefined || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

/**
 * Throws when the stack config sets a `shipshape:` key shipshape does not read but that nearly matches one it
 * does (`shipshape:kubeConfig`, `shipshape:dockerhubTokn`): Pulumi would ignore it silently, and the deployment
 * would run against the ambient cluster or without the value. `secretKeys` are the keys of the Swarm secrets of
 * the stacks being deployed. Another key is left alone: it may be the secret of an environment this program
 * deploys later, and a secret nobody sets fails the deployment by name anyway.
 */
export function assertKnownConfig(secretKeys: Iterable<string>): void {
  for (const key of secretKeys) secretKeysInProcess.add(key);
  const known = new Set<string>([...Object.values(CONFIG_KEYS), ...secretKeysInProcess]);
  const problems = Object.keys(pulumi.runtime.allConfig())
    .filter((key) => key.startsWith(`${CONFIG_NAMESPACE}:`))
    .sort()
    .flatMap((key) => {
      const name = key.slice(CONFIG_NAMESPACE.length + 1).split('.')[0];
      if (known.has(name)) return [];
      const closest = closestKnownKey(name, secretKeysInProcess);
      if (closest === undefined) return [];
      return [
        `stack config ${key} is no key shipshape reads, so it would be ignored; the closest is ${CONFIG_NAMESPACE}:${closest}. Fix: pulumi config set ${CONFIG_NAMESPACE}:${closest} <value> && pulumi config rm ${key}`,
      ];
    });
  if (problems.length > 0) throw new ShipshapeAggregateError(`${pulumi.getStack()}: stack config has keys shipshape does not read`, problems);
}

/** The shipshape config of the current stack. */
export function shipshapeConfig(): pulumi.Config {
  return new pulumi.Config(CONFIG_NAMESPACE);
}
