import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertDnsLabel } from '../core/names';
import { configMapKeyProblem } from '../core/validate';
import type { EnvFromSource, EnvSource, WorkloadPort } from './anti-affinity-deployment';

/** Liveness and readiness probes: the given ones, else a TCP check of the first TCP port. */
export function resolveProbes(
  scope: Construct,
  given: { readonly liveness?: kplus.Probe; readonly readiness?: kplus.Probe },
  ports: Required<WorkloadPort>[],
): { liveness: kplus.Probe; readiness: kplus.Probe } {
  const tcpPort = ports.find((p) => p.protocol === 'TCP');
  const fallback = tcpPort ? kplus.Probe.fromTcpSocket({ port: tcpPort.port }) : undefined;
  const liveness = given.liveness ?? fallback;
  const readiness = given.readiness ?? fallback;
  if (!liveness || !readiness) {
    throw new ShipshapeError(scope, {
      problem: 'the container has no TCP port to check, so liveness and readiness probes must be given',
      value: { liveness: given.liveness !== undefined, readiness: given.readiness !== undefined },
      fix: 'set liveness and readiness, e.g. kplus.Probe.fromCommand(["/bin/healthcheck"])',
    });
  }
  return { liveness, readiness };
}

function configMap(scope: Construct, ref: string | kplus.IConfigMap, id: string): kplus.IConfigMap {
  return typeof ref === 'string' ? kplus.ConfigMap.fromConfigMapName(scope, id, assertDnsLabel(scope, 'configMap', ref)) : ref;
}

function secret(scope: Construct, ref: string | kplus.ISecret, id: string): kplus.ISecret {
  return typeof ref === 'string' ? kplus.Secret.fromSecretName(scope, id, assertDnsLabel(scope, 'secret', ref)) : ref;
}

/** Environment variables: plain values, or keys of ConfigMaps and Secrets checked as the API server checks them. */
export function resolveEnv(scope: Construct, env: Record<string, EnvSource>): Record<string, kplus.EnvValue> {
  const out: Record<string, kplus.EnvValue> = {};
  for (const [key, source] of Object.entries(env)) {
    if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(key)) {
      throw new ShipshapeError(scope, { problem: 'an environment variable name must be a C identifier (letters, digits, _, -, .)', value: key, fix: 'rename the variable' });
    }
    if (typeof source === 'string') {
      out[key] = kplus.EnvValue.fromValue(source);
      continue;
    }
    // The API server checks a referenced key as it checks the keys of the ConfigMap or Secret itself.
    const keyProblem = configMapKeyProblem(source.key);
    if (keyProblem)
      throw new ShipshapeError(scope, {
        problem: `env.${key} references an invalid ${'configMap' in source ? 'ConfigMap' : 'Secret'} key: ${keyProblem}`,
        value: source.key,
        fix: 'name the key as it is in the ConfigMap or Secret, e.g. "password" or "app.properties"',
      });
    if ('configMap' in source) out[key] = kplus.EnvValue.fromConfigMap(configMap(scope, source.configMap, `env-${key}`), source.key, { optional: source.optional });
    else out[key] = kplus.EnvValue.fromSecretValue({ secret: secret(scope, source.secret, `env-${key}`), key: source.key }, { optional: source.optional });
  }
  return out;
}

/** ConfigMaps and Secrets whose keys all become environment variables. */
export function resolveEnvFrom(scope: Construct, sources: EnvFromSource[]): kplus.EnvFrom[] {
  return sources.map((source, i) =>
    'configMap' in source ? kplus.Env.fromConfigMap(configMap(scope, source.configMap, `env-from-${i}`)) : kplus.Env.fromSecret(secret(scope, source.secret, `env-from-${i}`)),
  );
}
