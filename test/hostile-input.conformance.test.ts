import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'cdk8s';
import fc from 'fast-check';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ShipshapeAggregateError, ShipshapeError, synth } from '../lib';
import { scanFile } from '../lib/core/policy/credentials';
import { configMapKeyProblem } from '../lib/core/validate';
import { CONFIG_MAP_KEY_CASES } from './core/value-cases';
import { ARBITRARY, CONSTRUCTS, CaseIds, ConstructName, HostileCase, PLANTED, SENTINELS, hostileTable, propertyCase } from './hostile-input-cases';
import { conformanceSuite } from './support/conformance';
import { ApiServer, startApiServer } from './support/envtest';

/*
 * Every public construct fed hostile names, labels, images, quantities, ports, schedules, URLs, planted secrets and
 * YAML-special strings (test/hostile-input-cases.ts). Each case must end one of two ways:
 * - refused: a ShipshapeError naming the construct path and the fix, or synth refusing with problems that do
 *   (policy findings carry their rule id);
 * - written, and then every file synth wrote passes the real consumers:
 *   1. kube-apiserver takes every object by strict server-side apply (dry-run; namespaces created for real first),
 *      parsing the YAML as written with its own YAML 1.1 reader;
 *   2. `kubectl create --dry-run=client -f <file>` reads every manifest file, and each object it reads equals what
 *      the YAML 1.2 parser reads;
 *   3. `docker stack config` resolves every stack file with the deploying machine's variables set to sentinels,
 *      none of which may come through;
 *   4. no planted secret is in any written file, literally or by the shared credential detector.
 * Anything else (another error, a refusal without path or fix, a consumer refusing written output, a leak) fails.
 */

const PROPERTY_RUNS = 50;
// Bounds the property, shrinking included, on a loaded machine.
const PROPERTY_TIME_LIMIT_MS = 100_000;
const TEST_TIMEOUT_MS = 150_000;
const REQUEST_TIMEOUT_MS = 60_000;
// Parallel requests to kube-apiserver: each object is one request, as kubectl sends them, only not one at a time.
const API_CONCURRENCY = 6;
const FIELD_MANAGER = 'shipshape-hostile-input';

/**
 * Bugs this suite found that are not fixed yet: the table rows that hit them must still fail this way (an entry
 * that stops matching was fixed: remove it). The property's generators stay clear of them.
 */
const OPEN: readonly { construct: ConstructName; label: RegExp; message: RegExp; bug: string }[] = [];

let api: ApiServer;
let apiClient: ApiClient;
let root: string;
let dockerConfig: string;
let caseCounter = 0;

interface Tally {
  refused: number;
  refusedByPolicy: number;
  written: number;
}
const newTallies = () => Object.fromEntries(CONSTRUCTS.map((c) => [c, { refused: 0, refusedByPolicy: 0, written: 0 }])) as Record<ConstructName, Tally>;
const tableTally = newTallies();
const propertyTally = newTallies();
const policyRules = new Map<string, number>();

/** A case that ended neither way. */
interface Violation {
  readonly hostile: HostileCase;
  readonly message: string;
}

/** A case that synth wrote: its ids, directory and files (path relative to the directory → content). */
interface Written {
  readonly hostile: HostileCase;
  readonly ids: CaseIds;
  readonly dir: string;
  readonly files: ReadonlyMap<string, string>;
  readonly docs: readonly Doc[];
}

/** One document of a manifest file: its text and what the YAML 1.2 parser reads. */
interface Doc {
  readonly file: string;
  readonly text: string;
  readonly object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
}

function describeCase(c: HostileCase): string {
  return `${c.construct} [${c.label}]`;
}

function filesUnder(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]));
}

/** Manifest files: every object file and the shared Argo CD files, not the kustomization (kustomize's, not the API server's). */
function isManifest(file: string, env: string): boolean {
  return (file.startsWith(`${env}/kubernetes/`) && !file.endsWith('/kustomization.yaml')) || /^argocd\/[^/]+\.ya?ml$/.test(file);
}

