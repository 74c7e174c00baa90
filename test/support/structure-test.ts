import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';

// A test oracle standing in for the container-structure-test binary (which cannot be downloaded here): it
// reads a config the way the tool does (schema 2.0.0, strict fields) and runs its metadataTest and
// fileExistenceTests against a real Docker engine's own view of an image, with the tool's semantics:
//  - metadata comes from `docker image inspect` (the tool's docker driver calls the same endpoint);
//  - `user` is compared as an exact string with Config.User (`65532` is not `65532:65532`, `""` is root);
//  - `exposedPorts` are compared by port number: the driver keeps `Port()` of each `8080/tcp` key;
//  - `entrypoint` / `cmd` are compared element by element, a given empty list requiring an empty one;
//  - a file is looked up in the archive the engine streams for a created container (`docker cp <c>:<path> -`,
//    the endpoint the driver downloads from), whose first entry is the path itself, a symlink not followed;
//    `isExecutableBy` reads the x bits of that entry, `permissions` compares Go's FileMode string.
// A run with no test at all fails, as the tool's does.

/** Fields of container-structure-test's v2 schema, for the strict parse the tool does (yaml.v2 UnmarshalStrict). */
const TOP_LEVEL = ['schemaVersion', 'globalEnvVars', 'commandTests', 'fileExistenceTests', 'fileContentTests', 'metadataTest', 'licenseTests', 'containerRunOptions'];
const METADATA = ['env', 'unboundEnv', 'exposedPorts', 'unexposedPorts', 'entrypoint', 'cmd', 'workdir', 'volumes', 'unmountedVolumes', 'labels', 'user'];
const FILE_EXISTENCE = ['name', 'path', 'shouldExist', 'permissions', 'uid', 'gid', 'isExecutableBy'];
const EXECUTABLE_BY = ['any', 'owner', 'group', 'other'];

/** One test's outcome. */
export interface StructureTestResult {
  readonly name: string;
  readonly pass: boolean;
  readonly errors: readonly string[];
}

/** What a run reports: every result, and whether the run passed (at least one test, none failed). */
export interface StructureTestRun {
  readonly results: readonly StructureTestResult[];
  readonly pass: boolean;
}

const isStringList = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Problems the tool's parser would refuse the config for (unknown fields, wrong types, missing schema version, a
 * test without name or path), or [] when it accepts it. `fileName` matters: the tool reads only .yaml/.yml/.json.
 */
export function structureTestConfigProblems(fileName: string, text: string): string[] {
  if (!/\.(ya?ml|json)$/.test(fileName)) return [`${fileName}: the tool reads only .yaml, .yml and .json files`];
  let doc: any;
  try {
    // The tool's parser is go-yaml v2: YAML 1.1 scalars, and a duplicate key is an error.
    doc = parse(text, { version: '1.1', uniqueKeys: true });
  } catch (e) {
    return [`not YAML: ${(e as Error).message}`];
  }
  const problems: string[] = [];
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return ['the config is not a mapping'];
  for (const k of Object.keys(doc)) if (!TOP_LEVEL.includes(k)) problems.push(`field ${k} not found in type v2.StructureTest`);
  if (doc.schemaVersion !== '2.0.0') problems.push(`schemaVersion must be the string "2.0.0" (got ${JSON.stringify(doc.schemaVersion)})`);
  const mt = doc.metadataTest;
  if (mt !== undefined) {
    if (mt === null || typeof mt !== 'object' || Array.isArray(mt)) problems.push('metadataTest must be a mapping');
    else {
      for (const k of Object.keys(mt)) if (!METADATA.includes(k)) problems.push(`field ${k} not found in type v2.MetadataTest`);
      for (const k of ['exposedPorts', 'unexposedPorts', 'entrypoint', 'cmd', 'volumes', 'unmountedVolumes']) {
        if (mt[k] !== undefined && !isStringList(mt[k])) problems.push(`metadataTest.${k} must be a list of strings`);
      }
      for (const k of ['user', 'workdir']) if (mt[k] !== undefined && typeof mt[k] !== 'string') problems.push(`metadataTest.${k} must be a string (got ${JSON.stringify(mt[k])})`);
      for (const p of [...(mt.exposedPorts ?? []), ...(mt.unexposedPorts ?? [])]) if (p === '') problems.push('Port cannot be empty');
    }
  }
  const fe = doc.fileExistenceTests;
  if (fe !== undefined) {
    if (!Array.isArray(fe)) problems.push('fileExistenceTests must be a list');
    else {
      for (const [i, t] of fe.entries()) {
        if (t === null || typeof t !== 'object') {
          problems.push(`fileExistenceTests[${i}] must be a mapping`);
          continue;
        }
        for (const k of Object.keys(t)) if (!FILE_EXISTENCE.includes(k)) problems.push(`field ${k} not found in type v2.FileExistenceTest`);
        if (typeof t.name !== 'string' || t.name === '') problems.push(`fileExistenceTests[${i}]: Please provide a valid name for every test`);
        if (typeof t.path !== 'string' || t.path === '') problems.push(`fileExistenceTests[${i}]: Please provide a valid file path`);
        if (t.shouldExist !== undefined && typeof t.shouldExist !== 'boolean') problems.push(`fileExistenceTests[${i}].shouldExist must be a boolean`);
        if (t.isExecutableBy !== undefined && !EXECUTABLE_BY.includes(t.isExecutableBy))
          problems.push(`fileExistenceTests[${i}].isExecutableBy ${JSON.stringify(t.isExecutableBy)} not recognised as a valid option`);
        for (const k of ['uid', 'gid']) if (t[k] !== undefined && !Number.isInteger(t[k])) problems.push(`fileExistenceTests[${i}].${k} must be an integer`);
      }
    }
  }
  return problems;
}

