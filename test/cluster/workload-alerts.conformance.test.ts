// Real-tool suite: WorkloadAlerts' rules loaded and evaluated by Prometheus' own promtool, on kube-state-metrics and
// elasticsearch-exporter series for what an operator meets: an HPA pinned at its maximum, a PodDisruptionBudget
// that blocks drains, Deployments short of pods or without any, Elasticsearch red, yellow or filling its disk, and
// the exporters down or not scraped at all. Every rule fires in one scenario and stays quiet in another. Every
// promtool call runs under `timeout`.
import { Duration } from 'cdk8s';
import { parse, stringify } from 'yaml';
import { expect, it } from 'vitest';
import { WorkloadAlerts } from '../../lib/cluster/workload-alerts';
import { AlertRule } from '../../lib/logging';
import { conformanceSuite } from '../support/conformance';
import { validateManifest } from '../support/schema';
import { findObject, synthStack } from '../support/synth';
import { promtoolWorkspace } from '../support/promtool';

function synthesize(props: ConstructorParameters<typeof WorkloadAlerts>[2], file: string) {
  let alerts!: WorkloadAlerts;
  const result = synthStack((s) => {
    alerts = new WorkloadAlerts(s, 'alerts', { prometheusLabels: { release: 'prometheus' }, ...props });
  });
  const rules = result.files.find((f) => f.path === `monitoring/${file}`)!;
  return { result, alerts, content: rules.content };
}

const all = synthesize({ elasticsearch: { job: 'elasticsearch-exporter' } }, 'workload-alerts.rules.yml');
// A narrower configuration: one namespace, shorter waits.
const narrow = synthesize({ name: 'prod-workloads', namespaces: ['prod'], autoscalerMaxedFor: Duration.minutes(5), disruptionBlockedFor: Duration.minutes(30) }, 'prod-workloads.rules.yml');

const WORKLOAD_ALERTS = ['KubeStateMetricsDown', 'KubeStateMetricsAbsent', 'WorkloadAutoscalerAtMaximum', 'WorkloadDisruptionBlocked', 'WorkloadReplicasUnavailable', 'WorkloadDeploymentDown'];
const ES_ALERTS = [
  'ElasticsearchMetricsAbsent',
  'ElasticsearchUnreachable',
  'ElasticsearchClusterRed',
  'ElasticsearchClusterYellow',
  'ElasticsearchDiskLowWatermark',
  'ElasticsearchDiskHighWatermark',
];
// Two kube-state-metrics replicas report the same objects; the rules fold them into one alert.
const KSM = [
  { job: 'kube-state-metrics', instance: '10.0.0.7:8080' },
  { job: 'kube-state-metrics', instance: '10.0.0.8:8080' },
];
const ES = { job: 'elasticsearch-exporter', instance: '10.0.1.4:9108' };

