import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'cdk8s';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputFile, ShipshapeAggregateError, Stack, synth } from '../../lib';
import { OUTPUT_MARKER, writeFilesAtomically } from '../../lib/core/writer';
import { WriterIo } from '../../lib/core/writer';
import { testEnvironment } from '../support/synth';

let root: string;
let umask: number;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-writer-'));
  // A fixed umask, so the expected mode is known.
  umask = process.umask(0o022);
});

afterEach(() => {
  process.umask(umask);
  fs.rmSync(root, { recursive: true, force: true });
});

const files = (tag: string) =>
  new Map([
    ['dev/kubernetes/a.yaml', `a: ${tag}\n`],
    ['dev/hosts/daemon.json', `{"tag":"${tag}"}\n`],
    ['argocd/dev.yaml', `b: ${tag}\n`],
  ]);

/** Every file under `dir`, relative, with its content. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[path.relative(dir, full)] = fs.readFileSync(full, 'utf8');
    }
  };
  walk(dir);
  return out;
}

const expected = (tag: string) => ({ [OUTPUT_MARKER]: expect.any(String), ...Object.fromEntries(files(tag)) });

/** A rename that refuses to move `refused` itself, as the kernel does for a mount point. */
function mountPoint(refused: string, code = 'EBUSY'): WriterIo & { refusals: number } {
  const io = {
    refusals: 0,
    rename(from: string, to: string) {
      if (from === refused || to === refused) {
        io.refusals++;
        throw Object.assign(new Error(`${code}: resource busy or locked, rename '${from}' -> '${to}'`), { code });
      }
      fs.renameSync(from, to);
    },
  };
  return io;
}

/** Directories synth leaves beside or inside the output while it works. */
function workDirectories(out: string): string[] {
  const beside = fs.readdirSync(path.dirname(out)).filter((e) => e.includes('-staging-'));
  const inside = fs.existsSync(out) ? fs.readdirSync(out).filter((e) => /^\.shipshape-(staging|previous)-/.test(e)) : [];
  return [...beside, ...inside];
}

