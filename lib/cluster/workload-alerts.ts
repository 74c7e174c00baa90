import { ApiObject, Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertDnsLabel } from '../core/names';
import { OutputFile } from '../core/output-file';
import { durationSeconds } from '../core/quantities';
import { Stack } from '../core/stack';
import { AlertRule, AlertRuleGroup, PrometheusOperatorOptions, alertRulesFile, prometheusOperatorLabels, prometheusRuleObject } from '../logging/fluentd-alerts';
import { KUBE_STATE_METRICS_NAME } from './kube-state-metrics';

/** Where Elasticsearch's metrics come from: the scrape job of an elasticsearch-exporter. */
export interface ElasticsearchMetricsSource {
  /** Scrape job name (the exporter's Service name under the Prometheus Operator). */
  readonly job: string;
}

/** Properties of a {@link WorkloadAlerts}. */
export interface WorkloadAlertsProps extends PrometheusOperatorOptions {
  /**
   * Name of the PrometheusRule and of the rule group.
   * @default 'workload-alerts'
   */
  readonly name?: string;
  /**
   * Scrape job of kube-state-metrics, whose series every workload rule reads (kube-prometheus-stack's is named the same).
   * @default 'kube-state-metrics'
   */
  readonly kubeStateMetricsJob?: string;
  /**
   * Namespaces whose workloads are watched.
   * @default - every namespace
   */
  readonly namespaces?: string[];
  /**
   * How long an HPA may run at its maxReplicas before it alerts: longer than a traffic peak, short enough to add
   * nodes or raise the maximum before the next one.
   * @default Duration.minutes(15)
   */
  readonly autoscalerMaxedFor?: Duration;
  /**
   * How long a PodDisruptionBudget may allow no disruption before it alerts: every node drain waits on it meanwhile.
   * @default Duration.hours(1)
   */
  readonly disruptionBlockedFor?: Duration;
  /**
   * How long a Deployment may have unavailable replicas before it alerts; longer than a rollout.
   * @default Duration.minutes(15)
   */
  readonly replicasUnavailableFor?: Duration;
  /**
   * Elasticsearch's exporter: adds cluster health and disk watermark rules on its metrics.
   * @default - no Elasticsearch rules
   */
  readonly elasticsearch?: ElasticsearchMetricsSource;
  /**
   * Path of the plain rules file under `dist/<env>/`.
   * @default 'monitoring/<name>.rules.yml'
   */
  readonly rulesFile?: string;
}

const DEFAULT_NAME = 'workload-alerts';
const DEFAULT_MAXED_FOR = Duration.minutes(15);
const DEFAULT_BLOCKED_FOR = Duration.hours(1);
const DEFAULT_UNAVAILABLE_FOR = Duration.minutes(15);
// A scrape target down this long is a crash loop or a broken scrape, not a restart.
const DOWN_FOR = '10m';
// Prometheus, the operator and kube-state-metrics restart within minutes; absent longer, nothing is watched.
const ABSENT_FOR = '15m';
// A Deployment with no available pod serves nothing: alert after a short grace period, not after a rollout's.
const DEPLOYMENT_DOWN_FOR = '5m';
// Elasticsearch's disk-based shard allocation defaults (cluster.routing.allocation.disk.watermark.low / .high):
// above the low one no new shard is placed on the node, above the high one shards move away; at the flood stage
// (95 %) indices become read-only and the collectors' writes fail.
const DISK_LOW_WATERMARK_PERCENT = 85;
const DISK_HIGH_WATERMARK_PERCENT = 90;
// Red means a primary shard is unassigned (writes to it fail); yellow, a replica is: a node is lost or full.
const RED_FOR = '5m';
const YELLOW_FOR = '30m';
const JOB_NAME = /^[a-zA-Z0-9_.:/-]+$/;