/** Whether a refusal names the case's construct path (the environment, for Environment cases) and the fix. */
function cleanError(e: ShipshapeError, c: HostileCase, ids: CaseIds): boolean {
  const onConstruct = e.path === ids.stack || e.path.startsWith(`${ids.stack}/`);
  const onEnvironment = c.construct === 'Environment' && e.path.startsWith('environment:');
  return (onConstruct || onEnvironment) && e.message.startsWith(`${e.path}: `) && / Fix: \S/.test(e.message);
}

/** Builds and synthesizes one case into a directory of its own: written, or refused (tallied), or a violation. */
function runCase(c: HostileCase, tally: Record<ConstructName, Tally>, violations: Violation[]): Written | undefined {
  const n = caseCounter++;
  const ids = { stack: `case${n}`, env: `h${n}` };
  const violation = (message: string) => {
    violations.push({ hostile: c, message });
    return undefined;
  };
  const app = new App();
  try {
    c.build(app, ids);
  } catch (e) {
    if (!(e instanceof ShipshapeError)) return violation(`the constructor threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    if (!cleanError(e, c, ids)) return violation(`the constructor threw a ShipshapeError without the construct path or the fix: ${e.message}`);
    tally[c.construct].refused++;
    return undefined;
  }
  const dir = path.join(root, ids.stack);
  try {
    synth(app, { outdir: dir });
  } catch (e) {
    if (e instanceof ShipshapeAggregateError) {
      const unclear = e.problems.filter((p) => !p.includes(ids.stack) || !/Fix: \S/.test(p));
      if (unclear.length > 0) return violation(`synth problems without the construct path or the fix: ${unclear.join(' | ')}`);
      const rules = e.problems.map((p) => /^[^:]+: \[([a-z0-9-]+)\]/.exec(p)?.[1]).filter((r): r is string => r !== undefined);
      for (const r of rules) policyRules.set(r, (policyRules.get(r) ?? 0) + 1);
      tally[c.construct][rules.length > 0 ? 'refusedByPolicy' : 'refused']++;
      return undefined;
    }
    if (!(e instanceof ShipshapeError)) return violation(`synth threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    if (!cleanError(e, c, ids)) return violation(`synth threw a ShipshapeError without the construct path or the fix: ${e.message}`);
    tally[c.construct].refused++;
    return undefined;
  }
  tally[c.construct].written++;
  const files = new Map(filesUnder(dir).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
  const docs = readDocuments(files, ids.env);
  return typeof docs === 'string' ? violation(docs) : { hostile: c, ids, dir, files, docs };
}

/** The documents of the manifest files, in file order; a message when one does not parse. */
function readDocuments(files: ReadonlyMap<string, string>, env: string): Doc[] | string {
  const docs: Doc[] = [];
  for (const [file, content] of [...files].filter(([f]) => isManifest(f, env)).sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const d of parseAllDocuments(content)) {
      if (d.errors.length > 0) return `${file} does not parse: ${d.errors[0].message}`;
      docs.push({ file, text: d.toString(), object: d.toJS() });
    }
  }
  return docs;
}

// ---------------------------------------------------------------------------------------------
// Consumer 1: kube-apiserver

interface Response {
  readonly status: number;
  readonly message: string;
}

/**
 * The requests `kubectl apply --server-side` sends (one PATCH per object, content type application/apply-patch+yaml,
 * so the server parses the YAML as written), sent in parallel: kubectl sends them one at a time, and its
 * `--validate=strict` adds some 25 ms an object on the client, which the server's strict field validation makes
 * redundant.
 */
class ApiClient {
  private readonly agent: https.Agent;
  private readonly server: string;
  private readonly token: string;
  private readonly resources = new Map<string, { path: string; namespaced: boolean }>();

  constructor(kubeconfig: string) {
    const config = parse(fs.readFileSync(kubeconfig, 'utf8'));
    this.server = config.clusters[0].cluster.server;
    this.token = config.users[0].user.token;
    this.agent = new https.Agent({ keepAlive: true, maxSockets: API_CONCURRENCY, ca: Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64') });
  }

  private request(method: string, url: string, body?: string, contentType = 'application/json'): Promise<Response & { body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        `${this.server}${url}`,
        { method, agent: this.agent, timeout: REQUEST_TIMEOUT_MS, headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': contentType, Accept: 'application/json' } },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => {
            let message = text;
            try {
              message = JSON.parse(text).message ?? text;
            } catch {
              // not a Status object
            }
            resolve({ status: res.statusCode ?? 0, message, body: text });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Reads the server's resources (discovery), as kubectl's REST mapper does. */
  async discover(): Promise<void> {
    const add = async (groupVersion: string, prefix: string) => {
      const list = JSON.parse((await this.request('GET', prefix)).body);
      for (const r of list.resources) if (!r.name.includes('/')) this.resources.set(`${groupVersion}/${r.kind}`, { path: `${prefix}/${r.name}`, namespaced: r.namespaced });
    };
    await add('v1', '/api/v1');
    const groups = JSON.parse((await this.request('GET', '/apis')).body).groups as { versions: { groupVersion: string }[] }[];
    await Promise.all(groups.flatMap((g) => g.versions.map((v) => add(v.groupVersion, `/apis/${v.groupVersion}`))));
  }

  /** Server-side apply of one document as written; `dryRun` leaves nothing behind. */
  async apply(doc: Doc, dryRun: boolean): Promise<Response> {
    const o = doc.object;
    const resource = this.resources.get(`${o.apiVersion}/${o.kind}`);
    if (!resource) return { status: 404, message: `the server has no resource for ${o.apiVersion} ${o.kind}` };
    const base = resource.namespaced ? resource.path.replace(/\/([^/]+)$/, `/namespaces/${encodeURIComponent(o.metadata.namespace ?? 'default')}/$1`) : resource.path;
    const query = `fieldManager=${FIELD_MANAGER}&fieldValidation=Strict&force=true${dryRun ? '&dryRun=All' : ''}`;
    return this.request('PATCH', `${base}/${encodeURIComponent(o.metadata.name)}?${query}`, doc.text, 'application/apply-patch+yaml');
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `task` over `items` with at most `limit` at a time. */
async function parallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]);
    }),
  );
}

const namespaceDoc = (name: string): Doc => ({
  file: '(referenced namespace)',
  text: `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${JSON.stringify(name)}\n`,
  object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
});

/** Namespaces for real (the case's own, and those it only refers to, such as argocd), then every other object by dry-run. */
async function checkApiServer(batch: readonly Written[], violations: Violation[]): Promise<number> {
  const refused = new Set<Written>();
  const fail = (w: Written, what: string, doc: Doc, r: Response) => {
    refused.add(w);
    violations.push({ hostile: w.hostile, message: `kube-apiserver refused ${doc.object.kind} ${doc.object.metadata.name} of ${doc.file} (${what}, HTTP ${r.status}): ${r.message}` });
  };
  const namespaces = batch.flatMap((w) => {
    const own = w.docs.filter((d) => d.object.kind === 'Namespace');
    const referenced = [...new Set(w.docs.map((d) => d.object.metadata?.namespace).filter((n): n is string => typeof n === 'string'))].filter((n) => !own.some((d) => d.object.metadata.name === n));
    return [...own, ...referenced.map(namespaceDoc)].map((doc) => ({ w, doc }));
  });
  await parallel(namespaces, API_CONCURRENCY, async ({ w, doc }) => {
    const r = await apiClient.apply(doc, false);
    if (r.status >= 300) fail(w, 'server-side apply', doc, r);
  });
  const objects = batch.filter((w) => !refused.has(w)).flatMap((w) => w.docs.filter((d) => d.object.kind !== 'Namespace').map((doc) => ({ w, doc })));
  await parallel(objects, API_CONCURRENCY, async ({ w, doc }) => {
    const r = await apiClient.apply(doc, true);
    if (r.status >= 300) fail(w, 'strict server-side dry-run apply', doc, r);
  });
  return namespaces.length + objects.length;
}

// ---------------------------------------------------------------------------------------------
// Consumers 2 and 3: kubectl and docker

interface Result {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command under `timeout`, asynchronously so the worker keeps answering while it waits. */
function exec(bin: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutSeconds?: number } = {}): Promise<Result> {
  const seconds = options.timeoutSeconds ?? 120;
  return new Promise((resolve, reject) => {
    const child = spawn('timeout', ['--kill-after=5', String(seconds), bin, ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr: code === 124 ? `${stderr}\n${bin} timed out after ${seconds}s` : stderr }));
  });
}

