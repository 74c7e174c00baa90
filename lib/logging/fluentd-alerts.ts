import { ApiObject, Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { DEFAULT_PROMETHEUS_LABELS } from '../core/environment';
import { ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { durationSeconds } from '../core/quantities';
import { labelValueProblem, qualifiedNameProblem } from '../core/validate';
import { environmentPrometheusLabels } from '../workloads/service-monitor';
import { FLUENTD_REJECTED_LINE_MESSAGES } from './fluentd-config';
import { FluentdDaemonSet } from './fluentd-daemon-set';

/** Properties of a {@link FluentdAlerts}. */
export interface FluentdAlertsProps {
  /** The collector the alerts watch; its metrics Service names the scrape job. */
  readonly collector: FluentdDaemonSet;
  /**
   * Whether the cluster runs the Prometheus Operator (its CRDs are installed): then a PrometheusRule and a
   * ServiceMonitor are emitted too. Applying them to a cluster without the CRDs fails the whole sync, so they
   * are opt-in; the plain rules file is always written.
   * @default - true when prometheusLabels is given, else the environment's `monitoring.prometheusOperator`
   */
  readonly prometheusOperator?: boolean;
  /**
   * Labels on the PrometheusRule and ServiceMonitor that the operator's ruleSelector and serviceMonitorSelector
   * match. kube-prometheus-stack selects `release: <its Helm release name>`.
   * @default PROMETHEUS_OPERATOR_LABELS ({ release: 'kube-prometheus-stack' })
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
   * How long a collector may read lines without flushing any output, or without emitting any record, before it
   * counts as stalled: whole minutes from 5 minutes to a day. Longer than an S3 time slice plus its wait, which is
   * how long a healthy archive waits.
   * @default Duration.minutes(15)
   */
  readonly stalledAfter?: Duration;
  /**
   * @deprecated since 0.2: use `stalledAfter`, a Duration like every other Kubernetes-side duration.
   * @default 15
   */
  readonly stalledMinutes?: number;
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

/** The label kube-prometheus-stack's ruleSelector and serviceMonitorSelector match (its chart's default release name). */
export const PROMETHEUS_OPERATOR_LABELS: Readonly<Record<string, string>> = DEFAULT_PROMETHEUS_LABELS;
const DEFAULT_QUEUE_LENGTH = 8;
const DEFAULT_AVAILABLE_SPACE_PERCENT = 20;
const DEFAULT_STALLED_MINUTES = 15;
// A scrape target down this long is a crash-looping or hung collector, not a rollout.
const DOWN_MINUTES = 10;

/**
 * Alerts on what signals a broken collector, from Prometheus' own `up` and fluent-plugin-prometheus metrics:
 * the collector down or missing altogether, lines read but no record emitted (every line rejected), records
 * read but an output flushing nothing, and the buffer signals (queue growing, buffer nearly full, retries,
 * errors). An idle node is silent. Written as a plain rules file under `dist/<env>/monitoring/` for any
 * Prometheus, and, when the cluster runs the Prometheus Operator, as a PrometheusRule with a ServiceMonitor.
 */
export class FluentdAlerts extends Construct {
  public readonly groups: readonly AlertRuleGroup[];
  /** The PrometheusRule, when the Prometheus Operator is installed. */
  public readonly prometheusRule?: ApiObject;
  /** The ServiceMonitor, when the Prometheus Operator is installed. */
  public readonly serviceMonitor?: ApiObject;
  public readonly rulesFile: OutputFile;

  constructor(scope: Construct, id: string, props: FluentdAlertsProps) {
    super(scope, id);
    const collector = props.collector;
    const queue = assertInteger(this, 'queueLengthThreshold', props.queueLengthThreshold ?? DEFAULT_QUEUE_LENGTH, 1);
    const space = assertInteger(this, 'availableSpaceThresholdPercent', props.availableSpaceThresholdPercent ?? DEFAULT_AVAILABLE_SPACE_PERCENT, 1, 99);
    const stalled = this.stalledMinutes(props);
    const archiveWait = collector.config.s3LossBoundSeconds;
    if (archiveWait !== undefined && stalled * 60 <= archiveWait) {
      throw new ShipshapeError(this, {
        problem: `stalledAfter (${stalled} minutes) is not longer than the ${archiveWait / 60} minutes a healthy S3 archive waits before it uploads a time slice, so FluentdOutputNotFlushing would fire for it`,
        value: stalled,
        fix: `use more than ${Math.ceil(archiveWait / 60)} minutes, e.g. ${DEFAULT_STALLED_MINUTES}`,
      });
    }
    const prometheusLabels = prometheusOperatorLabels(this, props);

    const job = `${collector.name}-metrics`;
    // Only the job label: the Prometheus Operator sets it to the Service name, and a plain scrape config names its job the same.
    const sel = (extra = '') => `{job="${job}"${extra}}`;
    const buffered = `,type=~"${collector.config.outputs.join('|')}"`;
    const window = `${stalled}m`;
    const records = `sum by (instance) (increase(fluentd_input_status_num_records_total${sel()}[${window}]))`;
    const common = { component: 'log-collector' };
    const logs = `kubectl -n ${collector.namespace} logs <pod> -c fluentd`;
    const runbook = (what: string) => `Check the collector's log (${logs}) and monitor_agent (:${collector.config.monitorPort}/api/plugins.json): ${what}`;
    const rejected = FLUENTD_REJECTED_LINE_MESSAGES.map((m) => `"[warn]: ${m}"`).join(' or ');
    this.groups = Object.freeze([
      {
        name: `${collector.name}.rules`,
        rules: [
          {
            alert: 'FluentdDown',
            expr: `up${sel()} == 0`,
            for: `${DOWN_MINUTES}m`,
            labels: { severity: 'critical', ...common },
            annotations: {
              summary: 'Fluentd on {{ $labels.instance }} cannot be scraped',
              description: `The collector's metrics port does not answer: it is crash-looping or hung, and its node's logs are not shipped. ${runbook('look for a worker that exits and restarts.')}`,
            },
          },
          {
            alert: 'FluentdMetricsAbsent',
            expr: `absent(up${sel()})`,
            for: '15m',
            labels: { severity: 'critical', ...common },
            annotations: {
              summary: `No Fluentd collector is scraped (job ${job})`,
              description: `Prometheus has no target for the ${job} Service: the DaemonSet has no pods, or the ServiceMonitor / scrape config does not select it. No node's logs are known to be shipped.`,
            },
          },
          {
            alert: 'FluentdLinesRejected',
            expr: `(sum by (instance) (changes(fluentd_tail_file_position${sel()}[${window}])) > 0) unless on (instance) (${records} > 0)`,
            for: window,
            labels: { severity: 'critical', ...common },
            annotations: {
              summary: `Fluentd on {{ $labels.instance }} reads log files but has emitted no record for ${stalled} minutes`,
              description: runbook(`every line is rejected: look for ${rejected} (the parser does not match the container runtime), or a filter that fails on every record.`),
            },
          },
          {
            alert: 'FluentdOutputNotFlushing',
            expr: `((sum by (instance, plugin_id) (increase(fluentd_output_status_write_count${sel(buffered)}[${window}])) - sum by (instance, plugin_id) (increase(fluentd_output_status_num_errors${sel(buffered)}[${window}]))) < 1) and on (instance) (${records} > 0)`,
            for: window,
            labels: { severity: 'critical', ...common },
            annotations: {
              summary: `Fluentd output {{ $labels.plugin_id }} on {{ $labels.instance }} has flushed nothing for ${stalled} minutes while records come in`,
              description: runbook('every flush fails or none is attempted: the store is unreachable or rejecting credentials; the buffer is filling on the node.'),
            },
          },
          {
            alert: 'FluentdBufferQueueGrowing',
            expr: `avg_over_time(fluentd_output_status_buffer_queue_length${sel()}[10m]) > ${queue} and deriv(fluentd_output_status_buffer_queue_length${sel()}[10m]) > 0`,
            for: '10m',
            labels: { severity: 'warning', ...common },
            annotations: {
              summary: 'Fluentd output {{ $labels.plugin_id }} on {{ $labels.instance }} cannot keep up',
              description: runbook(`the buffer queue is above ${queue} chunks and still growing; the store is slow or rejecting writes.`),
            },
          },
          {
            alert: 'FluentdBufferNearlyFull',
            expr: `fluentd_output_status_buffer_available_space_ratio${sel()} < ${space}`,
            for: '5m',
            labels: { severity: 'critical', ...common },
            annotations: {
              summary: 'Fluentd buffer of {{ $labels.plugin_id }} on {{ $labels.instance }} is {{ printf "%.0f" $value }}% free',
              description: runbook('when it is full the archive blocks reading (logs rotated away on the node are then lost) and Elasticsearch drops its oldest chunks.'),
            },
          },
          {
            alert: 'FluentdRetriesRising',
            expr: `increase(fluentd_output_status_retry_count${sel()}[10m]) > 0`,
            for: '15m',
            labels: { severity: 'warning', ...common },
            annotations: {
              summary: 'Fluentd output {{ $labels.plugin_id }} on {{ $labels.instance }} keeps retrying',
              description: runbook('flushes fail and are retried; the store is unreachable, rejecting credentials or overloaded.'),
            },
          },
          {
            alert: 'FluentdOutputErrors',
            expr: `increase(fluentd_output_status_num_errors${sel()}[10m]) > 0`,
            for: '5m',
            labels: { severity: 'warning', ...common },
            annotations: {
              summary: 'Fluentd output {{ $labels.plugin_id }} on {{ $labels.instance }} reports errors',
              description: runbook('writes fail; with Elasticsearch look for 400 reasons (mapping conflicts) in the log.'),
            },
          },
        ],
      },
    ]);

    if (prometheusLabels) {
      this.prometheusRule = prometheusRuleObject(this, 'prometheus-rule', { name: `${collector.name}-alerts`, namespace: collector.namespace, labels: prometheusLabels }, this.groups);
      this.serviceMonitor = new ApiObject(this, 'service-monitor', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: { name: collector.name, namespace: collector.namespace, labels: prometheusLabels },
        spec: {
          // The job label is the Service name, which the rules select on.
          selector: { matchLabels: { ...collector.selector } },
          namespaceSelector: { matchNames: [collector.namespace] },
          endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
        },
      });
    }
    this.rulesFile = alertRulesFile(this, props.rulesFile, `monitoring/${collector.name}-alerts.rules.yml`, () => this.groups);
  }

  /** The stall window in whole minutes, from `stalledAfter` or the deprecated `stalledMinutes`. */
  private stalledMinutes(props: FluentdAlertsProps): number {
    if (props.stalledAfter !== undefined && props.stalledMinutes !== undefined) {
      throw new ShipshapeError(this, { problem: 'the stall window is given twice, as stalledAfter and as the deprecated stalledMinutes', value: props.stalledMinutes, fix: 'keep only stalledAfter' });
    }
    if (props.stalledAfter === undefined) return assertInteger(this, 'stalledMinutes', props.stalledMinutes ?? DEFAULT_STALLED_MINUTES, 5, 1440);
    const seconds = durationSeconds(this, 'stalledAfter', props.stalledAfter, 5 * 60, 24 * 60 * 60);
    if (seconds % 60 !== 0) {
      throw new ShipshapeError(this, {
        problem: 'stalledAfter must be whole minutes (the alert window is written in minutes)',
        value: `${seconds} s`,
        fix: `use Duration.minutes(${Math.ceil(seconds / 60)})`,
      });
    }
    return seconds / 60;
  }
}

/** Where alert rules are loaded: whether the Prometheus Operator runs, and the labels its selectors match. */
export interface PrometheusOperatorOptions {
  /**
   * Whether the cluster runs the Prometheus Operator (its CRDs are installed).
   * @default - true when prometheusLabels is given, else the environment's `monitoring.prometheusOperator`
   */
  readonly prometheusOperator?: boolean;
  /**
   * Labels the operator's ruleSelector (and serviceMonitorSelector) match.
   * @default PROMETHEUS_OPERATOR_LABELS
   */
  readonly prometheusLabels?: Record<string, string>;
}

/** The labels for the operator's objects when the Prometheus Operator runs, `undefined` when it does not; checks both options. */
export function prometheusOperatorLabels(scope: Construct, props: PrometheusOperatorOptions): Record<string, string> | undefined {
  // Neither option given: the environment's monitoring setting decides.
  if (props.prometheusOperator === undefined && props.prometheusLabels === undefined) return environmentPrometheusLabels(scope);
  const operator = props.prometheusOperator ?? props.prometheusLabels !== undefined;
  if (!operator && props.prometheusLabels !== undefined) {
    throw new ShipshapeError(scope, {
      problem: 'prometheusLabels are set but prometheusOperator is false, so no object would carry them',
      value: props.prometheusLabels,
      fix: 'set prometheusOperator: true, or drop prometheusLabels',
    });
  }
  if (!operator) return undefined;
  const given: unknown = props.prometheusLabels ?? PROMETHEUS_OPERATOR_LABELS;
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ShipshapeError(scope, { problem: 'prometheusLabels must be a map of Kubernetes label keys to values', value: given, fix: 'use e.g. { release: "kube-prometheus-stack" }' });
  }
  const prometheusLabels = { ...(given as Record<string, string>) };
  for (const [k, v] of Object.entries(prometheusLabels)) {
    const problem = qualifiedNameProblem(k) ?? labelValueProblem(v);
    if (problem) {
      throw new ShipshapeError(scope, { problem: `prometheusLabels must be Kubernetes label keys and values: ${problem}`, value: { [k]: v }, fix: 'use e.g. { release: "kube-prometheus-stack" }' });
    }
  }
  return prometheusLabels;
}

/** A PrometheusRule object carrying `groups`, for a cluster that runs the Prometheus Operator. */
export function prometheusRuleObject(scope: Construct, id: string, metadata: { name: string; namespace: string; labels: Record<string, string> }, groups: readonly AlertRuleGroup[]): ApiObject {
  return new ApiObject(scope, id, {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata,
    spec: { groups: groups.map((g) => ({ name: g.name, rules: g.rules.map((r) => ({ ...r })) })) },
  });
}

/** The plain Prometheus rules file (`rule_files:`) of `groups` under `dist/<env>/monitoring/`, for any Prometheus. */
export function alertRulesFile(scope: Construct, path: string | undefined, defaultPath: string, groups: () => readonly AlertRuleGroup[]): OutputFile {
  const file = path ?? defaultPath;
  if (!file.startsWith('monitoring/')) {
    throw new ShipshapeError(scope, { problem: 'the rules file belongs under monitoring/', value: file, fix: `use e.g. "${defaultPath}"` });
  }
  return new OutputFile(scope, 'rules-file', { path: file, content: () => ({ documents: [{ groups: groups() }] }) });
}
