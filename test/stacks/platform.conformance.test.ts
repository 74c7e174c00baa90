import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Manifest, synth } from '../../lib';
import { AccessPreset } from '../../lib/cluster';
import { buildApp } from '../../stacks/platform';
import { environments } from '../../stacks/environments';
import { conformanceSuite } from '../support/conformance';
import { ApiServer, KubectlResult, startApiServer } from '../support/envtest';
import { RbacCheck, ServiceAccountRef, TEAM_MATRIX, canI, canIProblem, twoAtATime } from '../support/rbac';

/*
 * Every environment the reference platform and the examples synthesize, applied for real to a real
 * kube-apiserver: strict server-side apply, an empty server-side diff afterwards, client-side create
 * of every file, every pod template admitted as a bare Pod (PodSecurity, ServiceAccount and Priority
 * admission), and an RBAC matrix of what each ServiceAccount may and may not do.
 * Environments share one API server; each one's objects are deleted before the next is applied
 * (namespaces stay: without a controller-manager they never finish terminating).
 */

const root = path.resolve(__dirname, '../..');
const examples = fs
  .readdirSync(path.join(root, 'examples'))
  .filter((e) => fs.existsSync(path.join(root, 'examples', e, 'main.ts')))
  .sort();

/**
 * Warnings the API server or kubectl may print, by exact text, each with why it is accepted.
 * Any other warning fails the test.
 */
const ACCEPTED_WARNINGS: ReadonlyMap<string, string> = new Map<string, string>([]);

// ---------------------------------------------------------------------------------------------
// RBAC matrix. `who` is a ServiceAccount name, checked in every environment whose output defines a
// ServiceAccount of that name; `{ns}` stands for that ServiceAccount's namespace (see RbacCheck.can for the
// argument conventions). The autoscaler's Cluster API rules, and each TeamAccess preset on its own, are checked
// per provider and preset in test/cluster/rbac.conformance.test.ts, on a server that serves cluster.x-k8s.io.
// ---------------------------------------------------------------------------------------------

interface Check extends RbacCheck {
  readonly who: string;
  /** Only in environments whose objects satisfy this. */
  readonly when?: (objects: readonly Manifest[]) => boolean;
}

const hasObject = (kind: string, name: string) => (objects: readonly Manifest[]) => objects.some((o) => o.kind === kind && o.metadata.name === name);
const CA_CHART = 'cluster-autoscaler.ts: the upstream chart ClusterRole';
const CA_ROLE = 'cluster-autoscaler.ts: the upstream chart Role in its namespace';
const MS = 'metrics-server.ts: upstream RBAC';
const KSM = 'kube-state-metrics.ts: upstream RBAC less secrets';