/** Splits kubectl's `-o json` output for several objects (pretty-printed documents one after another). */
function jsonStream(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) start = i;
    } else if (ch === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  return out;
}

/** Where `got` differs from `sent`; fields only `got` has are kubectl's. */
function differences(sent: unknown, got: unknown, at: string, out: string[]): void {
  if (out.length >= 3) return;
  if (Array.isArray(sent)) {
    if (!Array.isArray(got) || got.length !== sent.length) out.push(`${at}: wrote ${JSON.stringify(sent)}, read ${JSON.stringify(got)}`);
    else sent.forEach((v, i) => differences(v, got[i], `${at}[${i}]`, out));
  } else if (sent !== null && typeof sent === 'object') {
    if (got === null || typeof got !== 'object') out.push(`${at}: wrote ${JSON.stringify(sent)}, read ${JSON.stringify(got)}`);
    else for (const [k, v] of Object.entries(sent)) differences(v, (got as Record<string, unknown>)[k], `${at}.${k}`, out);
  } else if (sent !== got) {
    out.push(`${at}: wrote ${JSON.stringify(sent)}, read ${JSON.stringify(got)}`);
  }
}

/** Why kubectl did not read `ws` back as written, or undefined. */
async function kubectlReads(ws: readonly Written[]): Promise<string | undefined> {
  const files = ws.flatMap((w) => [...new Set(w.docs.map((d) => d.file))].flatMap((f) => ['-f', path.join(w.dir, f)]));
  // Schema validation is the API server's (consumer 1); kubectl's client-side copy of it costs ~25 ms an object.
  const r = await exec('kubectl', ['--kubeconfig', api.kubeconfig, '--cache-dir', path.join(api.dir, 'hostile-kube-cache'), 'create', '--dry-run=client', '--validate=false', '-o', 'json', ...files]);
  if (r.status !== 0) return `kubectl create --dry-run=client -f refused what synth wrote: ${r.stderr.trim()}`;
  // One object per document, in the order of the files and of the documents in them.
  const got = jsonStream(r.stdout);
  const want = ws.flatMap((w) => w.docs);
  if (got.length !== want.length) return `kubectl read ${got.length} objects from ${want.length} documents`;
  const diff: string[] = [];
  want.forEach((d, i) => differences(d.object, got[i], d.file, diff));
  return diff.length > 0 ? `kubectl (YAML 1.1) reads other values than written: ${diff.join('; ')}` : undefined;
}

