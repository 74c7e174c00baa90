// A web service that survives node and zone failures, in one production environment.
// Run: npx tsx examples/anti-affinity-deployment/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import * as kplus from 'cdk8s-plus-27';
import { AntiAffinityDeployment, Environment, MetricsServer, ShipshapeApp, Stack } from 'shipshape';

const prod = new Environment({
  name: 'prod',
  kubernetesVersion: '1.29',
  zones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  nodeGroups: [{ name: 'webapi', minSize: 3, maxSize: 10 }],
});

const app = new ShipshapeApp({ outdir: process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/anti-affinity-deployment' });
const stack = new Stack(app, 'prod', { environment: prod });

// The HPA reads CPU usage from metrics-server; synth refuses an HPA without it.
new MetricsServer(stack, 'metrics-server');

const shop = new AntiAffinityDeployment(stack, 'shop', {
  name: 'shop',
  image: 'ghcr.io/acme/shop:2.3.1',
  nodeGroup: 'webapi',
  ports: [{ port: 8080 }],
  liveness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
  readiness: kplus.Probe.fromHttpGet('/readyz', { port: 8080 }),
  autoscaling: { minReplicas: 3, maxReplicas: 12 },
  env: { PAYMENT_API_TOKEN: { secret: 'shop-payment', key: 'token' } },
});

app.synth();
console.log(`shop is reachable at ${shop.url}`);
