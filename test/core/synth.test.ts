import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'cdk8s';
import { Construct } from 'constructs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { describe, expect, it } from 'vitest';
import * as kplus from 'cdk8s-plus-27';
import { AntiAffinityDeployment, EnvironmentProps, OutputFile, ShipshapeError, Stack, formatSummary, synth, synthesizeApp } from '../../lib';
import { crossEnvironmentProblems } from '../../lib/core/synth';
import { OUTPUT_MARKER } from '../../lib/core/writer';
import { testEnvironment } from '../support/synth';
import { temporaryDirectories } from '../support/temp';

const tmp = temporaryDirectories('shipshape-synth-');

/** Every file under `dir` with its content, relative paths sorted. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const full = path.join(entry.parentPath, entry.name);
      out[path.relative(dir, full)] = fs.readFileSync(full, 'utf8');
    }
  }
  return out;
}

function app(build: (stack: Stack) => void = () => {}): App {
  const a = new App();
  for (const name of ['one', 'two']) {
    const stack = new Stack(a, name, { environment: testEnvironment({ name }) });
    new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
    build(stack);
  }
  return a;
}

describe('synth', () => {
  it('writes one readable file per object and a kustomization listing them in apply order', () => {
    const out = path.join(tmp(), 'dist');
    const summaries = synth(app(), { outdir: out });
    const files = tree(out);
    expect(
      Object.keys(files)
        .filter((f) => f.startsWith('one/kubernetes/'))
        .sort(),
    ).toEqual([
      'one/kubernetes/deployment-web.yaml',
      'one/kubernetes/kustomization.yaml',
      'one/kubernetes/namespace-one.yaml',
      'one/kubernetes/poddisruptionbudget-web.yaml',
      'one/kubernetes/service-web.yaml',
      'one/kubernetes/serviceaccount-web.yaml',
    ]);
    expect(files['one/kubernetes/kustomization.yaml']).toBe(
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - namespace-one.yaml\n  - serviceaccount-web.yaml\n  - deployment-web.yaml\n  - poddisruptionbudget-web.yaml\n  - service-web.yaml\n',
    );
    expect(files['one/kubernetes/deployment-web.yaml']).toMatch(/^apiVersion: apps\/v1\nkind: Deployment\n/);
    expect(summaries.map(formatSummary)).toEqual([
      `one: 5 objects, 0 warnings, 0 exemptions → ${path.join(out, 'one')} (images/, kubernetes/)`,
      `two: 5 objects, 0 warnings, 0 exemptions → ${path.join(out, 'two')} (images/, kubernetes/)`,
    ]);
  });

  it('is byte-identical across runs', () => {
    const a = path.join(tmp(), 'a');
    const b = path.join(tmp(), 'b');
    synth(app(), { outdir: a });
    synth(app(), { outdir: b });
    synth(app(), { outdir: b });
    expect(tree(b)).toEqual(tree(a));
  });

  it('replaces the previous output wholly, dropping files that are no longer produced', () => {
    const out = path.join(tmp(), 'dist');
    synth(app(), { outdir: out });
    fs.mkdirSync(path.join(out, 'stale'), { recursive: true });
    fs.writeFileSync(path.join(out, 'stale', 'old.yaml'), 'old');
    synth(app(), { outdir: out });
    expect(fs.existsSync(path.join(out, 'stale'))).toBe(false);
    expect(fs.existsSync(path.join(out, OUTPUT_MARKER))).toBe(true);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['dist']);
  });

  it('refuses to replace a directory it did not write, or the current directory, and deletes nothing', () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'precious.txt'), 'keep me');
    expect(() => synth(app(), { outdir: dir })).toThrow(/holds files synth did not write \(no \.shipshape-output marker\).*Fix: choose a new or empty directory/);
    expect(fs.readdirSync(dir)).toEqual(['precious.txt']);
    expect(() => synth(app(), { outdir: '.' })).toThrow(/is, or contains, the current directory/);
    expect(() => synth(app(), { outdir: '..' })).toThrow(/is, or contains, the current directory/);
  });

  it('puts the previous output back when the final swap fails', () => {
    const out = path.join(tmp(), 'dist');
    synth(app(), { outdir: out });
    const before = tree(out);
    // Patch the CommonJS fs object and push the change to the ES module bindings the writer uses.
    const cjsFs = createRequire(__filename)('node:fs') as typeof fs;
    const realRename = cjsFs.renameSync;
    cjsFs.renameSync = (from, to) => {
      if (String(from).includes('-staging-') && !String(from).endsWith('-previous')) throw new Error('disk full');
      return realRename(from, to);
    };
    syncBuiltinESMExports();
    try {
      expect(() => synth(app(), { outdir: out })).toThrow('disk full');
    } finally {
      cjsFs.renameSync = realRename;
      syncBuiltinESMExports();
    }
    expect(tree(out)).toEqual(before);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['dist']);
  });

  it('leaves the previous output untouched and writes nothing when any environment fails policy', () => {
    const out = path.join(tmp(), 'dist');
    synth(app(), { outdir: out });
    const before = tree(out);
    const broken = app((stack) => {
      if (stack.environment.name === 'two') {
        new AntiAffinityDeployment(stack, 'lonely', { name: 'lonely', image: 'lonely:1.0.0', ports: [{ port: 80 }], disruptionBudget: false });
      }
    });
    expect(() => synth(broken, { outdir: out })).toThrow(
      /synth failed; nothing was written, \S+ is unchanged \(1\):\n {2}- two: \[disruption-budget\] Deployment two\/lonely \(construct two\/lonely\/deployment\)/,
    );
    expect(tree(out)).toEqual(before);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['dist']);
  });

  it('reports construct validation errors of every stack at once', () => {
    const broken = app((stack) => {
      new (class extends Construct {
        constructor() {
          super(stack, 'checked');
          this.node.addValidation({ validate: () => ['the answer must be 42'] });
        }
      })();
    });
    const out = path.join(tmp(), 'dist');
    expect(() => synth(broken, { outdir: out })).toThrow(/\(2\):\n {2}- one: one\/checked: the answer must be 42\n {2}- two: two\/checked: the answer must be 42/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('writes output files beside the manifests and rejects unsafe paths', () => {
    const out = path.join(tmp(), 'dist');
    synth(
      app((stack) => new OutputFile(stack, 'daemon', { path: 'hosts/daemon.json', content: () => `{"env":"${stack.environment.name}"}\n` })),
      { outdir: out },
    );
    expect(fs.readFileSync(path.join(out, 'two', 'hosts', 'daemon.json'), 'utf8')).toBe('{"env":"two"}\n');
    const stack = new Stack(new App(), 'x', { environment: testEnvironment({ name: 'x' }) });
    for (const bad of ['../escape', '/etc/passwd', 'kubernetes/extra.yaml', 'a/./b']) {
      expect(() => new OutputFile(stack, bad, { path: bad, content: '' })).toThrow(ShipshapeError);
    }
  });

  describe('environments sharing a cluster', () => {
    // Two environments with their own namespaces that both add the same cluster-wide and shared-namespace objects.
    function sharing(clusters: [EnvironmentProps['cluster'], EnvironmentProps['cluster']], shared = true): App {
      const a = new App();
      for (const [i, name] of ['dev', 'prod'].entries()) {
        const stack = new Stack(a, name, { environment: testEnvironment({ name, cluster: clusters[i] }) });
        new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
        if (shared) {
          new kplus.k8s.KubeClusterRole(stack, 'reader', { metadata: { name: 'log-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] });
          new kplus.k8s.KubeConfigMap(stack, 'settings', { metadata: { name: 'collector', namespace: 'logging' }, data: { level: name } });
        }
      }
      return a;
    }

    it('refuses two environments on one cluster that would own the same objects, naming both, the objects and the fix', () => {
      const out = path.join(tmp(), 'dist');
      let message = '';
      try {
        synth(sharing([{ server: 'https://k8s.example.com:6443' }, { server: 'https://K8S.example.com:6443/' }]), { outdir: out });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/synth failed; nothing was written, \S+ does not exist \(1\):/);
      expect(message).toContain('environments "dev" and "prod" both deploy to https://k8s.example.com:6443 and would both own 2 object(s)');
      expect(message).toContain('ClusterRole log-reader (dev/reader and prod/reader)');
      expect(message).toContain('ConfigMap logging/collector (dev/settings and prod/settings)');
      expect(message).toMatch(/Fix: give "dev" and "prod" different clusters \(Environment.cluster\)/);
      expect(fs.existsSync(out)).toBe(false);
      // The same by Argo CD cluster name, and in-cluster by either spelling.
      expect(() => synthesizeApp(sharing([{ name: 'shared' }, { name: 'shared' }]))).toThrow(/both deploy to Argo CD cluster "shared"/);
      expect(() => synthesizeApp(sharing([{ name: 'in-cluster' }, { server: 'https://kubernetes.default.svc' }]))).toThrow(/"dev" and "prod" both deploy to/);
    });

    it('allows one cluster for environments whose objects differ, and separate clusters for any objects', () => {
      expect(synthesizeApp(sharing([{ name: 'shared' }, { name: 'shared' }], false)).map((r) => r.environment.name)).toEqual(['dev', 'prod']);
      expect(synthesizeApp(sharing([{ name: 'acme-dev' }, { name: 'acme-prod' }])).length).toBe(2);
      // Clusters that are not stated are not compared (a single Argo CD environment, or Pulumi with its own provider).
      expect(synthesizeApp(sharing([undefined, undefined])).length).toBe(2);
      expect(crossEnvironmentProblems(synthesizeApp(sharing([undefined, { name: 'x' }])))).toEqual([]);
    });
  });

  it('rejects two objects with the same kind, namespace and name', () => {
    const a = new App();
    const stack = new Stack(a, 'one', { environment: testEnvironment({ name: 'one' }) });
    new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
    new AntiAffinityDeployment(stack, 'web-again', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
    expect(() => synth(a, { outdir: path.join(tmp(), 'dist') })).toThrow(/Deployment one\/web is also defined by one\/web\/deployment/);
  });
});