/** Consumer 2: all manifest files in one kubectl call; when it fails, halves until each failing case stands alone. */
async function checkKubectl(cases: readonly Written[], violations: Violation[]): Promise<void> {
  if (cases.length === 0) return;
  const problem = await kubectlReads(cases);
  if (problem === undefined) return;
  if (cases.length === 1) {
    violations.push({ hostile: cases[0].hostile, message: problem });
    return;
  }
  const half = Math.ceil(cases.length / 2);
  await checkKubectl(cases.slice(0, half), violations);
  await checkKubectl(cases.slice(half), violations);
}

/** Consumer 3: `docker stack config` on every stack file, with sentinel variables that must not come through. */
async function checkSwarm(batch: readonly Written[], violations: Violation[]): Promise<number> {
  const env = { PATH: process.env.PATH, DOCKER_CONFIG: dockerConfig, ...SENTINELS };
  const stackFiles = batch.flatMap((w) => [...w.files.keys()].filter((f) => /^[^/]+\/swarm\/[^/]+\.ya?ml$/.test(f)).map((f) => ({ w, f })));
  await parallel(stackFiles, 2, async ({ w, f }) => {
    const file = path.join(w.dir, f);
    const r = await exec('docker', ['stack', 'config', '-c', path.basename(file)], { cwd: path.dirname(file), env, timeoutSeconds: 60 });
    if (r.status !== 0) {
      violations.push({ hostile: w.hostile, message: `docker stack config refused ${f}: ${r.stderr.trim()}` });
      return;
    }
    const leaked = Object.entries(SENTINELS)
      .filter(([, v]) => r.stdout.includes(v))
      .map(([k]) => `$${k}`);
    if (leaked.length > 0) violations.push({ hostile: w.hostile, message: `docker stack config took ${leaked.join(', ')} from the deploying machine into ${f}` });
    const written: Record<string, { environment?: Record<string, string> }> = parse(w.files.get(f)!).services ?? {};
    const resolved: Record<string, { environment?: Record<string, string> }> = parse(r.stdout).services ?? {};
    if (Object.keys(written).sort().join() !== Object.keys(resolved).sort().join()) {
      violations.push({ hostile: w.hostile, message: `docker stack config resolved services [${Object.keys(resolved)}] from [${Object.keys(written)}] in ${f}` });
      return;
    }
    // Every environment value resolves to itself: the file's `$$` is one literal `$`. (The printer drops a value's first
    // line break, the value deploy uses keeps it.)
    for (const [name, service] of Object.entries(written)) {
      for (const [k, v] of Object.entries(service.environment ?? {})) {
        const meant = String(v).replace(/\$\$/g, '$');
        const got = resolved[name].environment?.[k];
        if (got !== meant && got !== meant.replace(/^\n/, ''))
          violations.push({ hostile: w.hostile, message: `docker stack config resolved ${name}.environment.${k} to ${JSON.stringify(got)}, not ${JSON.stringify(meant)}` });
      }
    }
  });
  return stackFiles.length;
}

