// cluster-autoscaler (3-10 webapi nodes, docs/practice.md#autoscaling) on AWS, with metrics-server for the HPAs.
// Run: npx tsx examples/cluster-autoscaler/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import { ClusterAutoscaler, Environment, MetricsServer, ShipshapeApp, Stack } from 'shipshape';

const prod = new Environment({
  name: 'prod',
  kubernetesVersion: '1.29',
  zones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  nodeGroups: [
    { name: 'webapi', minSize: 3, maxSize: 10, instanceType: 'm6i.xlarge', cloudGroupName: 'acme-prod-webapi' },
    { name: 'batch', minSize: 0, maxSize: 6, instanceType: 'c6i.2xlarge', cloudGroupName: 'acme-prod-batch', taints: [{ key: 'instancegroup', value: 'batch', effect: 'NoSchedule' }] },
  ],
});

const outdir = process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/cluster-autoscaler';
const app = new ShipshapeApp({ outdir });
const stack = new Stack(app, 'prod', { environment: prod });

const autoscaler = new ClusterAutoscaler(stack, 'cluster-autoscaler', {
  cloud: { provider: 'aws', region: 'eu-west-1', roleArn: 'arn:aws:iam::111122223333:role/acme-prod-cluster-autoscaler' },
  // Grow webapi first; batch nodes only when webapi cannot take the pods.
  expander: ['priority', 'least-waste'],
  priorities: [
    { priority: 50, nodeGroups: ['webapi'] },
    { priority: 10, nodeGroups: ['batch'] },
  ],
});
new MetricsServer(stack, 'metrics-server');

app.synth();
console.log(`cluster-autoscaler ${autoscaler.image} scales ${autoscaler.scaledGroups.map((g) => `${g.cloudGroupName} ${g.minSize}-${g.maxSize}`).join(', ')}; metrics at ${autoscaler.metricsUrl}`);