/** A Duration as a PromQL/`for` duration (`15m`, `1h`, `90s`). */
function promDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/**
 * Alerts on what the practice watches in running workloads, from kube-state-metrics: an HPA at its maximum for
 * 15 minutes (the workload cannot grow further), a PodDisruptionBudget that allows no disruption for an hour (node
 * drains hang on it), a Deployment with unavailable replicas, and one with none available; kube-state-metrics down
 * or absent (every other rule would be silent). With an Elasticsearch exporter, cluster health and the disk
 * watermarks as well. The etcd backup CronJob and the Fluentd collector have their alerts with their constructs
 * (EtcdBackup, FluentdAlerts). Written as a plain rules file under `dist/<env>/monitoring/`, and as a
 * PrometheusRule when the environment runs the Prometheus Operator.
 */
export class WorkloadAlerts extends Construct {
  public readonly groups: readonly AlertRuleGroup[];
  /** The PrometheusRule, when the Prometheus Operator runs. */
  public readonly prometheusRule?: ApiObject;
  public readonly rulesFile: OutputFile;

  constructor(scope: Construct, id: string, props: WorkloadAlertsProps = {}) {
    super(scope, id);
    const env = Stack.of(this).environment;
    env.kubernetesMinorFor(this);
    const name = assertDnsLabel(this, 'name', props.name ?? DEFAULT_NAME);
    const ksm = this.job('kubeStateMetricsJob', props.kubeStateMetricsJob ?? KUBE_STATE_METRICS_NAME);
    const namespaces = (props.namespaces ?? []).map((n, i) => assertDnsLabel(this, `namespaces[${i}]`, n));
    if (props.namespaces !== undefined && namespaces.length === 0) {
      throw new ShipshapeError(this, {
        problem: 'namespaces is empty, so no workload would be watched',
        value: props.namespaces,
        fix: 'list the namespaces to watch, or omit namespaces to watch every one',
      });
    }
    const minutes = (field: string, d: Duration) => promDuration(durationSeconds(this, field, d, 60, 7 * 86400));
    const maxedFor = minutes('autoscalerMaxedFor', props.autoscalerMaxedFor ?? DEFAULT_MAXED_FOR);
    const blockedFor = minutes('disruptionBlockedFor', props.disruptionBlockedFor ?? DEFAULT_BLOCKED_FOR);
    const unavailableFor = minutes('replicasUnavailableFor', props.replicasUnavailableFor ?? DEFAULT_UNAVAILABLE_FOR);
    const prometheusLabels = prometheusOperatorLabels(this, props);

    // One alert per object even with several kube-state-metrics replicas: `max by` folds their copies.
    const sel = `{job="${ksm}"${namespaces.length ? `,namespace=~"${namespaces.join('|')}"` : ''}}`;
    const max = (by: string, metric: string) => `max by (namespace, ${by}) (${metric}${sel})`;
    const labels = (severity: string) => ({ severity, component: 'workloads' });
    const rules: AlertRule[] = [
      {
        alert: 'KubeStateMetricsDown',
        expr: `up{job="${ksm}"} == 0`,
        for: DOWN_FOR,
        labels: labels('critical'),
        annotations: {
          summary: 'kube-state-metrics on {{ $labels.instance }} cannot be scraped',
          description: `Every workload, CronJob and disruption-budget alert reads kube-state-metrics (job ${ksm}) and is silent while it is down. Check its pod: kubectl -n kube-system get pods -l app.kubernetes.io/name=kube-state-metrics.`,
        },
      },
      {
        alert: 'KubeStateMetricsAbsent',
        expr: `absent(up{job="${ksm}"})`,
        for: ABSENT_FOR,
        labels: labels('critical'),
        annotations: {
          summary: `Prometheus scrapes no kube-state-metrics (job ${ksm})`,
          description: `No target of job ${ksm} exists: kube-state-metrics is not installed, or no ServiceMonitor / scrape config selects it. The workload, CronJob and disruption-budget alerts cannot fire.`,
        },
      },
      {
        alert: 'WorkloadAutoscalerAtMaximum',
        expr: `${max('horizontalpodautoscaler', 'kube_horizontalpodautoscaler_status_current_replicas')} >= ${max('horizontalpodautoscaler', 'kube_horizontalpodautoscaler_spec_max_replicas')}`,
        for: maxedFor,
        labels: labels('warning'),
        annotations: {
          summary: `HPA {{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} has run at its maximum of {{ $value }} replicas for ${maxedFor}`,
          description:
            "The workload cannot grow any further: more load means slower responses or errors. Raise maxReplicas (and the node group's maximum if the pods would not fit), or find why the load or the usage per pod grew: kubectl -n {{ $labels.namespace }} describe hpa {{ $labels.horizontalpodautoscaler }}.",
        },
      },
      {
        alert: 'WorkloadDisruptionBlocked',
        expr: `${max('poddisruptionbudget', 'kube_poddisruptionbudget_status_pod_disruptions_allowed')} == 0`,
        for: blockedFor,
        labels: labels('warning'),
        annotations: {
          summary: `PodDisruptionBudget {{ $labels.namespace }}/{{ $labels.poddisruptionbudget }} has allowed no disruption for ${blockedFor}`,
          description:
            'Every node drain (upgrades, cluster-autoscaler scale-down) waits on it. Its pods are unhealthy or fewer than the budget needs, or the budget is as large as the workload: kubectl -n {{ $labels.namespace }} get pdb {{ $labels.poddisruptionbudget }} -o yaml.',
        },
      },
      {
        alert: 'WorkloadReplicasUnavailable',
        expr: `${max('deployment', 'kube_deployment_status_replicas_unavailable')} > 0`,
        for: unavailableFor,
        labels: labels('warning'),
        annotations: {
          summary: `Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has had {{ $value }} unavailable replicas for ${unavailableFor}`,
          description:
            'Pods are Pending (no node fits them), crash-looping or failing readiness, and the workload runs with less headroom than planned: kubectl -n {{ $labels.namespace }} get pods -l app.kubernetes.io/name={{ $labels.deployment }}.',
        },
      },
      {
        alert: 'WorkloadDeploymentDown',
        expr: `(${max('deployment', 'kube_deployment_status_replicas_available')} == 0) and on (namespace, deployment) (${max('deployment', 'kube_deployment_spec_replicas')} > 0)`,
        for: DEPLOYMENT_DOWN_FOR,
        labels: labels('critical'),
        annotations: {
          summary: 'Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has no available replica',
          description: 'The workload serves nothing. Look at its pods and their events: kubectl -n {{ $labels.namespace }} describe pods -l app.kubernetes.io/name={{ $labels.deployment }}.',
        },
      },
    ];
    const groups: AlertRuleGroup[] = [{ name: `${name}.rules`, rules }];
    if (props.elasticsearch !== undefined) groups.push({ name: `${name}.elasticsearch.rules`, rules: elasticsearchRules(this.job('elasticsearch.job', props.elasticsearch.job)) });
    this.groups = Object.freeze(groups);

    if (prometheusLabels) this.prometheusRule = prometheusRuleObject(this, 'prometheus-rule', { name, namespace: env.namespace, labels: prometheusLabels }, this.groups);
    this.rulesFile = alertRulesFile(this, props.rulesFile, `monitoring/${name}.rules.yml`, () => this.groups);
  }

