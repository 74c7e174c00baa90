import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll } from 'vitest';
import { run } from './tools';

/**
 * A scratch directory for one promtool suite: `files` (rule files by name) are written before the suite's tests
 * and everything is removed after them. Call it inside the suite body.
 */
export function promtoolWorkspace(prefix: string, files: () => Record<string, string>) {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `shipshape-${prefix}-`));
    for (const [name, content] of Object.entries(files())) fs.writeFileSync(path.join(dir, name), content);
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  const promtool = (args: string[]) => run('timeout', ['60', 'promtool', ...args], { cwd: dir });
  return {
    promtool,
    /** Writes `name` into the workspace. */
    write: (name: string, content: string) => fs.writeFileSync(path.join(dir, name), content),
    /** Runs `promtool test rules` on a unit-test file for `ruleFile`, evaluated every minute. */
    test: (name: string, ruleFile: string, tests: unknown[]) => {
      fs.writeFileSync(path.join(dir, `${name}.test.yml`), stringify({ rule_files: [ruleFile], evaluation_interval: '1m', tests }));
      return promtool(['test', 'rules', `${name}.test.yml`]);
    },
  };
}
