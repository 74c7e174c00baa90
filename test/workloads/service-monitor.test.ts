import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Environment } from '../../lib';
import { ServiceMonitor } from '../../lib/workloads/service-monitor';
import { shipshapeError } from '../support/errors';
import { validateManifest } from '../support/schema';
import { findObject, newStack, objectsOfKind, synthStack, testEnvironment } from '../support/synth';

const operator = testEnvironment({ monitoring: { prometheusOperator: true } });
const IMAGE = 'ghcr.io/acme/api:1.0.0';

describe('ServiceMonitor', () => {
  it("selects the Services by label in one namespace and carries the environment's operator labels", () => {
    const env = testEnvironment({ monitoring: { prometheusLabels: { release: 'monitoring', team: 'platform' } } });
    const result = synthStack((s) => new ServiceMonitor(s, 'sm', { name: 'api', selector: { 'app.kubernetes.io/name': 'api' }, port: 'metrics' }), env);
    expect(result.problems).toEqual([]);
    const monitor = findObject(result, 'ServiceMonitor', 'api');
    validateManifest(monitor);
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata).toMatchObject({ namespace: 'test', labels: { release: 'monitoring', team: 'platform' } });
    expect(monitor.spec).toEqual({
      selector: { matchLabels: { 'app.kubernetes.io/name': 'api' } },
      namespaceSelector: { matchNames: ['test'] },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
    });
  });

  it("defaults the operator labels to kube-prometheus-stack's release label, and explicit labels win", () => {
    const result = synthStack((s) => {
      new ServiceMonitor(s, 'a', { name: 'a', selector: { app: 'a' }, port: 'http' });
      new ServiceMonitor(s, 'b', { name: 'b', selector: { app: 'b' }, port: 'http', prometheusLabels: { prometheus: 'apps' } });
    }, operator);
    expect(findObject(result, 'ServiceMonitor', 'a').metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    const b = findObject(result, 'ServiceMonitor', 'b').metadata.labels!;
    expect(b).toMatchObject({ prometheus: 'apps' });
    expect(b.release).toBeUndefined();
  });

  it('is refused without a Prometheus Operator, with an empty selector, a bad path or port name', () => {
    const noOperator = shipshapeError(() => new ServiceMonitor(newStack(), 'sm', { name: 'api', selector: { app: 'api' }, port: 'metrics' }));
    expect(noOperator.path).toContain('sm');
    expect(noOperator.message).toContain('runs no Prometheus Operator');
    expect(noOperator.fix).toContain('monitoring: { prometheusOperator: true }');
    expect(shipshapeError(() => new ServiceMonitor(newStack(operator), 'sm', { name: 'api', selector: {}, port: 'metrics' })).message).toContain('every Service of the namespace');
    expect(shipshapeError(() => new ServiceMonitor(newStack(operator), 'sm', { name: 'api', selector: { app: 'api' }, port: 'metrics', path: 'metrics' })).message).toContain('absolute URL path');
    expect(shipshapeError(() => new ServiceMonitor(newStack(operator), 'sm', { name: 'api', selector: { app: 'api' }, port: 'Metrics_Port' })).path).toContain('sm');
  });

  it('takes any whole-second interval from 10 s to 1 h and refuses the rest', () => {
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 3600 }), (seconds) => {
        const sm = new ServiceMonitor(newStack(operator), 'sm', { name: 'api', selector: { app: 'api' }, port: 'metrics', interval: Duration.seconds(seconds) });
        expect(sm.interval).toBe(`${seconds}s`);
      }),
      { numRuns: 40 },
    );
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 3601, max: 100_000 })), (seconds) => {
        const err = shipshapeError(() => new ServiceMonitor(newStack(operator), 'sm', { name: 'api', selector: { app: 'api' }, port: 'metrics', interval: Duration.seconds(seconds) }));
        expect(err.message).toContain('interval must be a Duration of whole seconds from 10 to 3600 s');
      }),
      { numRuns: 40 },
    );
  });
});

