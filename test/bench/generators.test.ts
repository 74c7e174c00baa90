import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'cdk8s';
import { afterAll, describe, expect, it } from 'vitest';
import { synth, synthesizeApp } from '../../lib';
import { dumpApp } from '../../bench/generators/dump';
import { buildRawScaleApp, writeRawApp } from '../../bench/generators/raw';
import { buildShipshapeScaleApp } from '../../bench/generators/shipshape';
import { BENCH_ENVIRONMENTS } from '../../bench/generators/spec';
import { hasGnuTime, measure, readTree, treeDifferences, withoutImageTests } from '../../bench/harness';
import { environmentNamed } from '../../stacks/environments';
import { buildApp } from '../../stacks/platform';
import { validateManifest } from '../support/schema';

const ROOT = path.resolve(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-bench-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The app stacks/main.ts synthesizes. */
const referencePlatform = buildApp;

/** Runs the floor program on a dump of `app`; returns its output directory. */
function runFloor(app: App, name: string): string {
  const dumpFile = path.join(tmp, `${name}-dump.json`);
  fs.writeFileSync(dumpFile, JSON.stringify(dumpApp(app)));
  const outdir = path.join(tmp, `${name}-floor`);
  execFileSync(process.execPath, [path.join(ROOT, 'bench', 'programs', 'floor.cjs'), dumpFile, outdir], { stdio: 'pipe' });
  return outdir;
}

describe('bench generators', () => {
  it('builds the bench environments exactly as stacks/environments.ts defines dev, stage and prod', () => {
    for (const b of BENCH_ENVIRONMENTS) {
      const e = environmentNamed(b.name);
      expect({ name: e.name, namespace: e.namespace, kubernetesMinor: e.kubernetesMinor, zones: e.zones.length, replicas: e.replicas, autoscaling: e.autoscaling }).toEqual({
        autoscaling: undefined,
        ...b,
      });
    }
  });

  it('generates stacks that pass policy, with valid objects: 3 per service in dev, 4 in stage, 5 in prod', () => {
    const results = synthesizeApp(buildShipshapeScaleApp(4));
    expect(results.map((r) => [r.environment.name, r.objects.length])).toEqual([
      ['dev', 1 + 4 * 3],
      ['stage', 1 + 4 * 4],
      ['prod', 1 + 4 * 5],
    ]);
    for (const r of results) {
      expect(r.problems).toEqual([]);
      for (const o of r.objects) validateManifest(o.manifest);
    }
  });

  it('writes byte-identical files with plain cdk8s-plus-27 as shipshape synth does', () => {
    for (const n of [1, 3]) {
      const shipshape = path.join(tmp, `shipshape-${n}`);
      const raw = path.join(tmp, `raw-${n}`);
      synth(buildShipshapeScaleApp(n), { outdir: shipshape });
      expect(writeRawApp(buildRawScaleApp(n), raw)).toBe(3 + n * 12);
      const files = readTree(shipshape);
      const imageTests = [...files.keys()].filter((p) => p.includes('/images/'));
      expect(imageTests.length).toBeGreaterThan(0);
      // Plain cdk8s-plus writes the manifests only; shipshape adds the images' structure tests beside them.
      expect(files.size).toBe(3 + n * 12 + 3 + imageTests.length);
      expect(treeDifferences(withoutImageTests(files), readTree(raw))).toEqual([]);
    }
  });

  it('the floor writes byte-identical files to synth from a JSON dump of the reference platform', () => {
    const outdir = path.join(tmp, 'platform-synth');
    synth(referencePlatform(), { outdir });
    const floor = runFloor(referencePlatform(), 'platform');
    const files = readTree(outdir);
    expect(files.size).toBeGreaterThan(0);
    expect(treeDifferences(files, readTree(floor))).toEqual([]);
  });

  it('the floor writes byte-identical files to synth from a JSON dump of a generated stack', () => {
    const outdir = path.join(tmp, 'scale-synth');
    synth(buildShipshapeScaleApp(3), { outdir });
    expect(treeDifferences(readTree(outdir), readTree(runFloor(buildShipshapeScaleApp(3), 'scale')))).toEqual([]);
  });
});

describe('bench harness', () => {
  it('times a whole process with warm-up and reports median, spread, peak RSS and the JSON it printed', () => {
    const m = measure(
      { command: process.execPath, args: ['-e', 'console.log(JSON.stringify({ objects: 7 }))'] },
      { id: 'probe', label: 'probe', runs: 3, warmups: 1, workDir: tmp, gnuTime: hasGnuTime() },
    );
    expect(m.samplesMs).toHaveLength(3);
    expect(m.minMs).toBeLessThanOrEqual(m.medianMs);
    expect(m.medianMs).toBeLessThanOrEqual(m.maxMs);
    expect(m.peakRssMb).toBeGreaterThan(1);
    expect(m.report).toEqual({ objects: 7 });
  });

  it('measures peak RSS without GNU time too, from every Node process of the run', () => {
    const m = measure(
      { command: process.execPath, args: ['-e', 'globalThis.keep = Buffer.alloc(64 * 1024 * 1024, 1)'] },
      { id: 'rss', label: 'rss', runs: 1, warmups: 0, workDir: tmp, gnuTime: false },
    );
    expect(m.peakRssMb).toBeGreaterThan(64);
  });

  it('stops a run at its time limit and marks the result as a lower bound', () => {
    const m = measure({ command: process.execPath, args: ['-e', 'setTimeout(() => {}, 20000)'], timeoutS: 1 }, { id: 't', label: 't', runs: 1, warmups: 0, workDir: tmp, gnuTime: hasGnuTime() });
    expect(m.timedOut).toBe(true);
    expect(m.medianMs).toBeLessThan(15000);
  });

  it('fails loudly when a benchmarked program fails', () => {
    expect(() => measure({ command: process.execPath, args: ['-e', 'process.exit(3)'] }, { id: 'x', label: 'x', runs: 1, warmups: 0, workDir: tmp, gnuTime: false })).toThrow(/exited with 3/);
  });
});
