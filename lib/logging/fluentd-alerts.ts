import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import { ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { YAML_OPTIONS } from '../core/synth';
import { FluentdDaemonSet } from './fluentd-daemon-set';

/** Properties of a {@link FluentdAlerts}. */
export interface FluentdAlertsProps {
  /** The collector the alerts watch; its metrics Service names the scrape job. */
  readonly collector: FluentdDaemonSet;
  /**
   * Labels the Prometheus Operator selects rules and ServiceMonitors by (its ruleSelector, serviceMonitorSelector).
   * @default {}
   */
  readonly prometheusLabels?: Record<string, string>;
  /**
   * Buffer queue length (chunks waiting to be flushed) above which a growing queue alerts.
   * @default 8
   */
  readonly queueLengthThreshold?: number;
  /**
   * Free buffer space, in percent, below which the buffer counts as nearly full.
   * @default 20
   */
  readonly availableSpaceThresholdPercent?: number;
  /**
   * Minutes without a single record read before a collector counts as blind.
   * @default 15
   */
  readonly silentMinutes?: number;
  /**
   * Path of the plain rules file under `dist/<env>/`.
   * @default 'monitoring/<collector name>-alerts.rules.yml'
   */
  readonly rulesFile?: string;
}

/** One Prometheus alerting rule. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/** A Prometheus rule group. */
export interface AlertRuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

const DEFAULT_QUEUE_LENGTH = 8;
const DEFAULT_AVAILABLE_SPACE_PERCENT = 20;
const DEFAULT_SILENT_MINUTES = 15;

/**
 * Alerts on the collector's health from fluent-plugin-prometheus metrics (the
 * notes' monitor_agent fields: buffer_queue_length, buffer_total_queued_size,
 * retry_count): buffer queue growing, buffer nearly full, retries rising,
 * output errors, no records received. Emitted as a PrometheusRule with a
 * ServiceMonitor for the Prometheus Operator, and as a plain rules file under
 * `dist/<env>/monitoring/` for any other Prometheus.
 */
export class FluentdAlerts extends Construct {
  public readonly groups: readonly AlertRuleGroup[];
  public readonly prometheusRule: ApiObject;
  public readonly serviceMonitor: ApiObject;
  public readonly rulesFile: OutputFile;

  constructor(scope: Construct, id: string, props: FluentdAlertsProps) {
    super(scope, id);
    const collector = props.collector;
    const queue = assertInteger(this, 'queueLengthThreshold', props.queueLengthThreshold ?? DEFAULT_QUEUE_LENGTH, 1);
    const space = assertInteger(this, 'availableSpaceThresholdPercent', props.availableSpaceThresholdPercent ?? DEFAULT_AVAILABLE_SPACE_PERCENT, 1, 99);
    const silent = assertInteger(this, 'silentMinutes', props.silentMinutes ?? DEFAULT_SILENT_MINUTES, 5, 1440);
    const job = `${collector.name}-metrics`;
    // Only the job label: the Prometheus Operator sets it to the Service name, and a plain scrape config names its job the same.
    const sel = `{job="${job}"}`;
    const common = { component: 'log-collector' };
    const runbook = (what: string) => `Check the collector's log (kubectl -n ${collector.namespace} logs <pod> -c fluentd) and monitor_agent (:${collector.config.monitorPort}/api/plugins.json): ${what}`;
    this.groups = Object.freeze([{
      name: `${collector.name}.rules`,
      rules: [
        {
          alert: 'FluentdBufferQueueGrowing',
          expr: `avg_over_time(fluentd_output_status_buffer_queue_length${sel}[10m]) > ${queue} and deriv(fluentd_output_status_buffer_queue_length${sel}[10m]) > 0`,
          for: '10m',
          labels: { severity: 'warning', ...common },
          annotations: {
            summary: 'Fluentd output {{ $labels.plugin_id }} on {{ $labels.instance }} cannot keep up',
            description: runbook(`the buffer queue is above ${queue} chunks and still growing; the store is slow or rejecting writes.`),
          },
        },
        {
          alert: 'FluentdBufferNearlyFull',
          expr: `fluentd_output_status_buffer_available_space_ratio${sel} < ${space}`,
          for: '5m',
          labels: { severity: 'critical', ...common },
          annotations: {
            summary: 'Fluentd buffer of {{ $labels.plugin_id }} on {{ $labels.instance }} is {{ printf "%.0f" $value }}% free',
            description: runbook('when the buffer is full the collector blocks (overflow_action block) and logs rotated away on the node are lost.'),
          },
        },
        {
          alert: 'FluentdRetriesRising',
          expr: `increase(fluentd_output_status_retry_count${sel}[10m]) > 0`,
          for: '15m',
          labels: { severity: 'warning', ...common },
          annotations: {
            summary: 'Fluentd output {{ $labels.plugin_id }} on {{ $labels.instance }} keeps retrying',
            description: runbook('flushes fail and are retried; the store is unreachable, rejecting credentials or overloaded.'),
          },
        },
        {
          alert: 'FluentdOutputErrors',
          expr: `increase(fluentd_output_status_num_errors${sel}[10m]) > 0`,
          for: '5m',
          labels: { severity: 'warning', ...common },
          annotations: {
            summary: 'Fluentd output {{ $labels.plugin_id }} on {{ $labels.instance }} reports errors',
            description: runbook('writes fail; with Elasticsearch look for 400 reasons (mapping conflicts) in the log.'),
          },
        },
        {
          alert: 'FluentdNoRecordsReceived',
          expr: `sum by (instance) (rate(fluentd_input_status_num_records_total${sel}[${silent}m])) == 0`,
          for: `${silent}m`,
          labels: { severity: 'critical', ...common },
          annotations: {
            summary: `Fluentd on {{ $labels.instance }} has read no log line for ${silent} minutes`,
            description: runbook('the tail source reads nothing: check the parser matches the runtime ("pattern not matched"), the pos file and the /var/log mount.'),
          },
        },
      ],
    }]);

    const labels = { ...(props.prometheusLabels ?? {}) };
    this.prometheusRule = new ApiObject(this, 'prometheus-rule', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: `${collector.name}-alerts`, namespace: collector.namespace, labels },
      spec: { groups: this.groups.map((g) => ({ name: g.name, rules: g.rules.map((r) => ({ ...r })) })) },
    });
    this.serviceMonitor = new ApiObject(this, 'service-monitor', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: collector.name, namespace: collector.namespace, labels },
      spec: {
        // The job label is the Service name, which the rules select on.
        selector: { matchLabels: { ...collector.selector } },
        namespaceSelector: { matchNames: [collector.namespace] },
        endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
      },
    });
    const path = props.rulesFile ?? `monitoring/${collector.name}-alerts.rules.yml`;
    if (!path.startsWith('monitoring/')) {
      throw new ShipshapeError(this, { problem: 'the rules file belongs under monitoring/', value: path, fix: `use e.g. "monitoring/${collector.name}-alerts.rules.yml"` });
    }
    this.rulesFile = new OutputFile(this, 'rules-file', { path, content: () => stringify({ groups: this.groups }, YAML_OPTIONS) });
  }
}
