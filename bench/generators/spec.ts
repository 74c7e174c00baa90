/**
 * What the scaling benchmarks generate: N services, each one AntiAffinityDeployment
 * (ServiceAccount, Deployment, Service, PodDisruptionBudget, HPA) in each of the
 * reference platform's three environments. Plain data only, so the plain
 * cdk8s-plus-27 and kustomize variants do not load shipshape.
 */

/** Label keys and values the generated objects carry (the same as shipshape's LABELS). */
export const BENCH_LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  environment: 'shipshape.io/environment',
} as const;
export const MANAGED_BY_VALUE = 'shipshape';
/** Annotation with which the HPAs declare that the clusters' managed metrics-server serves their metrics. */
export const METRICS_EXEMPTION_ANNOTATION = 'exemptions.shipshape.io/autoscaler-metrics';
/** The generated clusters run a managed metrics-server, so the stacks do not carry one. */
export const METRICS_EXEMPTION = 'the managed cluster ships metrics-server';
/** YAML options of every written file (shipshape's YAML_OPTIONS). */
export const BENCH_YAML_OPTIONS = { lineWidth: 0, minContentWidth: 0 } as const;
export const ZONE_KEY = 'topology.kubernetes.io/zone';

/** The settings of stacks/environments.ts that the generated objects depend on. */
export interface BenchEnvironment {
  readonly name: string;
  readonly namespace: string;
  readonly kubernetesMinor: number;
  readonly zones: number;
  readonly replicas: number;
  readonly autoscaling?: { readonly minReplicas: number; readonly maxReplicas: number };
}

/** dev, stage and prod as in stacks/environments.ts (the bench test checks they agree). */
export const BENCH_ENVIRONMENTS: readonly BenchEnvironment[] = [
  { name: 'dev', namespace: 'dev', kubernetesMinor: 29, zones: 0, replicas: 1 },
  { name: 'stage', namespace: 'stage', kubernetesMinor: 29, zones: 2, replicas: 2 },
  { name: 'prod', namespace: 'prod', kubernetesMinor: 29, zones: 3, replicas: 3, autoscaling: { minReplicas: 3, maxReplicas: 10 } },
];

/** Labels of the environment's Namespace besides the managed-by and environment labels (Pod Security admission). */
export function namespaceLabels(env: BenchEnvironment): Record<string, string> {
  return { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': `v1.${env.kubernetesMinor}`, 'pod-security.kubernetes.io/warn': 'restricted' };
}

/** One generated service. */
export interface GeneratedService {
  readonly name: string;
  readonly image: string;
  readonly component: string;
  readonly port: number;
}

/** `count` services named svc-0000, svc-0001... with pinned images and one HTTP port each. */
export function generatedServices(count: number): GeneratedService[] {
  return Array.from({ length: count }, (_, i) => {
    const name = `svc-${String(i).padStart(4, '0')}`;
    return { name, image: `registry.example.com/acme/${name}:1.${i % 10}.0`, component: i % 3 === 0 ? 'worker' : 'api', port: 8080 + (i % 5) };
  });
}