// ---------------------------------------------------------------------------------------------
// Consumer 4: secrets

/** No planted secret in any written file, literally or by the shared detector; returns the number of files read. */
function checkSecrets(batch: readonly Written[], violations: Violation[]): number {
  let files = 0;
  for (const w of batch) {
    for (const [f, content] of w.files) {
      files++;
      const literal = Object.entries(PLANTED)
        .filter(([, v]) => content.includes(v))
        .map(([k]) => k);
      if (literal.length > 0) violations.push({ hostile: w.hostile, message: `${f} holds the planted ${literal.join(', ')}` });
      const found = scanFile(f, content);
      if (found.length > 0) violations.push({ hostile: w.hostile, message: `${f} holds credentials: ${found.map((h) => `${h.path} ${h.kind} (${h.excerpt})`).join('; ')}` });
    }
  }
  return files;
}

interface BatchReport {
  readonly cases: number;
  readonly written: number;
  readonly objects: number;
  readonly stackFiles: number;
  readonly files: number;
}

/** Runs the cases, then each consumer over everything they wrote. */
async function checkBatch(cases: readonly HostileCase[], tally: Record<ConstructName, Tally>, violations: Violation[]): Promise<BatchReport> {
  const written = cases.map((c) => runCase(c, tally, violations)).filter((w): w is Written => w !== undefined);
  try {
    const objects = await checkApiServer(written, violations);
    await checkKubectl(
      written.filter((w) => w.docs.length > 0),
      violations,
    );
    const stackFiles = await checkSwarm(written, violations);
    const files = checkSecrets(written, violations);
    return { cases: cases.length, written: written.length, objects, stackFiles, files };
  } finally {
    for (const w of written) fs.rmSync(w.dir, { recursive: true, force: true });
  }
}

function printTallies(title: string, tally: Record<ConstructName, Tally>): void {
  const rows = CONSTRUCTS.map(
    (c) =>
      `  ${c.padEnd(26)} ${String(tally[c].refused).padStart(4)} refused ${String(tally[c].refusedByPolicy).padStart(4)} refused by policy ${String(tally[c].written).padStart(4)} written and accepted`,
  );
  console.log(`${title}\n${rows.join('\n')}`);
}

