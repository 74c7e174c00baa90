import { afterAll, beforeAll, expect, it } from 'vitest';
import { Manifest, SynthesizedStack, synthesizeStack } from '../../lib';
import { AccessPreset, AutoscalerCloud, CLUSTER_AUTOSCALER_NAME, ClusterAutoscaler, KUBE_SYSTEM, TeamAccess } from '../../lib/cluster';
import { conformanceSuite } from '../support/conformance';
import { ApiServer, KubectlResult, startApiServer, waitEstablished } from '../support/envtest';
import { CanIResult, RbacCheck, SECRET_ROUTES, ServiceAccountRef, TEAM_MATRIX, canI, canIProblem, kubectlInBackground, matrixReadsSecrets, twoAtATime } from '../support/rbac';
import { newStack } from '../support/synth';

/*
 * RBAC of each TeamAccess preset and of the cluster-autoscaler for each cloud, asked of a real kube-apiserver
 * (`kubectl auth can-i --as=<ServiceAccount>`), plus a few real requests as those ServiceAccounts. The reference
 * platform's own environments are checked by test/stacks/platform.conformance.test.ts with the same matrix.
 */

// ---------------------------------------------------------------------------------------------
// Cluster API kinds. These stubs are written here, not copied from upstream: Cluster API's group, version
// (v1beta1), kinds, plurals and scope, a schema that keeps every field, and the scale subresource where
// upstream has one (MachineDeployment, MachineSet, MachinePool).
// Why served CRDs rather than hand-written SubjectAccessReviews: RBAC never looks at what the server serves, so
// both reach the same authorizer. But `kubectl auth can-i` can only ask about a served resource (it resolves the
// name through discovery; an unknown one goes out unresolved, and RBAC then says "no" whatever the rules), and
// with --as the server impersonates the ServiceAccount with the groups it really has (system:serviceaccounts,
// system:serviceaccounts:<ns>, system:authenticated), where a hand-written review lists groups itself and could
// leave out the one that grants. The CRDs also let the test scale a MachineDeployment as the autoscaler: a real
// request through the scale subresource, not only a review.
// ---------------------------------------------------------------------------------------------

const CAPI_GROUP = 'cluster.x-k8s.io';
const CAPI_KINDS: readonly { kind: string; plural: string; scale: boolean }[] = [
  { kind: 'Cluster', plural: 'clusters', scale: false },
  { kind: 'Machine', plural: 'machines', scale: false },
  { kind: 'MachineSet', plural: 'machinesets', scale: true },
  { kind: 'MachineDeployment', plural: 'machinedeployments', scale: true },
  { kind: 'MachinePool', plural: 'machinepools', scale: true },
];