// prettier-ignore
const SERVICE_ACCOUNT_MATRIX: readonly Check[] = [
  { who: 'fluentd',            expect: 'yes', can: 'get pods -A',         why: 'fluentd-daemon-set.ts: read-only ClusterRole (pods, namespaces) for kubernetes_metadata' },
  { who: 'fluentd',            expect: 'yes', can: 'list pods -A',        why: 'same' },
  { who: 'fluentd',            expect: 'yes', can: 'watch pods -A',       why: 'same' },
  { who: 'fluentd',            expect: 'yes', can: 'get namespaces -A',   why: 'same' },
  { who: 'fluentd',            expect: 'yes', can: 'list namespaces -A',  why: 'same' },
  { who: 'fluentd',            expect: 'yes', can: 'watch namespaces -A', why: 'same' },
  { who: 'fluentd',            expect: 'no',  can: 'update pods -n {ns}', why: 'read-only' },
  { who: 'fluentd',            expect: 'no',  can: 'list nodes -A',       why: 'pods and namespaces only' },

  { who: 'cluster-autoscaler', expect: 'yes', can: 'create pods --subresource=eviction -A',                           why: `${CA_CHART}: drains nodes it removes` },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'get nodes -A',                                                    why: CA_CHART },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'list nodes -A',                                                   why: CA_CHART },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'watch nodes -A',                                                  why: CA_CHART },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'update nodes -A',                                                 why: `${CA_CHART}: taints nodes before scale-down` },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'create leases.coordination.k8s.io -n {ns}',                       why: `${CA_CHART}: leader election` },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'get leases.coordination.k8s.io/cluster-autoscaler -n {ns}',       why: `${CA_CHART}: its own lease only` },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'update leases.coordination.k8s.io/cluster-autoscaler -n {ns}',    why: 'same' },
  { who: 'cluster-autoscaler', expect: 'no',  can: 'update leases.coordination.k8s.io/kube-scheduler -n kube-system', why: 'other leases are not its own' },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'create configmaps -n {ns}',                                       why: `${CA_ROLE}: writes its status ConfigMap` },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'get configmaps/cluster-autoscaler-status -n {ns}',                why: CA_ROLE },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'update configmaps/cluster-autoscaler-status -n {ns}',             why: CA_ROLE },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'delete configmaps/cluster-autoscaler-status -n {ns}',             why: CA_ROLE },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'get configmaps/cluster-autoscaler-priority-expander -n {ns}',     why: `${CA_ROLE}, priority expander`, when: hasObject('ConfigMap', 'cluster-autoscaler-priority-expander') },
  { who: 'cluster-autoscaler', expect: 'yes', can: 'watch configmaps/cluster-autoscaler-priority-expander -n {ns}',   why: 'same', when: hasObject('ConfigMap', 'cluster-autoscaler-priority-expander') },
  { who: 'cluster-autoscaler', expect: 'no',  can: 'update configmaps/kube-proxy -n {ns}',                            why: 'writes only its own ConfigMaps' },
  { who: 'cluster-autoscaler', expect: 'no',  can: 'delete pods -A',                                                  why: 'removes pods only through evictions' },

  { who: 'metrics-server',     expect: 'yes', can: 'get nodes --subresource=metrics -A',                               why: `${MS}: scrapes the kubelets' resource metrics` },
  { who: 'metrics-server',     expect: 'yes', can: 'list nodes -A',                                                    why: MS },
  { who: 'metrics-server',     expect: 'yes', can: 'list pods -A',                                                     why: MS },
  { who: 'metrics-server',     expect: 'yes', can: 'create tokenreviews.authentication.k8s.io -A',                     why: `${MS}: system:auth-delegator, authenticates aggregated API requests` },
  { who: 'metrics-server',     expect: 'yes', can: 'create subjectaccessreviews.authorization.k8s.io -A',              why: `${MS}: system:auth-delegator, authorizes aggregated API requests` },
  { who: 'metrics-server',     expect: 'yes', can: 'get configmaps/extension-apiserver-authentication -n kube-system', why: `${MS}: extension-apiserver-authentication-reader` },
  { who: 'metrics-server',     expect: 'no',  can: 'update nodes -A',                                                  why: 'read-only on nodes' },

  { who: 'kube-state-metrics', expect: 'yes', can: 'list deployments.apps -A',                         why: `${KSM}: read-only ClusterRole, feeds the workload alerts` },
  { who: 'kube-state-metrics', expect: 'yes', can: 'watch horizontalpodautoscalers.autoscaling -A',    why: KSM },
  { who: 'kube-state-metrics', expect: 'yes', can: 'watch poddisruptionbudgets.policy -A',             why: KSM },
  { who: 'kube-state-metrics', expect: 'yes', can: 'list cronjobs.batch -A',                           why: `${KSM}: feeds the etcd backup alerts` },
  { who: 'kube-state-metrics', expect: 'no',  can: 'update deployments.apps -A',                       why: 'read-only' },
];

/** What no ServiceAccount may do unless a row above (same `can`) documents otherwise. */
// prettier-ignore
const DENIED_TO_EVERY_SERVICE_ACCOUNT: readonly RbacCheck[] = [
  { expect: 'no', can: 'get secrets -n {ns}',                                     why: 'no construct reads Secrets through the API' },
  { expect: 'no', can: 'list secrets -A',                                         why: 'same' },
  { expect: 'no', can: 'create pods -n kube-system',                              why: 'nothing starts pods in kube-system' },
  { expect: 'no', can: 'delete nodes -A',                                         why: 'Node objects are removed by the cloud controller manager or Cluster API; not even the autoscaler deletes them (NODE_VERBS_BY_PROVIDER)' },
  { expect: 'no', can: 'create clusterrolebindings.rbac.authorization.k8s.io -A', why: 'no privilege escalation' },
  { expect: 'no', can: 'bind clusterroles.rbac.authorization.k8s.io -A',          why: 'same' },
  { expect: 'no', can: 'impersonate serviceaccounts -A',                          why: 'same' },
  { expect: 'no', can: 'create pods --subresource=exec -A',                       why: 'nobody execs into pods' },
];

// ---------------------------------------------------------------------------------------------

interface Target {
  /** e.g. "platform/prod" or "examples/efk-stack/dev". */
  readonly label: string;
  readonly dir: string;
}

