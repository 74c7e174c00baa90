import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readYaml, runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/observability', () => {
  it('runs and writes the ServiceMonitors, kube-state-metrics, the exporter and the workload alerts, all with the release label', () => {
    const log = runExample('observability', out);
    expect(log).toMatch(/^stage: \d+ objects, \d+ warnings, \d+ exemptions/m);
    expect(log).toContain('web-api scraped every 15s on port metrics; kube-state-metrics registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0');
    expect(log).toContain('WorkloadAutoscalerAtMaximum, WorkloadDisruptionBlocked');
    const k = path.join(out, 'stage', 'kubernetes');
    const monitors = fs
      .readdirSync(k)
      .filter((f) => f.startsWith('servicemonitor-'))
      .sort();
    expect(monitors).toEqual(['servicemonitor-elasticsearch-exporter.yaml', 'servicemonitor-fluentd.yaml', 'servicemonitor-kube-state-metrics.yaml', 'servicemonitor-web-api.yaml']);
    const rules = fs
      .readdirSync(k)
      .filter((f) => f.startsWith('prometheusrule-'))
      .sort();
    expect(rules).toEqual(['prometheusrule-fluentd-alerts.yaml', 'prometheusrule-workload-alerts.yaml']);
    // The environment's monitoring setting reaches every operator object, the collector's included.
    for (const f of [...monitors, ...rules]) expect(readYaml(k, f).metadata.labels.release, f).toBe('kube-prometheus-stack');
    expect(readYaml(k, 'servicemonitor-web-api.yaml').spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
    expect(readYaml(k, 'service-web-api.yaml').spec.ports.map((p: { name: string }) => p.name)).toEqual(['http', 'metrics']);
    const workloadRules = readYaml(k, 'prometheusrule-workload-alerts.yaml');
    expect(readYaml(out, 'stage', 'monitoring', 'workload-alerts.rules.yml')).toEqual({ groups: workloadRules.spec.groups });
    expect(workloadRules.spec.groups.map((g: { name: string }) => g.name)).toEqual(['workload-alerts.rules', 'workload-alerts.elasticsearch.rules']);
    // The exporter reads the password from the credentials Secret and is let through Elasticsearch's NetworkPolicy.
    const exporter = readYaml(k, 'deployment-elasticsearch-exporter.yaml').spec.template.spec.containers[0];
    expect(exporter.env).toContainEqual({ name: 'ES_PASSWORD', valueFrom: { secretKeyRef: { name: 'elasticsearch-credentials', key: 'elastic-password' } } });
    const policy = readYaml(k, 'networkpolicy-elasticsearch.yaml');
    expect(JSON.stringify(policy.spec.ingress)).toContain('"app.kubernetes.io/name":"elasticsearch-exporter"');
  });
});
