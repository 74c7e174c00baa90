// Real-tool tests: an isolated dockerd in Swarm mode, docker-registry and skopeo, all on loopback.
// Every daemon call runs under `timeout`; everything started here is stopped by PID in afterAll, the swarm is
// left with `docker swarm leave --force` and docker_gwbridge is deleted.
//
// Recipe adjustments for this kind of machine:
// - dockerd runs with --iptables=false --bridge=none (set in the synthesized daemon.json, since dockerd refuses
//   a setting given both as a flag and in the file) and the vfs storage driver.
// - The kernel has no IPVS, so Swarm's ingress routing mesh and service VIPs cannot forward traffic. The test
//   stack therefore publishes its front proxy in host mode (docker-proxy, no iptables needed) and the web
//   service uses endpoint_mode dnsrr on an overlay network; the front resolves the web tasks through Swarm's
//   embedded DNS (see FRONT_CGI). Ingress publishing itself is still validated by `docker stack config`.
// - Images are busybox-static root filesystems imported with `docker import`; deploys use
//   `--resolve-image never` and dockerd runs with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { App } from 'cdk8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShipshapeError, synthesizeStack } from '../../lib';
import { renderFiles, writeFilesAtomically } from '../../lib/core/writer';
import { RegistryConfig } from '../../lib/registry';
import { buildSwarmPlatform } from '../../stacks/swarm';
import { run } from '../support/tools';
import { conformanceSuite } from '../support/conformance';
import { IsolatedDockerd, RegistryProcess, freePort, must, waitFor, workDir } from '../support/engine';
import { TEST_NOFILE, TEST_STACK, UPDATE_DELAY_SECONDS, WEB_REPLICAS, writeSwarmTestStack } from '../support/swarm';
import { DockerDaemonConfig } from '../../lib/docker';
import { Environment, Stack } from '../../lib';

const work = workDir('shs-');
const started: { engines: IsolatedDockerd[]; registries: RegistryProcess[] } = { engines: [], registries: [] };
let engine: IsolatedDockerd;
let upstream: RegistryProcess;
let mirror: RegistryProcess;
let frontPort = 0;
let mirrorPort = 0;
const out = path.join(work, 'dist');
const stackDir = () => path.join(out, 'swarm-test', 'swarm');

function settings(webImage: string) {
  return { webImage, frontPort, mirrorPort };
}

/** Stats a loopback HTTP client collects in a worker thread (so blocking docker calls here do not stall it). */
interface ClientStats {
  sent: number;
  failed: number;
  answers: Record<string, number>;
  errors: Record<string, number>;
}

