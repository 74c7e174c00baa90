import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../stacks/platform';

// The packed package itself, installed into fresh projects, is checked by package.conformance.test.ts.
const root = path.resolve(__dirname, '..');

describe('peer dependencies', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

  it('are the construct libraries (required) and the Pulumi SDKs (optional), each also installed for development', () => {
    const optional = Object.keys(manifest.peerDependenciesMeta).filter((name) => manifest.peerDependenciesMeta[name].optional);
    expect(optional.sort()).toEqual(['@pulumi/docker', '@pulumi/kubernetes', '@pulumi/policy', '@pulumi/pulumi']);
    expect(Object.keys(manifest.peerDependencies).filter((name) => !optional.includes(name))).toEqual(['cdk8s', 'cdk8s-plus-27', 'constructs']);
    for (const name of Object.keys(manifest.peerDependencies)) expect(Object.keys(manifest.devDependencies), name).toContain(name);
    expect(Object.keys(manifest.dependencies).filter((name) => name in manifest.peerDependencies)).toEqual([]);
  });

  it('admit the versions installed here: npm ls reports no invalid or missing dependency', () => {
    const ls = spawnSync('npm', ['ls', '--all', '--json'], { cwd: root, encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024 });
    expect(JSON.parse(ls.stdout).problems ?? []).toEqual([]);
    expect(ls.status).toBe(0);
  });

  it('admit constructs 10.3: no construct of the reference platform has a method that version refuses', () => {
    // constructs 10.3 throws at validation for a construct with one of these methods (the pre-10 lifecycle hooks).
    const refused = ['validate', 'onValidate', 'synthesize', 'onSynthesize', 'prepare', 'onPrepare'];
    expect(manifest.peerDependencies.constructs).toBe('^10.3.0');
    const constructs = buildApp().node.findAll();
    expect(constructs.length).toBeGreaterThan(100);
    const offending = constructs.flatMap((c) => refused.filter((method) => typeof (c as unknown as Record<string, unknown>)[method] === 'function').map((method) => `${c.node.path}: ${method}()`));
    expect(offending).toEqual([]);
  });
});
