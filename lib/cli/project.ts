import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ShipshapeError } from '../core/errors';

/** What the CLI reads from the project directory. */
export interface Project {
  /** Absolute path of the program to run. */
  readonly app: string;
  /**
   * cdk8s.yaml's `output`, relative to the project directory.
   * @default - cdk8s.yaml names none
   */
  readonly output?: string;
}

// The file cdk8s's own CLI reads (cdk8s init writes it); its `app` is a command such as `npx tsx main.ts`.
const CDK8S_CONFIG = 'cdk8s.yaml';
// The program cdk8s's TypeScript template creates.
const DEFAULT_APP = 'main.ts';
const SOURCE_FILE = /\.(?:[cm]?ts|tsx|[cm]?js|jsx)$/;

function readConfig(dir: string): { app?: unknown; output?: unknown } {
  const file = path.join(dir, CDK8S_CONFIG);
  if (!fs.existsSync(file)) return {};
  try {
    return (parse(fs.readFileSync(file, 'utf8')) as { app?: unknown; output?: unknown } | null) ?? {};
  } catch (e) {
    throw new ShipshapeError(file, { problem: `is not valid YAML (${(e as Error).message.split('\n')[0]})`, fix: 'correct the file, or name the program with --app <file>' });
  }
}

/**
 * Finds the program: `--app`, else the TypeScript or JavaScript file cdk8s.yaml's `app` command names
 * (`npx tsx stacks/main.ts` → stacks/main.ts), else main.ts; all relative to `dir`.
 */
export function findProject(dir: string, given?: string): Project {
  const config = readConfig(dir);
  const output = typeof config.output === 'string' ? config.output : undefined;
  if (given !== undefined) {
    const app = path.resolve(dir, given);
    if (!fs.existsSync(app) || !fs.statSync(app).isFile()) {
      throw new ShipshapeError('--app', { problem: 'no such file', value: given, fix: `name the program's TypeScript or JavaScript file, relative to ${dir}` });
    }
    return { app, output };
  }
  const command = typeof config.app === 'string' ? config.app : '';
  const named = command
    .split(/\s+/)
    .filter((word) => SOURCE_FILE.test(word))
    .map((word) => path.resolve(dir, word));
  const found = named.find((f) => fs.existsSync(f));
  if (found !== undefined) return { app: found, output };
  if (fs.existsSync(path.join(dir, DEFAULT_APP))) return { app: path.join(dir, DEFAULT_APP), output };
  const looked = [...(named.length > 0 ? [`${path.relative(dir, named[0])} (from ${CDK8S_CONFIG})`] : []), DEFAULT_APP].join(' and ');
  throw new ShipshapeError(dir, {
    problem: `no program to run: looked for ${looked}`,
    fix: `run shipshape in the project directory, pass --app <file>, or set app: "npx tsx <file>" in ${CDK8S_CONFIG}`,
  });
}
