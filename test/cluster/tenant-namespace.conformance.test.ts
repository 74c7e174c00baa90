import { Size } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-27';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Manifest, SynthesizedStack, synthesizeStack } from '../../lib';
import { TeamAccess, TenantNamespace } from '../../lib/cluster';
import { conformanceSuite } from '../support/conformance';
import { ApiServer, KubectlResult, startApiServer } from '../support/envtest';
import { kubectlInBackground } from '../support/rbac';
import { newStack } from '../support/synth';

/*
 * A TenantNamespace applied to a real kube-apiserver (envtest: no controller-manager, scheduler or kubelet), whose
 * admission chain then decides: LimitRanger fills in defaults, ResourceQuota refuses what exceeds the quota,
 * PodSecurity refuses privileged pods. Pods are created for real (they stay Pending: nothing schedules them), so
 * the quota's usage grows with every admitted pod.
 */

const TENANT = 'payments';
const PEER = 'ledger';
const QUOTA = `${TENANT}-quota`;
// Seconds the admission plugins may take to see a new LimitRange or quota status (they read through informers).
const SETTLE_SECONDS = 30;

let api: ApiServer;
let synthesized: SynthesizedStack;
const summary: string[] = [];

const list = (items: readonly object[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const kubectl = (args: string[], input?: string): Promise<KubectlResult> => kubectlInBackground(api, args, { input, timeoutSeconds: 60 });
async function must(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}
const objects = (kind?: string): Manifest[] => synthesized.objects.map((o) => o.manifest).filter((m) => kind === undefined || m.kind === kind);

const RESTRICTED_POD = { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } };
const RESTRICTED_CONTAINER = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

interface ContainerShape {
  readonly resources?: object;
  readonly securityContext?: object;
}

/** A bare Pod in the tenant namespace; restricted unless the containers say otherwise. */
function pod(name: string, containers: ContainerShape[] = [{}], podSecurity: object = RESTRICTED_POD): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: TENANT },
    spec: {
      securityContext: podSecurity,
      containers: containers.map((c, i) => ({ name: `app-${i}`, image: 'registry.example/payments:1.4.2', securityContext: RESTRICTED_CONTAINER, ...c })),
    },
  };
}

/** Containers of 400Mi each, within the per-container maximum (1Gi): 3 are over the whole quota, 2 over what two pods leave. */
function bigPod(containers = 2): object {
  return pod(
    'too-big',
    Array.from({ length: containers }, () => ({ resources: { requests: { cpu: '100m', memory: '400Mi' }, limits: { cpu: '100m', memory: '400Mi' } } })),
  );
}

