import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { KUBE_STATE_METRICS_RELEASES, KUBE_STATE_METRICS_RULES, KubeStateMetrics } from '../../lib/cluster/kube-state-metrics';
import { WorkloadAlerts } from '../../lib/cluster/workload-alerts';
import { EfkLogging, ElasticsearchExporter } from '../../lib/logging';
import { findObject, newStack, objectsOfKind, synthStack, testEnvironment } from '../support/synth';
import { expectValidAndClean, shipshapeError } from '../support/cluster';

const operator = testEnvironment({ monitoring: { prometheusOperator: true, prometheusLabels: { release: 'prometheus' } } });

describe('KubeStateMetrics', () => {
  it('renders upstream examples/standard in kube-system: read-only ClusterRole, binding, one hardened replica, headless Service', () => {
    const result = synthStack((s) => new KubeStateMetrics(s, 'ksm'));
    expectValidAndClean(result);
    const role = findObject(result, 'ClusterRole', 'kube-state-metrics');
    expect(role.rules).toEqual(KUBE_STATE_METRICS_RULES);
    // Least privilege: list/watch everywhere, create only on the two review APIs; never get (Secret data), never a wildcard.
    for (const rule of role.rules) {
      const reviews = ['tokenreviews', 'subjectaccessreviews'].includes(rule.resources[0]);
      expect(rule.verbs).toEqual(reviews ? ['create'] : ['list', 'watch']);
      expect([...rule.apiGroups, ...rule.resources]).not.toContain('*');
    }
    // Listing Secrets returns their data: neither granted nor collected.
    expect(role.rules.flatMap((r: any) => r.resources)).not.toContain('secrets');
    // What the alerts read is covered.
    const granted = (group: string, resource: string) => role.rules.some((r: any) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes('watch'));
    for (const [group, resource] of [
      ['apps', 'deployments'],
      ['autoscaling', 'horizontalpodautoscalers'],
      ['policy', 'poddisruptionbudgets'],
      ['batch', 'cronjobs'],
      ['batch', 'jobs'],
    ]) {
      expect(granted(group, resource), `${group}/${resource}`).toBe(true);
    }
    const binding = findObject(result, 'ClusterRoleBinding', 'kube-state-metrics');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kube-state-metrics' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'kube-state-metrics', namespace: 'kube-system' }]);

    const deployment = findObject(result, 'Deployment', 'kube-state-metrics');
    expect(deployment.metadata.namespace).toBe('kube-system');
    expect(deployment.spec.replicas).toBe(1);
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe('kube-state-metrics');
    const [container] = pod.containers;
    expect(container.image).toBe('registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0');
    const resources = container.args
      .find((a: string) => a.startsWith('--resources='))!
      .slice('--resources='.length)
      .split(',');
    expect(resources).toEqual(expect.arrayContaining(['deployments', 'horizontalpodautoscalers', 'poddisruptionbudgets', 'cronjobs', 'jobs']));
    expect(resources).not.toContain('secrets');
    // Every collector it runs can list and watch its kind.
    for (const r of resources)
      expect(
        role.rules.some((rule: any) => rule.resources.includes(r) && rule.verbs.includes('watch')),
        r,
      ).toBe(true);
    expect(container.ports).toEqual([
      { name: 'http-metrics', containerPort: 8080, protocol: 'TCP' },
      { name: 'telemetry', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65534, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    // The single replica is a declared exception, visible in the output.
    expect(result.policy.exemptions.map((e) => e.ruleId)).toEqual(['single-replica']);

    const service = findObject(result, 'Service', 'kube-state-metrics');
    expect(service.spec.clusterIP).toBe('None');
    expect(service.spec.ports.map((p: any) => [p.name, p.port])).toEqual([
      ['http-metrics', 8080],
      ['telemetry', 8081],
    ]);
    expect(Object.entries(service.spec.selector).every(([k, v]) => pod.containers && deployment.spec.template.metadata.labels[k] === v)).toBe(true);
    // No Prometheus Operator in the environment: no ServiceMonitor, whose CRD would be missing.
    expect(objectsOfKind(result, 'ServiceMonitor')).toEqual([]);
  });

  it("pins the release built for the cluster's Kubernetes minor, and refuses a minor it does not know", () => {
    for (const [minor, release] of Object.entries(KUBE_STATE_METRICS_RELEASES)) {
      const result = synthStack((s) => new KubeStateMetrics(s, 'ksm'), testEnvironment({ kubernetesVersion: `1.${minor}` }));
      expect(findObject(result, 'Deployment', 'kube-state-metrics').spec.template.spec.containers[0].image).toBe(`registry.k8s.io/kube-state-metrics/kube-state-metrics:${release}`);
    }
    expect(Object.keys(KUBE_STATE_METRICS_RELEASES).map(Number)).toEqual([27, 28, 29, 30, 31, 32]);
    const err = shipshapeError(() => synthStack((s) => new KubeStateMetrics(s, 'ksm'), testEnvironment({ kubernetesVersion: '1.40' })));
    expect(err.path).toContain('ksm');
    expect(err.message).toContain('no kube-state-metrics release is listed for Kubernetes 1.40');
    expect(err.fix).toContain('set image');
    // An explicit image serves any minor; it must be pinned.
    const pinned = synthStack((s) => new KubeStateMetrics(s, 'ksm', { image: 'registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0' }), testEnvironment({ kubernetesVersion: '1.40' }));
    expect(pinned.problems).toEqual([]);
    expect(shipshapeError(() => synthStack((s) => new KubeStateMetrics(s, 'ksm', { image: 'registry.k8s.io/kube-state-metrics/kube-state-metrics:latest' }))).message).toContain(
      'image must be pinned',
    );
  });

  it("adds a ServiceMonitor that keeps the series' own namespace labels where the Prometheus Operator runs", () => {
    const result = synthStack((s) => new KubeStateMetrics(s, 'ksm', { priorityClassName: 'platform-critical' }), operator);
    expectValidAndClean(result);
    const monitor = findObject(result, 'ServiceMonitor', 'kube-state-metrics');
    expect(monitor.metadata.namespace).toBe('kube-system');
    expect(monitor.metadata.labels).toMatchObject({ release: 'prometheus', 'app.kubernetes.io/name': 'kube-state-metrics' });
    expect(monitor.spec.endpoints).toEqual([{ port: 'http-metrics', path: '/metrics', interval: '30s', honorLabels: true }]);
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ['kube-system'] });
    const service = findObject(result, 'Service', 'kube-state-metrics');
    expect(Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => service.metadata.labels![k] === v)).toBe(true);
    expect(findObject(result, 'Deployment', 'kube-state-metrics').spec.template.spec.priorityClassName).toBe('platform-critical');
  });

  it('is refused in a Docker/Swarm-only environment', () => {
    const err = shipshapeError(() => synthStack((s) => new KubeStateMetrics(s, 'ksm'), testEnvironment({ kubernetesVersion: undefined, zones: [], nodeGroups: [] })));
    expect(err.message).toContain('has no Kubernetes cluster');
  });
});