describe('AntiAffinityDeployment metrics', () => {
  it('adds a named metrics port to the container and the Service, and a ServiceMonitor selecting the Service', () => {
    let api!: AntiAffinityDeployment;
    const result = synthStack((s) => {
      api = new AntiAffinityDeployment(s, 'api', { name: 'api', image: IMAGE, ports: [{ port: 8080 }], metrics: { port: 9090, interval: Duration.seconds(15) } });
    }, operator);
    expect(result.problems).toEqual([]);
    const container = findObject(result, 'Deployment', 'api').spec.template.spec.containers[0];
    expect(container.ports).toEqual([
      { containerPort: 8080, name: 'http', protocol: 'TCP' },
      { containerPort: 9090, name: 'metrics', protocol: 'TCP' },
    ]);
    const service = findObject(result, 'Service', 'api');
    expect(service.spec.ports).toContainEqual({ name: 'metrics', port: 9090, targetPort: 9090, protocol: 'TCP' });
    const monitor = findObject(result, 'ServiceMonitor', 'api');
    validateManifest(monitor);
    expect(api.serviceMonitor?.apiObject.name).toBe('api');
    expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
    expect(Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => service.metadata.labels![k] === v)).toBe(true);
    expect(monitor.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack', 'app.kubernetes.io/name': 'api' });
  });

  it('reuses a declared port that serves the metrics, keeping its name', () => {
    const result = synthStack((s) => {
      new AntiAffinityDeployment(s, 'api', { name: 'api', image: IMAGE, ports: [{ port: 8080 }], metrics: { port: 8080, path: '/internal/metrics' } });
    }, operator);
    expect(findObject(result, 'Deployment', 'api').spec.template.spec.containers[0].ports).toHaveLength(1);
    expect(findObject(result, 'ServiceMonitor', 'api').spec.endpoints[0]).toMatchObject({ port: 'http', path: '/internal/metrics' });
  });

  it('annotates the pods for a Prometheus without the operator, and writes no ServiceMonitor', () => {
    const result = synthStack((s) => {
      new AntiAffinityDeployment(s, 'api', { name: 'api', image: IMAGE, ports: [{ port: 8080 }], metrics: { port: 9090 } });
    });
    expect(result.problems).toEqual([]);
    expect(objectsOfKind(result, 'ServiceMonitor')).toEqual([]);
    expect(findObject(result, 'Deployment', 'api').spec.template.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9090',
      'prometheus.io/path': '/metrics',
    });
  });

  it('refuses metrics on a UDP port, and a ServiceMonitor without the Service it selects', () => {
    const probe = kplus.Probe.fromCommand(['/bin/healthcheck']);
    const udp = shipshapeError(
      () => new AntiAffinityDeployment(newStack(operator), 'api', { name: 'api', image: IMAGE, ports: [{ port: 5353, protocol: 'UDP' }], liveness: probe, readiness: probe, metrics: { port: 5353 } }),
    );
    expect(udp.message).toContain('must be a TCP port');
    const noService = shipshapeError(() => new AntiAffinityDeployment(newStack(operator), 'api', { name: 'api', image: IMAGE, ports: [{ port: 8080 }], service: false, metrics: { port: 9090 } }));
    expect(noService.message).toContain('service is false');
    expect(noService.path).toContain('api');
  });

  it('leaves a workload without metrics unchanged', () => {
    const env = new Environment({ name: 'plain', kubernetesVersion: '1.29', monitoring: { prometheusOperator: true } });
    const result = synthStack((s) => new AntiAffinityDeployment(s, 'api', { name: 'api', image: IMAGE, ports: [{ port: 8080 }], replicas: 1 }), env);
    expect(objectsOfKind(result, 'ServiceMonitor')).toEqual([]);
    expect(findObject(result, 'Deployment', 'api').spec.template.metadata.annotations).toBeUndefined();
  });
});

describe('Environment monitoring', () => {
  it('resolves the operator and its labels, and refuses contradictions', () => {
    expect(new Environment({ name: 'a', kubernetesVersion: '1.29' }).monitoring).toEqual({ prometheusOperator: false });
    expect(new Environment({ name: 'a', kubernetesVersion: '1.29', monitoring: { prometheusOperator: true } }).monitoring).toEqual({
      prometheusOperator: true,
      prometheusLabels: { release: 'kube-prometheus-stack' },
    });
    expect(new Environment({ name: 'a', kubernetesVersion: '1.29', monitoring: { prometheusLabels: { prometheus: 'k8s' } } }).monitoring).toEqual({
      prometheusOperator: true,
      prometheusLabels: { prometheus: 'k8s' },
    });
    const off = shipshapeError(() => new Environment({ name: 'a', kubernetesVersion: '1.29', monitoring: { prometheusOperator: false, prometheusLabels: { release: 'x' } } }));
    expect(off.path).toBe('environment:a');
    expect(off.message).toContain('prometheusOperator is false');
    expect(shipshapeError(() => new Environment({ name: 'a', kubernetesVersion: '1.29', monitoring: { prometheusLabels: { 'bad key!': 'x' } } })).message).toContain('invalid label key');
    expect(shipshapeError(() => new Environment({ name: 'swarm', monitoring: { prometheusOperator: true } })).message).toContain('without a Kubernetes cluster');
  });

  it('labels the existing alert objects (FluentdAlerts, EtcdBackup) unless their own options say otherwise', async () => {
    const { EfkLogging } = await import('../../lib/logging');
    const { EtcdBackup } = await import('../../lib/cluster');
    const env = testEnvironment({ controlPlane: { kind: 'kubeadm' }, monitoring: { prometheusLabels: { release: 'monitoring' } } });
    const result = synthStack((s) => {
      new EfkLogging(s, 'logging', {});
      new EtcdBackup(s, 'etcd');
    }, env);
    expect(findObject(result, 'PrometheusRule', 'fluentd-alerts').metadata.labels).toMatchObject({ release: 'monitoring' });
    expect(findObject(result, 'ServiceMonitor', 'fluentd').metadata.labels).toMatchObject({ release: 'monitoring' });
    expect(findObject(result, 'PrometheusRule', 'etcd-backup-alerts').metadata.labels).toMatchObject({ release: 'monitoring' });
    const optedOut = synthStack((s) => new EfkLogging(s, 'logging', { alerts: { prometheusOperator: false } }), env);
    expect(objectsOfKind(optedOut, 'PrometheusRule')).toEqual([]);
  });
});
