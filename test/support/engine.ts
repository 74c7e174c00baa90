import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireTool } from './tools';
import { alive, freePort } from './process';

export { freePort };

/** Fails loudly (never skips) when the Debian tools the real tests drive are missing. */
export function requireDockerTools(): void {
  const hint = 'apt-get install docker.io busybox-static docker-registry skopeo';
  for (const bin of ['dockerd', 'docker', 'busybox', 'docker-registry', 'skopeo', 'timeout', 'ip']) requireTool(bin, hint);
}

/** Result of a bounded command. */
export interface CommandResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `bin args` under coreutils `timeout`, so a hung daemon call cannot hang the test run. */
export function bounded(seconds: number, bin: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): CommandResult {
  const r = spawnSync('timeout', ['--kill-after=5', String(seconds), bin, ...args], { env, cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Like {@link bounded}, but throws with the output when the command fails. */
export function must(seconds: number, bin: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): string {
  const r = bounded(seconds, bin, args, env, cwd);
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${r.status}${r.status === 124 ? ' (timed out)' : ''}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** An error that ends a {@link waitFor} at once (a daemon died), instead of being retried. */
export class FatalError extends Error {}

/** Polls `check` until it returns a value or `seconds` pass; errors are retried, FatalErrors end the wait. */
export async function waitFor<T>(what: string, seconds: number, check: () => T | undefined | false, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const v = check();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      if (e instanceof FatalError) throw e;
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Stops a process we started: SIGTERM, then SIGKILL after `graceSeconds`. */
export async function stopPid(pid: number | undefined, graceSeconds = 20): Promise<void> {
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceSeconds * 1000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** A background process started by a test, with its log file. */
export interface Daemon {
  readonly pid: number;
  readonly log: string;
  readonly child: ChildProcess;
}

/** Starts a long-running process detached, logging to `log`. */
export function startDaemon(bin: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): Daemon {
  const fd = fs.openSync(log, 'a');
  const child = spawn(bin, args, { env, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  if (!child.pid) throw new Error(`could not start ${bin}`);
  return { pid: child.pid, log, child };
}

/** Short work directory (unix socket paths are limited to 108 bytes). */
export function workDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** An isolated dockerd: its own data root, exec root, socket and pid file, no iptables and no default bridge. */
export class IsolatedDockerd {
  public readonly socket: string;
  public readonly env: NodeJS.ProcessEnv;
  public daemon?: Daemon;
  public swarm = false;

  constructor(
    public readonly dir: string,
    public readonly configFile: string,
  ) {
    this.socket = path.join(dir, 'docker.sock');
    this.env = { ...process.env, DOCKER_HOST: `unix://${this.socket}`, DOCKER_CLI_HINTS: 'false' };
  }

  /** Starts dockerd (with `env` added to its environment); resolves once `docker info` answers, or rejects with the daemon log. */
  public async start(seconds = 45, env: NodeJS.ProcessEnv = {}): Promise<void> {
    const args = [
      '--config-file',
      this.configFile,
      '--data-root',
      path.join(this.dir, 'data'),
      '--exec-root',
      path.join(this.dir, 'exec'),
      '--pidfile',
      path.join(this.dir, 'dockerd.pid'),
      '-H',
      `unix://${this.socket}`,
    ];
    // Swarm services may use images that exist only locally; never ask a registry for their digest.
    this.daemon = startDaemon('dockerd', args, path.join(this.dir, 'dockerd.log'), { ...process.env, ...env, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1' });
    const daemon = this.daemon;
    await waitFor('dockerd to answer', seconds, () => {
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) throw new FatalError(`dockerd exited:\n${fs.readFileSync(daemon.log, 'utf8').slice(-3000)}`);
      return bounded(5, 'docker', ['info', '--format', '{{.ID}}'], this.env).status === 0;
    });
  }

  /** Runs a docker CLI command against this daemon under a timeout. */
  public docker(args: string[], seconds = 30, cwd?: string): CommandResult {
    return bounded(seconds, 'docker', args, this.env, cwd);
  }

  /** Like {@link docker}, throwing on failure. */
  public must(args: string[], seconds = 30, cwd?: string): string {
    return must(seconds, 'docker', args, this.env, cwd);
  }

  /** `docker info` as JSON. */
  public info(): any {
    return JSON.parse(this.must(['info', '--format', '{{json .}}']));
  }

  /** Imports a busybox-static root filesystem (every applet linked) as an image, plus extra files. */
  public importBusybox(tag: string, files: Record<string, string> = {}): void {
    const rootfs = fs.mkdtempSync(path.join(this.dir, 'rootfs-'));
    fs.mkdirSync(path.join(rootfs, 'bin'));
    fs.copyFileSync(requireBusybox(), path.join(rootfs, 'bin', 'busybox'));
    fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
    const applets = must(10, 'busybox', ['--list'])
      .split('\n')
      .filter((a) => a && a !== 'busybox');
    for (const a of applets) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
    for (const dir of ['tmp', 'etc', 'www']) fs.mkdirSync(path.join(rootfs, dir), { recursive: true });
    fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(rootfs, file)), { recursive: true });
      fs.writeFileSync(path.join(rootfs, file), content);
    }
    const r = spawnSync('sh', ['-c', `tar -C "${rootfs}" -c . | timeout 60 docker import -c 'ENV PATH=/bin' - ${tag}`], { env: this.env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker import ${tag} failed: ${r.stderr}`);
    fs.rmSync(rootfs, { recursive: true, force: true });
  }

  /** Initialises a single-node swarm listening only on loopback. */
  public async swarmInit(): Promise<void> {
    const port = await freePort();
    const dataPathPort = await freeUdpPort();
    this.must(['swarm', 'init', '--advertise-addr', `127.0.0.1:${port}`, '--listen-addr', `127.0.0.1:${port}`, '--data-path-port', String(dataPathPort)], 60);
    this.swarm = true;
  }

  /** Leaves the swarm, stops dockerd by PID, removes the bridge it created and the work directory. */
  public async stop(): Promise<string[]> {
    const problems: string[] = [];
    if (this.daemon && alive(this.daemon.pid)) {
      if (this.swarm) {
        const r = this.docker(['swarm', 'leave', '--force'], 60);
        if (r.status !== 0) problems.push(`swarm leave: ${r.stderr}`);
      }
      const ids = this.docker(['ps', '-aq'], 20).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) this.docker(['rm', '-f', ...ids], 60);
    }
    await stopPid(this.daemon?.pid, 30);
    if (this.swarm) {
      // Swarm's gateway bridge outlives the daemon; nothing else on this machine uses it while the test runs.
      const bridge = bounded(10, 'ip', ['link', 'show', 'docker_gwbridge']);
      if (bridge.status === 0) bounded(10, 'ip', ['link', 'delete', 'docker_gwbridge']);
    }
    // dockerd leaves its network namespaces (ingress sandbox, load balancers) bind-mounted under exec-root.
    const mounts = fs
      .readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m) => m?.startsWith(`${this.dir}/`));
    for (const m of mounts.sort().reverse()) bounded(10, 'umount', ['-l', m]);
    bounded(60, 'rm', ['-rf', '--one-file-system', this.dir]);
    if (fs.existsSync(this.dir)) problems.push(`${this.dir} could not be removed`);
    return problems;
  }
}

function requireBusybox(): string {
  const r = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' });
  return fs.realpathSync(r.stdout.trim());
}

/** A UDP port nothing listens on, for Swarm's VXLAN data path (which must be within 1024-49151). */
export async function freeUdpPort(): Promise<number> {
  const dgram = await import('node:dgram');
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 29000);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = dgram.createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, () => socket.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free UDP port for the Swarm data path');
}

/** A `docker-registry serve` process. */
export class RegistryProcess {
  public daemon?: Daemon;
  constructor(
    public readonly configFile: string,
    public readonly port: number,
    public readonly log: string,
    public readonly env: Record<string, string> = {},
  ) {}

  public async start(seconds = 20): Promise<void> {
    this.daemon = startDaemon('docker-registry', ['serve', this.configFile], this.log, { ...process.env, ...this.env });
    const daemon = this.daemon;
    await waitFor(`registry on ${this.port}`, seconds, () => {
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) throw new FatalError(`registry exited:\n${fs.readFileSync(daemon.log, 'utf8').slice(-3000)}`);
      return bounded(5, 'busybox', ['wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${this.port}/v2/`]).status === 0;
    });
  }

  public async stop(): Promise<void> {
    await stopPid(this.daemon?.pid, 10);
  }
}
