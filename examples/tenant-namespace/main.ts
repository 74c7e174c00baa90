// A "payments" team's namespace on a shared cluster, with its guard rails: restricted Pod Security, a quota,
// default requests and limits, a default-deny network with DNS, the ingress controller in and the ledger team's
// API out; plus developer1's access to it.
// Run: npx tsx examples/tenant-namespace/main.ts [outdir]   (or SHIPSHAPE_OUTDIR=...)
import { Size } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-27';
import { Environment, ShipshapeApp, Stack, TeamAccess, TenantNamespace } from 'shipshape';

const stage = new Environment({ name: 'stage', kubernetesVersion: '1.29' });
const outdir = process.argv[2] ?? process.env.SHIPSHAPE_OUTDIR ?? 'dist-examples/tenant-namespace';
const app = new ShipshapeApp({ outdir });
const stack = new Stack(app, 'stage', { environment: stage });

const ledger = new TenantNamespace(stack, 'ledger', {
  name: 'ledger',
  quota: { requests: { cpu: Cpu.units(2), memory: Size.gibibytes(4) }, pods: 20, services: 5, persistentVolumeClaims: 2 },
  allow: [{ name: 'from-payments', direction: 'ingress', peer: { namespace: 'payments' }, ports: [{ port: 8443 }], pods: { 'app.kubernetes.io/name': 'ledger-api' } }],
});
const payments = new TenantNamespace(stack, 'payments', {
  name: 'payments',
  quota: { requests: { cpu: Cpu.units(4), memory: Size.gibibytes(8) }, pods: 40, services: 10, persistentVolumeClaims: 4, storage: Size.gibibytes(50) },
  containerMaximum: { memory: Size.gibibytes(4) },
  allow: [
    { name: 'from-ingress', direction: 'ingress', peer: { namespace: 'ingress-nginx', podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } }, ports: [{ port: 8080 }] },
    { name: 'to-ledger', direction: 'egress', peer: { namespace: ledger, podLabels: { 'app.kubernetes.io/name': 'ledger-api' } }, ports: [{ port: 8443 }] },
  ],
});
new TeamAccess(stack, 'payments-access', { namespace: payments, serviceAccounts: ['developer1'], preset: 'deployer' });

app.synth();
const hard = payments.resourceQuota.toJson().spec.hard;
console.log(
  `payments: quota ${hard['requests.cpu']} CPU / ${hard['requests.memory']} requested, ${hard.pods} pods; network policies ${[payments.defaultDeny, ...payments.allowPolicies].map((p) => p.name).join(', ')}`,
);
