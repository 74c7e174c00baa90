import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ShipshapeError } from '../../lib/core/errors';
import { lockFile, withOutputLock } from '../../lib/cli/lock';
import { readOutputTree } from '../../lib/cli/output-tree';
import { temporaryDirectories } from '../support/temp';

const tmp = temporaryDirectories('shipshape-lock-');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('withOutputLock', () => {
  it('keeps the lock file beside the output directory, holding the pid, and removes it afterwards, also when the body throws', async () => {
    const out = path.join(tmp(), 'dist');
    const file = lockFile(out);
    expect(path.dirname(file)).toBe(path.dirname(out));
    expect(await withOutputLock(out, () => fs.readFileSync(file, 'utf8'))).toBe(`${process.pid}\n`);
    expect(fs.existsSync(file)).toBe(false);
    await expect(
      withOutputLock(out, () => {
        throw new Error('write failed');
      }),
    ).rejects.toThrow('write failed');
    expect(fs.existsSync(file)).toBe(false);
  });

  it('waits while a running process holds the lock, and runs as soon as it is released', async () => {
    const out = path.join(tmp(), 'dist');
    fs.writeFileSync(lockFile(out), `${process.pid}\n`);
    let ran = false;
    const waiting = withOutputLock(out, () => (ran = true), { pollMs: 5 });
    await sleep(150);
    expect(ran).toBe(false);
    fs.rmSync(lockFile(out));
    await waiting;
    expect(ran).toBe(true);
  });

  it('takes over a lock whose holder no longer runs', async () => {
    const out = path.join(tmp(), 'dist');
    fs.writeFileSync(lockFile(out), `${deadPid()}\n`);
    expect(await withOutputLock(out, () => 'written', { timeoutMs: 1_000, pollMs: 5 })).toBe('written');
    expect(fs.existsSync(lockFile(out))).toBe(false);
    expect(fs.readdirSync(path.dirname(out))).toEqual([]);
  });

  it('gives up after the timeout while a running process holds the lock, naming the file, the holder and the fix, and leaves its lock', async () => {
    const out = path.join(tmp(), 'dist');
    fs.writeFileSync(lockFile(out), `${process.pid}\n`);
    let ran = false;
    const error = await withOutputLock(out, () => (ran = true), { timeoutMs: 200, pollMs: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShipshapeError);
    expect((error as Error).message).toBe(
      `${lockFile(out)}: another shipshape synth (process ${process.pid}) has been writing ${out} for longer than 0.2 s; nothing was written. Fix: wait for it to finish and run this synth again; if no synth is running, delete the lock file`,
    );
    expect(ran).toBe(false);
    expect(fs.readFileSync(lockFile(out), 'utf8')).toBe(`${process.pid}\n`);
  });
});

describe('readOutputTree', () => {
  it('follows links to files and folders, and names a link to nothing with the fix instead of a bare ENOENT', () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'dev/kubernetes'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'dev/kubernetes/a.yaml'), 'a\n');
    fs.symlinkSync(path.join(dir, 'dev'), path.join(dir, 'prod'));
    expect(readOutputTree(dir, '.shipshape-output')).toEqual(
      new Map([
        ['dev/kubernetes/a.yaml', 'a\n'],
        ['prod/kubernetes/a.yaml', 'a\n'],
      ]),
    );
    fs.symlinkSync('missing.yaml', path.join(dir, 'dev/kubernetes/b.yaml'));
    const link = path.join(dir, 'dev/kubernetes/b.yaml');
    expect(() => readOutputTree(dir, '.shipshape-output')).toThrow(
      new ShipshapeError(link, { problem: 'is a symbolic link to nothing', value: 'missing.yaml', fix: 'remove the link, or restore the file it points at' }),
    );
    fs.rmSync(link);
    fs.symlinkSync('loop', path.join(dir, 'loop'));
    expect(() => readOutputTree(dir, '.shipshape-output')).toThrow(/loop: is a symbolic link that points back at itself \(got "loop"\)\. Fix: remove the link/);
  });
});