describe('output directory', () => {
  it("has a normal mode (0755 under umask 022), not mkdtemp's 0700", () => {
    const out = path.join(root, 'dist');
    writeFilesAtomically(out, files('one'));
    expect(fs.statSync(out).mode & 0o777).toBe(0o755);
    writeFilesAtomically(out, files('two'));
    expect(fs.statSync(out).mode & 0o777).toBe(0o755);
  });

  it('replaces the contents in place when the directory cannot be renamed (a mount point), leaving nothing behind', () => {
    for (const code of ['EBUSY', 'EXDEV']) {
      const out = path.join(root, `mounted-${code}`);
      writeFilesAtomically(out, files('one'));
      fs.writeFileSync(path.join(out, 'dev', 'stale.txt'), 'from an older synth');
      const inode = fs.statSync(out).ino;
      const io = mountPoint(out, code);
      writeFilesAtomically(out, files('two'), io);
      expect(io.refusals).toBeGreaterThan(0);
      expect(fs.statSync(out).ino).toBe(inode);
      expect(tree(out)).toEqual(expected('two'));
      expect(workDirectories(out)).toEqual([]);
    }
  });

  it('keeps the previous output intact when the in-place replacement fails, and leaves no working directory', () => {
    const out = path.join(root, 'dist');
    writeFilesAtomically(out, files('one'));
    let moves = 0;
    const io: WriterIo = {
      rename(from, to) {
        if (from === out) throw Object.assign(new Error('EBUSY'), { code: 'EBUSY' });
        // Fail half-way through moving the new entries in.
        if (from.includes('.shipshape-staging-') && ++moves === 2) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        fs.renameSync(from, to);
      },
    };
    expect(() => writeFilesAtomically(out, files('two'), io)).toThrow(/EIO/);
    expect(tree(out)).toEqual(expected('one'));
    expect(workDirectories(out)).toEqual([]);
  });

  it('keeps the previous output intact when writing the new tree fails, and leaves no staging directory', () => {
    const out = path.join(root, 'dist');
    writeFilesAtomically(out, files('one'));
    // A file and a directory of the same name cannot both be written.
    expect(() =>
      writeFilesAtomically(
        out,
        new Map([
          ['dev', 'x'],
          ['dev/a.yaml', 'y'],
        ]),
      ),
    ).toThrow();
    expect(tree(out)).toEqual(expected('one'));
    expect(workDirectories(out)).toEqual([]);
  });

  it('removes staging directories a killed synth left (marker inside, writer gone) and nothing else', () => {
    const out = path.join(root, 'dist');
    writeFilesAtomically(out, files('one'));
    const make = (name: string, content: Record<string, string>) => {
      fs.mkdirSync(path.join(root, name));
      for (const [f, c] of Object.entries(content)) fs.writeFileSync(path.join(root, name, f), c);
    };
    // Older versions named staging directories with mkdtemp; a SIGKILL left thousands of files in them.
    make('.dist-staging-Ab3dE9', { [OUTPUT_MARKER]: 'm', 'a.yaml': 'x' });
    make('.dist-staging-Ab3dE9-previous', { [OUTPUT_MARKER]: 'm' });
    make('.dist-staging-999999999-dead', { [OUTPUT_MARKER]: 'm', 'b.yaml': 'x' });
    make('.dist-staging-999999998-empty', {});
    // Not synth's: no marker, a live writer, or another name.
    make('.dist-staging-notes', { 'mine.txt': 'keep' });
    make(`.dist-staging-${process.ppid}-live`, { [OUTPUT_MARKER]: 'm' });
    make('.dist-other', { [OUTPUT_MARKER]: 'm' });
    writeFilesAtomically(out, files('two'));
    expect(fs.readdirSync(root).sort()).toEqual(['.dist-other', `.dist-staging-${process.ppid}-live`, '.dist-staging-notes', 'dist'].sort());
    expect(tree(out)).toEqual(expected('two'));
  });

  it('puts back an output a killed synth had moved aside, instead of deleting the only copy', () => {
    const out = path.join(root, 'dist');
    writeFilesAtomically(out, files('one'));
    // Killed between moving the output aside and moving the new one in.
    fs.renameSync(out, path.join(root, '.dist-staging-999999997-abc-previous'));
    expect(() =>
      writeFilesAtomically(
        out,
        new Map([
          ['dev', 'x'],
          ['dev/a.yaml', 'y'],
        ]),
      ),
    ).toThrow();
    expect(tree(out)).toEqual(expected('one'));
    expect(fs.readdirSync(root)).toEqual(['dist']);
  });

  it('keeps a symlinked output directory a symlink and writes into its target', () => {
    const target = path.join(root, 'real-output');
    const link = path.join(root, 'dist');
    fs.mkdirSync(target);
    fs.symlinkSync(target, link);
    writeFilesAtomically(link, files('one'));
    writeFilesAtomically(link, files('two'));
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(link)).toBe(target);
    expect(tree(target)).toEqual(expected('two'));
    const dangling = path.join(root, 'dangling');
    fs.symlinkSync(path.join(root, 'nowhere'), dangling);
    expect(() => writeFilesAtomically(dangling, files('one'))).toThrow(/symbolic link to .*nowhere, which does not exist/);
  });

  it("refuses a shared OutputFile that would land in an environment's directory", () => {
    const app = new App();
    const dev = new Stack(app, 'dev', { environment: testEnvironment({ name: 'dev' }) });
    const stage = new Stack(app, 'stage', { environment: testEnvironment({ name: 'stage' }) });
    new OutputFile(stage, 'sneaky', { path: 'dev/kubernetes/deployment-web.yaml', shared: true, content: 'kind: Deployment\n' });
    void dev;
    const out = path.join(root, 'dist');
    const error = (() => {
      try {
        synth(app, { outdir: out });
      } catch (e) {
        return e as ShipshapeAggregateError;
      }
      throw new Error('synth accepted the file');
    })();
    expect(error).toBeInstanceOf(ShipshapeAggregateError);
    expect(error.message).toContain('stage/sneaky: the shared file dev/kubernetes/deployment-web.yaml would land in the directory of environment "dev"');
    expect(fs.existsSync(out)).toBe(false);
  });
});