conformanceSuite(
  'hostile input: every construct refuses it cleanly or writes what kube-apiserver, kubectl and docker stack accept, with no secret',
  ['kube-apiserver', 'kubectl', 'docker-cli'],
  () => {
    beforeAll(async () => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-hostile-'));
      dockerConfig = path.join(root, 'docker-config');
      fs.mkdirSync(dockerConfig);
      api = await startApiServer({ crds: true });
      apiClient = new ApiClient(api.kubeconfig);
      await apiClient.discover();
    });

    afterAll(async () => {
      apiClient?.close();
      await api?.stop();
      if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    it(
      'table: one hostile value in one field per case, for every construct',
      async () => {
        const start = Date.now();
        const violations: Violation[] = [];
        const report = await checkBatch(hostileTable(), tableTally, violations);
        printTallies(
          `hostile table: ${report.cases} cases, ${report.written} written (${report.objects} objects sent to kube-apiserver, ${report.stackFiles} stack files, ${report.files} files scanned) in ${((Date.now() - start) / 1000).toFixed(1)} s`,
          tableTally,
        );
        console.log(
          `  refused by policy rule: ${[...policyRules]
            .sort((a, b) => b[1] - a[1])
            .map(([r, n]) => `${r} ×${n}`)
            .join(', ')}`,
        );

        const open = (v: Violation) => OPEN.find((o) => o.construct === v.hostile.construct && o.label.test(v.hostile.label) && o.message.test(v.message));
        expect(violations.filter((v) => !open(v)).map((v) => `${describeCase(v.hostile)}: ${v.message}`)).toEqual([]);
        const stillOpen = new Set(violations.map(open));
        console.log(`  open bugs still reproducing (${stillOpen.size}):\n${[...stillOpen].map((o) => `    ${o!.construct}: ${o!.bug}`).join('\n')}`);
        expect(OPEN.filter((o) => !stillOpen.has(o)).map((o) => `${o.construct}: fixed? remove from OPEN: ${o.bug}`)).toEqual([]);
        // Both outcomes for every construct, or the table says nothing about one of them.
        for (const c of CONSTRUCTS) {
          expect(tableTally[c].refused + tableTally[c].refusedByPolicy, `${c} refused`).toBeGreaterThan(0);
          expect(tableTally[c].written, `${c} written`).toBeGreaterThan(0);
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'property: several hostile fields at once, every construct in every run',
      async () => {
        const start = Date.now();
        let runs = 0;
        let objects = 0;
        const all = fc.record(ARBITRARY, { noNullPrototype: true });
        await fc.assert(
          fc.asyncProperty(all, async (generated) => {
            runs++;
            const violations: Violation[] = [];
            objects += (
              await checkBatch(
                CONSTRUCTS.map((c) => propertyCase(c, generated[c])),
                propertyTally,
                violations,
              )
            ).objects;
            if (violations.length > 0) throw new Error(violations.map((v) => `${describeCase(v.hostile)}: ${v.message}`).join('\n'));
          }),
          { numRuns: PROPERTY_RUNS, interruptAfterTimeLimit: PROPERTY_TIME_LIMIT_MS },
        );
        printTallies(`hostile property: ${runs} runs × ${CONSTRUCTS.length} constructs (${objects} objects sent to kube-apiserver) in ${((Date.now() - start) / 1000).toFixed(1)} s`, propertyTally);
        const sum = (t: Tally) => ({ refused: t.refused + t.refusedByPolicy, written: t.written });
        const total = Object.values(propertyTally)
          .map(sum)
          .reduce((a, b) => ({ refused: a.refused + b.refused, written: a.written + b.written }));
        expect(total.refused).toBeGreaterThan(0);
        expect(total.written).toBeGreaterThan(0);
        // Per construct, over the table and the property together.
        for (const c of CONSTRUCTS) {
          expect(sum(tableTally[c]).refused + sum(propertyTally[c]).refused, `${c} refused`).toBeGreaterThan(0);
          expect(sum(tableTally[c]).written + sum(propertyTally[c]).written, `${c} written`).toBeGreaterThan(0);
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'controls: each consumer refuses what it is there to refuse, so the checks above are not vacuous',
      async () => {
        const scratch = newTallies();
        /** Writes a case, edits one of its files as a careless hand would, and returns what the consumers say. */
        const edited = async (construct: ConstructName, props: Record<string, unknown>, file: RegExp, edit: (text: string) => string): Promise<string[]> => {
          const violations: Violation[] = [];
          const w = runCase(propertyCase(construct, props), scratch, violations)!;
          expect(violations).toEqual([]);
          try {
            const [name, text] = [...w.files].find(([f]) => file.test(f))!;
            const changed = edit(text);
            expect(changed).not.toBe(text);
            fs.writeFileSync(path.join(w.dir, name), changed);
            const files = new Map(w.files).set(name, changed);
            const docs = readDocuments(files, w.ids.env);
            if (typeof docs === 'string') return [docs];
            const copy = { ...w, files, docs };
            await checkApiServer([copy], violations);
            await checkKubectl(copy.docs.length > 0 ? [copy] : [], violations);
            await checkSwarm([copy], violations);
            checkSecrets([copy], violations);
            return violations.map((v) => v.message);
          } finally {
            fs.rmSync(w.dir, { recursive: true, force: true });
          }
        };
        // A YAML 1.1 word left bare: the YAML 1.2 parser reads the string, kubectl a boolean.
        expect(await edited('AntiAffinityDeployment', { component: 'off' }, /deployment-web\.yaml$/, (t) => t.replace(/: "off"$/m, ': off'))).toEqual([
          expect.stringMatching(/kube-apiserver refused Deployment web .*(cannot unmarshal bool|expected string)/s),
          expect.stringMatching(/kubectl create --dry-run=client -f refused what synth wrote: .*(cannot unmarshal bool|expected string)/s),
        ]);
        // A Swarm value with its `$` unescaped: docker stack config takes the deploying machine's variable.
        expect(await edited('SwarmService', { environment: { GREETING: '$HOME' } }, /docker-stack\.yml$/, (t) => t.replace('$$HOME', '$HOME'))).toEqual([
          expect.stringMatching(/^docker stack config took \$HOME from the deploying machine/),
          'docker stack config resolved web.environment.GREETING to "SENTINEL_HOME", not "$HOME"',
        ]);
        // A planted token in a written file.
        expect(await edited('DockerDaemonConfig', {}, /daemon\.json$/, (t) => t.replace('"10m"', `"10m", "labels": ["ci=${PLANTED.github}"]`))).toEqual([
          expect.stringMatching(/daemon\.json holds the planted github/),
          expect.stringMatching(/daemon\.json holds credentials: .*labels a GitHub token/),
        ]);
        // An object the API server refuses although it parses: a port name with consecutive hyphens.
        expect(await edited('AntiAffinityDeployment', {}, /deployment-web\.yaml$/, (t) => t.replace('name: http', 'name: a--b'))).toEqual([
          expect.stringMatching(/kube-apiserver refused Deployment web .*consecutive hyphens/s),
        ]);
      },
      TEST_TIMEOUT_MS,
    );

    it('ConfigMap keys: the configmap-keys rule refuses exactly what kube-apiserver refuses', async () => {
      const keys = [...CONFIG_MAP_KEY_CASES.valid, ...CONFIG_MAP_KEY_CASES.invalid];
      const verdicts = await Promise.all(
        keys.map(async (key, i) => {
          const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `key-${i}`, namespace: 'default' }, data: { [key]: 'x' } };
          const r = await apiClient.apply({ file: '(control)', text: JSON.stringify(object), object }, true);
          return { key, server: r.status < 300, rule: configMapKeyProblem(key) === undefined };
        }),
      );
      expect(verdicts.filter((v) => v.server !== v.rule)).toEqual([]);
      expect(verdicts.filter((v) => v.server).length).toBe(CONFIG_MAP_KEY_CASES.valid.length);
    });
  },
);
