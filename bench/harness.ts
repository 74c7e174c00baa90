/**
 * Whole-process timing: every sample is one child process, timed from spawn to
 * exit, with its peak resident set size from GNU time (`/usr/bin/time -f %M`),
 * or from the Node process itself when GNU time is missing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OUTPUT_MARKER } from '../lib/core/writer';

/** A command to time. */
export interface Command {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** Writes the process's stdout here (kustomize prints the manifests). */
  readonly stdoutFile?: string;
  /** Stops the process after this many seconds (`timeout`); the run then counts as a lower bound. */
  readonly timeoutS?: number;
}

/** The timing of one command over several runs. */
export interface Measurement {
  readonly id: string;
  readonly label: string;
  /** The command line, for reproduction. */
  readonly command: string;
  readonly warmups: number;
  readonly runs: number;
  /** Wall times of the timed runs, ms, in run order. */
  readonly samplesMs: number[];
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Median CPU time (user + system, all processes of the run) of the timed runs, ms: less sensitive than wall time to other load on the machine. `null` without GNU time. */
  readonly cpuMs: number | null;
  /** The user-mode part of `cpuMs`: the program's own work, without the kernel's file-system time. */
  readonly userCpuMs: number | null;
  /** Median peak RSS of the timed runs, MB; `null` when it could not be measured. */
  readonly peakRssMb: number | null;
  /** Last line of the child's stdout when it is JSON (object counts). */
  readonly report?: Record<string, unknown>;
  /** Set when a run hit the command's time limit: the times are then lower bounds. */
  readonly timedOut?: boolean;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const GNU_TIME = '/usr/bin/time';

/** Whether GNU time (with `-f` and `-o`) is installed. */
export function hasGnuTime(): boolean {
  if (!fs.existsSync(GNU_TIME)) return false;
  const probe = spawnSync(GNU_TIME, ['-f', 'rss=%M cpu=%U+%S', 'true'], { encoding: 'utf8' });
  return probe.status === 0 && /^rss=\d+ cpu=[\d.]+\+[\d.]+\s*$/m.test(probe.stderr);
}

const RSS_REPORTER = path.join(__dirname, 'programs', 'report-rss.cjs');

/** Runs a command once; returns wall ms, peak RSS (MB) and stdout. Throws with stderr when it fails. */
export function runOnce(cmd: Command, workDir: string, gnuTime: boolean): { wallMs: number; rssMb: number | null; cpuMs: number | null; userMs: number | null; stdout: string; timedOut: boolean } {
  const rssFile = path.join(workDir, `rss-${process.pid}-${Date.now()}.txt`);
  fs.rmSync(rssFile, { force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...cmd.env };
  let command = cmd.command;
  let args = [...cmd.args];
  if (cmd.timeoutS !== undefined) {
    args = [String(cmd.timeoutS), command, ...args];
    command = 'timeout';
  }
  if (gnuTime) {
    args = ['-f', 'rss=%M cpu=%U+%S', '-o', rssFile, command, ...args];
    command = GNU_TIME;
  } else {
    // Every Node process of the run (tsx starts a second one) appends its peak RSS on exit.
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --require ${RSS_REPORTER}`.trim();
    env.BENCH_RSS_FILE = rssFile;
  }
  const out = cmd.stdoutFile ? fs.openSync(cmd.stdoutFile, 'w') : 'pipe';
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { cwd: cmd.cwd, env, stdio: ['ignore', out, 'pipe'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (typeof out === 'number') fs.closeSync(out);
  const timedOut = cmd.timeoutS !== undefined && result.status === 124;
  if (result.status !== 0 && !timedOut) {
    throw new Error(`${[cmd.command, ...cmd.args].join(' ')} exited with ${result.status ?? result.signal}:\n${(result.stderr ?? '').slice(-4000)}`);
  }
  let rssMb: number | null = null;
  let cpuMs: number | null = null;
  let userMs: number | null = null;
  if (fs.existsSync(rssFile)) {
    const text = fs.readFileSync(rssFile, 'utf8');
    const kb = [...text.matchAll(/(?:^|rss=)(\d+)(?=\s|$)/gm)].map((x) => Number(x[1]));
    if (kb.length > 0) rssMb = Math.max(...kb) / 1024;
    const cpu = /cpu=([\d.]+)\+([\d.]+)/.exec(text);
    if (cpu) {
      userMs = Number(cpu[1]) * 1000;
      cpuMs = userMs + Number(cpu[2]) * 1000;
    }
    fs.rmSync(rssFile, { force: true });
  }
  return { wallMs, rssMb, cpuMs, userMs, stdout: typeof result.stdout === 'string' ? result.stdout : '', timedOut };
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  readonly id: string;
  readonly label: string;
  readonly runs: number;
  readonly warmups: number;
  readonly workDir: string;
  readonly gnuTime: boolean;
  /** Called before every run, untimed (e.g. to remove the previous output). */
  readonly before?: () => void;
  readonly log?: (line: string) => void;
}

/** What the runs of one command have given so far. */
interface Samples {
  readonly wall: number[];
  readonly rss: number[];
  readonly cpu: number[];
  readonly user: number[];
  stdout: string;
  timedOut: boolean;
}

const noSamples = (): Samples => ({ wall: [], rss: [], cpu: [], user: [], stdout: '', timedOut: false });

/** Runs the `index`-th run of `cmd` (the first `warmups` are untimed) and records it. */
function sample(cmd: Command, options: MeasureOptions, samples: Samples, index: number): void {
  options.before?.();
  const r = runOnce(cmd, options.workDir, options.gnuTime);
  samples.timedOut ||= r.timedOut;
  if (index >= options.warmups) {
    samples.wall.push(r.wallMs);
    if (r.rssMb !== null) samples.rss.push(r.rssMb);
    if (r.cpuMs !== null) samples.cpu.push(r.cpuMs);
    if (r.userMs !== null) samples.user.push(r.userMs);
  }
  samples.stdout = r.stdout;
}

function summarize(cmd: Command, options: MeasureOptions, samples: Samples): Measurement {
  const { wall, rss, cpu, user, timedOut } = samples;
  const last = samples.stdout.trim().split('\n').pop() ?? '';
  let report: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(last);
    if (parsed && typeof parsed === 'object') report = parsed;
  } catch {
    report = undefined;
  }
  const m: Measurement = {
    id: options.id,
    label: options.label,
    command: [cmd.command, ...cmd.args].map(displayArgument).join(' '),
    warmups: options.warmups,
    runs: options.runs,
    samplesMs: wall.map((s) => Math.round(s * 10) / 10),
    medianMs: Math.round(median(wall) * 10) / 10,
    minMs: Math.round(Math.min(...wall) * 10) / 10,
    maxMs: Math.round(Math.max(...wall) * 10) / 10,
    cpuMs: cpu.length > 0 ? Math.round(median(cpu)) : null,
    userCpuMs: user.length > 0 ? Math.round(median(user)) : null,
    peakRssMb: rss.length > 0 ? Math.round(median(rss) * 10) / 10 : null,
    report,
    ...(timedOut ? { timedOut } : {}),
  };
  options.log?.(
    `  ${m.label}: median ${timedOut ? '>' : ''}${m.medianMs} ms [${m.minMs}-${m.maxMs}], CPU ${m.cpuMs ?? '?'} ms (user ${m.userCpuMs ?? '?'} ms), peak RSS ${m.peakRssMb ?? '?'} MB${timedOut ? ' (stopped at the time limit)' : ''}`,
  );
  return m;
}

/** Times `cmd`: `warmups` untimed runs, then `runs` timed ones. */
export function measure(cmd: Command, options: MeasureOptions): Measurement {
  const samples = noSamples();
  for (let i = 0; i < options.warmups + options.runs; i++) sample(cmd, options, samples, i);
  return summarize(cmd, options, samples);
}

/** One command of {@link measureInterleaved}. */
export interface Contender {
  readonly cmd: Command;
  readonly options: MeasureOptions;
}

/**
 * Times commands that are compared with each other in rounds: each round runs every command once, warm-ups
 * included. The machine's speed drifts over a run (other tenants of the host, the disk writing back earlier
 * output), and timed one after the other, a command measured in a slow minute looked slower than one measured in a
 * fast minute; interleaved, a slow minute slows them all. A command that fails is reported through `failed` and
 * left out of the later rounds.
 */
export function measureInterleaved(contenders: readonly Contender[], failed: (contender: Contender, e: Error) => void): (Measurement | undefined)[] {
  const samples = contenders.map(noSamples);
  const failures = new Set<number>();
  const rounds = Math.max(...contenders.map((c) => c.options.warmups + c.options.runs));
  for (let round = 0; round < rounds; round++) {
    contenders.forEach((c, i) => {
      if (failures.has(i) || round >= c.options.warmups + c.options.runs) return;
      try {
        sample(c.cmd, c.options, samples[i], round);
      } catch (e) {
        failures.add(i);
        failed(c, e as Error);
      }
    });
  }
  return contenders.map((c, i) => (failures.has(i) ? undefined : summarize(c.cmd, c.options, samples[i])));
}

/** A command-line argument as a reader would type it: `node` for this Node binary, paths relative to the working directory. */
function displayArgument(arg: string): string {
  if (arg === process.execPath) return 'node';
  if (!path.isAbsolute(arg)) return arg;
  const rel = path.relative(process.cwd(), arg);
  return rel.startsWith('..') ? arg : rel || '.';
}

/** The machine the numbers were taken on. */
export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly node: string;
  readonly os: string;
  readonly kernel: string;
  /** 1-minute load average at the start and end of the run: a busy machine makes every number slower. */
  readonly loadAverage: { readonly start: number; end?: number };
  readonly kubectl?: string;
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  let cpuModel = cpus[0]?.model?.trim() || 'unknown';
  // Virtual machines often report a bare family name; lscpu says the same, but keep its vendor line when richer.
  if (cpuModel === 'unknown' && fs.existsSync('/proc/cpuinfo')) {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.split(':')[1].trim();
  }
  let osName = `${os.type()} ${os.release()}`;
  if (fs.existsSync('/etc/os-release')) {
    const pretty = fs
      .readFileSync('/etc/os-release', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('PRETTY_NAME='));
    if (pretty) osName = pretty.slice('PRETTY_NAME='.length).replace(/"/g, '');
  }
  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  return {
    cpuModel,
    cores: cpus.length,
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: osName,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: { start: Math.round(os.loadavg()[0] * 100) / 100 },
    kubectl: kubectl.status === 0 ? kubectl.stdout.trim().split('\n').join(', ') : undefined,
  };
}

/** Every file under `dir`, relative path → content. */
export function readTree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      // synth's output marker is not part of what the variants are compared on.
      else if (entry.name !== OUTPUT_MARKER) files.set(path.relative(dir, full).split(path.sep).join('/'), fs.readFileSync(full, 'utf8'));
    }
  };
  walk(dir);
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}

/** The tree without the container-structure-test configs, which only shipshape writes (plain cdk8s-plus has no such step). */
export function withoutImageTests(tree: Map<string, string>): Map<string, string> {
  return new Map([...tree].filter(([p]) => !/^[^/]+\/images\/[^/]+\.cst\.yaml$/.test(p)));
}

/** Paths that differ between two trees (missing on either side or different content). */
export function treeDifferences(a: Map<string, string>, b: Map<string, string>): string[] {
  const diffs: string[] = [];
  for (const [p, content] of a) if (b.get(p) !== content) diffs.push(b.has(p) ? `${p}: content differs` : `${p}: only in the first`);
  for (const p of b.keys()) if (!a.has(p)) diffs.push(`${p}: only in the second`);
  return diffs;
}
