// A web API behind ingress-nginx with a TLS certificate from cert-manager, and its next version as a canary that
// takes 10 % of the requests, plus every request carrying `X-Canary: always`.
// Run: npx tsx examples/canary-release/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import * as kplus from 'cdk8s-plus-27';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, CanaryRelease, Environment, ShipshapeApp, Stack, WorkloadIngress } from 'shipshape';

const prod = new Environment({
  name: 'prod',
  kubernetesVersion: '1.29',
  zones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  replicas: 4,
  nodeGroups: [{ name: 'webapi', minSize: 3, maxSize: 10 }],
});

const app = new ShipshapeApp({ outdir: process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/canary-release' });
const stack = new Stack(app, 'prod', { environment: prod });

// What the stable and the canary release share; only the image differs.
const api: Omit<AntiAffinityDeploymentProps, 'name' | 'image'> = {
  nodeGroup: 'webapi',
  ports: [{ port: 8080 }],
  liveness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
  readiness: kplus.Probe.fromHttpGet('/readyz', { port: 8080 }),
};
const stable = new AntiAffinityDeployment(stack, 'api', { ...api, name: 'api', image: 'ghcr.io/acme/api:2.3.1' });

// The certificate is issued by cert-manager into the Secret api-tls; no key material is ever written here.
const ingress = new WorkloadIngress(stack, 'api-ingress', {
  workload: stable,
  host: 'api.acme.example',
  paths: ['/'],
  tls: { clusterIssuer: 'letsencrypt-prod' },
});

// Two canary pods (10 % of four stable pods is one; two survive a node drain) with their own Service, so the stable
// Service never selects them.
const canary = new CanaryRelease(stack, 'api-canary', {
  stable: ingress,
  canary: { ...api, image: 'ghcr.io/acme/api:2.4.0-rc.1' },
  weight: 10,
  header: { name: 'X-Canary' },
});

app.synth();
console.log(`${ingress.url} sends ${canary.weight}% of its requests to ${canary.workload.deployment.name}`);
