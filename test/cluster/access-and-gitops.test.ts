import { App } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Environment, EnvironmentProps, Stack, formatSummary, synth } from '../../lib';
import { ACCESS_PRESETS, ARGO_CD_RESOURCES_FINALIZER, ArgoCdApplication, POD_DEFINING_RESOURCES, RbacResource, TeamAccess, rulesReadSecrets } from '../../lib/cluster';
import { validateManifest } from '../support/schema';
import { findObject, synthStack, testEnvironment } from '../support/synth';
import { expectValidAndClean, shipshapeError } from '../support/cluster';

describe('TeamAccess', () => {
  it('gives developer1 in team1 a namespaced Role through a RoleBinding', () => {
    const result = synthStack(
      (stack) =>
        new TeamAccess(stack, 'team1', {
          namespace: 'team1',
          serviceAccounts: ['developer1'],
          rules: [{ resources: ['pods', 'deployments'], verbs: ['get', 'list'] }],
        }),
    );
    expectValidAndClean(result);
    const ns = findObject(result, 'Namespace', 'team1');
    expect(ns.metadata.namespace).toBeUndefined();
    expect(ns.metadata.labels!['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(findObject(result, 'ServiceAccount', 'developer1').metadata.namespace).toBe('team1');
    // Hand-written Roles often list `deployment` under apiGroups ['', 'apps']; typed resources put each in its own group.
    expect(findObject(result, 'Role', 'team1-custom').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list'] },
    ]);
    const binding = findObject(result, 'RoleBinding', 'team1-custom');
    expect(binding.metadata.namespace).toBe('team1');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'team1-custom' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'developer1', namespace: 'team1' }]);
  });

  it('offers read-only, operator and deployer presets without wildcards, cluster roles or secret reads', () => {
    for (const preset of ['read-only', 'operator', 'deployer'] as const) {
      const result = synthStack((stack) => new TeamAccess(stack, 'team', { namespace: 'team1', serviceAccounts: ['ci'], subjects: [{ kind: 'Group', name: 'team1-devs' }], preset }));
      expectValidAndClean(result);
      const rules = findObject(result, 'Role', `team1-${preset}`).rules as any[];
      const flat = rules.flatMap((r) => [...r.apiGroups, ...r.resources, ...r.verbs]);
      expect(flat.some((v: string) => v.includes('*'))).toBe(false);
      const secretReads = rules.filter((r) => r.resources.includes('secrets') && r.verbs.some((v: string) => ['get', 'list', 'watch'].includes(v)));
      expect(secretReads).toEqual([]);
      expect(result.objects.some((o) => o.manifest.kind.startsWith('Cluster'))).toBe(false);
    }
    const deployer = ACCESS_PRESETS.deployer.flatMap((r) => r.verbs);
    expect(deployer).toContain('patch');
    expect(ACCESS_PRESETS['read-only'].flatMap((r) => r.verbs).every((v) => ['get', 'list', 'watch'].includes(v))).toBe(true);
  });

  it('says which presets can read Secrets by mounting them: deployer can, operator and read-only cannot', () => {
    const access = (preset: 'read-only' | 'operator' | 'deployer') => {
      let team!: TeamAccess;
      const result = synthStack((stack) => {
        team = new TeamAccess(stack, 'team', { namespace: 'team1', serviceAccounts: ['a'], preset });
      });
      expectValidAndClean(result);
      return { team, rules: findObject(result, 'Role', `team1-${preset}`).rules as any[] };
    };
    const podDefining = new Set(POD_DEFINING_RESOURCES as readonly string[]);
    const writesPods = (rules: any[]) => rules.filter((r) => r.resources.some((x: string) => podDefining.has(x)) && r.verbs.some((v: string) => ['create', 'update', 'patch'].includes(v)));
    // deployer creates Deployments: a pod it defines can mount any Secret of the namespace.
    const deployer = access('deployer');
    expect(writesPods(deployer.rules).flatMap((r) => r.resources)).toEqual(expect.arrayContaining(['deployments', 'jobs', 'statefulsets', 'cronjobs']));
    expect(deployer.team.secretsReadable).toBe(true);
    // operator scales, tunes HPAs and restarts pods, and has no route to a Secret's value.
    const operator = access('operator');
    expect(operator.team.secretsReadable).toBe(false);
    expect(writesPods(operator.rules)).toEqual([]);
    expect(operator.rules.filter((r) => r.resources.some((x: string) => x === 'secrets' || (x.startsWith('pods/') && x !== 'pods/log')))).toEqual([]);
    expect(operator.rules.filter((r) => r.resources.includes('serviceaccounts')).flatMap((r) => r.verbs)).toEqual(['get', 'list', 'watch']);
    expect(operator.rules).toEqual(
      expect.arrayContaining([
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete'] },
        { apiGroups: ['apps'], resources: ['deployments/scale', 'statefulsets/scale'], verbs: ['get', 'update', 'patch'] },
      ]),
    );
    expect(operator.rules.find((r) => r.apiGroups[0] === 'autoscaling' && r.verbs.includes('patch'))).toEqual({
      apiGroups: ['autoscaling'],
      resources: ['horizontalpodautoscalers'],
      verbs: ['get', 'list', 'watch', 'update', 'patch'],
    });
    expect(access('read-only').team.secretsReadable).toBe(false);
    // Each route on its own makes Secrets readable.
    for (const rule of [
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] },
    ])
      expect(rulesReadSecrets([rule])).toBe(true);
    expect(rulesReadSecrets([{ apiGroups: [''], resources: ['secrets'], verbs: ['create', 'update'] }])).toBe(false);
  });

  it('grants cluster-admin only through an explicit opt-in that the synth summary reports', () => {
    const env = testEnvironment({ name: 'ops' });
    const app = new App();
    const stack = new Stack(app, 'ops', { environment: env });
    new TeamAccess(stack, 'platform', {
      namespace: 'platform-team',
      serviceAccounts: ['oncall'],
      preset: 'read-only',
      clusterAdmin: { reason: 'break-glass account of the on-call platform engineer' },
    });
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'team-access-'));
    try {
      const [summary] = synth(app, { outdir: path.join(outdir, 'dist') });
      expect(formatSummary(summary)).toMatch(/exempt {2}\[rbac-cluster-admin\] ClusterRoleBinding platform-team-cluster-admin: break-glass account/);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('refuses clusterAdmin for a namespace whose binding name would be too long a label value', () => {
    const team = (namespace: string) => synthStack((s) => new TeamAccess(s, 'team', { namespace, serviceAccounts: ['a'], preset: 'read-only', clusterAdmin: { reason: 'break-glass' } }));
    const e = shipshapeError(() => team('n'.repeat(50)));
    expect(e.path).toBe('test/team');
    expect(e.value).toBe('n'.repeat(50));
    expect(e.message).toMatch(
      /"n{50}-cluster-admin" is also the value of its app\.kubernetes\.io\/name label, which may be at most 63 characters.*Fix: shorten the namespace to at most 49 characters/,
    );
    const binding = findObject(team('n'.repeat(49)), 'ClusterRoleBinding', `${'n'.repeat(49)}-cluster-admin`);
    expect(binding.metadata?.labels?.['app.kubernetes.io/name']).toHaveLength(63);
    // Without clusterAdmin the same namespace is fine.
    expect(() => synthStack((s) => new TeamAccess(s, 'team', { namespace: 'n'.repeat(50), roleName: 'ops', serviceAccounts: ['a'], preset: 'read-only' }))).not.toThrow();
  });

  it('fails policy for a cluster-admin binding made without the opt-in', () => {
    const result = synthStack((stack) => {
      const team = new TeamAccess(stack, 'team', { namespace: 'team1', serviceAccounts: ['a'], preset: 'read-only' });
      new kplus.k8s.KubeClusterRoleBinding(team, 'sneaky', {
        metadata: { name: 'sneaky' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'a', namespace: 'team1' }],
      });
    });
    expect(result.problems.some((p) => p.startsWith('[rbac-cluster-admin] ClusterRoleBinding sneaky'))).toBe(true);
  });

  it('rejects wildcards, unknown resources, empty grants and system namespaces', () => {
    const team = (props: any) => synthStack((s) => new TeamAccess(s, 'team', { namespace: 'team1', serviceAccounts: ['a'], ...props }));
    expect(() => team({ rules: [{ resources: ['pods'], verbs: ['*'] }] })).toThrow(/verb that is not allowed/);
    expect(() => team({ rules: [{ resources: ['*' as RbacResource], verbs: ['get'] }] })).toThrow(/unknown resource/);
    expect(() => team({})).toThrow(/grant nothing/);
    expect(() => team({ preset: 'admin' })).toThrow(/preset is not known/);
    expect(() => team({ preset: 'read-only', namespace: 'kube-system' })).toThrow(/not a team namespace/);
    expect(() => team({ preset: 'read-only', serviceAccounts: [] })).toThrow(/nobody gets the access/);
    const e = shipshapeError(() => team({ preset: 'read-only', serviceAccounts: ['Developer 1'] }));
    expect(e.path).toBe('test/team');
  });
});

