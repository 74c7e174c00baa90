import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElasticsearchStandIn } from './stand-ins/elasticsearch';
import { KubernetesApiStandIn } from './stand-ins/kubernetes-api';
import { S3StandIn } from './stand-ins/s3';
import { alive, freePort } from './process';

/*
 * A real Fluentd (FLUENTD_BIN) running a fluent.conf synthesized by the library, on loopback only.
 *
 * The configuration is the ConfigMap's text; the harness changes only what ties it to a real node
 * and cluster, and lists every change in FluentdProcess.rewrites:
 *
 *  1. Host paths: values starting with /var/log/ or /var/lib/ (tail path and exclude_path, pos_file,
 *     file buffer paths) are moved under a temporary node root (NodeFilesystem), which has the
 *     kubelet layout: var/log/containers/<pod>_<ns>_<container>-<id>.log symlinks into var/log/pods
 *     (containerd, CRI-O) or var/lib/docker/containers (Docker). Tags keep their var.log.containers
 *     suffix, so kubernetes_metadata parses pod, namespace and container from them as on a node.
 *  2. monitor_agent and prometheus sources: `bind 0.0.0.0` → 127.0.0.1 and `port` → a free port
 *     (ports 24220/24231 may be taken; tests must not listen on every interface).
 *  3. elasticsearch outputs: `host`/`hosts`, `port`, `scheme` → the Elasticsearch stand-in (plain HTTP;
 *     TLS parameters dropped). The DaemonSet passes no variable for the address, so this is text.
 *  4. s3 outputs: `s3_endpoint` → the S3 stand-in (aws-sdk-s3 1.117 reads no endpoint variable). No
 *     `force_path_style` (deprecated, it would log a warning the config does not cause): the SDK already
 *     addresses an endpoint given as an IP address path-style.
 *  5. Kubernetes API: no text change. Like the in-cluster client, kubernetes_metadata finds the API from
 *     KUBERNETES_SERVICE_HOST/PORT (set by the kubelet in every pod) and trusts its certificate; the
 *     harness sets both variables to the stand-in and SSL_CERT_FILE to the stand-in's CA (the pod reads
 *     it from the service account mount, a system path here). Without a stand-in neither is set and the
 *     filter adds only what the tag carries (a config setting kubernetes_url is refused: no real API).
 *
 * The process environment is built from scratch (nothing of the test runner's leaks in, e.g. real AWS
 * credentials or KUBERNETES_SERVICE_HOST): PATH, HOME and the tool variables below, plus the DaemonSet
 * container's `env` as synthesized: plain values as given, secretKeyRef values replaced by dummies,
 * fieldRef spec.nodeName by the node name. TZ=UTC as in the image. AWS_EC2_METADATA_DISABLED keeps the
 * AWS SDK off the instance metadata address when no keys are given.
 *
 * Every process runs under coreutils `timeout` and is killed by PID (its whole process tree) in
 * kill(); stopAllFluentd() does it for every process still running, and an exit hook is the last
 * resort.
 *
 * Use:
 *   const es = await ElasticsearchStandIn.start();            // also S3StandIn, KubernetesApiStandIn
 *   const node = new NodeFilesystem();                         // survives restarts: pos file, buffers
 *   const log = node.containerLog({ pod, namespace, container, containerId, podUid, format: 'cri' });
 *   log.write('hello'); log.writeParts(['split ', 'line']);    // F line; P + F pieces
 *   const fluentd = await runFluentd({ config, containerEnv, node, elasticsearch: es });
 *   await fluentd.ready();
 *   es.failRequests(429, { times: 3 }); await es.down(); ...  // failure modes, see each stand-in
 *   await fluentd.flush();                                     // SIGUSR1
 *   await fluentd.stop('SIGTERM', 60);                         // kubelet's stop with a grace period
 *   await stopAllFluentd();                                    // afterAll
 */

/** Container log format of a runtime: containerd and CRI-O write CRI lines, Docker json-file JSON lines. */
export type LogFormat = 'cri' | 'docker';

/** A line written to a container log file. */
export interface WrittenLine {
  readonly message: string;
  readonly stream: 'stdout' | 'stderr';
  /** Time stamped on the line (millisecond precision; the file carries nanoseconds). */
  readonly time: Date;
  /** The line's text as written to the file, newline included. */
  readonly raw: string;
}

