import { App } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { Stack, synthesizeStack } from '../../lib';
import { renderFiles } from '../../lib/core/writer';
import { FLUENTD_SHUTDOWN_FLUSH_SECONDS } from '../../lib/logging';
import { buildApp } from '../../stacks/platform';
import { environments } from '../../stacks/environments';
import { addLogging } from '../../stacks/logging';
import { validateManifest } from '../support/schema';
import { findObject } from '../support/synth';

function build(name: string) {
  const environment = environments.find((e) => e.name === name)!;
  const stack = new Stack(new App(), environment.name, { environment });
  const efk = addLogging(stack);
  return { efk, result: synthesizeStack(stack) };
}

describe('addLogging (reference platform)', () => {
  for (const environment of environments) {
    it(`gives ${environment.name} an EFK stack that passes schema and policy checks`, () => {
      const { result } = build(environment.name);
      expect(result.problems).toEqual([]);
      for (const o of result.objects) validateManifest(o.manifest);
      expect([...renderFiles([result]).values()].join('\n')).not.toMatch(/changeme/i);
    });
  }

  it("keeps dev small but above Elasticsearch 8's floor: one node with Elastic's 1g heap in 2 GiB, no archive, no operator objects", () => {
    const { efk, result } = build('dev');
    expect(efk.elasticsearch.replicas).toBe(1);
    expect(efk.elasticsearch.heapMiB).toEqual({ initial: 1024, max: 1024 });
    expect(efk.elasticsearch.memoryMiB).toBe(2048);
    expect(efk.fluentd.config.outputs).toEqual(['elasticsearch']);
    expect(findObject(result, 'StatefulSet', 'elasticsearch').spec.template.spec.containers[0].env).toContainEqual({ name: 'ES_JAVA_OPTS', value: '-Xms1024m -Xmx1024m' });
    expect(efk.alerts!.prometheusRule).toBeUndefined();
    expect(result.objects.filter((o) => ['PrometheusRule', 'ServiceMonitor'].includes(o.manifest.kind))).toEqual([]);
  });

  it('labels the alert objects for kube-prometheus-stack where it runs (stage, prod)', () => {
    for (const name of ['stage', 'prod']) {
      const { result } = build(name);
      expect(findObject(result, 'PrometheusRule', 'fluentd-alerts').metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
      expect(findObject(result, 'ServiceMonitor', 'fluentd').metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    }
  });

  it("runs Elasticsearch and Kibana at the platform's critical priority where the platform has priority classes", () => {
    const app = buildApp();
    for (const name of ['stage', 'prod']) {
      const result = synthesizeStack(app.node.findChild(name) as Stack);
      const critical = findObject(result, 'PriorityClass', 'platform-critical');
      expect(findObject(result, 'StatefulSet', 'elasticsearch').spec.template.spec.priorityClassName).toBe(critical.metadata.name);
      expect(findObject(result, 'Deployment', 'kibana').spec.template.spec.priorityClassName).toBe(critical.metadata.name);
      // Above the web API, which shares their nodes.
      const high = findObject(result, 'PriorityClass', 'platform-high');
      expect(findObject(result, 'Deployment', 'web-api').spec.template.spec.priorityClassName).toBe(high.metadata.name);
      expect(critical.value).toBeGreaterThan(high.value);
    }
  });

  it('has cluster-autoscaler evict the collector before it removes a node, with time to flush', () => {
    const app = buildApp();
    for (const name of ['stage', 'prod']) {
      const result = synthesizeStack(app.node.findChild(name) as Stack);
      const args: string[] = findObject(result, 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0].command;
      expect(args).toEqual(expect.arrayContaining(['--daemonset-eviction-for-empty-nodes=true', '--daemonset-eviction-for-occupied-nodes=true']));
      const collector = findObject(result, 'DaemonSet', 'fluentd').spec.template;
      expect(collector.metadata.annotations['cluster-autoscaler.kubernetes.io/enable-ds-eviction']).toBe('true');
      // The autoscaler honours the pod's grace period up to --max-graceful-termination-sec (600 s unless set).
      const max = Number(args.find((a) => a.startsWith('--max-graceful-termination-sec='))?.split('=')[1] ?? 600);
      expect(collector.spec.terminationGracePeriodSeconds).toBeLessThanOrEqual(max);
      expect(collector.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(FLUENTD_SHUTDOWN_FLUSH_SECONDS);
    }
  });

  it('makes prod highly available with the S3 archive', () => {
    const { efk, result } = build('prod');
    expect(efk.elasticsearch.replicas).toBe(3);
    expect(efk.kibana.replicas).toBe(2);
    expect(efk.fluentd.config.outputs).toEqual(['elasticsearch', 's3']);
    expect(findObject(result, 'ConfigMap', 'fluentd-config').data['fluent.conf']).toContain('s3_bucket acme-platform-logs-prod');
    expect(result.files.map((f) => f.path)).toEqual(expect.arrayContaining(['images/fluentd/Dockerfile', 'logging/acme-platform-logs-prod-lifecycle.json', 'monitoring/fluentd-alerts.rules.yml']));
  });
});
