import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'cdk8s';
import { afterAll, describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Stack, formatSummary, synth } from '../../lib';
import { buildApp } from '../../stacks/platform';
import { testEnvironment } from '../support/synth';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-summary-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Every file under `dir` (relative path → content). */
function tree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) files[path.relative(dir, path.join(e.parentPath, e.name))] = fs.readFileSync(path.join(e.parentPath, e.name), 'utf8');
  }
  return files;
}

function app(names: readonly string[]): App {
  const a = new App();
  for (const name of names) {
    const stack = new Stack(a, name, { environment: testEnvironment({ name }) });
    new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
  }
  return a;
}

describe('synth summary', () => {
  it('lists environments in the order their Stacks were declared; the files written do not depend on that order', () => {
    const declared = synth(app(['zeta', 'alpha', 'mid']), { outdir: path.join(work, 'declared') });
    const reversed = synth(app(['mid', 'alpha', 'zeta']), { outdir: path.join(work, 'reversed') });
    expect(declared.map((s) => s.environment)).toEqual(['zeta', 'alpha', 'mid']);
    expect(reversed.map((s) => s.environment)).toEqual(['mid', 'alpha', 'zeta']);
    expect(tree(path.join(work, 'declared'))).toEqual(tree(path.join(work, 'reversed')));
  });

  it('names every folder written per environment and the shared folders, as found on disk, for the reference platform', () => {
    const out = path.join(work, 'platform');
    const summaries = synth(buildApp(), { outdir: out });
    expect(summaries.map((s) => s.environment)).toEqual(['dev', 'stage', 'prod', 'swarm-edge']);
    const sharedOnDisk = fs
      .readdirSync(out, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !summaries.some((s) => s.environment === e.name))
      .map((e) => `${path.join(out, e.name)}/`);
    expect(sharedOnDisk).toEqual([`${path.join(out, 'argocd')}/`]);
    for (const s of summaries) {
      const onDisk = fs
        .readdirSync(s.directory, { withFileTypes: true })
        .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
        .sort();
      expect(s.groups).toEqual(onDisk);
      // Argo CD applications exist for the Kubernetes environments only.
      const argocd = fs.existsSync(path.join(out, 'argocd', `${s.environment}.yaml`));
      expect(s.shared).toEqual(argocd ? sharedOnDisk : []);
      expect(formatSummary(s).split('\n')[0]).toMatch(
        new RegExp(`^${s.environment}: \\d+ objects?, \\d+ warnings?, \\d+ exemptions? → ${s.directory} \\(${onDisk.join(', ')}\\)${argocd ? `, ${sharedOnDisk[0]}` : ''}$`),
      );
    }
    expect(summaries.find((s) => s.environment === 'swarm-edge')?.groups).toEqual(['hosts/', 'images/', 'swarm/']);
  });
});
