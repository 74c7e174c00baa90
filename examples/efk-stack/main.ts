// Centralized logging for a development and a production cluster: Fluentd on every node ships container
// logs to Elasticsearch (searched in Kibana); production also archives every line to S3.
// Run: npx tsx examples/efk-stack/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import { Size } from 'cdk8s';
import { EfkLogging, Environment, ShipshapeApp, Stack } from 'shipshape';

const dev = new Environment({ name: 'dev', kubernetesVersion: '1.29', replicas: 1 });
const prod = new Environment({
  name: 'prod',
  kubernetesVersion: '1.29',
  zones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  replicas: 3,
  containerRuntime: 'containerd',
});

const outdir = process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/efk-stack';
const app = new ShipshapeApp({ outdir });

// dev: one Elasticsearch node at Elasticsearch 8's floor (Elastic's 1g heap in 2 GiB), three days searchable.
// No Prometheus Operator here: the alerts are the plain rules file only.
const devLogging = new EfkLogging(new Stack(app, 'dev', { environment: dev }), 'logging', {
  retentionDays: 3,
});

// prod: three nodes, two weeks searchable, a year in S3. The collector image adds the S3 plugin to the
// Elasticsearch variant; its Dockerfile is written next to the manifests.
const prodLogging = new EfkLogging(new Stack(app, 'prod', { environment: prod }), 'logging', {
  retentionDays: 14,
  elasticsearch: { heap: '2g', memory: Size.gibibytes(4) },
  fluentd: { image: 'registry.example.com/platform/fluentd-efk:v1.17.1-1.0' },
  archive: { bucket: 'example-logs-archive', region: 'eu-west-1', retentionDays: 365 },
  // kube-prometheus-stack runs in prod and selects rules and ServiceMonitors by its release label.
  alerts: { prometheusOperator: true, prometheusLabels: { release: 'kube-prometheus-stack' } },
  // Bump after changing a password in the elasticsearch-credentials Secret.
  credentialsRevision: '1',
});

app.synth();
for (const efk of [devLogging, prodLogging]) {
  console.log(
    `${efk.node.scope!.node.id}: Fluentd (${efk.fluentd.config.parser} parser) → ${efk.elasticsearch.url}${efk.fluentd.config.outputs.includes('s3') ? ' and S3' : ''}; Kibana at ${efk.kibana.url}`,
  );
}
