import { ApiObject, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Stack, exempt } from '../../lib';
import { METRICS_API_SERVICE, MetricsServer } from '../../lib/cluster';
import { findObject, objectsOfKind, synthStack } from '../support/synth';
import { expectValidAndClean } from '../support/cluster';

function autoscaledApi(stack: Stack, resources?: kplus.ContainerResources) {
  return new AntiAffinityDeployment(stack, 'api', {
    name: 'api',
    image: 'ghcr.io/acme/api:1.0.0',
    ports: [{ port: 8080 }],
    autoscaling: { minReplicas: 2, maxReplicas: 6 },
    ...(resources ? { resources } : {}),
  });
}

describe('MetricsServer', () => {
  it('renders the upstream RBAC, Service, Deployment and APIService in kube-system', () => {
    const result = synthStack((stack) => new MetricsServer(stack, 'metrics'));
    expectValidAndClean(result);
    const api = findObject(result, 'APIService', METRICS_API_SERVICE);
    expect(api.metadata.namespace).toBeUndefined();
    expect(api.spec).toMatchObject({ group: 'metrics.k8s.io', version: 'v1beta1', service: { name: 'metrics-server', namespace: 'kube-system' } });
    expect(findObject(result, 'ClusterRole', 'system:metrics-server').rules).toEqual([
      { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
    ]);
    const reader = findObject(result, 'ClusterRole', 'system:aggregated-metrics-reader');
    expect(reader.metadata.labels).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-view': 'true' });
    expect(findObject(result, 'RoleBinding', 'metrics-server-auth-reader').roleRef.name).toBe('extension-apiserver-authentication-reader');
    expect(findObject(result, 'ClusterRoleBinding', 'metrics-server:system:auth-delegator').roleRef.name).toBe('system:auth-delegator');
    const deployment = findObject(result, 'Deployment', 'metrics-server');
    expect(deployment.metadata.namespace).toBe('kube-system');
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    expect(pod.containers[0].args).toEqual(expect.arrayContaining(['--secure-port=10250', '--metric-resolution=15s', '--kubelet-use-node-status-port']));
    expect(pod.containers[0].securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(findObject(result, 'PodDisruptionBudget', 'metrics-server').spec.minAvailable).toBe(1);
    for (const o of result.objects.filter((x) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'APIService'].includes(x.manifest.kind))) {
      expect(o.manifest.metadata.namespace).toBe('kube-system');
    }
  });

  it('orders the APIService after the identities it needs and keeps it cluster-scoped', () => {
    const result = synthStack((stack) => new MetricsServer(stack, 'metrics', { replicas: 1, kubeletInsecureTls: true }));
    expectValidAndClean(result);
    const kinds = result.objects.map((o) => o.manifest.kind);
    expect(kinds.indexOf('APIService')).toBeGreaterThan(kinds.lastIndexOf('ClusterRoleBinding'));
    // Registered after the Deployment and Service that serve it.
    expect(kinds[kinds.length - 1]).toBe('APIService');
    expect(kinds.indexOf('APIService')).toBeGreaterThan(kinds.indexOf('Deployment'));
    expect(findObject(result, 'Deployment', 'metrics-server').spec.template.spec.containers[0].args).toContain('--kubelet-insecure-tls');
    expect(findObject(result, 'PodDisruptionBudget', 'metrics-server').spec.maxUnavailable).toBe(1);
  });

  it('rejects unpinned images and out-of-range settings', () => {
    expect(() => synthStack((s) => new MetricsServer(s, 'm', { image: 'registry.k8s.io/metrics-server/metrics-server' }))).toThrow(/pinned/);
    expect(() => synthStack((s) => new MetricsServer(s, 'm', { replicas: 0 }))).toThrow(/replicas/);
    expect(() => synthStack((s) => new MetricsServer(s, 'm', { metricResolution: Duration.seconds(5) }))).toThrow(/metricResolution must be a Duration of whole seconds from 10 to 300 s/);
    expect(() => synthStack((s) => new MetricsServer(s, 'm', { metricResolution: Duration.millis(15500) }))).toThrow(/metricResolution/);
  });
});

describe('policy: HPA and metrics-server come together', () => {
  it('fails synth when an HPA exists without metrics-server', () => {
    const result = synthStack((stack) => autoscaledApi(stack));
    expect(objectsOfKind(result, 'HorizontalPodAutoscaler')).toHaveLength(1);
    expect(result.problems.filter((p) => p.includes('[autoscaler-metrics]'))).toHaveLength(1);
    expect(result.problems.join('\n')).toMatch(/HorizontalPodAutoscaler test\/api .*no metrics-server/);
  });

  it('passes with metrics-server in the same output', () => {
    expectValidAndClean(
      synthStack((stack) => {
        autoscaledApi(stack);
        new MetricsServer(stack, 'metrics');
      }),
    );
  });

  it('accepts an explicit, reported exemption when the platform provides the metrics API', () => {
    const result = synthStack((stack) => {
      const api = autoscaledApi(stack);
      exempt(ApiObject.of(api.autoscaler!), 'autoscaler-metrics', 'GKE runs metrics-server itself in kube-system');
    });
    expect(result.problems).toEqual([]);
    expect(result.policy.exemptions.map((e) => e.ruleId)).toContain('autoscaler-metrics');
  });

  it('still reports an HPA target without requests through the autoscaler-target rule', () => {
    const result = synthStack((stack) => {
      autoscaledApi(stack, { memory: { request: Size.mebibytes(64), limit: Size.mebibytes(128) } });
      new MetricsServer(stack, 'metrics');
    });
    expect(result.problems.some((p) => p.includes('[autoscaler-target]') && p.includes('requests no cpu'))).toBe(true);
    expect(result.problems.some((p) => p.includes('[autoscaler-metrics]'))).toBe(false);
  });
});
