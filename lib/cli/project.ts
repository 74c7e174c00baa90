import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ShipshapeError } from '../core/errors';
import { writeAtomically } from './cache-record';
import { yaml } from './yaml';

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

/** What the CLI takes from cdk8s.yaml. */
interface Config {
  readonly app?: unknown;
  readonly output?: unknown;
}

/** cdk8s.yaml's settings as kept under the cache folder, with the hash of the text they were read from. */
interface KeptConfig {
  readonly source: string;
  readonly app?: string;
  readonly output?: string;
}

/**
 * cdk8s.yaml's `app` and `output`. They are kept under the cache folder with the hash of the file, so that a run
 * whose cdk8s.yaml did not change loads no YAML parser (the program's bundle brings its own).
 */
function readConfig(dir: string, cacheDir: string): Config {
  const file = path.join(dir, CDK8S_CONFIG);
  if (!fs.existsSync(file)) return {};
  const text = fs.readFileSync(file, 'utf8');
  const source = createHash('sha256').update(text).digest('hex');
  const kept = path.join(cacheDir, `config-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.json`);
  try {
    const config = JSON.parse(fs.readFileSync(kept, 'utf8')) as KeptConfig;
    if (config.source === source) return config;
  } catch {
    // Not kept yet, or damaged: read the file.
  }
  let config: Config;
  try {
    config = (yaml().parse(text) as Config | null) ?? {};
  } catch (e) {
    throw new ShipshapeError(file, { problem: `is not valid YAML (${(e as Error).message.split('\n')[0]})`, fix: 'correct the file, or name the program with --app <file>' });
  }
  const app = typeof config.app === 'string' ? config.app : undefined;
  const output = typeof config.output === 'string' ? config.output : undefined;
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    writeAtomically(kept, JSON.stringify({ source, app, output } satisfies KeptConfig));
  } catch {
    // The next run reads the file again.
  }
  return { app, output };
}

/**
 * Finds the program: `--app`, else the TypeScript or JavaScript file cdk8s.yaml's `app` command names
 * (`npx tsx stacks/main.ts` → stacks/main.ts), else main.ts; all relative to `dir`.
 */
export function findProject(dir: string, cacheDir: string, given?: string): Project {
  const config = readConfig(dir, cacheDir);
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
