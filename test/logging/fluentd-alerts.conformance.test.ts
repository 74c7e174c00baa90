import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Environment } from '../../lib';
import { AlertRule, EfkLogging } from '../../lib/logging';
import { conformanceSuite } from '../support/conformance';
import { validateManifest } from '../support/schema';
import { findObject, synthStack } from '../support/synth';
import { run } from '../support/tools';

// Real-tool suite: the rules are checked and exercised by Prometheus' own promtool.
const prod = new Environment({ name: 'prod', kubernetesVersion: '1.29', zones: ['a', 'b', 'c'], replicas: 3 });
const ARCHIVE = { bucket: 'acme-logs', region: 'eu-west-1', retentionDays: 365 };
let efk!: EfkLogging;
const result = synthStack((s) => {
  efk = new EfkLogging(s, 'logging', {
    archive: ARCHIVE,
    fluentd: { image: 'ghcr.io/acme/fluentd-efk:v1.17.1-1.0' },
    alerts: { prometheusOperator: true, prometheusLabels: { release: 'prometheus' } },
  });
}, prod);
const JOB = 'fluentd-metrics';
const ALERTS = [
  'FluentdDown',
  'FluentdMetricsAbsent',
  'FluentdLinesRejected',
  'FluentdOutputNotFlushing',
  'FluentdBufferQueueGrowing',
  'FluentdBufferNearlyFull',
  'FluentdRetriesRising',
  'FluentdOutputErrors',
];

const rulesFile = () => result.files.find((f) => f.path === 'monitoring/fluentd-alerts.rules.yml')!;
const rule = (name: string): AlertRule => efk.alerts!.groups[0].rules.find((r) => r.alert === name)!;

/** Expands the Go templates the rules use, as Prometheus does for one alert. */
function annotations(name: string, labels: Record<string, string>, value?: number): Record<string, string> {
  const expand = (t: string) => t.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, l) => labels[l]).replace(/\{\{ printf "%\.0f" \$value \}\}/g, () => String(Math.round(value!)));
  return Object.fromEntries(Object.entries(rule(name).annotations).map(([k, v]) => [k, expand(v)]));
}