describe('WorkloadAlerts and ElasticsearchExporter (the consumers of kube-state-metrics and exporter series)', () => {
  it('write the plain rules file always and the PrometheusRule only where the operator runs', () => {
    const plain = synthStack((s) => new WorkloadAlerts(s, 'alerts'));
    expect(plain.problems).toEqual([]);
    expect(objectsOfKind(plain, 'PrometheusRule')).toEqual([]);
    expect(plain.files.map((f) => f.path)).toContain('monitoring/workload-alerts.rules.yml');
    const withOperator = synthStack((s) => new WorkloadAlerts(s, 'alerts'), operator);
    expect(findObject(withOperator, 'PrometheusRule', 'workload-alerts').metadata.labels).toMatchObject({ release: 'prometheus' });
  });

  it('refuse a bad job name, an empty namespace list, waits out of range and a Swarm-only environment', () => {
    const stack = () => newStack();
    expect(shipshapeError(() => new WorkloadAlerts(stack(), 'a', { kubeStateMetricsJob: 'ksm"} or vector(1) #' })).message).toContain('Prometheus job name');
    expect(shipshapeError(() => new WorkloadAlerts(stack(), 'a', { namespaces: [] })).message).toContain('no workload would be watched');
    expect(shipshapeError(() => new WorkloadAlerts(stack(), 'a', { autoscalerMaxedFor: Duration.seconds(30) })).message).toContain('autoscalerMaxedFor must be a Duration of whole seconds from 60');
    expect(shipshapeError(() => new WorkloadAlerts(stack(), 'a', { elasticsearch: { job: '' } })).message).toContain('elasticsearch.job');
    expect(shipshapeError(() => new WorkloadAlerts(newStack(testEnvironment({ kubernetesVersion: undefined, zones: [], nodeGroups: [] })), 'a')).message).toContain('has no Kubernetes cluster');
  });

  it('run the exporter with the password from the credentials Secret, let through the Elasticsearch NetworkPolicy', () => {
    let exporter!: ElasticsearchExporter;
    const result = synthStack((s) => {
      const efk = new EfkLogging(s, 'logging', {});
      exporter = new ElasticsearchExporter(s, 'exporter', { elasticsearch: efk.elasticsearch });
    });
    expectValidAndClean(result);
    expect(exporter.job).toBe('elasticsearch-exporter');
    const container = findObject(result, 'Deployment', 'elasticsearch-exporter').spec.template.spec.containers[0];
    expect(container.args).toEqual(expect.arrayContaining(['--es.uri=http://elasticsearch.logging.svc:9200', '--es.all']));
    expect(container.env).toEqual([
      { name: 'ES_USERNAME', value: 'elastic' },
      { name: 'ES_PASSWORD', valueFrom: { secretKeyRef: { name: 'elasticsearch-credentials', key: 'elastic-password' } } },
    ]);
    const froms = findObject(result, 'NetworkPolicy', 'elasticsearch').spec.ingress.flatMap((r: any) => r.from.map((f: any) => f.podSelector.matchLabels['app.kubernetes.io/name']));
    expect(froms).toContain('elasticsearch-exporter');
    expect(objectsOfKind(result, 'ServiceMonitor').map((m) => m.metadata.name)).toEqual([]);
    const bad = shipshapeError(() => {
      const s = newStack();
      new ElasticsearchExporter(s, 'exporter', { elasticsearch: new EfkLogging(s, 'logging', {}).elasticsearch, credentials: { username: 'monitor', passwordKey: 'no spaces allowed' } });
    });
    expect(bad.message).toContain('credentials.passwordKey');
    // ".." names a directory when the Secret is mounted; the API server refuses it as a key.
    const dots = shipshapeError(() => {
      const s = newStack();
      new ElasticsearchExporter(s, 'exporter', { elasticsearch: new EfkLogging(s, 'logging', {}).elasticsearch, credentials: { username: 'monitor', passwordKey: '..' } });
    });
    expect(dots.message).toMatch(/credentials.passwordKey must be a key of the credentials Secret: a key must not be "." or ".."/);
  });
});

describe('KubeStateMetrics image pull Secrets', () => {
  it('pulls the image with the named Secrets, and writes none by default', () => {
    const result = synthStack((s) => new KubeStateMetrics(s, 'ksm', { imagePullSecrets: ['mirror-login'] }));
    expectValidAndClean(result);
    expect(findObject(result, 'Deployment', 'kube-state-metrics').spec.template.spec.imagePullSecrets).toEqual([{ name: 'mirror-login' }]);
    expect(
      findObject(
        synthStack((s) => new KubeStateMetrics(s, 'ksm')),
        'Deployment',
        'kube-state-metrics',
      ).spec.template.spec.imagePullSecrets,
    ).toBeUndefined();
  });

  it('refuses a credential in place of a Secret name without echoing it', () => {
    const token = 'ghp_0123456789abcdefghijklmnopqrstuvwxyz';
    const e = shipshapeError(() => new KubeStateMetrics(newStack(), 'ksm', { imagePullSecrets: [token] }));
    expect(e.message).toContain('test/ksm: imagePullSecrets[0] must be the name of a Secret');
    expect(e.message).not.toContain(token);
  });
});