/** What a container log file is for. */
export interface ContainerRef {
  readonly pod: string;
  readonly namespace: string;
  readonly container: string;
  /** 64 hex characters. @default - random */
  readonly containerId?: string;
  /** Pod UID (the /var/log/pods directory name). @default - random */
  readonly podUid?: string;
  /** @default 'cri' */
  readonly format?: LogFormat;
}

const CONTAINERS_DIR = '/var/log/containers';

/** RFC 3339 with nanoseconds, as containerd and Docker stamp lines (`2024-05-01T10:00:00.123456789Z`). */
export function rfc3339Nano(time: Date, subMillisecondNanos = 0): string {
  const nanos = String(time.getUTCMilliseconds() * 1_000_000 + subMillisecondNanos).padStart(9, '0');
  return time.toISOString().replace(/\.\d{3}Z$/, `.${nanos}Z`);
}

/**
 * One container's log file in a {@link NodeFilesystem}, written as its runtime would. `path` is the
 * kubelet symlink Fluentd tails; `file` is where the runtime writes.
 */
export class ContainerLogFile {
  public readonly path: string;
  public readonly file: string;
  public readonly containerId: string;
  public readonly podUid: string;
  public readonly format: LogFormat;
  private readonly written: WrittenLine[] = [];
  private rotations = 0;

  constructor(
    public readonly node: NodeFilesystem,
    public readonly ref: ContainerRef,
  ) {
    this.containerId = ref.containerId ?? randomBytes(32).toString('hex');
    this.podUid = ref.podUid ?? randomUUID();
    this.format = ref.format ?? 'cri';
    if (!/^[a-f0-9]{64}$/.test(this.containerId)) throw new Error(`container id must be 64 hex characters: ${this.containerId}`);
    const name = `${ref.pod}_${ref.namespace}_${ref.container}-${this.containerId}.log`;
    this.path = node.hostPath(`${CONTAINERS_DIR}/${name}`);
    // kubelet: /var/log/containers/<name> → /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log; with Docker that is itself
    // a symlink to the engine's /var/lib/docker/containers/<id>/<id>-json.log.
    const podLog = node.hostPath(`/var/log/pods/${ref.namespace}_${ref.pod}_${this.podUid}/${ref.container}/0.log`);
    fs.mkdirSync(path.dirname(podLog), { recursive: true });
    if (this.format === 'docker') {
      this.file = node.hostPath(`/var/lib/docker/containers/${this.containerId}/${this.containerId}-json.log`);
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(this.file, '', { mode: 0o640 });
      fs.symlinkSync(this.file, podLog);
    } else {
      this.file = podLog;
      fs.writeFileSync(this.file, '', { mode: 0o640 });
    }
    fs.symlinkSync(podLog, this.path);
  }

  /** Lines written so far (whole lines; partial pieces count once, joined, on their final piece). */
  public lines(): readonly WrittenLine[] {
    return [...this.written];
  }

  /** Writes one complete line (CRI tag F; Docker `log` ending in a newline). */
  public write(message: string, options: { stream?: 'stdout' | 'stderr'; time?: Date } = {}): WrittenLine {
    return this.writeParts([message], options);
  }

  /**
   * Writes one logical line split by the runtime into pieces: CRI tags every piece but the last P
   * (containerd splits at 16 KiB); Docker's json-file leaves the newline off every piece but the last.
   * All pieces carry the same time, as the runtime stamps them when it reads the pipe.
   */
  public writeParts(parts: readonly string[], options: { stream?: 'stdout' | 'stderr'; time?: Date } = {}): WrittenLine {
    if (parts.length === 0) throw new Error('writeParts needs at least one piece');
    const stream = options.stream ?? 'stdout';
    const time = options.time ?? new Date();
    const stamp = rfc3339Nano(time, 1 + Math.floor(Math.random() * 999_998));
    const raw = parts
      .map((p, i) => {
        const last = i === parts.length - 1;
        if (/\n/.test(p)) throw new Error('a piece of a log line cannot contain a newline');
        return this.format === 'cri' ? `${stamp} ${stream} ${last ? 'F' : 'P'} ${p}\n` : `${JSON.stringify({ log: last ? `${p}\n` : p, stream, time: stamp })}\n`;
      })
      .join('');
    fs.appendFileSync(this.file, raw);
    const line = { message: parts.join(''), stream, time, raw };
    this.written.push(line);
    return line;
  }