  private job(field: string, job: unknown): string {
    if (typeof job !== 'string' || !JOB_NAME.test(job)) {
      throw new ShipshapeError(this, {
        problem: `${field} must be a Prometheus job name (letters, digits, "_", ".", ":", "/", "-")`,
        value: job,
        fix: 'use the Service name the Prometheus Operator names the job after, e.g. "kube-state-metrics"',
      });
    }
    return job;
  }
}

/**
 * Rules on prometheus-community elasticsearch-exporter metrics: the exporter absent or unable to reach the cluster,
 * health red or yellow, and a data node's disk above the low and high watermarks.
 */
function elasticsearchRules(job: string): AlertRule[] {
  const sel = (extra = '') => `{job="${job}"${extra}}`;
  const labels = (severity: string) => ({ severity, component: 'elasticsearch' });
  const used = `100 * (1 - max by (cluster, name) (elasticsearch_filesystem_data_available_bytes${sel()}) / max by (cluster, name) (elasticsearch_filesystem_data_size_bytes${sel()}))`;
  const health = (color: string) => `max by (cluster) (elasticsearch_cluster_health_status${sel(`,color="${color}"`)}) == 1`;
  const look = 'kubectl -n <namespace> exec <elasticsearch pod> -- curl -su elastic localhost:9200/_cluster/allocation/explain?pretty';
  return [
    {
      alert: 'ElasticsearchMetricsAbsent',
      expr: `absent(up${sel()})`,
      for: ABSENT_FOR,
      labels: labels('warning'),
      annotations: {
        summary: `Prometheus scrapes no elasticsearch-exporter (job ${job})`,
        description: 'The Elasticsearch health and disk alerts cannot fire: the exporter is not running or not selected by a ServiceMonitor / scrape config.',
      },
    },
    {
      alert: 'ElasticsearchUnreachable',
      expr: `max by (instance) (elasticsearch_cluster_health_up${sel()}) == 0`,
      for: DOWN_FOR,
      labels: labels('critical'),
      annotations: {
        summary: 'elasticsearch-exporter {{ $labels.instance }} cannot read the cluster health',
        description: "Elasticsearch does not answer, or refuses the exporter's credentials; the collectors are probably failing to write too. Check the Elasticsearch pods and the exporter's log.",
      },
    },
    {
      alert: 'ElasticsearchClusterRed',
      expr: health('red'),
      for: RED_FOR,
      labels: labels('critical'),
      annotations: {
        summary: 'Elasticsearch cluster {{ $labels.cluster }} is red',
        description: `A primary shard is unassigned: writes to its index fail and searches miss its data. Find the reason with ${look}.`,
      },
    },
    {
      alert: 'ElasticsearchClusterYellow',
      expr: health('yellow'),
      for: YELLOW_FOR,
      labels: labels('warning'),
      annotations: {
        summary: `Elasticsearch cluster {{ $labels.cluster }} has been yellow for ${YELLOW_FOR}`,
        description: `A replica shard is unassigned: one more node lost loses data. A node is down, or its disk is above the low watermark. Find the reason with ${look}.`,
      },
    },
    {
      alert: 'ElasticsearchDiskLowWatermark',
      expr: `${used} > ${DISK_LOW_WATERMARK_PERCENT}`,
      for: '15m',
      labels: labels('warning'),
      annotations: {
        summary: 'Elasticsearch node {{ $labels.name }} uses {{ printf "%.0f" $value }}% of its data disk',
        description: `Above the low watermark (${DISK_LOW_WATERMARK_PERCENT} %) Elasticsearch places no new shard on the node. Lower the retention, or grow the volume, before the high watermark (${DISK_HIGH_WATERMARK_PERCENT} %).`,
      },
    },
    {
      alert: 'ElasticsearchDiskHighWatermark',
      expr: `${used} > ${DISK_HIGH_WATERMARK_PERCENT}`,
      for: '5m',
      labels: labels('critical'),
      annotations: {
        summary: 'Elasticsearch node {{ $labels.name }} uses {{ printf "%.0f" $value }}% of its data disk',
        description: `Above the high watermark (${DISK_HIGH_WATERMARK_PERCENT} %) Elasticsearch moves shards away; at 95 % it makes every index read-only and the collectors' writes fail. Delete old indices or grow the volume now.`,
      },
    },
  ];
}