interface FileObject {
  readonly file: string;
  readonly manifest: Manifest;
}

const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'];
// Every cluster has these; an environment may use them without declaring them.
const BUILT_IN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

let api: ApiServer;
let work: string;
const targets = new Map<string, Target[]>();
const warningsSeen = new Map<string, Set<string>>();
const summaries: string[] = [];

function readObjects(files: readonly string[]): FileObject[] {
  return files.flatMap((file) =>
    parseAllDocuments(fs.readFileSync(file, 'utf8'))
      .map((d) => d.toJS() as Manifest | null)
      .filter((m): m is Manifest => m !== null)
      .map((manifest) => ({ file, manifest })),
  );
}

/** Records every kubectl/API warning of a call under `where`. */
function collectWarnings(where: string, r: KubectlResult): void {
  for (const line of r.stderr.split('\n')) {
    const m = /^Warning: (.*)$/.exec(line.trim());
    if (m) {
      const set = warningsSeen.get(m[1]) ?? new Set<string>();
      set.add(where);
      warningsSeen.set(m[1], set);
    }
  }
}

/** One kubectl call; yields to the event loop first so vitest's worker stays responsive during long runs. */
async function kubectl(where: string, args: string[], options?: { input?: string; timeoutSeconds?: number }): Promise<KubectlResult> {
  await new Promise((resolve) => setImmediate(resolve));
  const r = api.kubectl(args, options);
  collectWarnings(where, r);
  return r;
}

async function must(where: string, args: string[], options?: { input?: string; timeoutSeconds?: number }): Promise<string> {
  const r = await kubectl(where, args, options);
  if (r.status !== 0) throw new Error(`${where}: kubectl ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const fileArgs = (files: readonly string[]) => files.flatMap((f) => ['-f', f]);
const ref = (m: Manifest) => `${m.kind}/${m.metadata.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata.name}`;

/** Runs `npx tsx examples/<name>/main.ts <outdir>`; resolves with its output, rejects when it fails. */
function runExample(name: string, outdir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('timeout', ['--kill-after=5', '180', 'npx', 'tsx', path.join('examples', name, 'main.ts'), outdir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`examples/${name}/main.ts exited ${code}:\n${output}`))));
  });
}

/** The environment directories under `outdir` that hold a kubernetes/ folder. */
function kubernetesEnvironments(outdir: string, prefix: string): Target[] {
  return fs
    .readdirSync(outdir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(outdir, e.name, 'kubernetes')))
    .map((e) => ({ label: `${prefix}/${e.name}`, dir: path.join(outdir, e.name, 'kubernetes') }))
    .sort((a, b) => a.label.localeCompare(b.label));
}

/** The Pod a workload's template becomes, as its controller would create it (StatefulSet claims become volumes). */
function barePod(workload: Manifest): Manifest {
  const spec = (workload as any).spec;
  const template = workload.kind === 'CronJob' ? spec.jobTemplate.spec.template : spec.template;
  const podSpec = structuredClone(template.spec);
  for (const claim of spec.volumeClaimTemplates ?? []) {
    podSpec.volumes = [...(podSpec.volumes ?? []), { name: claim.metadata.name, persistentVolumeClaim: { claimName: `${claim.metadata.name}-${workload.metadata.name}-0` } }];
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${workload.kind}-${workload.metadata.name}`.toLowerCase(),
      namespace: workload.metadata.namespace ?? 'default',
      ...(template.metadata?.labels ? { labels: template.metadata.labels } : {}),
      ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
    },
    spec: podSpec,
  } as Manifest;
}

/** Asks one matrix question; undefined when the server gives the documented answer. */
async function checkCanI(where: string, account: ServiceAccountRef, check: RbacCheck): Promise<string | undefined> {
  const r = await canI(api, account, check.can);
  collectWarnings(`${where} can-i`, r.result);
  return canIProblem(account, check, r);
}