const CLIENT = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
let stop = false;
const stats = { sent: 0, failed: 0, answers: {}, errors: {} };
parentPort.on('message', (m) => { if (m === 'stop') stop = true; });
function once() {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/cgi-bin/web', timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ ok: res.statusCode === 200 && body.startsWith('web '), text: body.trim() || String(res.statusCode) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, text: e.message }));
  });
}
(async () => {
  while (!stop) {
    const r = await once();
    stats.sent++;
    const bucket = r.ok ? stats.answers : stats.errors;
    if (!r.ok) stats.failed++;
    bucket[r.text] = (bucket[r.text] || 0) + 1;
    await new Promise((r) => setTimeout(r, 20));
  }
  parentPort.postMessage(stats);
})();
`;

function startClient(port: number): { stop: () => Promise<ClientStats> } {
  const worker = new Worker(CLIENT, { eval: true, workerData: { port } });
  return {
    stop: () =>
      new Promise<ClientStats>((resolve, reject) => {
        worker.once('message', (s) => {
          void worker.terminate();
          resolve(s);
        });
        worker.once('error', reject);
        worker.postMessage('stop');
      }),
  };
}

function serviceTasks(name: string): { id: string; image: string; desired: string; state: string; createdAt: number; containerId?: string; err?: string }[] {
  const ids = engine.must(['service', 'ps', '-q', '--no-trunc', name]).split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  // Tasks can be pruned between the two calls; inspect still prints the ones it found.
  const r = engine.docker(['inspect', '--type', 'task', ...ids]);
  const tasks = r.stdout.trim().startsWith('[') ? JSON.parse(r.stdout) : [];
  return tasks.map((t: any) => ({
    id: t.ID,
    image: String(t.Spec.ContainerSpec.Image).split('@')[0],
    desired: t.DesiredState,
    state: t.Status.State,
    createdAt: Date.parse(t.CreatedAt),
    containerId: t.Status.ContainerStatus?.ContainerID,
    err: t.Status.Err,
  }));
}

function updateState(name: string): string {
  return engine.must(['service', 'inspect', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', name]).trim();
}

function running(name: string, image?: string) {
  return serviceTasks(name).filter((t) => t.desired === 'running' && t.state === 'running' && (!image || t.image === image));
}

function deploy(): void {
  engine.must(['stack', 'deploy', '--resolve-image', 'never', '--prune', '-c', 'docker-stack.yml', TEST_STACK], 90, stackDir());
}

const others = path.join(work, 'others');

/** Files named `name` that the reference platform and the examples synthesize. */
function otherSynthesized(name: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name === name) found.push(full);
    }
  };
  walk(others);
  return found.sort();
}

conformanceSuite('real Docker engine, Swarm mode and registry', ['docker', 'docker-cli', 'registry'], () => {
  beforeAll(async () => {
    frontPort = await freePort();
    mirrorPort = await freePort();
    writeSwarmTestStack(out, settings('local/web:1'));
    writeFilesAtomically(path.join(others, 'reference'), renderFiles([synthesizeStack(buildSwarmPlatform(new App()).stack)]));
    for (const example of ['docker-daemon-config', 'registry-mirror', 'swarm-service']) {
      run('npx', ['tsx', `examples/${example}/main.ts`, path.join(others, example)], { cwd: path.resolve(__dirname, '../..') });
    }
  }, 120_000);

  afterAll(async () => {
    const problems: string[] = [];
    for (const e of started.engines) problems.push(...(await e.stop()));
    for (const r of started.registries) await r.stop();
    fs.rmSync(work, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`cleanup failed: ${problems.join('; ')}`);
  }, 180_000);

  describe.sequential('stack, daemon and registry', () => {
    it('(a) docker stack config accepts every synthesized stack file', () => {
      const stackFiles = [...otherSynthesized('docker-stack.yml'), path.join(stackDir(), 'docker-stack.yml')];
      expect(stackFiles.length).toBeGreaterThanOrEqual(4);
      for (const file of stackFiles) {
        const config = must(30, 'docker', ['stack', 'config', '-c', path.basename(file)], process.env, path.dirname(file));
        expect(config, file).toContain('version: "3.8"');
      }
    });

    it('(b) dockerd refuses a daemon.json with a value the construct also refuses', async () => {
      const dir = workDir('shs-bad-');
      const good = JSON.parse(fs.readFileSync(path.join(out, 'swarm-test', 'hosts', 'daemon.json'), 'utf8'));
      // The construct rejects this value before anything is written...
      const stack = new Stack(new App(), 'x', { environment: new Environment({ name: 'x' }) });
      expect(() => new DockerDaemonConfig(stack, 'd', { maxConcurrentDownloads: -1 })).toThrow(ShipshapeError);
      // ...and dockerd refuses it too.
      fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify({ ...good, 'registry-mirrors': [], 'max-concurrent-downloads': -1 }));
      const bad = new IsolatedDockerd(dir, path.join(dir, 'daemon.json'));
      started.engines.push(bad);
      await expect(bad.start(30)).rejects.toThrow(/max-concurrent-downloads|concurrent/);
    });

    it('(b) live-restore and Swarm mode cannot share a host: dockerd refuses swarm init', async () => {
      const dir = workDir('shs-lr-');
      const stack = new Stack(new App(), 'x', { environment: new Environment({ name: 'x' }) });
      const lr = new DockerDaemonConfig(stack, 'd', { liveRestore: true, swarmMode: false, storageDriver: 'vfs', iptables: false, bridge: 'none' });
      fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify(lr.toJson()));
      const e = new IsolatedDockerd(dir, path.join(dir, 'daemon.json'));
      started.engines.push(e);
      await e.start();
      expect(e.info().LiveRestoreEnabled).toBe(true);
      const init = e.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1:1', '--listen-addr', '127.0.0.1:1'], 30);
      expect(init.status).not.toBe(0);
      expect(init.stderr).toMatch(/live-restore/);
      await e.stop();
      started.engines.splice(started.engines.indexOf(e), 1);
    });

    it('(b) dockerd accepts every other synthesized daemon.json: the reference platform and the examples', async () => {
      for (const file of otherSynthesized('daemon.json')) {
        const dir = workDir('shs-ref-');
        const synthesized = JSON.parse(fs.readFileSync(file, 'utf8'));
        // Every key as synthesized, except what would touch this shared machine: overlay2 (needs a native
        // filesystem), iptables rules and docker0, and a fixed metrics port.
        const machine = { 'storage-driver': 'vfs', iptables: false, bridge: 'none', ...(synthesized['metrics-addr'] ? { 'metrics-addr': `127.0.0.1:${await freePort()}` } : {}) };
        fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify({ ...synthesized, ...machine }));
        const e = new IsolatedDockerd(dir, path.join(dir, 'daemon.json'));
        started.engines.push(e);
        await e.start();
        const info = e.info();
        expect(info.RegistryConfig.Mirrors, file).toEqual((synthesized['registry-mirrors'] ?? []).map((m: string) => `${m}/`));
        expect(info.LiveRestoreEnabled, file).toBe(synthesized['live-restore']);
        expect(info.LoggingDriver, file).toBe(synthesized['log-driver']);
        await e.stop();
        started.engines.splice(started.engines.indexOf(e), 1);
      }
    }, 180_000);

    it('(f) docker-registry accepts every other synthesized config.yml: the reference platform and the examples', async () => {
      // distribution 2.8 contacts its proxy upstream at start; a local registry stands in for Docker Hub.
      const upstreamPort = await freePort();
      fs.writeFileSync(
        path.join(work, 'stand-in.yml'),
        new RegistryConfig('stand-in', { httpAddress: `127.0.0.1:${upstreamPort}`, debugAddress: false, storage: { type: 'filesystem', rootDirectory: path.join(work, 'stand-in') } }).render(),
      );
      const standIn = new RegistryProcess(path.join(work, 'stand-in.yml'), upstreamPort, path.join(work, 'stand-in.log'));
      started.registries.push(standIn);
      await standIn.start();
      for (const file of otherSynthesized('config.yml')) {
        const port = await freePort();
        const r = new RegistryProcess(file, port, path.join(work, `check-${port}.log`), {
          REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
          REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${await freePort()}`,
          REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(work, `check-${port}`),
          REGISTRY_PROXY_REMOTEURL: `http://127.0.0.1:${upstreamPort}`,
        });
        started.registries.push(r);
        await r.start();
        const debug = fs.readFileSync(r.log, 'utf8');
        expect(debug, file).toMatch(/listening on 127\.0\.0\.1/);
        expect(debug, file).toMatch(/Starting cached object TTL expiration scheduler/);
        await r.stop();
      }
      await standIn.stop();
    }, 120_000);

    it('(b) an isolated dockerd started with the synthesized daemon.json reports its settings', async () => {
      const dir = workDir('shs-eng-');
      engine = new IsolatedDockerd(dir, path.join(out, 'swarm-test', 'hosts', 'daemon.json'));
      started.engines.push(engine);
      await engine.start();
      const info = engine.info();
      expect(info.Driver).toBe('vfs');
      expect(info.LoggingDriver).toBe('json-file');
      expect(info.LiveRestoreEnabled).toBe(false);
      expect(info.RegistryConfig.Mirrors).toEqual([`http://127.0.0.1:${mirrorPort}/`]);
      engine.importBusybox('local/web:1', { 'www/index.html': 'web v1\n' });
      engine.importBusybox('local/web:2', { 'www/index.html': 'web v2\n' });
      engine.importBusybox('local/web:3', { 'www/index.html': 'web v3\n', 'etc/broken': 'this release never starts httpd\n' });
      // Log rotation and ulimits are applied to every container.
      const id = engine.must(['create', '--network', 'none', 'local/web:1', 'sh', '-c', 'echo "$(ulimit -Sn) $(ulimit -Hn)"']).trim();
      const logConfig = JSON.parse(engine.must(['inspect', '--format', '{{json .HostConfig.LogConfig}}', id]));
      expect(logConfig).toEqual({ Type: 'json-file', Config: { 'max-file': '5', 'max-size': '10m' } });
      engine.must(['start', '-a', id]);
      expect(engine.must(['logs', id]).trim()).toBe(`${TEST_NOFILE.soft} ${TEST_NOFILE.hard}`);
      engine.must(['rm', id]);
    });

    it('(f) the registry started from the synthesized config.yml is a pull-through cache that outlives its upstream; (g) dockerd pulls through it', async () => {
      const upstreamPort = await freePort();
      const upstreamConfig = new RegistryConfig('upstream', {
        httpAddress: `127.0.0.1:${upstreamPort}`,
        debugAddress: false,
        storage: { type: 'filesystem', rootDirectory: path.join(work, 'upstream-data') },
      });
      fs.writeFileSync(path.join(work, 'upstream.yml'), upstreamConfig.render());
      upstream = new RegistryProcess(path.join(work, 'upstream.yml'), upstreamPort, path.join(work, 'upstream.log'));
      started.registries.push(upstream);
      await upstream.start();

      // The synthesized mirror config, as written; only what is specific to this machine is overridden the way
      // distribution documents (REGISTRY_<section>_<key>): loopback addresses, a scratch directory, and a local
      // upstream standing in for Docker Hub, which this machine cannot reach.
      const debugPort = await freePort();
      mirror = new RegistryProcess(path.join(out, 'swarm-test', 'hosts', 'registry', 'config.yml'), mirrorPort, path.join(work, 'mirror.log'), {
        REGISTRY_HTTP_ADDR: `127.0.0.1:${mirrorPort}`,
        REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${debugPort}`,
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(work, 'mirror-data'),
        REGISTRY_PROXY_REMOTEURL: `http://127.0.0.1:${upstreamPort}`,
      });
      started.registries.push(mirror);
      await mirror.start();

      must(120, 'skopeo', ['copy', '--src-daemon-host', `unix://${engine.socket}`, '--dest-tls-verify=false', 'docker-daemon:local/web:1', `docker://127.0.0.1:${upstreamPort}/shipshape/web:1`]);
      must(120, 'skopeo', ['copy', '--src-tls-verify=false', `docker://127.0.0.1:${mirrorPort}/shipshape/web:1`, `oci:${path.join(work, 'pulled-1')}:web`]);
      const catalog = must(10, 'busybox', ['wget', '-q', '-O', '-', `http://127.0.0.1:${mirrorPort}/v2/_catalog`]);
      expect(JSON.parse(catalog).repositories).toContain('shipshape/web');

      // (g) dockerd asks its registry-mirrors for Docker Hub images; Docker Hub itself is unreachable here.
      engine.must(['pull', 'shipshape/web:1'], 120);
      expect(engine.must(['image', 'inspect', '--format', '{{.Id}}', 'shipshape/web:1']).trim()).toMatch(/^sha256:/);
      expect(fs.readFileSync(mirror.log, 'utf8')).toMatch(/GET \/v2\/shipshape\/web\/manifests\/1/);

      await upstream.stop();
      must(120, 'skopeo', ['copy', '--src-tls-verify=false', `docker://127.0.0.1:${mirrorPort}/shipshape/web:1`, `oci:${path.join(work, 'pulled-2')}:web`]);
      engine.must(['rmi', 'shipshape/web:1']);
      engine.must(['pull', 'shipshape/web:1'], 120);
      console.log(`registry mirror: cached shipshape/web:1 served by skopeo and docker pull after the upstream (pid ${upstream.daemon?.pid}) stopped`);
    }, 240_000);

    it('(c) in Swarm mode the synthesized stack converges to the declared replicas and global tasks', async () => {
      await engine.swarmInit();
      deploy();
      const services = await waitFor('web 3/3, agent and front on the node', 120, () => {
        const ls = engine.must(['service', 'ls', '--format', '{{.Name}} {{.Mode}} {{.Replicas}}']).trim().split('\n').sort();
        return ls.length === 3 && ls.every((l) => /(\d+)\/\1( |$)/.test(l)) && ls.join('|').includes(`${TEST_STACK}_web replicated ${WEB_REPLICAS}/${WEB_REPLICAS}`) ? ls : undefined;
      });
      expect(services).toEqual([`${TEST_STACK}_agent global 1/1`, `${TEST_STACK}_front global 1/1`, `${TEST_STACK}_web replicated ${WEB_REPLICAS}/${WEB_REPLICAS}`]);
      await waitFor('the front to answer through the web tasks', 60, () => must(5, 'busybox', ['wget', '-q', '-O', '-', `http://127.0.0.1:${frontPort}/cgi-bin/web`]).startsWith('web v1'));
    }, 240_000);

    it('(d) a rolling update honours parallelism and delay while a loopback client keeps getting answers', async () => {
      const before = Date.now();
      const client = startClient(frontPort);
      await new Promise((r) => setTimeout(r, 1000));
      writeSwarmTestStack(out, settings('local/web:2'));
      deploy();
      await waitFor('the update to complete', 150, () => updateState(`${TEST_STACK}_web`) === 'completed');
      const stats = await client.stop();
      console.log(
        `rolling update v1→v2: requests sent ${stats.sent}, failed ${stats.failed}; answers ${JSON.stringify(stats.answers)}${stats.failed ? `; errors ${JSON.stringify(stats.errors)}` : ''}`,
      );
      expect(running(`${TEST_STACK}_web`, 'local/web:2')).toHaveLength(WEB_REPLICAS);
      const created = serviceTasks(`${TEST_STACK}_web`)
        .filter((t) => t.image === 'local/web:2' && t.createdAt >= before - 1000)
        .map((t) => t.createdAt)
        .sort((a, b) => a - b);
      expect(created).toHaveLength(WEB_REPLICAS);
      const gaps = created.slice(1).map((t, i) => (t - created[i]) / 1000);
      console.log(`rolling update v1→v2: new tasks created ${gaps.map((g) => `${g.toFixed(1)}s`).join(', ')} apart (parallelism 1, delay ${UPDATE_DELAY_SECONDS}s)`);
      // Parallelism 1: one task per batch; delay: each batch starts at least `delay` after the previous one finished.
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(UPDATE_DELAY_SECONDS - 0.2);
      expect(stats.sent).toBeGreaterThan(20);
      expect(stats.failed).toBe(0);
      expect(stats.answers['web v2']).toBeGreaterThan(0);
    }, 240_000);

    it('(d) an update whose healthcheck fails is rolled back automatically', async () => {
      const client = startClient(frontPort);
      writeSwarmTestStack(out, settings('local/web:3'));
      deploy();
      const state = await waitFor('the automatic rollback', 150, () => {
        const s = updateState(`${TEST_STACK}_web`);
        return ['rollback_completed', 'rollback_paused', 'paused'].includes(s) ? s : undefined;
      });
      const stats = await client.stop();
      console.log(`failed update v2→v3 (healthcheck never passes): ${state}; requests sent ${stats.sent}, failed ${stats.failed}`);
      expect(state).toBe('rollback_completed');
      await waitFor('v2 on every replica', 60, () => running(`${TEST_STACK}_web`, 'local/web:2').length === WEB_REPLICAS);
      expect(running(`${TEST_STACK}_web`, 'local/web:3')).toHaveLength(0);
      expect(stats.failed).toBe(0);
      // Put the stack file back in line with what runs.
      writeSwarmTestStack(out, settings('local/web:2'));
    }, 240_000);

    it('(e) a killed task container is replaced and the service returns to its replica count', async () => {
      const service = `${TEST_STACK}_web`;
      const victim = running(service)[0];
      expect(victim.containerId).toBeTruthy();
      engine.must(['kill', victim.containerId!]);
      const replaced = await waitFor('a replacement task', 90, () => {
        const now = running(service);
        return now.length === WEB_REPLICAS && !now.some((t) => t.id === victim.id) ? now : undefined;
      });
      expect(replaced).toHaveLength(WEB_REPLICAS);
      const killed = serviceTasks(service).find((t) => t.id === victim.id)!;
      expect(killed.desired).toBe('shutdown');
      console.log(`self-healing: task ${victim.id.slice(0, 12)} killed (${killed.state}: ${killed.err ?? ''}); ${replaced.length}/${WEB_REPLICAS} running again`);
    }, 120_000);
  });
});
