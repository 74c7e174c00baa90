import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import {
  BENCH_ENVIRONMENTS,
  BENCH_LABELS as LABELS,
  BENCH_YAML_OPTIONS as YAML_OPTIONS,
  MANAGED_BY_VALUE as MANAGED_BY,
  METRICS_EXEMPTION,
  METRICS_EXEMPTION_ANNOTATION,
  ZONE_KEY,
  generatedServices,
  namespaceLabels,
} from './spec';

/**
 * A kustomize layout rendering the same three environments as {@link buildShipshapeScaleApp}:
 * `base/` holds every service's ServiceAccount, Deployment and Service once; each
 * `overlays/<env>/` sets the namespace and environment labels, patches what differs
 * (replicas, zone spread) with one patch for every Deployment, and adds its own PDBs and HPAs.
 * Returns the overlay directories.
 */
export function writeKustomizeLayout(count: number, root: string): Record<string, string> {
  fs.rmSync(root, { recursive: true, force: true });
  const services = generatedServices(count);
  const base = path.join(root, 'base');
  fs.mkdirSync(base, { recursive: true });
  const baseFiles: string[] = [];
  for (const s of services) {
    const selector = { [LABELS.name]: s.name };
    const labels = { ...selector, [LABELS.component]: s.component, [LABELS.managedBy]: MANAGED_BY };
    const docs = [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { labels, name: s.name }, automountServiceAccountToken: false },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { labels, name: s.name },
        spec: {
          minReadySeconds: 0,
          progressDeadlineSeconds: 600,
          revisionHistoryLimit: 5,
          selector: { matchLabels: selector },
          strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 }, type: 'RollingUpdate' },
          template: {
            metadata: { labels },
            spec: {
              affinity: {
                podAntiAffinity: {
                  preferredDuringSchedulingIgnoredDuringExecution: [{ podAffinityTerm: { labelSelector: { matchLabels: selector }, topologyKey: 'kubernetes.io/hostname' }, weight: 100 }],
                },
              },
              automountServiceAccountToken: false,
              containers: [
                {
                  image: s.image,
                  imagePullPolicy: 'IfNotPresent',
                  livenessProbe: { failureThreshold: 3, tcpSocket: { port: s.port } },
                  name: s.name,
                  ports: [{ containerPort: s.port, name: 'http', protocol: 'TCP' }],
                  readinessProbe: { failureThreshold: 3, tcpSocket: { port: s.port } },
                  resources: { limits: { memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
                  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: true },
                  volumeMounts: [{ mountPath: '/tmp', name: 'writable-0' }],
                },
              ],
              dnsPolicy: 'ClusterFirst',
              hostNetwork: false,
              restartPolicy: 'Always',
              securityContext: { fsGroupChangePolicy: 'Always', runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
              serviceAccountName: s.name,
              setHostnameAsFQDN: false,
              terminationGracePeriodSeconds: 30,
              topologySpreadConstraints: [{ labelSelector: { matchLabels: selector }, matchLabelKeys: ['pod-template-hash'], maxSkew: 1, topologyKey: ZONE_KEY, whenUnsatisfiable: 'ScheduleAnyway' }],
              volumes: [{ emptyDir: {}, name: 'writable-0' }],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { labels, name: s.name },
        spec: { externalIPs: [], ports: [{ name: 'http', port: s.port, protocol: 'TCP', targetPort: s.port }], selector, type: 'ClusterIP' },
      },
    ];
    const file = `${s.name}.yaml`;
    fs.writeFileSync(path.join(base, file), docs.map((d) => stringify(d, YAML_OPTIONS)).join('---\n'));
    baseFiles.push(file);
  }
  fs.writeFileSync(path.join(base, 'kustomization.yaml'), stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: baseFiles }, YAML_OPTIONS));

  const overlays: Record<string, string> = {};
  for (const env of BENCH_ENVIRONMENTS) {
    const dir = path.join(root, 'overlays', env.name);
    const workloads = path.join(dir, 'workloads');
    fs.mkdirSync(workloads, { recursive: true });
    // The Namespace sits outside the workloads' kustomization so the instance label (a selector label) stays off it.
    fs.writeFileSync(
      path.join(dir, 'kustomization.yaml'),
      stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: ['namespace.yaml', 'workloads'] }, YAML_OPTIONS),
    );
    const resources = ['../../../base'];
    fs.writeFileSync(
      path.join(dir, 'namespace.yaml'),
      stringify(
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { labels: { ...namespaceLabels(env), [LABELS.managedBy]: MANAGED_BY, [LABELS.environment]: env.name }, name: env.namespace },
          spec: {},
        },
        YAML_OPTIONS,
      ),
    );
    const deploymentPatch: unknown[] = [];
    const autoscaling = env.autoscaling;
    if (!autoscaling) deploymentPatch.push({ op: 'add', path: '/spec/replicas', value: env.replicas });
    const extra: unknown[] = [];
    const max = autoscaling ? autoscaling.maxReplicas : env.replicas;
    for (const s of services) {
      const selector = { [LABELS.name]: s.name, [LABELS.instance]: env.name };
      const labels = { [LABELS.name]: s.name, [LABELS.component]: s.component, [LABELS.managedBy]: MANAGED_BY };
      if (autoscaling) {
        extra.push({
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { annotations: { [METRICS_EXEMPTION_ANNOTATION]: METRICS_EXEMPTION }, labels, name: s.name },
          spec: {
            behavior: {
              scaleDown: { policies: [{ periodSeconds: 60, type: 'Percent', value: 50 }], selectPolicy: 'Max', stabilizationWindowSeconds: 300 },
              scaleUp: {
                policies: [
                  { periodSeconds: 60, type: 'Pods', value: 4 },
                  { periodSeconds: 60, type: 'Percent', value: 200 },
                ],
                selectPolicy: 'Max',
                stabilizationWindowSeconds: 0,
              },
            },
            maxReplicas: autoscaling.maxReplicas,
            metrics: [{ resource: { name: 'cpu', target: { averageUtilization: 40, type: 'Utilization' } }, type: 'Resource' }],
            minReplicas: autoscaling.minReplicas,
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: s.name },
          },
        });
      }
      if (max >= 2) {
        extra.push({
          apiVersion: 'policy/v1',
          kind: 'PodDisruptionBudget',
          metadata: { labels, name: s.name },
          spec: {
            maxUnavailable: 1,
            selector: { matchLabels: { [LABELS.name]: selector[LABELS.name] } },
            unhealthyPodEvictionPolicy: 'AlwaysAllow',
          },
        });
      }
    }
    if (extra.length > 0) {
      fs.writeFileSync(path.join(workloads, 'per-environment.yaml'), extra.map((d) => stringify(d, YAML_OPTIONS)).join('---\n'));
      resources.push('per-environment.yaml');
    }
    const patches: unknown[] = [];
    // The base spreads every Deployment over zones; an environment with fewer than two zones drops that with one patch.
    if (env.zones < 2) deploymentPatch.push({ op: 'remove', path: '/spec/template/spec/topologySpreadConstraints' });
    if (deploymentPatch.length > 0) patches.push({ target: { kind: 'Deployment' }, patch: stringify(deploymentPatch, YAML_OPTIONS) });
    fs.writeFileSync(
      path.join(workloads, 'kustomization.yaml'),
      stringify(
        {
          apiVersion: 'kustomize.config.k8s.io/v1beta1',
          kind: 'Kustomization',
          namespace: env.namespace,
          resources,
          labels: [
            // includeSelectors covers selectors, templates and affinity terms but not topologySpreadConstraints: named here.
            {
              pairs: { [LABELS.instance]: env.name },
              includeSelectors: true,
              includeTemplates: true,
              fields: [{ kind: 'Deployment', path: 'spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels', create: false }],
            },
            { pairs: { [LABELS.environment]: env.name }, includeSelectors: false, includeTemplates: true },
          ],
          ...(patches.length > 0 ? { patches } : {}),
        },
        YAML_OPTIONS,
      ),
    );
    overlays[env.name] = dir;
  }
  return overlays;
}