  /** Appends text as is (malformed lines, pieces of a line in separate writes). */
  public writeRaw(text: string): void {
    fs.appendFileSync(this.file, text);
  }

  /**
   * Rotates as the runtime does: the file is renamed (kubelet: `0.log.<timestamp>`; Docker:
   * `<id>-json.log.1`) and writing continues in a new file at the old path, so the symlink Fluentd
   * tails points to a new inode. Returns the rotated file's path.
   */
  public rotate(): string {
    this.rotations += 1;
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
    let rotated = this.format === 'docker' ? `${this.file}.${this.rotations}` : `${this.file}.${stamp}`;
    if (fs.existsSync(rotated)) rotated = `${rotated}-${this.rotations}`;
    fs.renameSync(this.file, rotated);
    fs.writeFileSync(this.file, '', { mode: 0o640 });
    return rotated;
  }
}

/**
 * A node's host directories under a temporary root: /var/log (containers, pods), /var/lib/docker
 * and the collector's state directory. It outlives Fluentd runs, so a second run on the same node
 * resumes from the pos file and file buffers as a restarted pod does.
 */
export class NodeFilesystem {
  public readonly root: string;

  constructor(root?: string) {
    // Short, dot-free: the root becomes part of every in_tail tag.
    this.root = root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-node-'));
    if (/[.\s]/.test(this.root.replace(os.tmpdir(), ''))) throw new Error(`node root must not contain dots or spaces: ${this.root}`);
    for (const d of ['/var/log/containers', '/var/log/pods', '/var/lib/docker/containers']) fs.mkdirSync(this.hostPath(d), { recursive: true });
  }

  /** Where an absolute node path lives here. */
  public hostPath(nodePath: string): string {
    if (!nodePath.startsWith('/')) throw new Error(`not an absolute path: ${nodePath}`);
    return path.join(this.root, nodePath);
  }

  /** Creates a container's log file; `format` follows the runtime (cri for containerd and CRI-O, docker for Docker). */
  public containerLog(ref: ContainerRef): ContainerLogFile {
    return new ContainerLogFile(this, ref);
  }

  /** Files under a node directory, recursively (e.g. the buffer directory of one output). */
  public files(nodeDirectory: string): string[] {
    const dir = this.hostPath(nodeDirectory);
    if (!fs.existsSync(dir)) return [];
    return (fs.readdirSync(dir, { recursive: true }) as string[])
      .map((f) => path.join(dir, f))
      .filter((f) => fs.statSync(f).isFile())
      .sort();
  }

  public remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** An env entry of the synthesized DaemonSet container (`spec.template.spec.containers[].env[]`). */
export interface ContainerEnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly fieldRef?: { readonly fieldPath: string }; readonly secretKeyRef?: { readonly name: string; readonly key: string } };
}

/** The process environment a DaemonSet container entry gives: secrets become dummies, spec.nodeName the node name. */
export function containerEnvironment(env: readonly ContainerEnvVar[], nodeName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if (e.value !== undefined) out[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) out[e.name] = `dummy-${e.valueFrom.secretKeyRef.name}-${e.valueFrom.secretKeyRef.key}`;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') out[e.name] = nodeName;
    else throw new Error(`the harness cannot supply env ${e.name}: ${JSON.stringify(e.valueFrom)}`);
  }
  return out;
}

/** Options of {@link runFluentd}. */
export interface RunFluentdOptions {
  /** fluent.conf exactly as synthesized (the ConfigMap's `fluent.conf`). */
  readonly config: string;
  /** The fluentd container's `env` from the synthesized DaemonSet. @default [] */
  readonly containerEnv?: readonly ContainerEnvVar[];
  /** More variables (override the DaemonSet's). */
  readonly extraEnv?: Readonly<Record<string, string>>;
  /** Host directories; pass the same one to a second run to restart on the same node. @default - a new NodeFilesystem, removed by kill() */
  readonly node?: NodeFilesystem;
  /** The node's name (K8S_NODE_NAME). @default - the Kubernetes stand-in's nodeName, else 'node-a' */
  readonly nodeName?: string;
  readonly elasticsearch?: ElasticsearchStandIn;
  readonly s3?: S3StandIn;
  readonly kubernetes?: KubernetesApiStandIn;
  /** Hard limit of the run (coreutils timeout, then SIGKILL 10 s later). @default 300 */
  readonly timeoutSeconds?: number;
  /** Extra command-line arguments, e.g. ['-v'] for debug logs. @default [] */
  readonly args?: readonly string[];
}

