import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './markdown';

// The API reference: `npm run docs:api` runs TypeDoc with typedoc.json over the public entry points, and fails on
// any warning, a public export without JSDoc included.

const TYPEDOC = path.join(ROOT, 'node_modules', '.bin', 'typedoc');
// TypeDoc type-checks the whole library: about 20 s on two idle cores, more when they are shared.
const TYPEDOC_TIMEOUT_MS = 240_000;
const WORK = path.join(ROOT, 'test', '.work', `typedoc-${process.pid}`);

afterAll(() => fs.rmSync(WORK, { recursive: true, force: true }));

/** Runs TypeDoc in `cwd` with `args`; resolves with its exit status and output. */
function typedoc(args: string[], cwd: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(TYPEDOC, args, { cwd, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: TYPEDOC_TIMEOUT_MS });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (status) => resolve({ status, output }));
  });
}

describe('API reference (TypeDoc)', () => {
  it(
    'builds from typedoc.json without a warning, with a page for each key export of shipshape, shipshape/pulumi and shipshape/pulumi/policy',
    async () => {
      const out = path.join(WORK, 'api');
      const { status, output } = await typedoc(['--out', out], ROOT);
      expect(status, output).toBe(0);
      expect(output).not.toMatch(/\[warning\]|\[error\]/);
      const pages = {
        'classes/index.AntiAffinityDeployment.html': 'A Deployment that survives node',
        'classes/index.ShipshapeApp.html': 'app.synth()',
        'interfaces/index.AntiAffinityDeploymentProps.html': 'runAsUser',
        'functions/index.exempt.html': 'Declares that',
        'classes/pulumi.StackComponent.html': 'StackComponent',
        'variables/pulumi_policy.shipshapePolicyPack.html': 'The shipshape policy pack',
      };
      for (const [page, text] of Object.entries(pages)) {
        const file = path.join(out, page);
        expect(fs.existsSync(file), page).toBe(true);
        expect(fs.readFileSync(file, 'utf8'), page).toContain(text);
      }
    },
    TYPEDOC_TIMEOUT_MS,
  );

  it(
    'fails, naming it, when a public export has no JSDoc',
    async () => {
      const fixture = path.join(WORK, 'undocumented');
      fs.mkdirSync(fixture, { recursive: true });
      fs.writeFileSync(
        path.join(fixture, 'index.ts'),
        '/** Documented. */\nexport function documented(): number {\n  return 1;\n}\n\nexport function undocumentedHelper(): number {\n  return 2;\n}\n',
      );
      fs.writeFileSync(path.join(fixture, 'tsconfig.json'), JSON.stringify({ extends: path.relative(fixture, path.join(ROOT, 'tsconfig.json')), include: ['index.ts'], exclude: [] }));
      // The repository's options, on this entry point alone (its list of intentionally internal names is the library's).
      const options = { ...JSON.parse(fs.readFileSync(path.join(ROOT, 'typedoc.json'), 'utf8')), entryPoints: ['index.ts'], tsconfig: 'tsconfig.json', out: 'out', intentionallyNotExported: [] };
      fs.writeFileSync(path.join(fixture, 'typedoc.json'), JSON.stringify(options));
      const { status, output } = await typedoc(['--options', 'typedoc.json'], fixture);
      expect(status, output).not.toBe(0);
      expect(output).toMatch(/undocumentedHelper .*does not have any documentation/);
      expect(output).not.toMatch(/\bdocumented \(/);
      expect(fs.existsSync(path.join(fixture, 'out', 'index.html'))).toBe(false);
    },
    TYPEDOC_TIMEOUT_MS,
  );
});
