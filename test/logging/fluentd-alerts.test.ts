import { Duration } from 'cdk8s';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Environment, ShipshapeError } from '../../lib';
import { EfkLogging, EfkLoggingProps, FLUENTD_REJECTED_LINE_MESSAGES, FluentdAlerts, FluentdDaemonSet, PROMETHEUS_OPERATOR_LABELS } from '../../lib/logging';
import { findObject, objectsOfKind, synthStack } from '../support/synth';

const prod = new Environment({ name: 'prod', kubernetesVersion: '1.29', zones: ['a', 'b', 'c'], replicas: 3 });
const ARCHIVE = { bucket: 'acme-logs', region: 'eu-west-1', retentionDays: 365 };
const IMAGE = 'ghcr.io/acme/fluentd-efk:v1.17.1-1.0';

function build(props: EfkLoggingProps = {}) {
  let efk!: EfkLogging;
  const result = synthStack((s) => {
    efk = new EfkLogging(s, 'logging', props);
  }, prod);
  return { efk, result };
}

describe('FluentdAlerts', () => {
  it('writes only the plain rules file unless the Prometheus Operator is said to be installed', () => {
    const { efk, result } = build();
    expect(result.problems).toEqual([]);
    expect(efk.alerts!.prometheusRule).toBeUndefined();
    expect(efk.alerts!.serviceMonitor).toBeUndefined();
    expect(objectsOfKind(result, 'PrometheusRule')).toEqual([]);
    expect(objectsOfKind(result, 'ServiceMonitor')).toEqual([]);
    const file = result.files.find((f) => f.path === 'monitoring/fluentd-alerts.rules.yml')!;
    expect(parse(file.content).groups[0].rules.map((r: { alert: string }) => r.alert)).toContain('FluentdDown');
  });

  it('labels the PrometheusRule and ServiceMonitor for kube-prometheus-stack by default, or as the environment says', () => {
    const byDefault = build({ alerts: { prometheusOperator: true } }).result;
    expect(PROMETHEUS_OPERATOR_LABELS).toEqual({ release: 'kube-prometheus-stack' });
    expect(findObject(byDefault, 'PrometheusRule', 'fluentd-alerts').metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(findObject(byDefault, 'ServiceMonitor', 'fluentd').metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    // Labels given imply the operator.
    const custom = build({ alerts: { prometheusLabels: { release: 'monitoring', team: 'platform' } } }).result;
    expect(findObject(custom, 'PrometheusRule', 'fluentd-alerts').metadata.labels).toMatchObject({ release: 'monitoring', team: 'platform' });
    expect(findObject(custom, 'ServiceMonitor', 'fluentd').metadata.labels).toMatchObject({ release: 'monitoring', team: 'platform' });
    expect(findObject(custom, 'PrometheusRule', 'fluentd-alerts').metadata.labels!.release).toBe('monitoring');
  });

  it('alerts on a broken collector, not on an idle one: no rule on the input records rate alone', () => {
    const { efk } = build({ archive: ARCHIVE, fluentd: { image: IMAGE } });
    const rules = Object.fromEntries(efk.alerts!.groups[0].rules.map((r) => [r.alert, r]));
    expect(Object.keys(rules)).toEqual([
      'FluentdDown',
      'FluentdMetricsAbsent',
      'FluentdLinesRejected',
      'FluentdOutputNotFlushing',
      'FluentdBufferQueueGrowing',
      'FluentdBufferNearlyFull',
      'FluentdRetriesRising',
      'FluentdOutputErrors',
    ]);
    expect(rules.FluentdDown.expr).toBe('up{job="fluentd-metrics"} == 0');
    expect(rules.FluentdMetricsAbsent.expr).toBe('absent(up{job="fluentd-metrics"})');
    // Tail positions move while no record is emitted: every line rejected. The records series may not exist at all.
    expect(rules.FluentdLinesRejected.expr).toContain('changes(fluentd_tail_file_position{job="fluentd-metrics"}[15m])');
    expect(rules.FluentdLinesRejected.expr).toContain(' unless on (instance) ');
    for (const m of FLUENTD_REJECTED_LINE_MESSAGES) expect(rules.FluentdLinesRejected.annotations.description).toContain(`"[warn]: ${m}"`);
    expect(FLUENTD_REJECTED_LINE_MESSAGES).toEqual(['invalid line found', 'pattern not matched']);
    // Successful flushes = write attempts minus failed ones, per buffered output, only while records come in.
    expect(rules.FluentdOutputNotFlushing.expr).toContain('fluentd_output_status_write_count{job="fluentd-metrics",type=~"elasticsearch|s3"}[15m]');
    expect(rules.FluentdOutputNotFlushing.expr).toContain('fluentd_output_status_num_errors{job="fluentd-metrics",type=~"elasticsearch|s3"}[15m]');
    expect(rules.FluentdOutputNotFlushing.expr).toContain('and on (instance) (sum by (instance) (increase(fluentd_input_status_num_records_total{job="fluentd-metrics"}[15m])) > 0)');
    expect(rules.FluentdOutputNotFlushing.for).toBe('15m');
    for (const r of Object.values(rules)) expect(r.expr).not.toMatch(/rate\(fluentd_input_status_num_records_total[^)]*\)\)? == 0/);
  });

  it('refuses a stall window no longer than a healthy archive waits for its slice, and labels without the operator', () => {
    const attempt = (props: EfkLoggingProps) => {
      try {
        build(props);
      } catch (e) {
        expect(e).toBeInstanceOf(ShipshapeError);
        return e as ShipshapeError;
      }
      throw new Error('expected a ShipshapeError');
    };
    const stall = attempt({ archive: ARCHIVE, fluentd: { image: IMAGE }, alerts: { stalledAfter: Duration.minutes(6) } });
    expect(stall.path).toBe('prod/logging/alerts');
    expect(stall.message).toMatch(/6 minutes a healthy S3 archive waits/);
    // Without an archive nothing waits that long.
    expect(build({ alerts: { stalledAfter: Duration.minutes(6) } }).result.problems).toEqual([]);
    // The deprecated spelling still works, and means the same.
    expect(attempt({ archive: ARCHIVE, fluentd: { image: IMAGE }, alerts: { stalledMinutes: 6 } }).message).toBe(stall.message);
    expect(attempt({ alerts: { stalledAfter: Duration.seconds(330) } }).message).toMatch(/whole minutes/);
    expect(attempt({ alerts: { stalledAfter: Duration.minutes(4) } }).message).toMatch(/stalledAfter must be a Duration of whole seconds from 300/);
    expect(attempt({ alerts: { stalledAfter: Duration.minutes(20), stalledMinutes: 20 } }).message).toMatch(/given twice/);
    expect(attempt({ alerts: { prometheusOperator: false, prometheusLabels: { release: 'x' } } }).message).toMatch(/prometheusOperator is false/);
    expect(attempt({ alerts: { prometheusOperator: true, prometheusLabels: { 'bad key!': 'x' } } }).message).toMatch(/label keys and values/);
  });

  it("names its job after the collector's metrics Service", () => {
    const result = synthStack((s) => {
      const collector = new FluentdDaemonSet(s, 'collector', { name: 'logs', archive: { bucket: 'acme-logs', region: 'eu-west-1', credentialsSecret: false } });
      const alerts = new FluentdAlerts(s, 'alerts', { collector });
      expect(alerts.groups[0].rules[0].expr).toBe('up{job="logs-metrics"} == 0');
      expect(alerts.groups[0].rules.find((r) => r.alert === 'FluentdOutputNotFlushing')!.expr).toContain('type=~"s3"');
    }, prod);
    expect(findObject(result, 'Service', 'logs-metrics').metadata.name).toBe('logs-metrics');
  });
});
