import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Command, measureInterleaved } from '../../bench/harness';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-harness-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('measureInterleaved', () => {
  it('runs the commands in rounds, warm-ups first, and leaves a failing command out of the later rounds', () => {
    const log = path.join(work, 'order.txt');
    // Each run appends its name; "flaky" fails on its second run.
    const step = (name: string): Command => ({
      command: process.execPath,
      args: [
        '-e',
        `const fs = require('fs'); fs.appendFileSync(${JSON.stringify(log)}, '${name} '); if ('${name}' === 'flaky' && fs.readFileSync(${JSON.stringify(log)}, 'utf8').split('flaky').length > 2) process.exit(3);`,
      ],
    });
    const options = (id: string, runs: number) => ({ id, label: id, runs, warmups: 1, workDir: work, gnuTime: false });
    const failures: string[] = [];
    const [a, b, flaky] = measureInterleaved(
      [
        { cmd: step('a'), options: options('a', 3) },
        { cmd: step('b'), options: options('b', 2) },
        { cmd: step('flaky'), options: options('flaky', 3) },
      ],
      (c, e) => failures.push(`${c.options.id}: ${e.message.split('\n')[0]}`),
    );
    expect(fs.readFileSync(log, 'utf8').trim().split(' ')).toEqual(['a', 'b', 'flaky', 'a', 'b', 'flaky', 'a', 'b', 'a']);
    expect(a?.samplesMs).toHaveLength(3);
    expect(b?.samplesMs).toHaveLength(2);
    expect(flaky).toBeUndefined();
    expect(failures).toEqual([expect.stringMatching(/^flaky: .* exited with 3/)]);
  });
});
