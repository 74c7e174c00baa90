// Workload observability on a cluster that runs kube-prometheus-stack: web-api declares its metrics port and gets a
// ServiceMonitor, kube-state-metrics reports the objects the alerts read, an elasticsearch-exporter watches the
// logging cluster, and one PrometheusRule alerts on an HPA at its maximum, a PodDisruptionBudget that blocks drains,
// Deployments short of pods, and Elasticsearch health and disk. Every rule is also written as a plain rules file.
// Run: npx tsx examples/observability/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { AntiAffinityDeployment, EfkLogging, ElasticsearchExporter, Environment, KubeStateMetrics, MetricsServer, ShipshapeApp, Stack, WorkloadAlerts } from 'shipshape';

// The operator's rule and ServiceMonitor selectors match the Helm release label; every ServiceMonitor and
// PrometheusRule of this environment carries it.
const stage = new Environment({
  name: 'stage',
  kubernetesVersion: '1.30',
  zones: ['eu-west-1a', 'eu-west-1b'],
  replicas: 2,
  autoscaling: { minReplicas: 2, maxReplicas: 6 },
  monitoring: { prometheusOperator: true, prometheusLabels: { release: 'kube-prometheus-stack' } },
});
const outdir = process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/observability';
const app = new ShipshapeApp({ outdir });
const stack = new Stack(app, 'stage', { environment: stage });

// web-api's HPA reads metrics-server.
new MetricsServer(stack, 'metrics-server');

// The application serves /healthz and /readyz on 8080 and Prometheus metrics on 9090.
const api = new AntiAffinityDeployment(stack, 'web-api', {
  name: 'web-api',
  image: 'ghcr.io/acme/web-api:1.14.2',
  ports: [{ port: 8080 }],
  liveness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
  readiness: kplus.Probe.fromHttpGet('/readyz', { port: 8080 }),
  metrics: { port: 9090, interval: Duration.seconds(15) },
});

// Only where the cluster has no kube-state-metrics yet: kube-prometheus-stack brings its own under the same job name.
const ksm = new KubeStateMetrics(stack, 'kube-state-metrics');
const logging = new EfkLogging(stack, 'logging', { retentionDays: 7 });
const exporter = new ElasticsearchExporter(stack, 'elasticsearch-exporter', { elasticsearch: logging.elasticsearch });
const alerts = new WorkloadAlerts(stack, 'workload-alerts', { kubeStateMetricsJob: ksm.job, elasticsearch: exporter });

app.synth();
console.log(`web-api scraped every ${api.serviceMonitor?.interval} on port metrics; kube-state-metrics ${ksm.image}`);
console.log(`alerts: ${alerts.groups.flatMap((g) => g.rules.map((r) => r.alert)).join(', ')}`);