/** Repeats `attempt` until it returns true, or fails after SETTLE_SECONDS with what it last saw. */
async function settle(what: string, attempt: () => Promise<true | string>): Promise<void> {
  const deadline = Date.now() + SETTLE_SECONDS * 1000;
  for (;;) {
    const r = await attempt();
    if (r === true) return;
    if (Date.now() > deadline) throw new Error(`${what} not settled after ${SETTLE_SECONDS}s: ${r}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function quotaStatus(): Promise<{ hard: Record<string, string>; used: Record<string, string> }> {
  return JSON.parse(await must(['get', 'resourcequota', QUOTA, '-n', TENANT, '-o', 'json'])).status;
}

conformanceSuite('TenantNamespace guard rails enforced by a real kube-apiserver', ['kube-apiserver', 'kubectl'], () => {
  beforeAll(async () => {
    const server = startApiServer();
    server.catch(() => undefined);
    try {
      const stack = newStack();
      const ledger = new TenantNamespace(stack, PEER, { name: PEER, quota: { requests: { cpu: Cpu.units(1), memory: Size.gibibytes(1) }, pods: 5, services: 2, persistentVolumeClaims: 0 } });
      const payments = new TenantNamespace(stack, TENANT, {
        name: TENANT,
        quota: {
          requests: { cpu: Cpu.units(1), memory: Size.gibibytes(1) },
          limits: { cpu: Cpu.units(2), memory: Size.gibibytes(2) },
          pods: 3,
          services: 2,
          persistentVolumeClaims: 1,
        },
        containerDefaults: { cpu: { request: Cpu.millis(100), limit: Cpu.millis(500) } },
        containerMaximum: { cpu: Cpu.units(1), memory: Size.gibibytes(1) },
        allow: [
          { name: 'from-ingress', direction: 'ingress', peer: { namespace: 'ingress-nginx', podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } }, ports: [{ port: 8080 }, { port: 'http' }] },
          { name: 'to-ledger', direction: 'egress', peer: { namespace: ledger, podLabels: { app: 'ledger-api' } }, ports: [{ port: 5432 }] },
        ],
      });
      new TeamAccess(stack, 'payments-access', { namespace: payments, serviceAccounts: ['developer1'], preset: 'deployer' });
      synthesized = synthesizeStack(stack);
    } finally {
      api = await server;
    }
    expect(synthesized.problems).toEqual([]);
    // Namespaces first, so the objects in them can be checked and created.
    await must(['apply', '--server-side', '--validate=strict', '-f', '-'], list(objects('Namespace')));
    // No controller-manager, so no namespace gets its `default` ServiceAccount, which ServiceAccount admission requires of a pod.
    await must(['create', 'serviceaccount', 'default', '-n', TENANT]);
  }, 180_000);

  afterAll(async () => {
    await api?.stop();
    if (summary.length) console.log(`TenantNamespace on kube-apiserver:\n  ${summary.join('\n  ')}`);
  });

  it('accepts the NetworkPolicies in a server-side dry run, and the dry run does refuse a broken one', async () => {
    const policies = objects('NetworkPolicy');
    expect(policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort()).toEqual([
      'ledger/ledger-allow-dns',
      'ledger/ledger-default-deny',
      'payments/payments-allow-dns',
      'payments/payments-allow-from-ingress',
      'payments/payments-allow-to-ledger',
      'payments/payments-default-deny',
    ]);
    const out = await must(['apply', '--server-side', '--dry-run=server', '--validate=strict', '-o', 'name', '-f', '-'], list(policies));
    expect(out.split('\n').filter(Boolean).sort()).toEqual(policies.map((p) => `networkpolicy.networking.k8s.io/${p.metadata.name}`).sort());
    // Control: the same dry run with a port the API server refuses.
    const broken = structuredClone(policies.find((p) => p.metadata.name === 'payments-allow-to-ledger')!) as any;
    broken.spec.egress[0].ports[0].port = 70000;
    const refused = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], JSON.stringify(broken));
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/must be between 1 and 65535/);
    expect(JSON.parse(await must(['get', 'networkpolicies', '-n', TENANT, '-o', 'json'])).items).toEqual([]);
    summary.push(`${policies.length} NetworkPolicies accepted by a server-side dry run; a port of 70000 refused`);
  });

  it('applies every object strictly, and the server then sees no difference', async () => {
    const rest = objects().filter((o) => o.kind !== 'Namespace');
    const applied = await must(['apply', '--server-side', '--validate=strict', '-o', 'name', '-f', '-'], list(rest));
    expect(applied.split('\n').filter(Boolean)).toHaveLength(rest.length);
    const diff = await kubectl(['diff', '--server-side', '-f', '-'], list(objects()));
    expect(diff.status, diff.stdout + diff.stderr).toBe(0);
    const ns = JSON.parse(await must(['get', 'namespace', TENANT, '-o', 'json']));
    expect(ns.metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'v1.29', 'kubernetes.io/metadata.name': TENANT });
    summary.push(`${objects().length} objects applied, diff empty`);
  });

  it('populates the quota status as the quota controller would, after which admission enforces it', async () => {
    // No kube-controller-manager runs here, so nothing fills in the quota's status, and ResourceQuota admission
    // only enforces the resources listed in status.hard: until then every pod passes. This sets the status the way
    // the quota controller does for a new namespace: hard copied from spec.hard, nothing used yet.
    const overQuota = JSON.stringify(bigPod(3));
    const before = await kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], overQuota);
    expect(before.status, `without a quota status nothing is enforced: ${before.stderr}`).toBe(0);
    const hard: Record<string, string> = JSON.parse(await must(['get', 'resourcequota', QUOTA, '-n', TENANT, '-o', 'json'])).spec.hard;
    const used = Object.fromEntries(Object.keys(hard).map((k) => [k, '0']));
    await must(['patch', 'resourcequota', QUOTA, '-n', TENANT, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { hard, used } })]);
    expect(hard).toEqual({
      'requests.cpu': '1',
      'requests.memory': '1Gi',
      'limits.cpu': '2',
      'limits.memory': '2Gi',
      pods: '3',
      services: '2',
      'services.loadbalancers': '0',
      'services.nodeports': '0',
      persistentvolumeclaims: '1',
    });
    // Admission reads quotas and LimitRanges through informers: wait until both are seen.
    await settle('quota and LimitRange admission', async () => {
      const refused = await kubectl(['create', '--dry-run=server', '-f', '-'], overQuota);
      if (refused.status === 0) return 'the over-quota pod is still admitted';
      const r = await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify(pod('probe')));
      if (r.status !== 0) return r.stderr;
      return JSON.parse(r.stdout).spec.containers[0].resources?.limits?.cpu === '500m' ? true : `no defaults yet: ${r.stdout}`;
    });
  });

  it('admits a restricted Pod inside the quota, and counts it', async () => {
    const within = pod('checkout', [{ resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '500m', memory: '512Mi' } } }]);
    await must(['create', '-f', '-'], JSON.stringify(within));
    const status = await quotaStatus();
    expect(status.used).toMatchObject({ pods: '1', 'requests.cpu': '250m', 'requests.memory': '256Mi', 'limits.cpu': '500m', 'limits.memory': '512Mi' });
  });

  it('gives a Pod without resources the LimitRange defaults (read back from the server)', async () => {
    await must(['create', '-f', '-'], JSON.stringify(pod('bare')));
    const created = JSON.parse(await must(['get', 'pod', 'bare', '-n', TENANT, '-o', 'json']));
    expect(created.spec.containers[0].resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } });
    expect(created.metadata.annotations['kubernetes.io/limit-ranger']).toMatch(/LimitRanger plugin set: cpu, memory request for container app-0; cpu, memory limit for container app-0/);
    expect((await quotaStatus()).used).toMatchObject({ pods: '2', 'requests.cpu': '350m', 'requests.memory': '384Mi' });
    summary.push('a Pod without resources got requests 100m/128Mi and limits 500m/256Mi');
  });

  it('refuses a privileged Pod and a root Pod through PodSecurity, and a container over the maximum through LimitRanger', async () => {
    const privileged = pod('privileged', [{ securityContext: { ...RESTRICTED_CONTAINER, allowPrivilegeEscalation: true, privileged: true } }]);
    const r1 = await kubectl(['create', '-f', '-'], JSON.stringify(privileged));
    expect(r1.status).not.toBe(0);
    expect(r1.stderr).toMatch(/violates PodSecurity "restricted:v1\.29": privileged \(container "app-0" must not set securityContext\.privileged=true\)/);
    const root = pod('root', [{}], { runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } });
    const r2 = await kubectl(['create', '-f', '-'], JSON.stringify(root));
    expect(r2.status).not.toBe(0);
    expect(r2.stderr).toMatch(/violates PodSecurity "restricted:v1\.29": .*runAsNonRoot != true/);
    const huge = pod('huge', [{ resources: { requests: { cpu: '100m', memory: '2Gi' }, limits: { cpu: '100m', memory: '2Gi' } } }]);
    const r3 = await kubectl(['create', '-f', '-'], JSON.stringify(huge));
    expect(r3.status).not.toBe(0);
    expect(r3.stderr).toMatch(/maximum memory usage per Container is 1Gi, but limit is 2Gi/);
    // The same pod, restricted and within the maximum, is admitted: the refusals were PodSecurity's and LimitRanger's.
    await must(['create', '--dry-run=server', '-f', '-'], JSON.stringify(pod('privileged')));
    const pods = JSON.parse(await must(['get', 'pods', '-n', TENANT, '-o', 'json']))
      .items.map((p: any) => p.metadata.name)
      .sort();
    expect(pods).toEqual(['bare', 'checkout']);
    summary.push('refused: a privileged Pod and a root Pod (PodSecurity restricted:v1.29), a 2Gi container over the 1Gi maximum');
  });

  it('refuses a bare Pod over the quota: memory, then the pod count; and LoadBalancer and NodePort Services', async () => {
    const overMemory = await kubectl(['create', '-f', '-'], JSON.stringify(bigPod()));
    expect(overMemory.status).not.toBe(0);
    expect(overMemory.stderr).toMatch(/exceeded quota: payments-quota, requested: requests\.memory=800Mi, used: requests\.memory=384Mi, limited: requests\.memory=1Gi/);

    await must(['create', '-f', '-'], JSON.stringify(pod('third')));
    const overCount = await kubectl(['create', '-f', '-'], JSON.stringify(pod('fourth')));
    expect(overCount.status).not.toBe(0);
    expect(overCount.stderr).toMatch(/exceeded quota: payments-quota, requested: pods=1, used: pods=3, limited: pods=3/);

    for (const type of ['LoadBalancer', 'NodePort']) {
      const service = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `public-${type.toLowerCase()}`, namespace: TENANT },
        spec: { type, selector: { app: 'checkout' }, ports: [{ port: 80, targetPort: 8080 }] },
      };
      const refused = await kubectl(['create', '-f', '-'], JSON.stringify(service));
      expect(refused.status, `${type} Service`).not.toBe(0);
      expect(refused.stderr).toMatch(new RegExp(`exceeded quota: payments-quota, requested: .*services\\.${type === 'LoadBalancer' ? 'loadbalancers' : 'nodeports'}=1`));
    }
    const clusterIp = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'checkout', namespace: TENANT }, spec: { selector: { app: 'checkout' }, ports: [{ port: 80, targetPort: 8080 }] } };
    await must(['create', '-f', '-'], JSON.stringify(clusterIp));
    expect((await quotaStatus()).used).toMatchObject({ pods: '3', services: '1', 'services.loadbalancers': '0', 'services.nodeports': '0' });
    summary.push('refused: 800Mi over the memory quota, a 4th pod of 3, a LoadBalancer and a NodePort Service');
  });
});
