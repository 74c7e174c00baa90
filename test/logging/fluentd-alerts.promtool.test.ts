import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Environment } from '../../lib';
import { AlertRule, EfkStack } from '../../lib/logging';
import { validateManifest } from '../support/schema';
import { findObject, synthStack } from '../support/synth';
import { requireTool, run } from '../support/tools';

// Real-tool test: the rules are checked and exercised by Prometheus' own promtool.
const prod = new Environment({ name: 'prod', kubernetesVersion: '1.29', zones: ['a', 'b', 'c'], replicas: 3 });
let efk!: EfkStack;
const result = synthStack((s) => {
  efk = new EfkStack(s, 'logging', { alerts: { prometheusLabels: { release: 'prometheus' } } });
}, prod);
let dir = '';

beforeAll(() => {
  requireTool('promtool', 'install the Debian package "prometheus"');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-fluentd-alerts-'));
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const rulesFile = () => result.files.find((f) => f.path === 'monitoring/fluentd-alerts.rules.yml')!;
const rule = (name: string): AlertRule => efk.alerts!.groups[0].rules.find((r) => r.alert === name)!;

/** Expands the Go templates the rules use, as Prometheus does for one alert. */
function annotations(name: string, labels: Record<string, string>, value?: number): Record<string, string> {
  const expand = (t: string) =>
    t.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, l) => labels[l]).replace(/\{\{ printf "%\.0f" \$value \}\}/g, () => String(Math.round(value!)));
  return Object.fromEntries(Object.entries(rule(name).annotations).map(([k, v]) => [k, expand(v)]));
}

describe('collector alerts', () => {
  it('are emitted as a schema-valid PrometheusRule and a ServiceMonitor for the metrics Service', () => {
    expect(result.problems).toEqual([]);
    const promRule = findObject(result, 'PrometheusRule', 'fluentd-alerts');
    validateManifest(promRule);
    expect(promRule.metadata).toMatchObject({ namespace: 'logging', labels: { release: 'prometheus' } });
    expect(promRule.spec.groups[0].rules.map((r: AlertRule) => r.alert)).toEqual([
      'FluentdBufferQueueGrowing', 'FluentdBufferNearlyFull', 'FluentdRetriesRising', 'FluentdOutputErrors', 'FluentdNoRecordsReceived',
    ]);
    const monitor = findObject(result, 'ServiceMonitor', 'fluentd');
    validateManifest(monitor);
    const service = findObject(result, 'Service', 'fluentd-metrics');
    expect(Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => service.metadata.labels![k] === v)).toBe(true);
    expect(service.spec.ports.map((p: any) => p.name)).toContain(monitor.spec.endpoints[0].port);
  });

  it('writes the same groups as a plain rules file under monitoring/, accepted by promtool check rules', () => {
    const file = rulesFile();
    expect(parse(file.content)).toEqual({ groups: findObject(result, 'PrometheusRule', 'fluentd-alerts').spec.groups });
    const plain = path.join(dir, 'fluentd-alerts.rules.yml');
    fs.writeFileSync(plain, file.content);
    expect(run('timeout', ['60', 'promtool', 'check', 'rules', plain])).toMatch(/SUCCESS: 5 rules found/);
    // The PrometheusRule's spec is checked the same way, as the operator would load it.
    const fromObject = path.join(dir, 'prometheusrule.rules.yml');
    fs.writeFileSync(fromObject, stringify({ groups: findObject(result, 'PrometheusRule', 'fluentd-alerts').spec.groups }));
    expect(run('timeout', ['60', 'promtool', 'check', 'rules', fromObject])).toMatch(/SUCCESS/);
  });

  it('fire on a growing queue, a filling buffer, rising retries, output errors and a silent collector, and stay quiet on a healthy one (promtool test rules)', () => {
    fs.writeFileSync(path.join(dir, 'fluentd-alerts.rules.yml'), rulesFile().content);
    const job = 'fluentd-metrics';
    const a = { job, instance: 'node-a:24231' };
    const b = { job, instance: 'node-b:24231' };
    const es = { plugin_id: 'out_elasticsearch' };
    const series = (name: string, labels: Record<string, string>, values: string) => ({
      series: `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`,
      values,
    });
    const alert = (name: string, labels: Record<string, string>, value?: number) => {
      const all = { ...labels, ...rule(name).labels };
      return { exp_labels: all, exp_annotations: annotations(name, all, value) };
    };
    const tests = {
      rule_files: ['fluentd-alerts.rules.yml'],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: [
          // node-a: Elasticsearch is failing, so its queue grows, retries and errors climb and free space drains.
          series('fluentd_output_status_buffer_queue_length', { ...a, ...es }, '0+1x60'),
          series('fluentd_output_status_retry_count', { ...a, ...es }, '0+2x60'),
          series('fluentd_output_status_num_errors', { ...a, ...es }, '0x10 1+1x50'),
          series('fluentd_output_status_buffer_available_space_ratio', { ...a, ...es }, '60-1x60'),
          series('fluentd_input_status_num_records_total', { ...a, hostname: 'node-a' }, '0+100x60'),
          // node-b: healthy outputs, but its tail source has stopped reading.
          series('fluentd_output_status_buffer_queue_length', { ...b, ...es }, '2x60'),
          series('fluentd_output_status_retry_count', { ...b, ...es }, '5x60'),
          series('fluentd_output_status_num_errors', { ...b, ...es }, '0x60'),
          series('fluentd_output_status_buffer_available_space_ratio', { ...b, ...es }, '95x60'),
          series('fluentd_input_status_num_records_total', { ...b, hostname: 'node-b' }, '500x60'),
        ],
        alert_rule_test: [
          { eval_time: '30m', alertname: 'FluentdBufferQueueGrowing', exp_alerts: [alert('FluentdBufferQueueGrowing', { ...a, ...es })] },
          { eval_time: '30m', alertname: 'FluentdRetriesRising', exp_alerts: [alert('FluentdRetriesRising', { ...a, ...es })] },
          { eval_time: '30m', alertname: 'FluentdOutputErrors', exp_alerts: [alert('FluentdOutputErrors', { ...a, ...es })] },
          { eval_time: '30m', alertname: 'FluentdNoRecordsReceived', exp_alerts: [alert('FluentdNoRecordsReceived', { instance: b.instance })] },
          { eval_time: '30m', alertname: 'FluentdBufferNearlyFull', exp_alerts: [] },
          { eval_time: '50m', alertname: 'FluentdBufferNearlyFull', exp_alerts: [alert('FluentdBufferNearlyFull', { ...a, ...es }, 10)] },
          // Nothing fires early: every rule waits for its `for` duration.
          { eval_time: '5m', alertname: 'FluentdRetriesRising', exp_alerts: [] },
          { eval_time: '5m', alertname: 'FluentdNoRecordsReceived', exp_alerts: [] },
        ],
      }],
    };
    const testFile = path.join(dir, 'fluentd-alerts.test.yml');
    fs.writeFileSync(testFile, stringify(tests));
    expect(run('timeout', ['60', 'promtool', 'test', 'rules', testFile], { cwd: dir })).toMatch(/SUCCESS/);
  });
});
