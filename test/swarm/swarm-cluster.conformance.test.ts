// SwarmCluster proven on real engines: three dockerd hosts, each in a network namespace this test creates,
// joined by veth pairs to a bridge in a namespace of its own and addressed only by 10.231.0.0/24 addresses the
// test assigns, are bootstrapped by the synthesized script with the synthesized nftables rules loaded in each
// host. Quorum holds with one manager down and is lost with two; bringing one back (unlocked with the key the
// script stored) restores it.
//
// Recipe adjustments for this kind of machine:
// - dockerd is entered into its namespace with nsenter (ip netns exec remounts /sys, hiding the cgroup mounts
//   dockerd needs), in a private mount namespace and with its own host name (the node name Swarm reports).
// - dockerd runs with --iptables=false, no default bridge and the vfs storage driver; services publish no
//   ports, use an imported busybox image and never resolve it in a registry.
// Every daemon call runs under `timeout`; dockerd processes are stopped by PID, namespaces deleted by name.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'cdk8s';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Environment, Stack, synthesizeStack } from '../../lib';
import { SwarmCluster, SwarmProject, SwarmService } from '../../lib/swarm';
import { conformanceSuite } from '../support/conformance';
import { NetnsHost, TestNetwork } from '../support/netns';
import { alive } from '../support/process';
import { CommandResult, Daemon, FatalError, bounded, must, startDaemon, stopPid, waitFor, workDir } from '../support/engine';

const SUBNET = '10.231.0';
const NODES = [
  { name: 'mgr-1', octet: 11, zone: 'a' },
  { name: 'mgr-2', octet: 12, zone: 'b' },
  { name: 'mgr-3', octet: 13, zone: 'c' },
] as const;
const OUTSIDER_OCTET = 99;
const IMAGE = 'local/busybox:1';

/** Synthesizes the cluster's host files into `out` (what `npm run synth` writes to dist/<env>/). */
function synthesizeCluster(out: string, secrets: string): SwarmCluster {
  const environment = new Environment({ name: 'swarm-lab', replicas: 2 });
  const stack = new Stack(new App(), environment.name, { environment });
  const project = new SwarmProject(stack, 'swarm');
  new SwarmService(project, 'probe', { name: 'probe', image: 'nginx:1.27.2', placement: { constraints: ['node.labels.zone != a'] } });
  const cluster = new SwarmCluster(stack, 'cluster', {
    managers: NODES.map((n) => ({ name: n.name, address: `${SUBNET}.${n.octet}`, labels: { zone: n.zone } })),
    joinTokens: { type: 'file', managerTokenFile: path.join(secrets, 'manager-token'), workerTokenFile: path.join(secrets, 'worker-token') },
    autolock: { type: 'file', path: path.join(secrets, 'unlock-key') },
  });
  const result = synthesizeStack(stack);
  expect(result.problems).toEqual([]);
  for (const f of result.files) {
    const file = path.join(out, f.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, f.content);
  }
  return cluster;
}

/** A dockerd in a test host. */
class NodeEngine {
  public readonly socket: string;
  public readonly env: NodeJS.ProcessEnv;
  public daemon?: Daemon;

