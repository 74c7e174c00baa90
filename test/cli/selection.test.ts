import { ApiObject, App } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { afterEach, describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, OutputFile, ShipshapeAggregateError, Stack, synth, synthesizeApp } from '../../lib';
import { SYNTH_HOOK, SynthHook, SynthLibrary } from '../../lib/core/synth-hook';
import { testEnvironment } from '../support/synth';

/** dev, stage and prod; dev and prod share a cluster, and with `clash` both own a ConfigMap logging/collector. */
function platform(options: { clash?: boolean; sharedFile?: (env: string) => string } = {}): App {
  const app = new App();
  for (const name of ['dev', 'stage', 'prod']) {
    const stack = new Stack(app, name, { environment: testEnvironment({ name, cluster: { name: name === 'stage' ? 'stage' : 'shared' } }) });
    new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
    if (options.clash) new kplus.k8s.KubeConfigMap(stack, 'settings', { metadata: { name: 'collector', namespace: 'logging' }, data: { level: name } });
    if (options.sharedFile) new OutputFile(stack, 'apps', { path: 'argocd/platform.yaml', shared: true, content: options.sharedFile(name) });
  }
  return app;
}

/** The library side a CLI run of `app` works with, as the CLI receives it. */
function library(app: App): SynthLibrary {
  let received: SynthLibrary | undefined;
  const hook: SynthHook = { capture: (request) => (received = request.library) };
  (globalThis as Record<symbol, unknown>)[SYNTH_HOOK] = hook;
  synth(app);
  return received!;
}

afterEach(() => {
  delete (globalThis as Record<symbol, unknown>)[SYNTH_HOOK];
});

function problems(f: () => unknown): readonly string[] {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ShipshapeAggregateError);
    return (e as ShipshapeAggregateError).problems;
  }
  return [];
}

describe('synthesizing some environments', () => {
  it('still refuses two environments on one cluster owning the same object when only one of them is selected', () => {
    const app = platform({ clash: true });
    for (const selection of [['dev'], ['prod'], undefined]) {
      const found = problems(() => synthesizeApp(app, selection));
      expect(found).toHaveLength(1);
      expect(found[0]).toContain('environments "dev" and "prod" both deploy to Argo CD cluster "shared" and would both own 1 object(s): ConfigMap logging/collector');
    }
    // stage runs on a cluster of its own: its selection does not carry the dev/prod clash.
    expect(synthesizeApp(app, ['stage']).map((r) => r.environment.name)).toEqual(['stage']);
  });

  it("reports the selected environments' own problems and not the others'", () => {
    const app = platform();
    new AntiAffinityDeployment(app.node.findChild('prod') as Stack, 'lonely', { name: 'lonely', image: 'lonely:1.0.0', ports: [{ port: 80 }], disruptionBudget: false });
    expect(synthesizeApp(app, ['dev']).map((r) => r.environment.name)).toEqual(['dev']);
    expect(problems(() => synthesizeApp(app, ['prod'])).join('\n')).toMatch(/^prod: \[disruption-budget\] Deployment prod\/lonely/);
  });

  it('names another environment that cannot be synthesized, since the selection cannot be checked against it', () => {
    const app = platform();
    class Broken extends ApiObject {
      public override toJson(): never {
        throw new Error('renderer crashed');
      }
    }
    new Broken(app.node.findChild('prod') as Stack, 'broken', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'broken' } });
    expect(problems(() => synthesizeApp(app, ['dev']))).toEqual([
      'prod: renderer crashed (while synthesizing it to check it against dev). Fix: correct prod, or synthesize it on its own to see its problems',
    ]);
  });

  it('refuses a shared file a selected environment writes with other content than another environment, and plans only the selection', () => {
    const app = platform({ sharedFile: (env) => `kind: List\nitems: []\n# ${env === 'stage' ? 'stage' : 'everyone'}\n` });
    const stage = problems(() => library(app).plan(app, 'dist', ['stage']));
    expect(stage).toHaveLength(2);
    expect(stage[0]).toBe('stage/apps: argocd/platform.yaml is also written by environment "dev" (dev/apps) with different content. Fix: give the files distinct paths');
    expect(stage[1]).toContain('environment "prod" (prod/apps)');
    expect(problems(() => library(app).plan(app, 'dist', ['dev']))).toEqual([
      'dev/apps: argocd/platform.yaml is also written by environment "stage" (stage/apps) with different content. Fix: give the files distinct paths',
    ]);
    // When every environment writes the same file, a selection plans its own files and the shared one only.
    const agreeing = platform({ sharedFile: () => 'kind: List\nitems: []\n' });
    const dev = library(agreeing).plan(agreeing, 'dist', ['dev']);
    expect(dev.summaries.map((s) => s.environment)).toEqual(['dev']);
    expect([...dev.files.keys()].filter((f) => !f.startsWith('dev/'))).toEqual(['argocd/platform.yaml']);
  });
});
