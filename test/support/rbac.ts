import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { AccessPreset } from '../../lib/cluster';
import { ApiServer, KubectlResult } from './envtest';

/*
 * RBAC questions asked of a real kube-apiserver with `kubectl auth can-i --as=system:serviceaccount:...`:
 * the API server impersonates the ServiceAccount (with its groups system:serviceaccounts[:<ns>] and
 * system:authenticated) and its RBAC authorizer answers, as it would for the pod's own requests.
 */

/** One question and its documented answer. */
export interface RbacCheck {
  /**
   * Arguments of `kubectl auth can-i`; `{ns}` stands for the ServiceAccount's namespace. Subresources go in
   * --subresource ("pods/eviction" would name a pod), cluster-scoped resources take -A (otherwise kubectl asks
   * about the default namespace). The resource must be served: kubectl sends an unknown name unresolved (with a
   * warning), and RBAC then answers "no" whatever the rules say.
   */
  readonly can: string;
  readonly expect: 'yes' | 'no';
  /** What documents the answer. */
  readonly why: string;
}

export interface ServiceAccountRef {
  readonly name: string;
  readonly namespace: string;
}

export interface CanIResult {
  /** The can-i arguments with `{ns}` filled in. */
  readonly args: readonly string[];
  /** The server's answer; undefined when kubectl gave none. */
  readonly answer?: 'yes' | 'no';
  readonly result: KubectlResult;
}

/** kubectl against `api` without blocking the event loop, so independent calls can overlap; never throws. */
export function kubectlInBackground(api: ApiServer, args: string[], options: { input?: string; timeoutSeconds?: number } = {}): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const seconds = options.timeoutSeconds ?? 60;
    const child = spawn('timeout', ['--kill-after=5', String(seconds), 'kubectl', '--kubeconfig', api.kubeconfig, '--cache-dir', path.join(api.dir, 'kube-cache'), ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    child.on('error', (e) => resolve({ status: -1, stdout, stderr: `${stderr}\n${e.message}` }));
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr: code === 124 ? `${stderr}\nkubectl timed out after ${seconds}s` : stderr }));
  });
}

/** Asks the server whether `account` may do `can` (see {@link RbacCheck.can}). */
export async function canI(api: ApiServer, account: ServiceAccountRef, can: string): Promise<CanIResult> {
  const args = can.replaceAll('{ns}', account.namespace).split(' ');
  const result = await kubectlInBackground(api, ['auth', 'can-i', `--as=system:serviceaccount:${account.namespace}:${account.name}`, ...args]);
  const out = result.stdout.trim();
  return { args, answer: out === 'yes' || out === 'no' ? out : undefined, result };
}

/** Undefined when the answer is the documented one, else what went wrong. */
export function canIProblem(account: ServiceAccountRef, check: RbacCheck, r: CanIResult): string | undefined {
  const who = `${account.namespace}/${account.name} can-i ${r.args.join(' ')}`;
  if (!r.answer) return `${who}: no answer (exit ${r.result.status}): ${r.result.stderr}`;
  return r.answer === check.expect ? undefined : `${who}: ${r.answer}, expected ${check.expect} (${check.why})`;
}

/** Runs `task` over `items` two at a time (each is a kubectl process; the answers are independent), results in item order. */
export async function twoAtATime<T, R>(items: readonly T[], task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await task(items[i]);
    }),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------
// team-access.ts presets, for the ServiceAccounts bound to a TeamAccess Role; `{ns}` is the team namespace.
// ---------------------------------------------------------------------------------------------

const MOUNTS_SECRETS = 'whoever creates a pod-defining object can mount any Secret of the namespace into its pod and print it (POD_DEFINING_RESOURCES)';