  constructor(
    public readonly host: NetnsHost,
    public readonly dir: string,
    private readonly network: TestNetwork,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.socket = path.join(dir, 'docker.sock');
    this.env = { ...process.env, DOCKER_HOST: `unix://${this.socket}`, DOCKER_CLI_HINTS: 'false' };
    fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify({ iptables: false, bridge: 'none', 'storage-driver': 'vfs', 'log-level': 'warn' }));
  }

  public async start(): Promise<void> {
    const d = this.dir;
    const cmd = this.network.wrap(this.host, [
      'dockerd',
      '--config-file',
      `${d}/daemon.json`,
      '--data-root',
      `${d}/data`,
      '--exec-root',
      `${d}/exec`,
      '--pidfile',
      `${d}/dockerd.pid`,
      '-H',
      `unix://${this.socket}`,
    ]);
    // Swarm tasks use the imported image only; never ask a registry for its digest.
    this.daemon = startDaemon(cmd[0], cmd.slice(1), path.join(d, 'dockerd.log'), { ...process.env, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1' });
    const daemon = this.daemon;
    await waitFor(`dockerd on ${this.host.name}`, 60, () => {
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) throw new FatalError(`dockerd on ${this.host.name} exited:\n${fs.readFileSync(daemon.log, 'utf8').slice(-3000)}`);
      return bounded(5, 'docker', ['info', '--format', '{{.ID}}'], this.env).status === 0;
    });
  }

  public async stop(): Promise<void> {
    await stopPid(this.daemon?.pid, 30);
  }

  public get running(): boolean {
    return this.daemon !== undefined && alive(this.daemon.pid);
  }

  public docker(args: string[], seconds = 30, input?: string): CommandResult {
    const r = spawnSync('timeout', ['--kill-after=5', String(seconds), 'docker', ...args], { env: this.env, encoding: 'utf8', input });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  public must(args: string[], seconds = 30): string {
    return must(seconds, 'docker', args, this.env);
  }

  /** Runs the synthesized bootstrap script for this node, as an operator would on the host. */
  public bootstrap(script: string, ...flags: string[]): CommandResult {
    return bounded(120, 'sh', [script, ...flags, this.host.name], this.env);
  }

  public importBusybox(): void {
    const rootfs = path.join(this.dir, 'rootfs');
    fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
    const busybox = fs.realpathSync(spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim());
    fs.copyFileSync(busybox, path.join(rootfs, 'bin', 'busybox'));
    fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
    for (const applet of ['sh', 'sleep']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
    const r = spawnSync('sh', ['-c', `tar -C "$0" -c . | timeout 60 docker import -c 'ENV PATH=/bin' - ${IMAGE}`, rootfs], { env: this.env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker import on ${this.host.name} failed: ${r.stderr}`);
  }
}

interface NodeRow {
  hostname: string;
  status: string;
  manager: string;
}

function nodeRows(engine: NodeEngine): NodeRow[] | undefined {
  const r = engine.docker(['node', 'ls', '--format', '{{.Hostname}}|{{.Status}}|{{.ManagerStatus}}'], 25);
  if (r.status !== 0) return undefined;
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [hostname, status, manager] = l.split('|');
      return { hostname, status, manager };
    });
}

/** A TCP connect from inside a host: prints connected, refused or timeout (a dropped SYN). */
function connectProbe(address: string, port: number): string[] {
  const js = `const s = require('node:net').connect(${port}, '${address}');
s.setTimeout(3000, () => { console.log('timeout'); process.exit(0); });
s.on('connect', () => { console.log('connected'); s.destroy(); });
s.on('error', (e) => console.log(e.code === 'ECONNREFUSED' ? 'refused' : e.code));`;
  return [process.execPath, '-e', js];
}

function runningTasks(engine: NodeEngine, service: string): string[] | undefined {
  const r = engine.docker(['service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.Node}}|{{.CurrentState}}'], 25);
  if (r.status !== 0) return undefined;
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => / Running /.test(` ${l.split('|')[1]} `))
    .map((l) => l.split('|')[0]);
}

conformanceSuite('SwarmCluster on three real dockerd hosts in network namespaces', ['docker', 'netns', 'firewall'], () => {
  const work = workDir('ssc-');
  const out = path.join(work, 'dist');
  // Where an operator keeps the tokens and the unlock key: outside the output directory and the checkout.
  const secrets = path.join(work, 'secrets');
  const prefix = `sc${process.pid % 10000}`;
  let network: TestNetwork | undefined;
  const engines: NodeEngine[] = [];
  let outsider: NetnsHost;
  let script = '';
  const scriptOutput: string[] = [];
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    fs.mkdirSync(secrets, { mode: 0o700 });
    synthesizeCluster(path.join(out, 'swarm-lab'), secrets);
    script = path.join(out, 'swarm-lab', 'hosts', 'swarm', 'bootstrap.sh');
    network = new TestNetwork(prefix, SUBNET);
    for (const n of NODES) engines.push(new NodeEngine(network.add(n.name, n.octet), path.join(work, n.name), network));
    outsider = network.add('outsider', OUTSIDER_OCTET);
    // The synthesized firewall, loaded in each host's own namespace (it never touches the machine's rules).
    for (const e of engines) {
      const r = network.exec(e.host, 20, ['nft', '-f', path.join(out, 'swarm-lab', 'hosts', 'swarm', 'swarm.nft')]);
      if (r.status !== 0) throw new Error(`nft -f on ${e.host.name}: ${r.stderr}`);
    }
    await Promise.all(engines.map((e) => e.start()));
    for (const e of engines) e.importBusybox();
  });

  afterAll(async () => {
    const problems: string[] = [];
    const live = engines.filter((e) => e.running);
    if (live.length > 0) live[0].docker(['service', 'rm', 'probe'], 20);
    for (const e of live) e.docker(['swarm', 'leave', '--force'], 30);
    await Promise.all(engines.map((e) => e.stop()));
    // Task shims of a dockerd that was killed outlive it; only ones whose socket is under this run's directory are ours.
    for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmdline.startsWith('/usr/bin/containerd-shim') && cmdline.includes(`${work}/`)) process.kill(Number(pid), 'SIGKILL');
      } catch {
        // the process ended meanwhile
      }
    }
    if (network) problems.push(...network.destroy());
    // dockerd's mounts lived in its private mount namespace; nothing of this run is mounted any more.
    const mounts = fs
      .readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m) => m?.startsWith(`${work}/`));
    for (const m of mounts.sort().reverse()) bounded(10, 'umount', ['-l', m]);
    bounded(60, 'rm', ['-rf', '--one-file-system', work]);
    console.log(`SwarmCluster timings (s): ${JSON.stringify(timings)}`);
    expect(problems).toEqual([]);
  });

  it('the bootstrap script brings up three managers with one leader, their labels and autolock', () => {
    const t0 = Date.now();
    const [m1, m2, m3] = engines;
    // Without --init the script never starts a swarm: with no token to join by, the first manager stops.
    const refused = m1.bootstrap(script);
    scriptOutput.push(refused.stdout, refused.stderr);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('a new swarm is created by bootstrap.sh --init mgr-1');
    expect(m1.must(['info', '--format', '{{.Swarm.LocalNodeState}}']).trim()).toBe('inactive');
    expect(m2.bootstrap(script, '--init').status).toBe(2);
    const first = m1.bootstrap(script, '--init');
    scriptOutput.push(first.stdout, first.stderr);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('mgr-1: initialised the swarm');
    // The operator stores the tokens where the other hosts' scripts read them (never in the output).
    fs.writeFileSync(path.join(secrets, 'manager-token'), m1.must(['swarm', 'join-token', '-q', 'manager']), { mode: 0o600 });
    fs.writeFileSync(path.join(secrets, 'worker-token'), m1.must(['swarm', 'join-token', '-q', 'worker']), { mode: 0o600 });
    for (const e of [m2, m3]) {
      const r = e.bootstrap(script);
      scriptOutput.push(r.stdout, r.stderr);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`${e.host.name}: joined the swarm as manager through ${SUBNET}.11:2377`);
    }
    timings.bootstrap = (Date.now() - t0) / 1000;

    const rows = nodeRows(m2)!;
    expect(rows.map((r) => r.hostname).sort()).toEqual(['mgr-1', 'mgr-2', 'mgr-3']);
    expect(rows.every((r) => r.status === 'Ready')).toBe(true);
    expect(rows.filter((r) => r.manager === 'Leader')).toHaveLength(1);
    expect(rows.filter((r) => r.manager === 'Reachable')).toHaveLength(2);
    for (const n of NODES) {
      const labels = JSON.parse(m1.must(['node', 'inspect', n.name, '--format', '{{json .Spec.Labels}}']));
      expect(labels).toEqual({ zone: n.zone });
      expect(m1.must(['node', 'inspect', n.name, '--format', '{{.Spec.Availability}}']).trim()).toBe('active');
    }
    // Autolock is on and the key is where the cluster declares it, readable by root only.
    expect(m1.must(['info', '--format', '{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}']).trim()).toBe('true');
    const keyFile = path.join(secrets, 'unlock-key');
    expect(fs.readFileSync(keyFile, 'utf8').trim()).toBe(m1.must(['swarm', 'unlock-key', '-q']).trim());
    expect(fs.statSync(keyFile).mode & 0o077).toBe(0);
  });

  it('writes no token or unlock key to the output or the script output, and re-running changes nothing', () => {
    const [m1, m2, m3] = engines;
    const clusterId = m1.must(['info', '--format', '{{.Swarm.Cluster.ID}}']).trim();
    for (const e of [m1, m2, m3]) {
      const r = e.bootstrap(script);
      scriptOutput.push(r.stdout, r.stderr);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`${e.host.name}: already in the swarm`);
    }
    // --init on a node already in the swarm changes nothing either.
    expect(m1.bootstrap(script, '--init').stdout).toContain('mgr-1: already in the swarm');
    expect(m3.must(['info', '--format', '{{.Swarm.Cluster.ID}}']).trim()).toBe(clusterId);
    expect(nodeRows(m1)).toHaveLength(3);
    const secretValues = ['manager-token', 'worker-token', 'unlock-key'].map((f) => fs.readFileSync(path.join(secrets, f), 'utf8').trim());
    expect(secretValues.every((s) => /^SWM(TKN|KEY)-/.test(s))).toBe(true);
    const written = fs
      .readdirSync(out, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => fs.readFileSync(path.join(d.parentPath, d.name), 'utf8'));
    expect(written.length).toBeGreaterThanOrEqual(4);
    for (const text of [...written, ...scriptOutput]) {
      for (const s of secretValues) expect(text.includes(s)).toBe(false);
      expect(text).not.toMatch(/SWM(TKN|KEY)-/);
    }
  });

  it('the synthesized firewall admits cluster nodes to 2377/tcp and refuses a host outside the cluster', () => {
    const [m1, m2] = engines;
    const fromNode = network!.exec(m2.host, 15, connectProbe(m1.host.address, 2377));
    expect(fromNode.stdout.trim(), fromNode.stderr).toBe('connected');
    const fromOutsider = network!.exec(outsider, 15, connectProbe(m1.host.address, 2377));
    expect(fromOutsider.stdout.trim(), fromOutsider.stderr).toBe('timeout');
    // The outsider reaches the host itself: only the Swarm ports are closed to it.
    expect(network!.exec(outsider, 10, ['busybox', 'ping', '-c', '1', '-W', '3', m1.host.address]).status).toBe(0);
  });

  it('with one manager down the cluster keeps serving and converges a service', async () => {
    const t0 = Date.now();
    const [m1, m2, m3] = engines;
    await m1.stop();
    const rows = await waitFor(
      'the two remaining managers to elect a leader',
      90,
      () => {
        const r = nodeRows(m2);
        return r && r.some((n) => n.manager === 'Leader') && r.find((n) => n.hostname === 'mgr-1')?.manager === 'Unreachable' ? r : undefined;
      },
      1000,
    );
    expect(rows.find((n) => n.manager === 'Leader')!.hostname).not.toBe('mgr-1');
    // The placement constraint is met only by the nodes the script labelled zone b and c.
    m3.must(
      ['service', 'create', '--detach', '--name', 'probe', '--replicas', '2', '--constraint', 'node.labels.zone != a', '--stop-grace-period', '1s', '--no-resolve-image', IMAGE, 'sleep', '3600'],
      60,
    );
    const nodes = await waitFor(
      'probe to run 2 tasks',
      90,
      () => {
        const t = runningTasks(m2, 'probe');
        return t && t.length === 2 ? t : undefined;
      },
      1000,
    );
    expect(nodes.every((n) => n === 'mgr-2' || n === 'mgr-3')).toBe(true);
    timings.oneDown = (Date.now() - t0) / 1000;
  });

  it('with two managers down the cluster has no quorum and refuses changes', async () => {
    const t0 = Date.now();
    const [, m2, m3] = engines;
    await m2.stop();
    // Reads need a leader too: once node ls fails, the last manager knows it has none.
    await waitFor('the last manager to lose its leader', 90, () => nodeRows(m3) === undefined, 1000);
    const create = m3.docker(['service', 'create', '--detach', '--name', 'refused', '--no-resolve-image', IMAGE, 'sleep', '3600'], 45);
    expect(create.status).not.toBe(0);
    const scale = m3.docker(['service', 'update', '--detach', '--replicas', '3', 'probe'], 45);
    expect(scale.status).not.toBe(0);
    expect(`${create.stderr}${scale.stderr}`).toMatch(/leader|quorum|deadline|context/i);
    timings.twoDown = (Date.now() - t0) / 1000;
  });

  it('bringing one manager back (unlocked with the stored key) restores quorum and changes are accepted again', async () => {
    const t0 = Date.now();
    const [m1, , m3] = engines;
    await m1.start();
    expect(m1.must(['info', '--format', '{{.Swarm.LocalNodeState}}']).trim()).toBe('locked');
    const unlock = m1.docker(['swarm', 'unlock'], 30, fs.readFileSync(path.join(secrets, 'unlock-key'), 'utf8'));
    expect(unlock.status, unlock.stderr).toBe(0);
    await waitFor('quorum with mgr-1 and mgr-3', 120, () => nodeRows(m3)?.some((n) => n.manager === 'Leader'), 1000);
    await waitFor('the update to be accepted', 60, () => m3.docker(['service', 'update', '--detach', '--replicas', '3', 'probe'], 30).status === 0, 2000);
    expect(m3.must(['service', 'inspect', 'probe', '--format', '{{.Spec.Mode.Replicated.Replicas}}']).trim()).toBe('3');
    // Zone a (mgr-1) is excluded and mgr-2 is down: the new task can only start on mgr-3.
    const tasks = await waitFor(
      'a third probe task on mgr-3',
      90,
      () => {
        const t = runningTasks(m3, 'probe');
        return t && t.filter((n) => n === 'mgr-3').length >= 2 ? t : undefined;
      },
      1000,
    );
    expect(tasks.includes('mgr-1')).toBe(false);
    // The change refused without quorum never happened.
    expect(m3.docker(['service', 'inspect', 'refused'], 20).status).not.toBe(0);
    timings.restored = (Date.now() - t0) / 1000;
  });
});

conformanceSuite('SwarmCluster host files accepted by nft, ufw, sh and shellcheck', ['firewall'], () => {
  const work = workDir('sscf-');
  const variants: Record<string, Partial<ConstructorParameters<typeof SwarmCluster>[2]>> = {
    plain: {},
    encrypted: { overlayEncryption: true, drainManagers: true, workers: [{ name: 'worker-1', address: '10.0.0.21', dataPathAddress: '10.1.0.21', labels: { zone: 'a' } }] },
    ipv6: {
      managers: [
        { name: 'v6-1', address: 'fd00::11' },
        { name: 'v6-2', address: 'fd00::12' },
        { name: 'v6-3', address: 'fd00::13' },
      ],
      overlayEncryption: true,
      autolock: { type: 'command', storeCommand: 'vault kv put secret/swarm/edge unlock-key=-' },
    },
  };
  const dirs: Record<string, string> = {};

  beforeAll(() => {
    for (const [name, props] of Object.entries(variants)) {
      const environment = new Environment({ name: 'edge', replicas: 1 });
      const stack = new Stack(new App(), 'edge', { environment });
      new SwarmCluster(stack, 'cluster', {
        managers: [
          { name: 'edge-1', address: '10.0.0.11' },
          { name: 'edge-2', address: '10.0.0.12' },
          { name: 'edge-3', address: '10.0.0.13' },
        ],
        autolock: { type: 'file', path: '/mnt/keys/edge-unlock' },
        ...props,
      });
      const result = synthesizeStack(stack);
      expect(result.problems).toEqual([]);
      dirs[name] = path.join(work, name);
      fs.mkdirSync(dirs[name]);
      for (const f of result.files) fs.writeFileSync(path.join(dirs[name], path.basename(f.path)), f.content);
    }
    // `ufw` resolves to ufw --dry-run: the rules are parsed and printed, never applied.
    fs.mkdirSync(path.join(work, 'bin'));
    fs.writeFileSync(path.join(work, 'bin', 'ufw'), `#!/bin/sh\nexec ${spawnSync('sh', ['-c', 'command -v ufw'], { encoding: 'utf8' }).stdout.trim()} --dry-run "$@"\n`, { mode: 0o755 });
  });

  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it.each(Object.keys(variants))('nft -c accepts swarm.nft (%s)', (name) => {
    const r = bounded(20, 'nft', ['-c', '-f', path.join(dirs[name], 'swarm.nft')]);
    expect(r.status, r.stderr).toBe(0);
  });

  it.each(Object.keys(variants))('sh -n and shellcheck accept bootstrap.sh and ufw.sh (%s)', (name) => {
    for (const file of ['bootstrap.sh', 'ufw.sh']) {
      const p = path.join(dirs[name], file);
      const syntax = bounded(10, 'sh', ['-n', p]);
      expect(syntax.status, syntax.stderr).toBe(0);
      const lint = bounded(30, 'shellcheck', ['-s', 'sh', p]);
      expect(lint.status, lint.stdout).toBe(0);
    }
  });

  it('ufw parses every rule of ufw.sh (--dry-run)', () => {
    const script = path.join(dirs.encrypted, 'ufw.sh');
    const rules = fs
      .readFileSync(script, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('ufw ')).length;
    const r = bounded(120, 'sh', [script], { ...process.env, PATH: `${path.join(work, 'bin')}:${process.env.PATH}` });
    expect(r.status, r.stderr).toBe(0);
    // ufw prints the resulting rule set once per command it accepted.
    expect(r.stdout.match(/^### tuple ### (allow|deny) /gm)?.length ?? 0).toBeGreaterThanOrEqual(rules);
    expect(r.stdout).toContain('-p esp -s 10.1.0.21 -j ACCEPT');
    expect(r.stderr).not.toMatch(/ERROR|Bad port|Invalid/i);
  });

  it('the bootstrap script refuses an unknown node before touching Docker', () => {
    const r = bounded(10, 'sh', [path.join(dirs.plain, 'bootstrap.sh'), 'edge-9'], { ...process.env, PATH: path.join(work, 'bin') + ':/usr/bin:/bin', DOCKER_HOST: 'unix:///nonexistent.sock' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('one of: edge-1 edge-2 edge-3');
  });
});