/** The RBAC checks of one environment: the matrix rows of its ServiceAccounts, the team presets and the denials. */
function rbacChecks(objects: readonly Manifest[]): { sa: ServiceAccountRef; check: RbacCheck }[] {
  const accounts = objects.filter((o) => o.kind === 'ServiceAccount').map((o) => ({ name: o.metadata.name, namespace: o.metadata.namespace ?? 'default' }));
  const out: { sa: ServiceAccountRef; check: RbacCheck }[] = [];
  for (const sa of accounts) {
    const specific: RbacCheck[] = SERVICE_ACCOUNT_MATRIX.filter((c) => c.who === sa.name && (!c.when || c.when(objects)));
    // A TeamAccess Role is named <namespace>-<preset> and binds the team's ServiceAccounts.
    for (const role of objects.filter((o) => o.kind === 'Role' && o.metadata.namespace === sa.namespace && o.metadata.labels?.['app.kubernetes.io/component'] === 'access')) {
      const preset = (Object.keys(TEAM_MATRIX) as AccessPreset[]).find((p) => role.metadata.name === `${sa.namespace}-${p}`);
      const binding = objects.find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === sa.namespace && (o as any).roleRef?.name === role.metadata.name);
      const bound = ((binding as any)?.subjects ?? []).some((s: any) => s.kind === 'ServiceAccount' && s.name === sa.name);
      if (preset && bound) specific.push(...TEAM_MATRIX[preset]);
    }
    const documented = new Set(specific.map((c) => c.can));
    out.push(...[...specific, ...DENIED_TO_EVERY_SERVICE_ACCOUNT.filter((c) => !documented.has(c.can))].map((check) => ({ sa, check })));
  }
  return out;
}

interface EnvironmentResult {
  readonly objects: number;
  readonly pods: number;
  readonly rbac: number;
  /** Root variants PodSecurity refused (0 when no pod runs in a restricted namespace). */
  readonly controls: number;
  readonly problems: string[];
}