describe('ArgoCdApplication', () => {
  const REPO = 'https://github.com/acme/platform-deploy.git';
  function argo(environment: Partial<EnvironmentProps> & { name: string }, props: Partial<ConstructorParameters<typeof ArgoCdApplication>[2]> = {}) {
    return synthStack((stack) => {
      new TeamAccess(stack, 'team', { namespace: 'team1', serviceAccounts: ['a'], preset: 'read-only' });
      new ArgoCdApplication(stack, 'argocd', { repoURL: REPO, ...props });
    }, testEnvironment(environment));
  }

  function documents(result: ReturnType<typeof argo>, file: string) {
    const f = result.files.find((x) => x.path === file);
    if (!f) throw new Error(`no ${file}; have ${result.files.map((x) => x.path).join(', ')}`);
    expect(f.shared).toBe(true);
    return parseAllDocuments(f.content).map((d) => d.toJS());
  }

  it('syncs an automated environment with prune, self-heal and the domain-qualified finalizer, into its own cluster', () => {
    const server = 'https://api.stage.k8s.example.com:6443';
    const result = argo({ name: 'stage', cluster: { server }, delivery: { sync: 'automated' } }, { targetRevision: 'release' });
    expectValidAndClean(result);
    const [project, app] = documents(result, 'argocd/stage.yaml');
    validateManifest(project);
    validateManifest(app);
    expect(app.kind).toBe('Application');
    expect(app.metadata.namespace).toBe('argocd');
    expect(app.metadata.finalizers).toEqual(['resources-finalizer.argocd.argoproj.io/foreground']);
    expect(ARGO_CD_RESOURCES_FINALIZER).toBe('resources-finalizer.argocd.argoproj.io/foreground');
    expect(app.spec.source).toEqual({ repoURL: REPO, targetRevision: 'release', path: 'dist/stage/kubernetes' });
    expect(app.spec.destination).toEqual({ server, namespace: 'stage' });
    expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    expect(app.spec.project).toBe('stage');
    expect(project.kind).toBe('AppProject');
    expect(project.spec.sourceRepos).toEqual([REPO]);
    // The project allows the environment's cluster and nothing else.
    expect(project.spec.destinations).toEqual([
      { server, namespace: 'stage' },
      { server, namespace: 'team1' },
    ]);
    expect(project.spec.clusterResourceWhitelist).toEqual([{ group: '', kind: 'Namespace' }]);
  });

  it('targets an Argo CD cluster by name, in the Application and every AppProject destination', () => {
    const [project, app] = documents(argo({ name: 'prod', cluster: { name: 'prod-eu' } }), 'argocd/prod.yaml');
    validateManifest(project);
    validateManifest(app);
    expect(app.spec.destination).toEqual({ name: 'prod-eu', namespace: 'prod' });
    expect(project.spec.destinations).toEqual([
      { name: 'prod-eu', namespace: 'prod' },
      { name: 'prod-eu', namespace: 'team1' },
    ]);
  });

  it('takes manual or automated sync from the environment, never from its name', () => {
    // An environment called prod that asks for automated sync gets it; one called dev that says nothing waits.
    const [, prodAuto] = documents(argo({ name: 'prod', delivery: { sync: 'automated' } }), 'argocd/prod.yaml');
    expect(prodAuto.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    for (const environment of [{ name: 'dev' }, { name: 'dev', delivery: { sync: 'manual' as const } }]) {
      const [, app] = documents(argo(environment), 'argocd/dev.yaml');
      validateManifest(app);
      expect(app.spec.syncPolicy.automated).toBeUndefined();
      // A manually synced Application can be deleted without deleting what it deployed.
      expect(app.metadata.finalizers).toBeUndefined();
      // A single Argo CD environment without a stated cluster goes to the cluster Argo CD runs in.
      expect(app.spec.destination).toEqual({ server: 'https://kubernetes.default.svc', namespace: 'dev' });
    }
  });

  it('requires a cluster on every environment once more than one is delivered through Argo CD', () => {
    const app = new App();
    const add = (name: string, cluster?: EnvironmentProps['cluster']) => {
      const stack = new Stack(app, name, { environment: new Environment({ name, kubernetesVersion: '1.29', cluster }) });
      return () => new ArgoCdApplication(stack, 'argocd', { repoURL: REPO });
    };
    add('dev', { server: 'https://dev.k8s.example.com' })();
    const e = shipshapeError(add('prod'));
    expect(e.path).toBe('prod/argocd');
    expect(e.message).toMatch(/2 environments are delivered through Argo CD \(dev, prod\), but "prod" states no cluster/);
    expect(e.message).toContain('stated: dev → https://dev.k8s.example.com');
    expect(e.fix).toMatch(/set cluster on environment "prod"/);
    // The check does not depend on which Application comes first.
    const app2 = new App();
    new ArgoCdApplication(new Stack(app2, 'a', { environment: new Environment({ name: 'a', kubernetesVersion: '1.29' }) }), 'argocd', { repoURL: REPO });
    const other = new Stack(app2, 'b', { environment: new Environment({ name: 'b', kubernetesVersion: '1.29', cluster: { name: 'b' } }) });
    expect(() => new ArgoCdApplication(other, 'argocd', { repoURL: REPO })).toThrow(/"a" states no cluster/);
  });

  it('rejects repository URLs with credentials and paths that leave the repository', () => {
    expect(() => argo({ name: 'dev' }, { repoURL: 'https://user:token@github.com/acme/x.git' })).toThrow(/without credentials/);
    expect(() => argo({ name: 'dev' }, { repoURL: 'ftp://x' })).toThrow(/repoURL/);
    expect(() => argo({ name: 'dev' }, { path: '../other' })).toThrow(/relative directory/);
    expect(() => argo({ name: 'dev' }, { targetRevision: 'a b' })).toThrow(/targetRevision/);
  });

  it('writes dist/argocd/<env>.yaml next to the environments', () => {
    const app = new App();
    for (const name of ['dev', 'prod']) {
      const stack = new Stack(app, name, { environment: new Environment({ name, kubernetesVersion: '1.29', cluster: { name: `acme-${name}` } }) });
      new ArgoCdApplication(stack, 'argocd', { repoURL: 'git@github.com:acme/platform-deploy.git' });
    }
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'argocd-'));
    try {
      synth(app, { outdir: path.join(outdir, 'dist') });
      expect(fs.readdirSync(path.join(outdir, 'dist', 'argocd')).sort()).toEqual(['dev.yaml', 'prod.yaml']);
      expect(fs.existsSync(path.join(outdir, 'dist', 'dev', 'kubernetes', 'kustomization.yaml'))).toBe(true);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