/** Runs `docker args` against `env`'s engine under a timeout; stdout as bytes (an archive is binary). */
function docker(env: NodeJS.ProcessEnv, args: string[], seconds = 30): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync('timeout', ['--kill-after=5', String(seconds), 'docker', ...args], { env, maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status ?? -1, stdout: r.stdout ?? Buffer.alloc(0), stderr: r.stderr?.toString() ?? '' };
}

interface TarEntry {
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly type: string;
}

function octal(buf: Buffer, start: number, length: number): number {
  const s = buf
    .subarray(start, start + length)
    .toString('latin1')
    .replace(/\0.*$/s, '')
    .trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

/** The entries of a tar stream (headers only), skipping PAX and GNU extension headers' payloads. */
function tarEntries(buf: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let longName: string | undefined;
  for (let off = 0; off + 512 <= buf.length;) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] || 0x30);
    const body = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const path = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      if (path) longName = path[1];
      continue;
    }
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    if (type === 'g') continue;
    const prefix = header.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '');
    const short = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    entries.push({ name: longName ?? (prefix ? `${prefix}/${short}` : short), mode: octal(header, 100, 8), uid: octal(header, 108, 8), gid: octal(header, 116, 8), type });
    longName = undefined;
  }
  return entries;
}

/** Go's os.FileMode.String() for the types an image archive holds. */
function goModeString(e: TarEntry): string {
  let prefix = '';
  if (e.type === '5') prefix += 'd';
  if (e.type === '2') prefix += 'L';
  if (e.mode & 0o4000) prefix += 'u';
  if (e.mode & 0o2000) prefix += 'g';
  if (e.mode & 0o1000) prefix += 't';
  const rwx = 'rwxrwxrwx'
    .split('')
    .map((c, i) => (e.mode & (1 << (8 - i)) ? c : '-'))
    .join('');
  return `${prefix || '-'}${rwx}`;
}

function clean(p: string): string {
  return p.replace(/\/+$/, '').replace(/^\.\//, '');
}

/** Stats `path` in `image` as the tool's docker driver does; undefined when the engine has no such path. */
function statFile(env: NodeJS.ProcessEnv, image: string, path: string): { entry?: TarEntry; error?: string } {
  const created = docker(env, ['create', image, 'true']);
  if (created.status !== 0) throw new Error(`docker create ${image} failed: ${created.stderr}`);
  const id = created.stdout.toString().trim();
  try {
    const archive = docker(env, ['cp', `${id}:${path}`, '-']);
    if (archive.status !== 0) return { error: `Error retrieving file from container: ${archive.stderr.trim()}` };
    const base = path.split('/').filter(Boolean).pop() ?? '/';
    const entry = tarEntries(archive.stdout).find((e) => ['0', '\0', '5', '1', '2'].includes(e.type) && clean(e.name) === base);
    return entry ? { entry } : { error: `File ${path} not found in image` };
  } finally {
    docker(env, ['rm', '-f', id]);
  }
}

/** The tool's MetadataTest.IsEmpty: an empty metadataTest is not run (and does not count as a test). */
function metadataTestIsEmpty(mt: any): boolean {
  const none = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0);
  return (
    ['env', 'unboundEnv', 'exposedPorts', 'unexposedPorts', 'volumes', 'unmountedVolumes', 'labels'].every((k) => none(mt[k])) &&
    (mt.entrypoint === undefined || mt.entrypoint === null) &&
    (mt.cmd === undefined || mt.cmd === null) &&
    !mt.workdir &&
    !mt.user
  );
}