// prettier-ignore
export const TEAM_MATRIX: Readonly<Record<AccessPreset, readonly RbacCheck[]>> = {
  'read-only': [
    { expect: 'yes', can: 'get pods -n {ns}',                                     why: 'read-only sees workloads' },
    { expect: 'yes', can: 'get pods --subresource=log -n {ns}',                   why: 'read-only sees logs' },
    { expect: 'yes', can: 'list deployments.apps -n {ns}',                        why: 'read-only sees workloads' },
    { expect: 'yes', can: 'watch events -n {ns}',                                 why: 'read-only sees events' },
    { expect: 'yes', can: 'get configmaps -n {ns}',                               why: 'read-only sees configuration' },
    { expect: 'no',  can: 'get secrets -n {ns}',                                  why: 'reading a Secret is reading its value' },
    { expect: 'no',  can: 'create deployments.apps -n {ns}',                      why: 'read-only' },
    { expect: 'no',  can: 'delete pods -n {ns}',                                  why: 'read-only' },
    { expect: 'no',  can: 'update deployments.apps --subresource=scale -n {ns}',  why: 'read-only; scaling is operator' },
    { expect: 'no',  can: 'create pods --subresource=exec -n {ns}',               why: 'no preset grants exec' },
    { expect: 'no',  can: 'create serviceaccounts --subresource=token -n {ns}',   why: 'no preset mints ServiceAccount tokens' },
    { expect: 'no',  can: 'list pods -n kube-system',                             why: 'the Role is namespaced' },
  ],
  operator: [
    { expect: 'yes', can: 'get pods -n {ns}',                                     why: 'operator reads like read-only' },
    { expect: 'yes', can: 'get pods --subresource=log -n {ns}',                   why: 'operator reads logs (an application that logs a secret leaks it there)' },
    { expect: 'yes', can: 'delete pods -n {ns}',                                  why: 'operator restarts pods by deleting them; the owner recreates them' },
    { expect: 'yes', can: 'update deployments.apps --subresource=scale -n {ns}',  why: 'operator scales Deployments' },
    { expect: 'yes', can: 'patch statefulsets.apps --subresource=scale -n {ns}',  why: 'operator scales StatefulSets' },
    { expect: 'yes', can: 'patch horizontalpodautoscalers.autoscaling -n {ns}',   why: 'operator tunes HPAs' },
    { expect: 'yes', can: 'update horizontalpodautoscalers.autoscaling -n {ns}',  why: 'same' },
    { expect: 'no',  can: 'create horizontalpodautoscalers.autoscaling -n {ns}',  why: 'operator changes HPAs, it does not add or remove them' },
    { expect: 'no',  can: 'get secrets -n {ns}',                                  why: 'no Secret verbs' },
    { expect: 'no',  can: 'create deployments.apps -n {ns}',                      why: `no create or update on pod-defining resources: ${MOUNTS_SECRETS}` },
    { expect: 'no',  can: 'patch deployments.apps -n {ns}',                       why: 'same (a patched pod template mounts Secrets as well as a new one)' },
    { expect: 'no',  can: 'create pods -n {ns}',                                  why: 'same' },
    { expect: 'no',  can: 'create jobs.batch -n {ns}',                            why: 'same' },
    { expect: 'no',  can: 'create pods --subresource=exec -n {ns}',               why: 'exec reaches the Secrets mounted in running pods' },
    { expect: 'no',  can: 'create pods --subresource=portforward -n {ns}',        why: 'port-forward reaches running pods' },
    { expect: 'no',  can: 'create serviceaccounts --subresource=token -n {ns}',   why: 'a token would act as a ServiceAccount with other rights' },
    { expect: 'no',  can: 'update configmaps -n {ns}',                            why: 'configuration is deployer' },
    { expect: 'no',  can: 'delete pods -n kube-system',                           why: 'the Role is namespaced' },
  ],
  deployer: [
    { expect: 'yes', can: 'get pods -n {ns}',                                     why: 'deployer reads like read-only' },
    { expect: 'yes', can: 'get pods --subresource=log -n {ns}',                   why: 'same' },
    { expect: 'yes', can: 'create deployments.apps -n {ns}',                      why: `deployer changes workloads, and so reads Secrets: ${MOUNTS_SECRETS}` },
    { expect: 'yes', can: 'patch deployments.apps -n {ns}',                       why: 'same' },
    { expect: 'yes', can: 'delete statefulsets.apps -n {ns}',                     why: 'same' },
    { expect: 'yes', can: 'create jobs.batch -n {ns}',                            why: 'same' },
    { expect: 'yes', can: 'update deployments.apps --subresource=scale -n {ns}',  why: 'deployer scales' },
    { expect: 'yes', can: 'create cronjobs.batch -n {ns}',                        why: 'deployer changes workloads' },
    { expect: 'yes', can: 'update configmaps -n {ns}',                            why: 'deployer changes configuration' },
    { expect: 'yes', can: 'create services -n {ns}',                              why: 'deployer changes exposure' },
    { expect: 'yes', can: 'delete pods -n {ns}',                                  why: 'deployer restarts pods' },
    { expect: 'yes', can: 'create secrets -n {ns}',                               why: 'deployer writes Secrets' },
    { expect: 'yes', can: 'update secrets -n {ns}',                               why: 'same' },
    { expect: 'no',  can: 'get secrets -n {ns}',                                  why: `no direct read, which protects nothing: deployer reads every Secret of the namespace indirectly by mounting it (${MOUNTS_SECRETS}); TeamAccess.secretsReadable is true` },
    { expect: 'no',  can: 'list secrets -n {ns}',                                 why: 'same' },
    { expect: 'no',  can: 'create pods -n {ns}',                                  why: 'pods come from workloads' },
    { expect: 'no',  can: 'create pods --subresource=exec -n {ns}',               why: 'no preset grants exec' },
    { expect: 'no',  can: 'create serviceaccounts --subresource=token -n {ns}',   why: 'no preset mints ServiceAccount tokens' },
    { expect: 'no',  can: 'create rolebindings.rbac.authorization.k8s.io -n {ns}', why: 'cannot grant itself more' },
    { expect: 'no',  can: 'create deployments.apps -n kube-system',               why: 'the Role is namespaced' },
  ],
};

/**
 * Every route to a Secret's value that TeamAccess.secretsReadable counts (team-access.ts): reading Secrets,
 * creating or changing a pod-defining resource, or reaching into a running pod.
 */
export const SECRET_ROUTES: readonly string[] = [
  ...['get', 'list', 'watch'].map((v) => `${v} secrets -n {ns}`),
  ...['pods', 'deployments.apps', 'replicasets.apps', 'statefulsets.apps', 'daemonsets.apps', 'jobs.batch', 'cronjobs.batch'].flatMap((r) =>
    ['create', 'update', 'patch'].map((v) => `${v} ${r} -n {ns}`),
  ),
  ...['exec', 'attach', 'portforward'].map((s) => `create pods --subresource=${s} -n {ns}`),
];

/** Whether the matrix documents a route to Secrets for a preset (a `yes` row that is a {@link SECRET_ROUTES} entry). */
export function matrixReadsSecrets(preset: AccessPreset): boolean {
  return TEAM_MATRIX[preset].some((c) => c.expect === 'yes' && SECRET_ROUTES.includes(c.can));
}