/** promtool's expanding notation for a value held over consecutive one-minute samples: [[value, minutes], ...]. */
const held = (segments: Array<[number, number]>) => segments.map(([v, minutes]) => `${v}x${minutes - 1}`).join(' ');
const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`,
  values,
});
const fromBoth = (name: string, labels: Record<string, string>, values: string) => KSM.map((k) => series(name, { ...k, ...labels }, values));

function ruleOf(alerts: WorkloadAlerts, name: string): AlertRule {
  const rule = alerts.groups.flatMap((g) => g.rules).find((r) => r.alert === name);
  if (!rule) throw new Error(`no rule ${name}`);
  return rule;
}

/** The expected alert: the series' labels plus the rule's, and its annotations expanded as Prometheus does. */
function alert(alerts: WorkloadAlerts, name: string, labels: Record<string, string>, value?: number) {
  const rule = ruleOf(alerts, name);
  const all = { ...labels, ...rule.labels };
  const expand = (t: string) =>
    t
      .replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, l) => all[l])
      .replace(/\{\{ printf "%\.0f" \$value \}\}/g, () => String(Math.round(value!)))
      .replace(/\{\{ \$value \}\}/g, () => String(value));
  return { exp_labels: all, exp_annotations: Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, expand(v)])) };
}
const quiet = (at: string, names: string[]) => names.map((alertname) => ({ eval_time: at, alertname, exp_alerts: [] }));
const ksmUp = fromBoth('up', {}, held([[1, 130]]));

conformanceSuite('workload alerts (promtool)', ['promtool'], () => {
  const { promtool, write, test: promtoolTest } = promtoolWorkspace('workload-alerts', () => ({ 'all.rules.yml': all.content, 'narrow.rules.yml': narrow.content }));

  it('writes rules promtool accepts, as a plain file and as the PrometheusRule the operator loads', () => {
    expect(all.result.problems).toEqual([]);
    const count = WORKLOAD_ALERTS.length + ES_ALERTS.length;
    expect(promtool(['check', 'rules', 'all.rules.yml'])).toMatch(new RegExp(`SUCCESS: ${count} rules found`));
    expect(promtool(['check', 'rules', 'narrow.rules.yml'])).toMatch(new RegExp(`SUCCESS: ${WORKLOAD_ALERTS.length} rules found`));
    const rule = findObject(all.result, 'PrometheusRule', 'workload-alerts');
    validateManifest(rule);
    expect(rule.metadata.labels).toMatchObject({ release: 'prometheus' });
    expect(rule.spec.groups.flatMap((g: { rules: AlertRule[] }) => g.rules.map((r) => r.alert))).toEqual([...WORKLOAD_ALERTS, ...ES_ALERTS]);
    expect(parse(all.content)).toEqual({ groups: rule.spec.groups });
    write('prometheusrule.rules.yml', stringify({ groups: rule.spec.groups }));
    expect(promtool(['check', 'rules', 'prometheusrule.rules.yml'])).toMatch(new RegExp(`SUCCESS: ${count} rules found`));
  });

  it('fire for an HPA at its maximum for 15 minutes, not for one below it or one that came back down', () => {
    const a = all.alerts;
    const maxed = { namespace: 'prod', horizontalpodautoscaler: 'web-api' };
    const below = { namespace: 'prod', horizontalpodautoscaler: 'search' };
    const peak = { namespace: 'prod', horizontalpodautoscaler: 'checkout' };
    const out = promtoolTest('hpa', 'all.rules.yml', [
      {
        interval: '1m',
        input_series: [
          ...ksmUp,
          ...fromBoth('kube_horizontalpodautoscaler_spec_max_replicas', maxed, held([[10, 60]])),
          ...fromBoth(
            'kube_horizontalpodautoscaler_status_current_replicas',
            maxed,
            held([
              [4, 5],
              [10, 55],
            ]),
          ),
          ...fromBoth('kube_horizontalpodautoscaler_spec_max_replicas', below, held([[10, 60]])),
          ...fromBoth('kube_horizontalpodautoscaler_status_current_replicas', below, held([[9, 60]])),
          // A ten-minute peak at the maximum, then back to 6.
          ...fromBoth('kube_horizontalpodautoscaler_spec_max_replicas', peak, held([[8, 60]])),
          ...fromBoth(
            'kube_horizontalpodautoscaler_status_current_replicas',
            peak,
            held([
              [8, 10],
              [6, 50],
            ]),
          ),
        ],
        alert_rule_test: [
          { eval_time: '19m', alertname: 'WorkloadAutoscalerAtMaximum', exp_alerts: [] },
          { eval_time: '21m', alertname: 'WorkloadAutoscalerAtMaximum', exp_alerts: [alert(a, 'WorkloadAutoscalerAtMaximum', maxed, 10)] },
          { eval_time: '50m', alertname: 'WorkloadAutoscalerAtMaximum', exp_alerts: [alert(a, 'WorkloadAutoscalerAtMaximum', maxed, 10)] },
          ...quiet('50m', ['KubeStateMetricsDown', 'KubeStateMetricsAbsent', 'WorkloadDisruptionBlocked', 'WorkloadReplicasUnavailable', 'WorkloadDeploymentDown']),
        ],
      },
    ]);
    expect(out).toMatch(/SUCCESS/);
  });

  it('fire for a PodDisruptionBudget that allowed no disruption for an hour, not for one that allows one or recovered', () => {
    const a = all.alerts;
    const blocked = { namespace: 'prod', poddisruptionbudget: 'web-api' };
    const allows = { namespace: 'prod', poddisruptionbudget: 'search' };
    const recovered = { namespace: 'logging', poddisruptionbudget: 'elasticsearch' };
    const out = promtoolTest('pdb', 'all.rules.yml', [
      {
        interval: '1m',
        input_series: [
          ...ksmUp,
          ...fromBoth('kube_poddisruptionbudget_status_pod_disruptions_allowed', blocked, held([[0, 130]])),
          ...fromBoth('kube_poddisruptionbudget_status_pod_disruptions_allowed', allows, held([[1, 130]])),
          // Blocked for 50 minutes during a rollout of the StatefulSet, then free again.
          ...fromBoth(
            'kube_poddisruptionbudget_status_pod_disruptions_allowed',
            recovered,
            held([
              [0, 50],
              [1, 80],
            ]),
          ),
        ],
        alert_rule_test: [
          { eval_time: '59m', alertname: 'WorkloadDisruptionBlocked', exp_alerts: [] },
          { eval_time: '61m', alertname: 'WorkloadDisruptionBlocked', exp_alerts: [alert(a, 'WorkloadDisruptionBlocked', blocked)] },
          { eval_time: '2h', alertname: 'WorkloadDisruptionBlocked', exp_alerts: [alert(a, 'WorkloadDisruptionBlocked', blocked)] },
        ],
      },
    ]);
    expect(out).toMatch(/SUCCESS/);
  });

  it('fire for a Deployment short of pods for 15 minutes and, sooner, for one with none; not during a short rollout or for one scaled to zero', () => {
    const a = all.alerts;
    const short = { namespace: 'prod', deployment: 'web-api' };
    const rollout = { namespace: 'prod', deployment: 'report-worker' };
    const down = { namespace: 'prod', deployment: 'checkout' };
    const zero = { namespace: 'prod', deployment: 'batch-import' };
    const out = promtoolTest('deployments', 'all.rules.yml', [
      {
        interval: '1m',
        input_series: [
          ...ksmUp,
          ...fromBoth('kube_deployment_status_replicas_unavailable', short, held([[1, 60]])),
          ...fromBoth('kube_deployment_status_replicas_available', short, held([[2, 60]])),
          ...fromBoth('kube_deployment_spec_replicas', short, held([[3, 60]])),
          ...fromBoth(
            'kube_deployment_status_replicas_unavailable',
            rollout,
            held([
              [0, 10],
              [1, 5],
              [0, 45],
            ]),
          ),
          ...fromBoth('kube_deployment_status_replicas_available', rollout, held([[2, 60]])),
          ...fromBoth('kube_deployment_spec_replicas', rollout, held([[2, 60]])),
          ...fromBoth(
            'kube_deployment_status_replicas_unavailable',
            down,
            held([
              [0, 10],
              [3, 50],
            ]),
          ),
          ...fromBoth(
            'kube_deployment_status_replicas_available',
            down,
            held([
              [3, 10],
              [0, 50],
            ]),
          ),
          ...fromBoth('kube_deployment_spec_replicas', down, held([[3, 60]])),
          ...fromBoth('kube_deployment_status_replicas_unavailable', zero, held([[0, 60]])),
          ...fromBoth('kube_deployment_status_replicas_available', zero, held([[0, 60]])),
          ...fromBoth('kube_deployment_spec_replicas', zero, held([[0, 60]])),
        ],
        alert_rule_test: [
          { eval_time: '14m', alertname: 'WorkloadReplicasUnavailable', exp_alerts: [] },
          { eval_time: '14m', alertname: 'WorkloadDeploymentDown', exp_alerts: [] },
          { eval_time: '16m', alertname: 'WorkloadDeploymentDown', exp_alerts: [alert(a, 'WorkloadDeploymentDown', down, 0)] },
          { eval_time: '16m', alertname: 'WorkloadReplicasUnavailable', exp_alerts: [alert(a, 'WorkloadReplicasUnavailable', short, 1)] },
          { eval_time: '26m', alertname: 'WorkloadReplicasUnavailable', exp_alerts: [alert(a, 'WorkloadReplicasUnavailable', short, 1), alert(a, 'WorkloadReplicasUnavailable', down, 3)] },
        ],
      },
    ]);
    expect(out).toMatch(/SUCCESS/);
  });

  it('fire when kube-state-metrics is down or not scraped at all, and stay quiet while it answers', () => {
    const a = all.alerts;
    const out = promtoolTest('kube-state-metrics', 'all.rules.yml', [
      {
        // One replica stops answering.
        interval: '1m',
        input_series: [
          series('up', KSM[0], held([[1, 60]])),
          series(
            'up',
            KSM[1],
            held([
              [1, 5],
              [0, 55],
            ]),
          ),
        ],
        alert_rule_test: [
          { eval_time: '4m', alertname: 'KubeStateMetricsDown', exp_alerts: [] },
          { eval_time: '14m', alertname: 'KubeStateMetricsDown', exp_alerts: [] },
          { eval_time: '16m', alertname: 'KubeStateMetricsDown', exp_alerts: [alert(a, 'KubeStateMetricsDown', KSM[1], 0)] },
          ...quiet('16m', ['KubeStateMetricsAbsent']),
        ],
      },
      {
        // Prometheus runs (its own job is scraped) but has no kube-state-metrics target: absent series.
        interval: '1m',
        input_series: [series('up', { job: 'prometheus', instance: 'localhost:9090' }, held([[1, 60]]))],
        alert_rule_test: [
          { eval_time: '14m', alertname: 'KubeStateMetricsAbsent', exp_alerts: [] },
          { eval_time: '16m', alertname: 'KubeStateMetricsAbsent', exp_alerts: [alert(a, 'KubeStateMetricsAbsent', { job: 'kube-state-metrics' })] },
          ...quiet('16m', ['KubeStateMetricsDown', 'WorkloadAutoscalerAtMaximum', 'WorkloadDisruptionBlocked', 'WorkloadReplicasUnavailable', 'WorkloadDeploymentDown']),
        ],
      },
    ]);
    expect(out).toMatch(/SUCCESS/);
  });

  it('fire for Elasticsearch red, yellow, past the disk watermarks, unreachable or not scraped; quiet when green with room', () => {
    const a = all.alerts;
    const cluster = { cluster: 'elasticsearch' };
    const node = (name: string) => ({ ...ES, cluster: 'elasticsearch', name, mount: '/usr/share/elasticsearch/data (/dev/nvme1n1)', path: '/usr/share/elasticsearch/data' });
    const health = (color: string, values: string) => series('elasticsearch_cluster_health_status', { ...ES, ...cluster, color }, values);
    const GiB = 2 ** 30;
    const disk = (name: string, freeGiB: Array<[number, number]>) => [
      series('elasticsearch_filesystem_data_size_bytes', node(name), held([[100 * GiB, 60]])),
      series('elasticsearch_filesystem_data_available_bytes', node(name), held(freeGiB.map(([g, m]) => [g * GiB, m]))),
    ];
    const healthy = [
      series('up', ES, held([[1, 60]])),
      series('elasticsearch_cluster_health_up', ES, held([[1, 60]])),
      health('green', held([[1, 60]])),
      health('yellow', held([[0, 60]])),
      health('red', held([[0, 60]])),
      ...disk('elasticsearch-0', [[40, 60]]),
    ];
    const out = promtoolTest('elasticsearch', 'all.rules.yml', [
      { interval: '1m', input_series: healthy, alert_rule_test: quiet('45m', ES_ALERTS) },
      {
        // Node 1 fills up: 80 % used (below the low watermark), then 88 %, then 93 %; node 2 stays at 50 %.
        interval: '1m',
        input_series: [
          series('up', ES, held([[1, 60]])),
          ...disk('elasticsearch-1', [
            [20, 10],
            [12, 25],
            [7, 25],
          ]),
          ...disk('elasticsearch-2', [[50, 60]]),
        ],
        alert_rule_test: [
          { eval_time: '9m', alertname: 'ElasticsearchDiskLowWatermark', exp_alerts: [] },
          { eval_time: '24m', alertname: 'ElasticsearchDiskLowWatermark', exp_alerts: [] },
          { eval_time: '26m', alertname: 'ElasticsearchDiskLowWatermark', exp_alerts: [alert(a, 'ElasticsearchDiskLowWatermark', { cluster: 'elasticsearch', name: 'elasticsearch-1' }, 88)] },
          { eval_time: '26m', alertname: 'ElasticsearchDiskHighWatermark', exp_alerts: [] },
          { eval_time: '41m', alertname: 'ElasticsearchDiskHighWatermark', exp_alerts: [alert(a, 'ElasticsearchDiskHighWatermark', { cluster: 'elasticsearch', name: 'elasticsearch-1' }, 93)] },
        ],
      },
      {
        // Yellow for 40 minutes (a node lost), then red.
        interval: '1m',
        input_series: [
          series('up', ES, held([[1, 90]])),
          series('elasticsearch_cluster_health_up', ES, held([[1, 90]])),
          health('green', held([[0, 90]])),
          health(
            'yellow',
            held([
              [1, 40],
              [0, 50],
            ]),
          ),
          health(
            'red',
            held([
              [0, 40],
              [1, 50],
            ]),
          ),
        ],
        alert_rule_test: [
          { eval_time: '29m', alertname: 'ElasticsearchClusterYellow', exp_alerts: [] },
          { eval_time: '31m', alertname: 'ElasticsearchClusterYellow', exp_alerts: [alert(a, 'ElasticsearchClusterYellow', cluster)] },
          { eval_time: '44m', alertname: 'ElasticsearchClusterRed', exp_alerts: [] },
          { eval_time: '46m', alertname: 'ElasticsearchClusterRed', exp_alerts: [alert(a, 'ElasticsearchClusterRed', cluster)] },
          { eval_time: '46m', alertname: 'ElasticsearchClusterYellow', exp_alerts: [] },
        ],
      },
      {
        // The exporter answers but Elasticsearch does not (or refuses its password).
        interval: '1m',
        input_series: [
          series('up', ES, held([[1, 30]])),
          series(
            'elasticsearch_cluster_health_up',
            ES,
            held([
              [1, 5],
              [0, 25],
            ]),
          ),
        ],
        alert_rule_test: [
          { eval_time: '14m', alertname: 'ElasticsearchUnreachable', exp_alerts: [] },
          { eval_time: '16m', alertname: 'ElasticsearchUnreachable', exp_alerts: [alert(a, 'ElasticsearchUnreachable', { instance: ES.instance }, 0)] },
          ...quiet('16m', ['ElasticsearchMetricsAbsent']),
        ],
      },
      {
        // No exporter target at all.
        interval: '1m',
        input_series: [...ksmUp],
        alert_rule_test: [
          { eval_time: '14m', alertname: 'ElasticsearchMetricsAbsent', exp_alerts: [] },
          { eval_time: '16m', alertname: 'ElasticsearchMetricsAbsent', exp_alerts: [alert(a, 'ElasticsearchMetricsAbsent', { job: 'elasticsearch-exporter' })] },
        ],
      },
    ]);
    expect(out).toMatch(/SUCCESS/);
  });

  it('watch only the listed namespaces, with the configured waits', () => {
    const a = narrow.alerts;
    const prod = { namespace: 'prod', horizontalpodautoscaler: 'web-api' };
    const other = { namespace: 'team1', horizontalpodautoscaler: 'web-api' };
    const pdb = { namespace: 'prod', poddisruptionbudget: 'web-api' };
    const out = promtoolTest('narrow', 'narrow.rules.yml', [
      {
        interval: '1m',
        input_series: [
          ...ksmUp,
          ...fromBoth('kube_horizontalpodautoscaler_spec_max_replicas', prod, held([[5, 60]])),
          ...fromBoth('kube_horizontalpodautoscaler_status_current_replicas', prod, held([[5, 60]])),
          ...fromBoth('kube_horizontalpodautoscaler_spec_max_replicas', other, held([[5, 60]])),
          ...fromBoth('kube_horizontalpodautoscaler_status_current_replicas', other, held([[5, 60]])),
          ...fromBoth('kube_poddisruptionbudget_status_pod_disruptions_allowed', pdb, held([[0, 60]])),
          ...fromBoth('kube_poddisruptionbudget_status_pod_disruptions_allowed', { namespace: 'team1', poddisruptionbudget: 'api' }, held([[0, 60]])),
        ],
        alert_rule_test: [
          { eval_time: '4m', alertname: 'WorkloadAutoscalerAtMaximum', exp_alerts: [] },
          { eval_time: '6m', alertname: 'WorkloadAutoscalerAtMaximum', exp_alerts: [alert(a, 'WorkloadAutoscalerAtMaximum', prod, 5)] },
          { eval_time: '29m', alertname: 'WorkloadDisruptionBlocked', exp_alerts: [] },
          { eval_time: '31m', alertname: 'WorkloadDisruptionBlocked', exp_alerts: [alert(a, 'WorkloadDisruptionBlocked', pdb)] },
        ],
      },
    ]);
    expect(out).toMatch(/SUCCESS/);
  });
});