const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`,
  values,
});
const alert = (name: string, labels: Record<string, string>, value?: number) => {
  const all = { ...labels, ...rule(name).labels };
  return { exp_labels: all, exp_annotations: annotations(name, all, value) };
};
/** 61 one-minute samples of a counter that steps up by one every `every` minutes (an S3 upload per time slice). */
const stepping = (every: number) => Array.from({ length: 61 }, (_, i) => Math.floor(i / every)).join(' ');

conformanceSuite('collector alerts (promtool)', ['promtool'], () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-fluentd-alerts-'));
    fs.writeFileSync(path.join(dir, 'fluentd-alerts.rules.yml'), rulesFile().content);
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const promtoolTest = (name: string, tests: unknown[]) => {
    const file = path.join(dir, `${name}.test.yml`);
    fs.writeFileSync(file, stringify({ rule_files: ['fluentd-alerts.rules.yml'], evaluation_interval: '1m', tests }));
    return run('timeout', ['60', 'promtool', 'test', 'rules', file], { cwd: dir });
  };

  it('are emitted as a schema-valid PrometheusRule and a ServiceMonitor for the metrics Service when the operator is installed', () => {
    expect(result.problems).toEqual([]);
    const promRule = findObject(result, 'PrometheusRule', 'fluentd-alerts');
    validateManifest(promRule);
    expect(promRule.metadata).toMatchObject({ namespace: 'logging', labels: { release: 'prometheus' } });
    expect(promRule.spec.groups[0].rules.map((r: AlertRule) => r.alert)).toEqual(ALERTS);
    const monitor = findObject(result, 'ServiceMonitor', 'fluentd');
    validateManifest(monitor);
    expect(monitor.metadata.labels).toMatchObject({ release: 'prometheus' });
    const service = findObject(result, 'Service', JOB);
    expect(Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => service.metadata.labels![k] === v)).toBe(true);
    expect(service.spec.ports.map((p: any) => p.name)).toContain(monitor.spec.endpoints[0].port);
  });

  it('writes the same groups as a plain rules file under monitoring/, accepted by promtool check rules', () => {
    const file = rulesFile();
    expect(parse(file.content)).toEqual({ groups: findObject(result, 'PrometheusRule', 'fluentd-alerts').spec.groups });
    expect(run('timeout', ['60', 'promtool', 'check', 'rules', path.join(dir, 'fluentd-alerts.rules.yml')])).toMatch(new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
  });

  it('fire on a down collector, rejected lines, an output that flushes nothing, a growing queue, a filling buffer, retries and errors; stay quiet on healthy and idle nodes (promtool test rules)', () => {
    const es = { plugin_id: 'out_elasticsearch', type: 'elasticsearch' };
    const s3 = { plugin_id: 'out_s3', type: 's3' };
    const node = (n: string) => ({ job: JOB, instance: `node-${n}:24231` });
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(node);
    const position = (labels: Record<string, string>, values: string) =>
      series('fluentd_tail_file_position', { ...labels, plugin_id: 'in_tail_container_logs', type: 'tail', path: '/var/log/containers/web.log' }, values);
    const output = (labels: Record<string, string>, out: Record<string, string>, v: { writes: string; errors: string; retries?: string; queue?: string; space?: string }) => [
      series('fluentd_output_status_write_count', { ...labels, ...out }, v.writes),
      series('fluentd_output_status_num_errors', { ...labels, ...out }, v.errors),
      series('fluentd_output_status_retry_count', { ...labels, ...out }, v.retries ?? v.errors),
      series('fluentd_output_status_buffer_queue_length', { ...labels, ...out }, v.queue ?? '0x60'),
      series('fluentd_output_status_buffer_available_space_ratio', { ...labels, ...out }, v.space ?? '99x60'),
    ];
    const out = promtoolTest('collectors', [
      {
        interval: '1m',
        input_series: [
          ...[a, b, c, d].map((n) => series('up', n, '1x60')),
          // node-e: the worker exits and restarts (Elasticsearch down at start without the fix): nothing answers on 24231.
          series('up', e, '0x60'),
          // node-a: Elasticsearch refuses every bulk: each flush is attempted and fails, the queue grows, free space drains.
          // The S3 archive on the same node keeps uploading a slice every 6 minutes.
          position(a, '0+1000x60'),
          series('fluentd_input_status_num_records_total', { ...a, hostname: 'node-a' }, '0+100x60'),
          ...output(a, es, { writes: '0+1x60', errors: '0+1x60', queue: '0+1x60', space: '60-1x60' }),
          ...output(a, s3, { writes: stepping(6), errors: '0x60' }),
          // node-b: healthy, records flowing, both outputs flushing (S3 once per slice and wait).
          position(b, '0+500x60'),
          series('fluentd_input_status_num_records_total', { ...b, hostname: 'node-b' }, '0+50x60'),
          ...output(b, es, { writes: '0+1x60', errors: '0x60', retries: '5x60', queue: '2x60' }),
          ...output(b, s3, { writes: stepping(6), errors: '0x60' }),
          // node-c: the parser rejects every line ("invalid line found"): files are read, but no record was ever emitted,
          // so its records counter does not exist at all.
          position(c, '0+800x60'),
          ...output(c, es, { writes: '0x60', errors: '0x60' }),
          // node-d: idle, nothing written to its logs: no records series either, positions still.
          position(d, '4096x60'),
          ...output(d, es, { writes: '0x60', errors: '0x60' }),
        ],
        alert_rule_test: [
          { eval_time: '30m', alertname: 'FluentdDown', exp_alerts: [alert('FluentdDown', e)] },
          { eval_time: '30m', alertname: 'FluentdMetricsAbsent', exp_alerts: [] },
          { eval_time: '30m', alertname: 'FluentdLinesRejected', exp_alerts: [alert('FluentdLinesRejected', { instance: c.instance })] },
          { eval_time: '30m', alertname: 'FluentdOutputNotFlushing', exp_alerts: [alert('FluentdOutputNotFlushing', { instance: a.instance, plugin_id: 'out_elasticsearch' })] },
          { eval_time: '30m', alertname: 'FluentdBufferQueueGrowing', exp_alerts: [alert('FluentdBufferQueueGrowing', { ...a, ...es })] },
          { eval_time: '30m', alertname: 'FluentdRetriesRising', exp_alerts: [alert('FluentdRetriesRising', { ...a, ...es })] },
          { eval_time: '30m', alertname: 'FluentdOutputErrors', exp_alerts: [alert('FluentdOutputErrors', { ...a, ...es })] },
          { eval_time: '30m', alertname: 'FluentdBufferNearlyFull', exp_alerts: [] },
          { eval_time: '50m', alertname: 'FluentdBufferNearlyFull', exp_alerts: [alert('FluentdBufferNearlyFull', { ...a, ...es }, 10)] },
          // Nothing fires before its `for` has passed.
          { eval_time: '5m', alertname: 'FluentdDown', exp_alerts: [] },
          { eval_time: '5m', alertname: 'FluentdLinesRejected', exp_alerts: [] },
          { eval_time: '5m', alertname: 'FluentdOutputNotFlushing', exp_alerts: [] },
          { eval_time: '5m', alertname: 'FluentdRetriesRising', exp_alerts: [] },
        ],
      },
    ]);
    expect(out).toMatch(/SUCCESS/);
  });

  it('fire when no collector is scraped at all (absent series), and only after 15 minutes', () => {
    const out = promtoolTest('absent', [
      {
        interval: '1m',
        // Prometheus scrapes other jobs, but no target of the collector's job exists: no up, no fluentd_* series.
        input_series: [series('up', { job: 'node-exporter', instance: 'node-a:9100' }, '1x40')],
        alert_rule_test: [
          { eval_time: '10m', alertname: 'FluentdMetricsAbsent', exp_alerts: [] },
          { eval_time: '20m', alertname: 'FluentdMetricsAbsent', exp_alerts: [alert('FluentdMetricsAbsent', { job: JOB })] },
          // No fluentd series at all: the per-collector rules have nothing to compare and stay quiet.
          { eval_time: '20m', alertname: 'FluentdDown', exp_alerts: [] },
          { eval_time: '20m', alertname: 'FluentdLinesRejected', exp_alerts: [] },
          { eval_time: '20m', alertname: 'FluentdOutputNotFlushing', exp_alerts: [] },
        ],
      },
    ]);
    expect(out).toMatch(/SUCCESS/);
  });

  it('stay quiet while a healthy archive waits for its time slice to close, however sparse the records', () => {
    const n = { job: JOB, instance: 'node-s:24231' };
    const out = promtoolTest('sparse', [
      {
        interval: '1m',
        input_series: [
          series('up', n, '1x60'),
          // One record every 20 minutes; the archive uploads its slice 6 minutes later (time slice + wait).
          series('fluentd_input_status_num_records_total', { ...n, hostname: 'node-s' }, Array.from({ length: 61 }, (_, i) => Math.floor(i / 20) + 1).join(' ')),
          position(n, Array.from({ length: 61 }, (_, i) => (Math.floor(i / 20) + 1) * 100).join(' ')),
          series('fluentd_output_status_write_count', { ...n, plugin_id: 'out_s3', type: 's3' }, Array.from({ length: 61 }, (_, i) => Math.floor((i + 14) / 20)).join(' ')),
          series('fluentd_output_status_num_errors', { ...n, plugin_id: 'out_s3', type: 's3' }, '0x60'),
        ],
        alert_rule_test: [10, 20, 26, 30, 40, 50, 60].map((m) => ({ eval_time: `${m}m`, alertname: 'FluentdOutputNotFlushing', exp_alerts: [] })),
      },
    ]);
    expect(out).toMatch(/SUCCESS/);

    function position(labels: Record<string, string>, values: string) {
      return series('fluentd_tail_file_position', { ...labels, plugin_id: 'in_tail_container_logs', type: 'tail', path: '/var/log/containers/web.log' }, values);
    }
  });
});
