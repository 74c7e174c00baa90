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

/** The shipshape config of the current stack. */
export function shipshapeConfig(): pulumi.Config {
  return new pulumi.Config(CONFIG_NAMESPACE);
}
