import { Manifest } from '../../lib';

// Schemas of custom resources the library emits, by apiVersion.
const CUSTOM_RESOURCE_MODELS: Record<string, string> = {
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  'argoproj.io/v1alpha1': '@kubernetes-models/argo-cd/argoproj.io/v1alpha1',
};

/** Module that holds the kubernetes-models class of an apiVersion/kind. */
export function schemaModule(apiVersion: string, kind: string): string {
  const custom = CUSTOM_RESOURCE_MODELS[apiVersion];
  if (custom) return `${custom}/${kind}`;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/v1/${kind}`;
}

/**
 * Validates a manifest against the Kubernetes OpenAPI schema (kubernetes-models).
 * Throws when it is invalid, and when no schema is known for its kind: an
 * unknown kind must be added here, never skipped.
 */
export function validateManifest(m: Manifest): void {
  const module = schemaModule(m.apiVersion, m.kind);
  let Model: new (data: unknown) => { validate(): void };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Model = require(module)[m.kind];
  } catch {
    throw new Error(`no schema for ${m.apiVersion} ${m.kind} (looked in ${module}); add its kubernetes-models package to test/support/schema.ts`);
  }
  try {
    new Model(m).validate();
  } catch (e) {
    throw new Error(`${m.kind} ${m.metadata.name}: ${(e as Error).message}`);
  }
}
