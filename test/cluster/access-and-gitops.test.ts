import { App } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Environment, Stack, formatSummary, synth } from '../../lib';
import { ACCESS_PRESETS, ArgoCdApplication, RbacResource, TeamAccess } from '../../lib/cluster';
import { validateManifest } from '../support/schema';
import { findObject, synthStack, testEnvironment } from '../support/synth';
import { expectValidAndClean, shipshapeError } from './helpers';

describe('TeamAccess', () => {
  it('gives the notes\' developer1 in team1 a namespaced Role through a RoleBinding', () => {
    const result = synthStack((stack) => new TeamAccess(stack, 'team1', {
      namespace: 'team1',
      serviceAccounts: ['developer1'],
      rules: [{ resources: ['pods', 'deployments'], verbs: ['get', 'list'] }],
    }));
    expectValidAndClean(result);
    const ns = findObject(result, 'Namespace', 'team1');
    expect(ns.metadata.namespace).toBeUndefined();
    expect(ns.metadata.labels!['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(findObject(result, 'ServiceAccount', 'developer1').metadata.namespace).toBe('team1');
    // The notes wrote `deployment` under apiGroups ['', 'apps']; typed resources put each in its own group.
    expect(findObject(result, 'Role', 'team1-custom').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list'] },
    ]);
    const binding = findObject(result, 'RoleBinding', 'team1-custom');
    expect(binding.metadata.namespace).toBe('team1');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'team1-custom' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'developer1', namespace: 'team1' }]);
  });

  it('offers read-only and deployer presets without wildcards, cluster roles or secret reads', () => {
    for (const preset of ['read-only', 'deployer'] as const) {
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

  it('grants cluster-admin only through an explicit opt-in that the synth summary reports', () => {
    const env = testEnvironment({ name: 'ops' });
    const app = new App();
    const stack = new Stack(app, 'ops', { environment: env });
    new TeamAccess(stack, 'platform', { namespace: 'platform-team', serviceAccounts: ['oncall'], preset: 'read-only', clusterAdmin: { reason: 'break-glass account of the on-call platform engineer' } });
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'team-access-'));
    try {
      const [summary] = synth(app, { outdir: path.join(outdir, 'dist') });
      expect(formatSummary(summary)).toMatch(/exempt {2}\[rbac-cluster-admin\] ClusterRoleBinding platform-team-cluster-admin: break-glass account/);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
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
  function argo(name: string, props: Partial<ConstructorParameters<typeof ArgoCdApplication>[2]> = {}) {
    return synthStack((stack) => {
      new TeamAccess(stack, 'team', { namespace: 'team1', serviceAccounts: ['a'], preset: 'read-only' });
      new ArgoCdApplication(stack, 'argocd', { repoURL: 'https://github.com/acme/platform-deploy.git', ...props });
    }, testEnvironment({ name }));
  }

  function documents(result: ReturnType<typeof argo>, file: string) {
    const f = result.files.find((x) => x.path === file);
    if (!f) throw new Error(`no ${file}; have ${result.files.map((x) => x.path).join(', ')}`);
    expect(f.shared).toBe(true);
    return parseAllDocuments(f.content).map((d) => d.toJS());
  }

  it('syncs dev/stage automatically with prune and self-heal, from dist/<env>/kubernetes', () => {
    const result = argo('stage', { targetRevision: 'release' });
    expectValidAndClean(result);
    const [project, app] = documents(result, 'argocd/stage.yaml');
    validateManifest(project);
    validateManifest(app);
    expect(app.kind).toBe('Application');
    expect(app.metadata.namespace).toBe('argocd');
    expect(app.spec.source).toEqual({ repoURL: 'https://github.com/acme/platform-deploy.git', targetRevision: 'release', path: 'dist/stage/kubernetes' });
    expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    expect(app.spec.project).toBe('stage');
    expect(project.kind).toBe('AppProject');
    expect(project.spec.sourceRepos).toEqual(['https://github.com/acme/platform-deploy.git']);
    expect(project.spec.destinations.map((d: any) => d.namespace)).toEqual(['stage', 'team1']);
    expect(project.spec.clusterResourceWhitelist).toEqual([{ group: '', kind: 'Namespace' }]);
  });

  it('leaves prod to a manual sync', () => {
    const result = argo('prod');
    const [project, app] = documents(result, 'argocd/prod.yaml');
    validateManifest(project);
    validateManifest(app);
    expect(app.spec.syncPolicy.automated).toBeUndefined();
    expect(app.metadata.finalizers).toBeUndefined();
    expect(argo('dev').files.length).toBe(1);
  });

  it('rejects repository URLs with credentials and paths that leave the repository', () => {
    expect(() => argo('dev', { repoURL: 'https://user:token@github.com/acme/x.git' })).toThrow(/without credentials/);
    expect(() => argo('dev', { repoURL: 'ftp://x' })).toThrow(/repoURL/);
    expect(() => argo('dev', { path: '../other' })).toThrow(/relative directory/);
    expect(() => argo('dev', { targetRevision: 'a b' })).toThrow(/targetRevision/);
  });

  it('writes dist/argocd/<env>.yaml next to the environments', () => {
    const app = new App();
    for (const name of ['dev', 'prod']) {
      const stack = new Stack(app, name, { environment: new Environment({ name, kubernetesVersion: '1.29' }) });
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
