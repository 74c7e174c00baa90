import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from './support/tools';

const root = path.resolve(__dirname, '..');

describe('the published package', () => {
  it('builds and resolves "shipshape" and "shipshape/pulumi", and the main entry does not load Pulumi', () => {
    run('npm', ['run', '--silent', 'build'], { cwd: root, timeoutMs: 300_000 });
    const probe = [
      "const s = require('shipshape');",
      "const pulumiLoaded = () => Object.keys(require.cache).some((k) => k.includes('@pulumi'));",
      'const before = pulumiLoaded();',
      "const p = require('shipshape/pulumi');",
      'console.log(JSON.stringify({ before, after: pulumiLoaded(), deployment: typeof s.AntiAffinityDeployment, component: typeof p.StackComponent, alias: p.ShipshapeStack === p.StackComponent, internal: typeof s.writeFilesAtomically }));',
    ].join('\n');
    const result = JSON.parse(run('node', ['-e', probe], { cwd: root }));
    expect(result).toEqual({ before: false, after: true, deployment: 'function', component: 'function', alias: true, internal: 'undefined' });
  });
});
