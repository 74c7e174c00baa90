import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EnvironmentSummary, synth, synthesizeApp } from '../../lib';
import { writeKustomizeLayout } from '../../bench/generators/kustomize';
import { buildShipshapeScaleApp } from '../../bench/generators/shipshape';
import { buildApp } from '../../stacks/platform';
import { conformanceSuite } from '../support/conformance';
import { run } from '../support/tools';

// `kubectl kustomize` (the path Argo CD and `kubectl apply -k` take) over every kustomization synth writes.
conformanceSuite('kubectl kustomize', ['kubectl'], () => {
  const root = path.resolve(__dirname, '../..');
  let work: string;
  let summaries: EnvironmentSummary[];
  const kinds = (dir: string) => parseAllDocuments(run('timeout', ['60', 'kubectl', 'kustomize', dir])).map((d) => d.toJS().kind as string);

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-kustomize-'));
    summaries = synth(buildApp(), { outdir: path.join(work, 'platform') });
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('builds every Kubernetes environment of the reference platform with every object synth wrote', () => {
    const kubernetes = summaries.filter((s) => fs.existsSync(path.join(work, 'platform', s.environment, 'kubernetes')));
    expect(kubernetes.map((s) => s.environment)).toEqual(expect.arrayContaining(['dev', 'stage', 'prod']));
    for (const s of kubernetes) expect(kinds(path.join(work, 'platform', s.environment, 'kubernetes')).length, s.environment).toBe(s.objects);
  });

  it('builds both environments of examples/efk-stack', () => {
    const out = path.join(work, 'efk');
    run('npx', ['tsx', 'examples/efk-stack/main.ts', out], { cwd: root });
    for (const env of ['dev', 'prod']) {
      const built = kinds(path.join(out, env, 'kubernetes'));
      expect(built).toEqual(expect.arrayContaining(['Namespace', 'StatefulSet', 'DaemonSet', 'Deployment', 'Job']));
      // Only prod declares a Prometheus Operator, so only prod carries its custom resources.
      expect(built.includes('PrometheusRule'), env).toBe(env === 'prod');
    }
  });

  it("renders the same objects from the benchmark's generated base + overlays as synth writes", () => {
    const n = 3;
    const overlays = writeKustomizeLayout(n, path.join(work, 'bench'));
    for (const r of synthesizeApp(buildShipshapeScaleApp(n))) {
      const rendered = new Map(
        parseAllDocuments(run('timeout', ['60', 'kubectl', 'kustomize', overlays[r.environment.name]])).map((d) => {
          const m = d.toJS();
          return [`${m.kind}/${m.metadata.name}`, m];
        }),
      );
      const expected = new Map(r.objects.map((o) => [`${o.manifest.kind}/${o.manifest.metadata.name}`, parse(JSON.stringify(o.manifest))]));
      expect([...rendered.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [key, manifest] of expected) {
        expect(isDeepStrictEqual(rendered.get(key), manifest) ? key : { key, rendered: rendered.get(key), expected: manifest }).toBe(key);
      }
    }
  });
});