function stubCrd({ kind, plural, scale }: (typeof CAPI_KINDS)[number]): object {
  const replicas = { type: 'integer', format: 'int32' };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${CAPI_GROUP}` },
    spec: {
      group: CAPI_GROUP,
      scope: 'Namespaced',
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      versions: [
        {
          name: 'v1beta1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              'x-kubernetes-preserve-unknown-fields': true,
              // The scale subresource reads and writes these paths, so they are typed.
              ...(scale
                ? {
                    properties: {
                      spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { replicas } },
                      status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { replicas, selector: { type: 'string' } } },
                    },
                  }
                : {}),
            },
          },
          subresources: {
            status: {},
            ...(scale ? { scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' } } : {}),
          },
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The cluster-autoscaler matrix, per cloud; `{ns}` is kube-system. Cluster API self-hosted comes last: it is the
// only cloud granted cluster.x-k8s.io, so no earlier cloud's RBAC can be what makes a later "yes".
// ---------------------------------------------------------------------------------------------

const CLOUDS = {
  aws: { provider: 'aws', region: 'eu-west-1', roleArn: 'arn:aws:iam::111122223333:role/cluster-autoscaler' },
  gce: { provider: 'gce' },
  // A credentials Secret rather than Workload Identity: the Secret reaches the pod through the kubelet, so the
  // ServiceAccount still needs no Secret rights.
  azure: { provider: 'azure', subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590', resourceGroup: 'MC_acme_aks_westeurope', identity: { credentialsSecret: 'cluster-autoscaler-azure' } },
  'clusterapi with a management cluster': { provider: 'clusterapi', clusterName: 'acme', namespace: 'clusters', managementCluster: { kubeconfigSecret: 'capi-management-kubeconfig' } },
  'clusterapi self-hosted': { provider: 'clusterapi', clusterName: 'acme', namespace: 'clusters' },
} satisfies Record<string, AutoscalerCloud>;
type CloudCase = keyof typeof CLOUDS;
const SELF_HOSTED: CloudCase = 'clusterapi self-hosted';

interface CloudCheck extends Omit<RbacCheck, 'expect'> {
  readonly expect: 'yes' | 'no' | ((cloud: CloudCase) => 'yes' | 'no');
}

const CHART = 'cluster-autoscaler.ts: the chart ClusterRole';
const NODES = 'NODE_VERBS_BY_PROVIDER: every provider reads nodes and updates them (scale-down taints)';
const NO_NODE_OBJECTS = 'NODE_VERBS_BY_PROVIDER: the cloud controller manager or Cluster API creates and removes Node objects';
const CAPI = "CLUSTER_API_MANAGEMENT_RULES: in the ClusterRole only when the workload cluster is its own management cluster; otherwise the management kubeconfig's identity holds them there";
const NO_SECRETS = 'cloud credentials reach the pod through the kubelet (IRSA, Workload Identity, a mounted Secret), never through the API';
const inClusterCapi = (cloud: CloudCase): 'yes' | 'no' => (cloud === SELF_HOSTED ? 'yes' : 'no');

// prettier-ignore
const AUTOSCALER_MATRIX: readonly CloudCheck[] = [
  { expect: 'yes', can: 'get nodes -A',                                                      why: NODES },
  { expect: 'yes', can: 'list nodes -A',                                                     why: NODES },
  { expect: 'yes', can: 'watch nodes -A',                                                    why: NODES },
  { expect: 'yes', can: 'update nodes -A',                                                   why: NODES },
  { expect: 'no',  can: 'create nodes -A',                                                   why: NO_NODE_OBJECTS },
  { expect: 'no',  can: 'delete nodes -A',                                                   why: NO_NODE_OBJECTS },
  { expect: 'no',  can: 'deletecollection nodes -A',                                         why: NO_NODE_OBJECTS },
  { expect: 'no',  can: 'patch nodes -A',                                                    why: 'the chart grants update on nodes, not patch' },
  { expect: 'yes', can: 'create pods --subresource=eviction -A',                             why: `${CHART}: drains the nodes it removes` },
  { expect: 'yes', can: 'update pods --subresource=status -A',                               why: CHART },
  { expect: 'no',  can: 'delete pods -A',                                                    why: 'removes pods only through evictions, which respect PodDisruptionBudgets' },
  { expect: 'no',  can: 'get secrets -A',                                                    why: NO_SECRETS },
  { expect: 'no',  can: 'get secrets -n {ns}',                                               why: NO_SECRETS },
  { expect: 'no',  can: 'list secrets -A',                                                   why: NO_SECRETS },
  { expect: inClusterCapi, can: 'get machinedeployments.cluster.x-k8s.io -A',                why: CAPI },
  { expect: inClusterCapi, can: 'list machinedeployments.cluster.x-k8s.io -A',               why: CAPI },
  { expect: inClusterCapi, can: 'watch machinedeployments.cluster.x-k8s.io -A',              why: CAPI },
  { expect: inClusterCapi, can: 'update machinedeployments.cluster.x-k8s.io -A',             why: CAPI },
  { expect: inClusterCapi, can: 'get machinedeployments.cluster.x-k8s.io --subresource=scale -A',    why: CAPI },
  { expect: inClusterCapi, can: 'patch machinedeployments.cluster.x-k8s.io --subresource=scale -A',  why: CAPI },
  { expect: inClusterCapi, can: 'update machinedeployments.cluster.x-k8s.io --subresource=scale -A', why: CAPI },
  { expect: inClusterCapi, can: 'patch machinepools.cluster.x-k8s.io --subresource=scale -A',        why: CAPI },
  { expect: inClusterCapi, can: 'get machinesets.cluster.x-k8s.io --subresource=scale -A',           why: `${CAPI}; a MachineSet without a MachineDeployment is a node group too` },
  { expect: inClusterCapi, can: 'patch machinesets.cluster.x-k8s.io --subresource=scale -A',         why: `${CAPI}; SetSize patches its scale subresource` },
  { expect: inClusterCapi, can: 'update machinesets.cluster.x-k8s.io --subresource=scale -A',        why: CAPI },
  { expect: inClusterCapi, can: 'update machinesets.cluster.x-k8s.io -A',                    why: CAPI },
  { expect: inClusterCapi, can: 'update machines.cluster.x-k8s.io -A',                       why: `${CAPI}; scale-down marks the Machine to delete` },
  { expect: 'no',  can: 'delete machines.cluster.x-k8s.io -A',                               why: 'scale-down marks a Machine and lowers the replicas; Cluster API deletes it' },
  { expect: 'no',  can: 'create machinedeployments.cluster.x-k8s.io -A',                     why: 'scales existing machine sets, never makes new ones' },
  { expect: 'no',  can: 'update clusters.cluster.x-k8s.io -A',                               why: 'the Cluster object is not its to change' },
];

// ---------------------------------------------------------------------------------------------

const MEMBER = 'developer1';
// One team namespace per preset, all in one stack.
const TEAMS: Readonly<Record<AccessPreset, string>> = { 'read-only': 'team-viewers', operator: 'team-operators', deployer: 'team-deployers' };
const PRESETS = Object.keys(TEAMS) as AccessPreset[];
// The MachineDeployment and Deployment the real requests scale.
const CAPI_NAMESPACE = 'clusters';
const MACHINE_DEPLOYMENT = 'acme-md-0';
// A standalone MachineSet (no MachineDeployment owns it), which the autoscaler scales as a node group of its own.
const MACHINE_SET = 'acme-ms-0';
const DEPLOYMENT = 'web';
// How long the RBAC authorizer may take to see applied or deleted roles (it reads them through informers).
const RBAC_SETTLE_SECONDS = 30;

let api: ApiServer;
const teams = new Map<AccessPreset, TeamAccess>();
const summaries: string[] = [];

async function must(args: string[], input?: string): Promise<string> {
  const r = await kubectlInBackground(api, args, { input, timeoutSeconds: 120 });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const list = (items: readonly object[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

/** Server-side apply, strictly validated: Namespaces first, so the objects in them can be created. */
async function apply(objects: readonly Manifest[]): Promise<void> {
  const namespaces = objects.filter((o) => o.kind === 'Namespace');
  for (const batch of [namespaces, objects.filter((o) => o.kind !== 'Namespace')]) {
    if (batch.length) await must(['apply', '--server-side', '--validate=strict', '-f', '-'], list(batch));
  }
}

/** Polls one question until the server gives `want` (RBAC changes reach the authorizer through informers). */
async function settle(account: ServiceAccountRef, can: string, want: 'yes' | 'no'): Promise<void> {
  const deadline = Date.now() + RBAC_SETTLE_SECONDS * 1000;
  for (;;) {
    const r = await canI(api, account, can);
    if (r.answer === want) return;
    if (Date.now() > deadline)
      throw new Error(`${account.namespace}/${account.name} can-i ${can} still answers ${r.answer ?? `nothing (${r.result.stderr})`} after ${RBAC_SETTLE_SECONDS}s, expected ${want}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Asks every distinct question once, two at a time. */
async function ask(account: ServiceAccountRef, questions: readonly string[]): Promise<Map<string, CanIResult>> {
  const distinct = [...new Set(questions)];
  const answers = await twoAtATime(distinct, (q) => canI(api, account, q));
  return new Map(distinct.map((q, i) => [q, answers[i]]));
}

/** Problems of answers: wrong ones, and any kubectl warning (an unresolved resource would warn and answer "no"). */
function problemsOf(account: ServiceAccountRef, checks: readonly RbacCheck[], answers: ReadonlyMap<string, CanIResult>): string[] {
  const wrong = checks.flatMap((c) => canIProblem(account, c, answers.get(c.can)!) ?? []);
  const warned = [...answers.values()].filter((r) => r.result.stderr.trim() !== '').map((r) => `can-i ${r.args.join(' ')} warned: ${r.result.stderr.trim()}`);
  return [...wrong, ...warned];
}

/** A real request as `account`: whether the server allowed it, and what it said. */
async function as(account: ServiceAccountRef, args: string[]): Promise<KubectlResult> {
  return kubectlInBackground(api, [`--as=system:serviceaccount:${account.namespace}:${account.name}`, ...args]);
}

const isForbidden = (r: KubectlResult): boolean => r.status !== 0 && /\(Forbidden\)|is forbidden/.test(r.stderr);
const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)}s`;

conformanceSuite('RBAC per TeamAccess preset and cluster-autoscaler cloud on a real kube-apiserver', ['kube-apiserver', 'kubectl'], () => {
  beforeAll(async () => {
    // The test stack synthesizes while the API server starts.
    const server = startApiServer();
    // A failed start is reported by the `await server` below, not as an unhandled rejection meanwhile.
    server.catch(() => undefined);
    let synthesized: SynthesizedStack;
    try {
      const stack = newStack();
      for (const preset of PRESETS) teams.set(preset, new TeamAccess(stack, `access-${preset}`, { namespace: TEAMS[preset], serviceAccounts: [MEMBER], preset }));
      synthesized = synthesizeStack(stack);
    } finally {
      api = await server;
    }
    expect(synthesized.problems).toEqual([]);
    await must(['apply', '--server-side', '-f', '-'], list(CAPI_KINDS.map(stubCrd)));
    await waitEstablished(
      api.kubectl,
      CAPI_KINDS.map((k) => `crd/${k.plural}.${CAPI_GROUP}`),
    );
    await apply(synthesized.objects.map((o) => o.manifest));
    // What the real requests scale. The Deployment's pod template passes the team namespace's restricted
    // PodSecurity (it would warn otherwise); no controller runs, so it never makes pods.
    await must(['create', 'namespace', CAPI_NAMESPACE]);
    await must(
      ['create', '-f', '-'],
      list([
        { apiVersion: `${CAPI_GROUP}/v1beta1`, kind: 'MachineDeployment', metadata: { name: MACHINE_DEPLOYMENT, namespace: CAPI_NAMESPACE }, spec: { clusterName: 'acme', replicas: 1 } },
        { apiVersion: `${CAPI_GROUP}/v1beta1`, kind: 'MachineSet', metadata: { name: MACHINE_SET, namespace: CAPI_NAMESPACE }, spec: { clusterName: 'acme', replicas: 1 } },
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: DEPLOYMENT, namespace: TEAMS.operator },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: DEPLOYMENT } },
            template: {
              metadata: { labels: { app: DEPLOYMENT } },
              spec: {
                securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
                containers: [{ name: DEPLOYMENT, image: 'registry.example/web:1.0.0', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
              },
            },
          },
        },
      ]),
    );
    for (const preset of PRESETS) await settle({ name: MEMBER, namespace: TEAMS[preset] }, 'get pods -n {ns}', 'yes');
  });

  afterAll(async () => {
    await api?.stop();
    if (summaries.length) console.log(`RBAC on kube-apiserver:\n  ${summaries.join('\n  ')}`);
  });

  for (const preset of PRESETS) {
    it(`TeamAccess ${preset}: the server grants what the matrix documents, and secretsReadable agrees`, async () => {
      const started = Date.now();
      const account = { name: MEMBER, namespace: TEAMS[preset] };
      const matrix = TEAM_MATRIX[preset];
      const answers = await ask(account, [...matrix.map((c) => c.can), ...SECRET_ROUTES]);
      const problems = problemsOf(account, matrix, answers);
      expect(problems, problems.join('\n')).toEqual([]);

      // Every route to a Secret's value, as the server answers it, against the construct's own claim and the matrix.
      const open = SECRET_ROUTES.filter((route) => answers.get(route)!.answer === 'yes');
      const serverReadable = open.length > 0;
      expect(teams.get(preset)!.secretsReadable, `TeamAccess.secretsReadable for ${preset}; the server allows: ${open.join(', ') || 'none'}`).toBe(serverReadable);
      expect(matrixReadsSecrets(preset), `TEAM_MATRIX.${preset} documents a route to Secrets; the server allows: ${open.join(', ') || 'none'}`).toBe(serverReadable);

      let real = '';
      if (preset === 'operator') {
        // The same answers as real requests: scaling through the subresource works, changing the template does not.
        const scaled = await as(account, ['patch', 'deployments.apps', DEPLOYMENT, '-n', account.namespace, '--subresource=scale', '--type=merge', '-p', '{"spec":{"replicas":3}}']);
        expect(scaled.status, scaled.stderr).toBe(0);
        const changed = await as(account, [
          'patch',
          'deployments.apps',
          DEPLOYMENT,
          '-n',
          account.namespace,
          '--type=merge',
          '-p',
          '{"spec":{"template":{"metadata":{"annotations":{"restarted":"now"}}}}}',
        ]);
        expect(isForbidden(changed), `patching the pod template must be forbidden: exit ${changed.status} ${changed.stderr}`).toBe(true);
        const replicas = await must(['get', 'deployments.apps', DEPLOYMENT, '-n', account.namespace, '-o', 'jsonpath={.spec.replicas}']);
        expect(replicas).toBe('3');
        real = '; as the ServiceAccount it scaled a Deployment 1→3 and was refused a template patch';
      }
      const summary = `TeamAccess ${preset} (${account.namespace}/${account.name}): ${matrix.length} matrix rows as documented; ${SECRET_ROUTES.length} routes to Secrets, ${open.length} open → secretsReadable ${serverReadable}, as TeamAccess says${real}; ${answers.size} questions, ${seconds(started)}`;
      summaries.push(summary);
      console.log(summary);
    });
  }

  for (const [name, cloud] of Object.entries(CLOUDS) as [CloudCase, AutoscalerCloud][]) {
    it(`ClusterAutoscaler ${name}: the server grants what the matrix documents`, async () => {
      const started = Date.now();
      const stack = newStack();
      new ClusterAutoscaler(stack, 'cluster-autoscaler', { cloud });
      const synthesized = synthesizeStack(stack);
      expect(synthesized.problems).toEqual([]);
      const objects = synthesized.objects.map((o) => o.manifest);
      const account = { name: CLUSTER_AUTOSCALER_NAME, namespace: KUBE_SYSTEM };
      // Every cloud uses the same object names: each is applied, checked and deleted before the next.
      await apply(objects);
      try {
        await settle(account, 'get nodes -A', 'yes');
        const checks: RbacCheck[] = AUTOSCALER_MATRIX.map((c) => ({ ...c, expect: typeof c.expect === 'function' ? c.expect(name) : c.expect }));
        const answers = await ask(
          account,
          checks.map((c) => c.can),
        );
        const problems = problemsOf(account, checks, answers);
        expect(problems, problems.join('\n')).toEqual([]);

        // Real scale requests through the scale subresources of a MachineDeployment and a standalone MachineSet,
        // as the autoscaler makes them (a merge patch of spec.replicas).
        for (const [plural, object] of [
          ['machinedeployments', MACHINE_DEPLOYMENT],
          ['machinesets', MACHINE_SET],
        ]) {
          await must(['patch', `${plural}.${CAPI_GROUP}`, object, '-n', CAPI_NAMESPACE, '--type=merge', '-p', '{"spec":{"replicas":1}}']);
          const scaled = await as(account, ['patch', `${plural}.${CAPI_GROUP}`, object, '-n', CAPI_NAMESPACE, '--subresource=scale', '--type=merge', '-p', '{"spec":{"replicas":2}}']);
          const replicas = await must(['get', `${plural}.${CAPI_GROUP}`, object, '-n', CAPI_NAMESPACE, '-o', 'jsonpath={.spec.replicas}']);
          if (name === SELF_HOSTED) {
            expect(scaled.status, `${plural}: ${scaled.stderr}`).toBe(0);
            expect(replicas).toBe('2');
          } else {
            expect(isForbidden(scaled), `scaling ${plural} must be forbidden: exit ${scaled.status} ${scaled.stderr}`).toBe(true);
            expect(replicas).toBe('1');
          }
        }
        const yes = checks.filter((c) => c.expect === 'yes').length;
        const summary = `ClusterAutoscaler ${name}: ${objects.length} objects applied; ${checks.length} checks as documented (${yes} yes, ${checks.length - yes} no); MachineDeployment and MachineSet scale as the ServiceAccount ${name === SELF_HOSTED ? 'done 1→2' : 'forbidden'}; ${seconds(started)}`;
        summaries.push(summary);
        console.log(summary);
      } finally {
        // Namespaces stay: without a controller-manager they never finish terminating.
        await must(['delete', '--ignore-not-found', '-f', '-'], list(objects.filter((o) => o.kind !== 'Namespace')));
        // The next cloud starts from no grant at all.
        await settle(account, 'get nodes -A', 'no');
      }
    });
  }
});
