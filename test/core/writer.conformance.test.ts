import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OUTPUT_MARKER, writeFilesAtomically } from '../../lib/core/writer';
import { conformanceSuite } from '../support/conformance';

/*
 * Synth into a real bind mount, as a CI job that mounts its workspace's dist/ does: the kernel refuses to
 * rename a mount point (EBUSY), so synth must replace the contents in place and leave the mount alone.
 * Mounting needs root; the mount is bounded by `timeout` and removed in afterAll by path.
 */

const isRoot = process.getuid?.() === 0;
let root: string;
let mounted: string | undefined;

function sh(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('timeout', ['20', ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

conformanceSuite('synth output on a bind mount', ['shell'], () => {
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-mount-'));
  });

  afterAll(() => {
    if (mounted !== undefined) sh(['umount', mounted]);
    // Only remove the tree once nothing is mounted in it, so the bound source is never reached through the mount.
    if (mounted === undefined || sh(['mountpoint', '-q', mounted]).status !== 0) fs.rmSync(root, { recursive: true, force: true });
  });

  it.skipIf(!isRoot)('replaces the contents of a mounted output directory in place and leaves no staging directory (needs root)', () => {
    const source = path.join(root, 'workspace-dist');
    const out = path.join(root, 'checkout', 'dist');
    fs.mkdirSync(source, { recursive: true });
    fs.mkdirSync(out, { recursive: true });
    const bind = sh(['mount', '--bind', source, out]);
    expect(bind.status, bind.stderr).toBe(0);
    mounted = out;
    expect(sh(['mountpoint', '-q', out]).status).toBe(0);

    // The rename the old writer did is what the kernel refuses.
    expect(() => fs.renameSync(out, `${out}-previous`)).toThrow(/EBUSY/);

    for (const tag of ['one', 'two']) {
      writeFilesAtomically(
        out,
        new Map([
          ['dev/kubernetes/a.yaml', `a: ${tag}\n`],
          [`dev/only-${tag}.txt`, tag],
        ]),
      );
      expect(sh(['mountpoint', '-q', out]).status).toBe(0);
      // What arrived is visible on the mount's source, so it went into the mounted file system.
      expect(fs.readFileSync(path.join(source, 'dev/kubernetes/a.yaml'), 'utf8')).toBe(`a: ${tag}\n`);
    }
    expect(fs.readdirSync(source).sort()).toEqual([OUTPUT_MARKER, 'dev']);
    expect(fs.readdirSync(path.join(source, 'dev')).sort()).toEqual(['kubernetes', 'only-two.txt']);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['dist']);
  });
});