/** Runs the metadataTest and fileExistenceTests of `configText` against `image` on the engine `env` points at. */
export function runStructureTest(env: NodeJS.ProcessEnv, image: string, configText: string, fileName = 'config.yaml'): StructureTestRun {
  const problems = structureTestConfigProblems(fileName, configText);
  if (problems.length > 0) throw new Error(`container-structure-test would refuse the config: ${problems.join('; ')}`);
  const config = parse(configText, { version: '1.1' });
  const results: StructureTestResult[] = [];

  for (const t of config.fileExistenceTests ?? []) {
    const errors: string[] = [];
    const shouldExist = t.shouldExist ?? true;
    const { entry, error } = statFile(env, image, t.path);
    if (!entry && shouldExist) errors.push(`Error examining file in container: ${error}`);
    else if (entry && !shouldExist) errors.push(`File ${t.path} should not exist but does`);
    if (entry) {
      if (t.permissions !== undefined && goModeString(entry) !== t.permissions) errors.push(`${t.path} has incorrect permissions. Expected: ${t.permissions}, Actual: ${goModeString(entry)}`);
      const bits = { any: 0o111, owner: 0o100, group: 0o010, other: 0o001 }[t.isExecutableBy as string];
      if (bits !== undefined && (entry.mode & bits) === 0) errors.push(`${t.path} has incorrect executable bit. Expected to be executable by ${t.isExecutableBy}, Actual: ${goModeString(entry)}`);
      if (t.uid !== undefined && entry.uid !== t.uid) errors.push(`${t.path} has incorrect user ownership. Expected: ${t.uid}, Actual: ${entry.uid}`);
      if (t.gid !== undefined && entry.gid !== t.gid) errors.push(`${t.path} has incorrect group ownership. Expected: ${t.gid}, Actual: ${entry.gid}`);
    }
    results.push({ name: `File Existence Test: ${t.name}`, pass: errors.length === 0, errors });
  }

  const mt = config.metadataTest;
  if (mt && !metadataTestIsEmpty(mt)) {
    const inspected = docker(env, ['image', 'inspect', '--format', '{{json .Config}}', image]);
    if (inspected.status !== 0) throw new Error(`docker image inspect ${image} failed: ${inspected.stderr}`);
    const c = JSON.parse(inspected.stdout.toString());
    const env_ = new Map<string, string>((c.Env ?? []).map((kv: string) => [kv.split('=')[0], kv.slice(kv.indexOf('=') + 1)]));
    const ports = Object.keys(c.ExposedPorts ?? {}).map((p) => p.split('/')[0]);
    const volumes = Object.keys(c.Volumes ?? {});
    const labels: Record<string, string> = c.Labels ?? {};
    const errors: string[] = [];
    const sameList = (want: string[], have: string[] | null) => want.length === (have ?? []).length && want.every((w, i) => w === (have ?? [])[i]);
    for (const e of mt.env ?? []) {
      const have = env_.get(e.key);
      if (have === undefined) errors.push(`variable ${e.key} not found in image env`);
      else if (!(e.isRegex ? new RegExp(e.value).test(have) : have === e.value)) errors.push(`env var ${e.key} value ${have} does not match expected value: ${e.value}`);
    }
    for (const e of mt.unboundEnv ?? []) if (env_.has(e.key)) errors.push(`env variable ${e.key} should not be present in image metadata`);
    for (const l of mt.labels ?? []) {
      const have = labels[l.key];
      if (have === undefined) errors.push(`label ${l.key} not found in image metadata`);
      else if (!(l.isRegex ? new RegExp(l.value).test(have) : have === l.value)) errors.push(`label ${l.key} value ${have} does not match expected value: ${l.value}`);
    }
    if (mt.cmd !== undefined && mt.cmd !== null && !sameList(mt.cmd, c.Cmd)) errors.push(`Image Cmd ${JSON.stringify(c.Cmd)} does not match expected Cmd: ${JSON.stringify(mt.cmd)}`);
    if (mt.entrypoint !== undefined && mt.entrypoint !== null && !sameList(mt.entrypoint, c.Entrypoint))
      errors.push(`Image entrypoint ${JSON.stringify(c.Entrypoint)} does not match expected entrypoint: ${JSON.stringify(mt.entrypoint)}`);
    if (mt.workdir && mt.workdir !== c.WorkingDir) errors.push(`Image workdir ${c.WorkingDir} does not match config workdir: ${mt.workdir}`);
    if (mt.user && mt.user !== (c.User ?? '')) errors.push(`Image user ${c.User ?? ''} does not match config user: ${mt.user}`);
    for (const p of mt.exposedPorts ?? []) if (!ports.includes(p)) errors.push(`Port ${p} not found in config`);
    for (const p of mt.unexposedPorts ?? []) if (ports.includes(p)) errors.push(`Port ${p} should not be exposed`);
    for (const v of mt.volumes ?? []) if (!volumes.includes(v)) errors.push(`Volume ${v} not found in config`);
    for (const v of mt.unmountedVolumes ?? []) if (volumes.includes(v)) errors.push(`Volume ${v} should not be mounted`);
    results.push({ name: 'Metadata Test', pass: errors.length === 0, errors });
  }
  return { results, pass: results.length > 0 && results.every((r) => r.pass) };
}
