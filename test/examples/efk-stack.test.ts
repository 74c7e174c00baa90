import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readYaml, runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/efk-stack', () => {
  it('runs and writes dev and prod logging', () => {
    const log = runExample('efk-stack', out);
    // dev runs no Prometheus Operator: no PrometheusRule or ServiceMonitor, only the plain rules file.
    expect(log).toMatch(/^dev: 16 objects, 2 warnings, 3 exemptions/m);
    expect(log).toMatch(/^prod: 19 objects, 0 warnings, 3 exemptions/m);
    expect(log).toContain('prod: Fluentd (cri parser) → http://elasticsearch.logging.svc:9200 and S3; Kibana at http://kibana.logging.svc:5601');

    const dev = readYaml(out, 'dev/kubernetes/statefulset-elasticsearch.yaml');
    expect(dev.spec.template.spec.containers[0].env).toContainEqual({ name: 'ES_JAVA_OPTS', value: '-Xms1024m -Xmx1024m' });
    expect(dev.spec.template.spec.containers[0].resources.limits.memory).toBe('2048Mi');
    expect(fs.existsSync(path.join(out, 'dev/monitoring/fluentd-alerts.rules.yml'))).toBe(true);
    expect(fs.readdirSync(path.join(out, 'dev/kubernetes')).filter((f) => /prometheusrule|servicemonitor/i.test(f))).toEqual([]);
    expect(readYaml(out, 'prod/kubernetes/servicemonitor-fluentd.yaml').metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(readYaml(out, 'prod/kubernetes/configmap-fluentd-config.yaml').data['fluent.conf']).toContain('@type copy');
    expect(fs.readFileSync(path.join(out, 'prod/images/fluentd/Dockerfile'), 'utf8')).toContain('fluent-plugin-s3');
    expect(fs.existsSync(path.join(out, 'prod/monitoring/fluentd-alerts.rules.yml'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'prod/logging/example-logs-archive-lifecycle.json'))).toBe(true);
    expect(fs.readdirSync(out).sort()).toEqual(['.shipshape-output', 'dev', 'prod']);
  });
});