/** How a Fluentd run ended. */
export interface FluentdExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The run hit timeoutSeconds. */
  readonly timedOut: boolean;
}

const running = new Set<FluentdProcess>();
let exitHookInstalled = false;

/** Every PID under `pid` (children first), read from /proc. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    let children: number[] = [];
    try {
      children = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      continue;
    }
    for (const c of children) out.push(...descendants(c), c);
  }
  return out;
}

/** A running Fluentd (supervisor and worker) started by {@link runFluentd}. */
export class FluentdProcess {
  /** PID of the `timeout` wrapper. */
  public readonly wrapperPid: number;
  /** The configuration as run, after the rewrites. */
  public readonly config: string;
  public readonly configPath: string;
  /** One line per change made to the synthesized configuration. */
  public readonly rewrites: readonly string[];
  public readonly node: NodeFilesystem;
  /** Loopback ports of monitor_agent and the Prometheus endpoint, when the config has them. */
  public readonly ports: { readonly monitor?: number; readonly metrics?: number };
  /** Resolves when the run ends (never rejects). */
  public readonly exited: Promise<FluentdExit>;
  private output = '';
  private exit?: FluentdExit;
  private readonly ownsNode: boolean;
  private readonly waiters = new Set<() => void>();

  constructor(child: ChildProcess, init: { config: string; configPath: string; rewrites: string[]; node: NodeFilesystem; ownsNode: boolean; ports: { monitor?: number; metrics?: number } }) {
    if (!child.pid) throw new Error('fluentd did not start');
    this.wrapperPid = child.pid;
    this.config = init.config;
    this.configPath = init.configPath;
    this.rewrites = init.rewrites;
    this.node = init.node;
    this.ownsNode = init.ownsNode;
    this.ports = init.ports;
    const append = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      for (const w of this.waiters) w();
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exit = { code, signal, timedOut: code === 124 };
        running.delete(this);
        for (const w of this.waiters) w();
        resolve(this.exit);
      });
    });
    running.add(this);
  }

  /** PID of the Fluentd supervisor (the process kubelet's SIGTERM reaches through tini), once started. */
  public get supervisorPid(): number | undefined {
    return directChildren(this.wrapperPid)[0];
  }

  /** Whether the run is still going. */
  public get isRunning(): boolean {
    return this.exit === undefined;
  }

  /** Everything Fluentd printed so far (stdout and stderr). */
  public logs(): string {
    return this.output;
  }

  /** Lines of a level (`warn`, `error`...), e.g. to assert that a run logged no warning. */
  public lines(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'): string[] {
    return this.output.split('\n').filter((l) => l.includes(`[${level}]`));
  }

  /**
   * Waits until the output matches `pattern` (searching only output after `fromOffset`, default all);
   * rejects with the tail of the output when the run ends first or `seconds` pass.
   */
  public waitForLog(pattern: RegExp, seconds = 60, fromOffset = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.output.slice(fromOffset).match(pattern);
        if (m) return done(() => resolve(m));
        if (this.exit) return done(() => reject(new Error(`fluentd exited (${JSON.stringify(this.exit)}) before logging ${pattern}:\n${this.tail()}`)));
        return undefined;
      };
      const timer = setTimeout(() => done(() => reject(new Error(`fluentd did not log ${pattern} within ${seconds}s:\n${this.tail()}`))), seconds * 1000);
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        f();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Offset to pass to waitForLog to see only what is logged from now on. */
  public get logOffset(): number {
    return this.output.length;
  }

  /** Waits until the worker runs (every plugin configured and started). */
  public async ready(seconds = 90): Promise<void> {
    await this.waitForLog(/fluentd worker is now running worker=0/, seconds);
  }

  /** Sends a signal to the supervisor, which relays it to the worker (USR1: flush every buffer; TERM/INT: stop). */
  public signal(signal: NodeJS.Signals): void {
    const pid = this.supervisorPid;
    if (!pid) throw new Error('fluentd supervisor is not running');
    process.kill(pid, signal);
  }

  /**
   * Forces every buffer to flush (SIGUSR1, as `kill -USR1` in the pod) and waits until the worker
   * says so; flushing happens in the output threads right after.
   */
  public async flush(seconds = 30): Promise<void> {
    const from = this.logOffset;
    this.signal('SIGUSR1');
    await this.waitForLog(/force flushing buffered events/, seconds, from);
  }

  /** GET of a monitor_agent path (default /api/plugins.json): buffer_queue_length, retry_count... per plugin. */
  public async monitor(apiPath = '/api/plugins.json'): Promise<any> {
    if (!this.ports.monitor) throw new Error('the config has no monitor_agent source');
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: this.ports.monitor, path: apiPath, timeout: 5000 }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => {
            try {
              resolve(JSON.parse(body));
            } catch (e) {
              reject(e);
            }
          });
        })
        .on('error', reject);
    });
  }

  /**
   * Stops as kubelet does: `signal` to the supervisor, then SIGKILL to the whole tree after
   * `graceSeconds` (terminationGracePeriodSeconds).
   */
  public async stop(signal: NodeJS.Signals = 'SIGTERM', graceSeconds = 60): Promise<FluentdExit> {
    if (this.exit) return this.exit;
    const pid = this.supervisorPid;
    if (pid) process.kill(pid, signal);
    else process.kill(this.wrapperPid, signal);
    const timer = setTimeout(() => this.killTree(), graceSeconds * 1000);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** SIGKILLs the whole process tree by PID and removes the node directory if the run created it. */
  public async kill(): Promise<void> {
    if (this.exit === undefined) {
      this.killTree();
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    if (this.ownsNode) this.node.remove();
  }

  /** The last lines of the output, for error messages. */
  public tail(lines = 40): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  /** @internal */
  public killTree(): void {
    for (const pid of [...descendants(this.wrapperPid), this.wrapperPid]) {
      if (alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}

function directChildren(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// Fluentd 1.17's thread helper checks `thread.alive?` and then calls `thread.wakeup` while the plugin stops. When
// in_prometheus's HTTP server thread ends between the two, the wakeup raises ThreadError "killed thread". Fluentd
// logs it as a warning with a backtrace and finishes the shutdown. It happens now and then on SIGTERM, whatever
// the config says, and loses nothing.
const STOP_RACE = /unexpected error while calling stop on input plugin plugin=Fluent::Plugin::\w+ plugin_id="[^"]*" error_class=ThreadError error="killed thread"/;
const BACKTRACE_LINE = /^\s+\S+ \S+ \S+ \[warn\]: (#\d+ )?\S.*:\d+:in `/;

/** `lines` (from {@link FluentdProcess.lines}) without the thread-wakeup race at stop and its backtrace. */
export function withoutStopRace(lines: readonly string[]): string[] {
  const kept: string[] = [];
  let inRace = false;
  for (const line of lines) {
    if (STOP_RACE.test(line)) inRace = true;
    else if (!(inRace && BACKTRACE_LINE.test(line))) {
      inRace = false;
      kept.push(line);
    }
  }
  return kept;
}

/** Kills every Fluentd still running (afterAll). */
export async function stopAllFluentd(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

/** Result of {@link dryRun}. */
export interface DryRunResult {
  readonly status: number;
  readonly output: string;
  /** Lines with `[warn]` (unused parameters, deprecations...). */
  readonly warnings: string[];
  /** Lines with `[error]` or a ConfigError. */
  readonly errors: string[];
}

/** `fluentd --dry-run -c <config>` on the text as synthesized (no rewriting: nothing is contacted or written). */
export async function dryRun(config: string, options: { env?: Record<string, string>; timeoutSeconds?: number } = {}): Promise<DryRunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-fluentd-dry-'));
  try {
    const file = path.join(dir, 'fluent.conf');
    fs.writeFileSync(file, config);
    const child = spawn('timeout', ['--kill-after=10', String(options.timeoutSeconds ?? 120), fluentdBin(), '--dry-run', '-c', file], {
      env: baseEnvironment(dir, options.env ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const status = await new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
    const lines = output.split('\n');
    return { status, output, warnings: lines.filter((l) => l.includes('[warn]')), errors: lines.filter((l) => l.includes('[error]') || /ConfigError/.test(l)) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function fluentdBin(): string {
  const bin = process.env.FLUENTD_BIN;
  if (!bin) throw new Error('FLUENTD_BIN is not set');
  return bin;
}

function baseEnvironment(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'no-aws-credentials'),
    ...(process.env.FLUENTD_RUBY ? { FLUENTD_RUBY: process.env.FLUENTD_RUBY } : {}),
    ...extra,
  };
}

/** A parameter line inside the sections that enclose it. */
export interface ParamLine {
  readonly index: number;
  readonly key: string;
  readonly value: string;
  readonly indent: string;
  /** Innermost section first: name and @type. */
  readonly sections: readonly { readonly name: string; readonly type?: string; readonly openLine: number }[];
}

/**
 * Splits fluent.conf into parameter lines with their enclosing sections, innermost first (enough for the
 * rewrites and for tests reading a setting, e.g. flush_at_shutdown of the s3 output's buffer; no @include
 * or multi-line values).
 */
export function parameterLines(lines: readonly string[]): ParamLine[] {
  const stack: { name: string; type?: string; openLine: number }[] = [];
  const out: { index: number; key: string; value: string; indent: string; frames: { name: string; type?: string; openLine: number }[] }[] = [];
  lines.forEach((line, index) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const close = /^<\/([a-z_]+)>$/.exec(t);
    if (close) {
      stack.pop();
      return;
    }
    const open = /^<([a-z_]+)(\s[^>]*)?>$/.exec(t);
    if (open) {
      stack.push({ name: open[1], openLine: index });
      return;
    }
    const param = /^(\s*)(@?[a-z_0-9]+)\s+(.*)$/.exec(line);
    if (!param) return;
    if (param[2] === '@type' && stack.length) stack[stack.length - 1].type = param[3].replace(/^"|"$/g, '');
    out.push({ index, key: param[2], value: param[3], indent: param[1], frames: [...stack] });
  });
  return out.map((p) => ({ index: p.index, key: p.key, value: p.value, indent: p.indent, sections: [...p.frames].reverse() }));
}

/** The environment-specific rewrites of the module comment, applied to `config`. */
export function rewriteConfig(
  config: string,
  target: { node: NodeFilesystem; ports: { monitor?: number; metrics?: number }; elasticsearch?: ElasticsearchStandIn; s3?: S3StandIn; kubernetes?: KubernetesApiStandIn },
): { config: string; rewrites: string[] } {
  const lines = config.split('\n');
  const rewrites: string[] = [];
  const drop = new Set<number>();
  const insertAfter = new Map<number, string[]>();
  const set = (p: ParamLine, value: string) => {
    if (p.value === value) return;
    lines[p.index] = `${p.indent}${p.key} ${value}`;
    rewrites.push(`${p.key} ${p.value} → ${value}`);
  };
  const outputsSeen = { elasticsearch: false, s3: false };
  for (const p of parameterLines(lines)) {
    const own = p.sections[0];
    // 1. Host paths → the node root.
    if (/(^|["[,\s])\/var\/(log|lib)\//.test(p.value)) {
      set(
        p,
        p.value.replace(/(^|["[,\s])\/var\/(log|lib)\//g, (_m, pre: string, dir: string) => `${pre}${target.node.hostPath(`/var/${dir}/`)}`),
      );
      continue;
    }
    // 2. Listening sources → loopback, free ports.
    if (own?.name === 'source' && (own.type === 'monitor_agent' || own.type === 'prometheus')) {
      if (p.key === 'bind') set(p, '127.0.0.1');
      const port = own.type === 'monitor_agent' ? target.ports.monitor : target.ports.metrics;
      if (p.key === 'port' && port) set(p, String(port));
      continue;
    }
    // 3. Elasticsearch → the stand-in.
    if (own?.type === 'elasticsearch' && (own.name === 'match' || own.name === 'store')) {
      outputsSeen.elasticsearch = true;
      const es = target.elasticsearch;
      if (!es) throw new Error('the config ships to Elasticsearch: pass an ElasticsearchStandIn (a real cluster must never be contacted)');
      if (p.key === 'host') set(p, '127.0.0.1');
      else if (p.key === 'hosts') set(p, es.url);
      else if (p.key === 'port') set(p, String(es.port));
      else if (p.key === 'scheme') set(p, 'http');
      else if (/^(ssl_|ca_file|client_cert|client_key)/.test(p.key)) {
        drop.add(p.index);
        rewrites.push(`${p.key} ${p.value} → removed (the stand-in serves plain HTTP)`);
      }
      continue;
    }
    // 4. S3 → the stand-in, path-style.
    if (own?.type === 's3' && (own.name === 'match' || own.name === 'store')) {
      outputsSeen.s3 = true;
      const s3 = target.s3;
      if (!s3) throw new Error('the config ships to S3: pass an S3StandIn (AWS must never be contacted)');
      if (p.key === 's3_endpoint') set(p, s3.url);
      else if (p.key === '@type' && !/^\s*s3_endpoint\s/m.test(config)) {
        insertAfter.set(p.index, [`${p.indent}s3_endpoint ${s3.url}`]);
        rewrites.push(`s3_endpoint ${s3.url} → added`);
      }
      continue;
    }
    // 5. An explicit API address → the stand-in (the synthesized config has none: it uses the in-cluster variables).
    if (own?.type === 'kubernetes_metadata' && p.key === 'kubernetes_url') {
      if (!target.kubernetes) throw new Error('the config sets kubernetes_url: pass a KubernetesApiStandIn (a real API server must never be contacted)');
      set(p, `${target.kubernetes.url}/api`);
    }
  }
  if (target.elasticsearch && !outputsSeen.elasticsearch) rewrites.push('(no elasticsearch output in the config; the stand-in gets nothing)');
  if (target.s3 && !outputsSeen.s3) rewrites.push('(no s3 output in the config; the stand-in gets nothing)');
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (!drop.has(i)) out.push(l);
    out.push(...(insertAfter.get(i) ?? []));
  });
  return { config: out.join('\n'), rewrites };
}

/**
 * Starts Fluentd on `options.config` with the rewrites of the module comment and the DaemonSet's
 * environment; resolves once the process is spawned (await `ready()` for the worker).
 */
export async function runFluentd(options: RunFluentdOptions): Promise<FluentdProcess> {
  const node = options.node ?? new NodeFilesystem();
  const ownsNode = options.node === undefined;
  const nodeName = options.nodeName ?? options.kubernetes?.nodeName ?? 'node-a';
  const hasSource = (type: string) => new RegExp(`^\\s*@type\\s+"?${type}"?\\s*$`, 'm');
  const ports = {
    monitor: hasSource('monitor_agent').test(options.config) ? await freePort() : undefined,
    metrics: hasSource('prometheus').test(options.config) ? await freePort() : undefined,
  };
  const { config, rewrites } = rewriteConfig(options.config, { node, ports, elasticsearch: options.elasticsearch, s3: options.s3, kubernetes: options.kubernetes });
  const runDir = fs.mkdtempSync(path.join(node.root, 'run-'));
  const configPath = path.join(runDir, 'fluent.conf');
  fs.writeFileSync(configPath, config);
  const kube = options.kubernetes;
  const env = baseEnvironment(runDir, {
    ...containerEnvironment(options.containerEnv ?? [], nodeName),
    ...(kube ? { ...kube.serviceEnvironment, SSL_CERT_FILE: kube.caFile } : {}),
    ...options.extraEnv,
  });
  if (kube) rewrites.push(`env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=${kube.port} SSL_CERT_FILE=<stand-in CA> → added`);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of running) p.killTree();
    });
  }
  const args = ['--kill-after=10', String(options.timeoutSeconds ?? 300), fluentdBin(), '-c', configPath, ...(options.args ?? [])];
  const child = spawn('timeout', args, { env, cwd: runDir, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  const proc = new FluentdProcess(child, { config, configPath, rewrites, node, ownsNode, ports });
  // The supervisor PID is read from /proc; wait until timeout has started it, so signal() can reach it.
  const deadline = Date.now() + 10_000;
  while (!proc.supervisorPid && proc.isRunning && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return proc;
}