/** Applies, diffs, creates, admits and checks one environment, then deletes its objects again. */
async function checkEnvironment(target: Target): Promise<EnvironmentResult> {
  const started = Date.now();
  const where = target.label;
  const all = fs
    .readdirSync(target.dir)
    .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
    .sort();
  const kustomization = parseAllDocuments(fs.readFileSync(path.join(target.dir, 'kustomization.yaml'), 'utf8'))[0].toJS();
  expect([...kustomization.resources].sort(), `${where}: kustomization.yaml lists every file`).toEqual(all);
  const files = all.map((f) => path.join(target.dir, f));
  const fileObjects = readObjects(files);
  const objects = fileObjects.map((o) => o.manifest);
  const namespaceFiles = fileObjects.filter((o) => o.manifest.kind === 'Namespace').map((o) => o.file);
  const otherFiles = files.filter((f) => !namespaceFiles.includes(f));

  // Namespaces first; namespaces the environment uses without declaring them are created by hand.
  if (namespaceFiles.length) await must(where, ['apply', '--server-side', '--validate=strict', ...fileArgs(namespaceFiles)]);
  const declared = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
  const existing = new Set((await must(where, ['get', 'namespaces', '-o', 'name'])).split('\n').map((n) => n.replace(/^namespace\//, '')));
  const undeclared = [...new Set(objects.map((o) => o.metadata.namespace).filter((n): n is string => !!n && !declared.has(n) && !BUILT_IN_NAMESPACES.includes(n)))];
  for (const ns of undeclared.filter((n) => !existing.has(n))) await must(where, ['create', 'namespace', ns]);

  try {
    return await checkApplied(target, files, fileObjects, otherFiles, undeclared, started);
  } finally {
    // Leave the server as it was for the next environment.
    await must(where, ['delete', '--ignore-not-found', '--wait=false', ...fileArgs(otherFiles)], { timeoutSeconds: 120 });
  }
}

async function checkApplied(target: Target, files: string[], fileObjects: FileObject[], otherFiles: string[], undeclared: string[], started: number): Promise<EnvironmentResult> {
  const where = target.label;
  const problems: string[] = [];
  const objects = fileObjects.map((o) => o.manifest);
  const namespaceCount = objects.filter((o) => o.kind === 'Namespace').length;
  // On a fresh cluster `kubectl apply` of the directory would fail for these (the test created them to go on).
  if (undeclared.length) problems.push(`objects in namespaces the environment does not declare: ${undeclared.join(', ')}`);
  // Strict server-side apply of everything, then the server must see no difference.
  const applied = await kubectl(where, ['apply', '--server-side', '--validate=strict', '-o', 'name', ...fileArgs(otherFiles)], { timeoutSeconds: 120 });
  if (applied.status !== 0) problems.push(`apply failed:\n${applied.stderr}`);
  const appliedNames = applied.stdout.split('\n').filter(Boolean);
  expect(appliedNames.length, `${where}: objects applied\n${applied.stderr}`).toBe(objects.length - namespaceCount);
  const diff = await kubectl(where, ['diff', '--server-side', ...fileArgs(files)], { timeoutSeconds: 120 });
  if (diff.status !== 0 || diff.stdout !== '') problems.push(`diff after apply is not empty (exit ${diff.status}):\n${diff.stdout}${diff.stderr}`);

  // The plain -f path: every file through client-side create.
  const created = await kubectl(where, ['create', '--dry-run=client', '-o', 'name', ...fileArgs(files)]);
  if (created.status !== 0) problems.push(`create --dry-run=client failed:\n${created.stderr}`);
  expect(created.stdout.split('\n').filter(Boolean).length, `${where}: client-side create of every file`).toBe(objects.length);

  // Every pod template as a bare Pod: ServiceAccount, Priority and PodSecurity admission decide.
  const workloads = objects.filter((o) => WORKLOAD_KINDS.includes(o.kind));
  const podNamespaces = [...new Set(workloads.map((w) => w.metadata.namespace ?? 'default'))];
  const defaults = podNamespaces.map((namespace) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } }));
  if (defaults.length) await must(where, ['apply', '--server-side', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: defaults }) });
  let admitted = 0;
  const admittedPods: Manifest[] = [];
  for (const w of workloads) {
    const pod = barePod(w);
    const r = await kubectl(`${where} pod`, ['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify(pod) });
    if (r.status === 0) {
      admitted++;
      admittedPods.push(pod);
    } else problems.push(`bare Pod of ${ref(w)} refused${w.metadata.annotations?.['exemptions.shipshape.io/pod-security'] ? ' (it declares a pod-security exemption)' : ''}:\n${r.stderr}`);
  }
  // Control: PodSecurity really enforces here. The same Pod as root must be refused in a restricted namespace.
  const restricted = new Set(objects.filter((o) => o.kind === 'Namespace' && o.metadata.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted').map((o) => o.metadata.name));
  const control = admittedPods.find((p) => restricted.has(p.metadata.namespace!));
  let controls = 0;
  if (control) {
    const asRoot = structuredClone(control) as any;
    asRoot.spec.securityContext = { ...asRoot.spec.securityContext, runAsNonRoot: false, runAsUser: 0 };
    for (const c of asRoot.spec.containers) c.securityContext = { ...c.securityContext, runAsNonRoot: false, runAsUser: 0 };
    const r = api.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify(asRoot) });
    if (r.status === 0 || !r.stderr.includes('violates PodSecurity "restricted'))
      problems.push(`PodSecurity did not refuse ${control.metadata.namespace}/${control.metadata.name} running as root (exit ${r.status}): ${r.stderr}`);
    controls++;
  }

  // RBAC matrix. Its autoscaler rows name the lease and status ConfigMap the binary uses by default.
  for (const d of objects.filter((o) => o.kind === 'Deployment' && (o as any).spec.template.spec.serviceAccountName === 'cluster-autoscaler')) {
    const args: string[] = (d as any).spec.template.spec.containers.flatMap((c: any) => [...(c.command ?? []), ...(c.args ?? [])]);
    const renamed = args.filter((a) => /^--(leader-elect-resource-name|status-config-map-name)=/.test(a));
    if (renamed.length) problems.push(`${ref(d)} renames its lease or status ConfigMap (${renamed.join(' ')}); the RBAC matrix checks the default names`);
  }
  const checks = rbacChecks(objects);
  const answers = await twoAtATime(checks, (c) => checkCanI(where, c.sa, c.check));
  problems.push(...answers.filter((p): p is string => p !== undefined));

  const summary = `${where}: ${objects.length} objects applied (${namespaceCount} namespaces${undeclared.length ? `; NOT DECLARED, created by the test: ${undeclared.join(', ')}` : ''}), diff ${diff.status === 0 && diff.stdout === '' ? 'empty' : 'NOT empty'}, ${files.length} files created client-side, ${admitted}/${workloads.length} bare pods admitted${controls ? ' (a root variant refused)' : ''}, ${checks.length} RBAC checks, ${problems.length} problems, ${((Date.now() - started) / 1000).toFixed(1)}s`;
  summaries.push(summary);
  console.log(summary);
  return { objects: objects.length, pods: workloads.length, rbac: checks.length, controls, problems };
}

conformanceSuite('platform and examples on a real kube-apiserver', ['kube-apiserver', 'kubectl'], () => {
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-platform-apiserver-'));
    const server = startApiServer({ crds: true });
    // A failed start is reported by the `await server` below, not as an unhandled rejection meanwhile.
    server.catch(() => undefined);
    // Synthesis runs while the API server starts; examples two at a time (they are separate Node processes).
    try {
      synth(buildApp(), { outdir: path.join(work, 'platform') });
      targets.set('platform', kubernetesEnvironments(path.join(work, 'platform'), 'platform'));
      const queue = [...examples];
      await Promise.all(
        [0, 1].map(async () => {
          for (let name = queue.shift(); name; name = queue.shift()) {
            const outdir = path.join(work, 'examples', name);
            await runExample(name, outdir);
            targets.set(`examples/${name}`, kubernetesEnvironments(outdir, `examples/${name}`));
          }
        }),
      );
    } finally {
      api = await server;
    }
  });

  afterAll(async () => {
    await api?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    if (summaries.length) console.log(`kube-apiserver conformance:\n  ${summaries.join('\n  ')}`);
    if (warningsSeen.size) console.log(`warnings seen:\n${[...warningsSeen].map(([w, where]) => `  ${w}  (${[...where].join(', ')})`).join('\n')}`);
  });

  it('synthesizes every platform environment and example with Kubernetes output', () => {
    expect(targets.get('platform')!.map((t) => t.label)).toEqual(environments.map((e) => `platform/${e.name}`).sort());
    const withKubernetes = examples.filter((e) => targets.get(`examples/${e}`)!.length > 0);
    // The Docker- and Swarm-only examples have no kubernetes/ folder; every other one does.
    expect(withKubernetes.length).toBeGreaterThanOrEqual(examples.length - 2);
  });

  for (const env of environments) {
    it(`platform/${env.name}: applies strictly, diffs clean, admits every pod, grants what is documented`, async () => {
      const target = targets.get('platform')!.find((t) => t.label === `platform/${env.name}`)!;
      const result = await checkEnvironment(target);
      expect(result.problems, result.problems.join('\n\n')).toEqual([]);
      expect(result.pods).toBeGreaterThan(0);
      expect(result.controls, 'a pod ran in a restricted namespace, so the PodSecurity control ran').toBe(1);
      // Shared clusters carry the autoscaler, metrics-server and team access: their matrix rows must have run.
      if (env.name !== 'dev') expect(result.rbac).toBeGreaterThanOrEqual(SERVICE_ACCOUNT_MATRIX.length);
    });
  }

  it('platform Argo CD Applications and AppProjects apply strictly against the upstream CRDs and diff clean', async () => {
    const dir = path.join(work, 'platform', 'argocd');
    const files = fs
      .readdirSync(dir)
      .map((f) => path.join(dir, f))
      .sort();
    const objects = readObjects(files).map((o) => o.manifest);
    expect(objects.map((o) => o.kind).sort()).toEqual(environments.flatMap(() => ['AppProject', 'Application']).sort());
    for (const ns of new Set(objects.map((o) => o.metadata.namespace!))) await kubectl('argocd', ['create', 'namespace', ns]);
    const applied = await kubectl('argocd', ['apply', '--server-side', '--validate=strict', '-o', 'name', ...fileArgs(files)]);
    expect(applied.status, applied.stderr).toBe(0);
    expect(applied.stdout.split('\n').filter(Boolean)).toHaveLength(objects.length);
    const diff = await kubectl('argocd', ['diff', '--server-side', ...fileArgs(files)]);
    expect({ status: diff.status, stdout: diff.stdout }, diff.stderr).toEqual({ status: 0, stdout: '' });
    const created = await kubectl('argocd', ['create', '--dry-run=client', '-o', 'name', ...fileArgs(files)]);
    expect(created.stdout.split('\n').filter(Boolean), created.stderr).toHaveLength(objects.length);
    summaries.push(`platform/argocd: ${objects.length} objects applied, diff empty, ${files.length} files created client-side`);
  });

  for (const name of examples) {
    it(`examples/${name}: every environment applies strictly, diffs clean, admits every pod, grants what is documented`, async () => {
      const results: EnvironmentResult[] = [];
      for (const t of targets.get(`examples/${name}`)!) results.push(await checkEnvironment(t));
      expect(
        results.flatMap((r) => r.problems),
        results.flatMap((r) => r.problems).join('\n\n'),
      ).toEqual([]);
    });
  }

  it('prints no warnings but the accepted ones', () => {
    const unexpected = [...warningsSeen].filter(([w]) => !ACCEPTED_WARNINGS.has(w)).map(([w, where]) => `${w}  (${[...where].join(', ')})`);
    expect(unexpected, unexpected.join('\n')).toEqual([]);
  });
});
