// The Docker-host registry mirror on the real registry (Debian's docker-registry 2.8.2), all on 127.0.0.1.
//
// The upstream stands in for Docker Hub: `docker-registry serve` with token authentication, as Docker Hub uses
// (distribution 2.8's proxy sends its login only to token-auth upstreams, never to a Basic-auth one), a
// stand-in token server, and a private repository pushed with skopeo from an OCI layout built here.
//
// The mirrors run from the synthesized files. What is specific to this machine is rewritten, and nothing else:
// - distribution's documented REGISTRY_<section>_<key> overrides: the listen port (the host part is kept from
//   the file), the debug port, the storage directory, proxy.remoteurl (Docker Hub → the local upstream), and
//   auth.htpasswd.path (→ the test's secret directory);
// - in the synthesized start command (entrypoint): /run/secrets → the test's secret directory,
//   /etc/docker/registry/config.yml → the synthesized config.yml, /dev/shm/registry → a scratch directory;
//   `registry` resolves to docker-registry through PATH.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { App } from 'cdk8s';
import * as fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Environment, Stack, synthesizeStack } from '../../lib';
import { renderFiles, writeFilesAtomically } from '../../lib/core/writer';
import { DockerDaemonConfig } from '../../lib/docker';
import { DockerHostRegistryMirror, RegistryConfig, proxyLoginCommand } from '../../lib/registry';
import { SwarmProject } from '../../lib/swarm';
import { buildSwarmPlatform } from '../../stacks/swarm';
import { conformanceSuite } from '../support/conformance';
import { IsolatedDockerd, bounded, freePort, must, startDaemon, stopPid, waitFor, workDir } from '../support/engine';
import { BoundedRegistry, OciImage, TokenServer, htpasswdLine, listeningAddresses, writeOciImage } from '../support/registry-upstream';

const work = workDir('shs-mirror-');
const started: { registries: BoundedRegistry[]; tokens: TokenServer[]; engines: IsolatedDockerd[]; pids: number[] } = { registries: [], tokens: [], engines: [], pids: [] };

// The upstream login, with characters YAML and the shell would both misread if the start command did not escape them.
const HUB = { user: 'acme-bot', password: `p"a\\ss: #w0rd' $HOME \`id\` ${crypto.randomBytes(6).toString('hex')}` };
// A client login of the published mirror (htpasswd).
const CLIENT = { user: 'ci', password: crypto.randomBytes(9).toString('base64url') };
const REPOSITORY = 'private/app';
const SECRET_NAMES = { username: 'dockerhub-username', password: 'dockerhub-token', htpasswd: 'mirror-users' };

interface Fixture {
  readonly tokens: TokenServer;
  readonly upstreamUrl: string;
  readonly image: OciImage;
  readonly secretsDir: string;
  readonly bin: string;
  /** The swarm-edge reference mirror (host-local), started from the reference's synthesized files. */
  readonly reference: BoundedRegistry;
  readonly referenceDir: string;
}

let fixture: Promise<Fixture> | undefined;

afterAll(async () => {
  const problems: string[] = [];
  for (const e of started.engines) problems.push(...(await e.stop()));
  for (const r of started.registries) await r.stop();
  for (const pid of started.pids) await stopPid(pid, 10);
  for (const t of started.tokens) await t.stop();
  fs.rmSync(work, { recursive: true, force: true });
  if (problems.length > 0) throw new Error(`cleanup failed: ${problems.join('; ')}`);
}, 180_000);

/** Environment for a registry process: no REGISTRY_* of the caller's, `registry` on PATH, and the overrides. */
function registryEnv(bin: string, overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
  return { ...env, PATH: `${bin}:${process.env.PATH}`, ...overrides };
}

/** The synthesized start command with the paths of this machine (see the header). */
function localCommand(entrypoint: string[], files: { secretsDir: string; config: string; runtimeDir: string }): string[] {
  expect(entrypoint.slice(0, 2)).toEqual(['/bin/sh', '-c']);
  let script = entrypoint[2];
  for (const [from, to] of [
    ['/run/secrets/', `${files.secretsDir}/`],
    ['/etc/docker/registry/config.yml', files.config],
    ['/dev/shm/registry', files.runtimeDir],
  ] as const) {
    expect(script).toContain(from);
    script = script.split(from).join(to);
  }
  expect(script).not.toMatch(/\/run\/secrets|\/etc\/docker|\/dev\/shm/);
  return ['sh', '-c', script];
}

/** Port of a `host:port` listen address. */
function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}

async function startFixture(): Promise<Fixture> {
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(must(5, 'sh', ['-c', 'command -v docker-registry']).trim(), path.join(bin, 'registry'));

  const tokens = new TokenServer({ [HUB.user]: HUB.password }, path.join(work, 'token-requests.jsonl'));
  started.tokens.push(tokens);
  await tokens.start();
  const upstreamPort = await freePort();
  const upstreamFile = path.join(work, 'upstream.yml');
  const base = parse(
    new RegistryConfig('upstream', { httpAddress: `127.0.0.1:${upstreamPort}`, debugAddress: false, storage: { type: 'filesystem', rootDirectory: path.join(work, 'upstream-data') } }).render(),
  );
  fs.writeFileSync(path.join(work, 'token-issuer.pem'), tokens.certificate.pem);
  fs.writeFileSync(upstreamFile, stringify({ ...base, auth: { token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootcertbundle: path.join(work, 'token-issuer.pem') } } }));
  const upstream = new BoundedRegistry('upstream', upstreamPort, path.join(work, 'upstream.log'));
  started.registries.push(upstream);
  await upstream.start(['docker-registry', 'serve', upstreamFile], registryEnv(bin, {}));
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;

  const image = writeOciImage(path.join(work, 'image'), '1', { 'hello.txt': `private payload ${crypto.randomUUID()}\n` });
  must(120, 'skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `${HUB.user}:${HUB.password}`, `oci:${image.dir}:${image.tag}`, `docker://127.0.0.1:${upstreamPort}/${REPOSITORY}:1`]);

  // Swarm secret files, as Docker mounts them: the login (with a trailing newline, as `echo ... | docker secret create` leaves) and htpasswd.
  const secretsDir = path.join(work, 'secrets');
  fs.mkdirSync(secretsDir, { mode: 0o700 });
  fs.writeFileSync(path.join(secretsDir, SECRET_NAMES.username), `${HUB.user}\n`, { mode: 0o400 });
  fs.writeFileSync(path.join(secretsDir, SECRET_NAMES.password), `${HUB.password}\n`, { mode: 0o400 });
  fs.writeFileSync(path.join(secretsDir, SECRET_NAMES.htpasswd), htpasswdLine(CLIENT.user, CLIENT.password), { mode: 0o400 });

  // The reference platform's mirror, as synthesized.
  const referenceDir = path.join(work, 'reference');
  writeFilesAtomically(referenceDir, renderFiles([synthesizeStack(buildSwarmPlatform(new App()).stack)]));
  const reference = await startSynthesized('reference', path.join(referenceDir, 'swarm-edge'), { secretsDir, bin, upstreamUrl });
  return { tokens, upstreamUrl, image, secretsDir, bin, reference, referenceDir };
}

/** Starts the registry-mirror service of a synthesized environment directory through its start command. */
async function startSynthesized(name: string, envDir: string, f: { secretsDir: string; bin: string; upstreamUrl: string }, extra: Record<string, string> = {}): Promise<BoundedRegistry> {
  const configFile = path.join(envDir, 'hosts', 'registry', 'config.yml');
  const config = parse(fs.readFileSync(configFile, 'utf8'));
  const service = parse(fs.readFileSync(path.join(envDir, 'swarm', 'docker-stack.yml'), 'utf8')).services['registry-mirror'];
  const port = await freePort();
  const runtimeDir = path.join(work, `${name}-runtime`);
  // A published mirror's file listens on ":5000" (all interfaces inside its container); here it gets loopback.
  const host = hostOf(config.http.addr) || '127.0.0.1';
  const registry = new BoundedRegistry(name, port, path.join(work, `${name}.log`));
  started.registries.push(registry);
  await registry.start(
    localCommand(service.entrypoint, { secretsDir: f.secretsDir, config: configFile, runtimeDir }),
    registryEnv(f.bin, {
      REGISTRY_HTTP_ADDR: `${host}:${port}`,
      REGISTRY_HTTP_DEBUG_ADDR: `${hostOf(config.http.debug.addr) || '127.0.0.1'}:${await freePort()}`,
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(work, `${name}-data`),
      REGISTRY_PROXY_REMOTEURL: f.upstreamUrl,
      ...extra,
    }),
  );
  return registry;
}

/** GET on a registry, optionally with Basic credentials; resolves status and headers. */
function get(url: string, login?: { user: string; password: string }): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  const headers: Record<string, string> = { accept: 'application/vnd.oci.image.manifest.v1+json' };
  if (login) headers.authorization = `Basic ${Buffer.from(`${login.user}:${login.password}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, timeout: 20_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** Pulls the private image with skopeo into an OCI layout; returns the result and the layout's layer digests. */
function pull(port: number, dest: string, creds?: { user: string; password: string }): { status: number; stderr: string; layers: string[] } {
  const auth = creds ? ['--src-creds', `${creds.user}:${creds.password}`] : ['--src-no-creds'];
  const r = bounded(120, 'skopeo', ['copy', '--src-tls-verify=false', ...auth, `docker://127.0.0.1:${port}/${REPOSITORY}:1`, `oci:${dest}:1`]);
  if (r.status !== 0) return { status: r.status, stderr: r.stderr, layers: [] };
  const index = JSON.parse(fs.readFileSync(path.join(dest, 'index.json'), 'utf8'));
  const manifest = JSON.parse(fs.readFileSync(path.join(dest, 'blobs', ...index.manifests[0].digest.split(':')), 'utf8'));
  return { status: 0, stderr: r.stderr, layers: manifest.layers.map((l: { digest: string }) => l.digest) };
}

conformanceSuite('DockerHostRegistryMirror on the real registry (docker-registry 2.8, skopeo)', ['registry', 'shell'], () => {
  let f: Fixture;
  beforeAll(async () => {
    fixture ??= startFixture();
    f = await fixture;
  }, 180_000);

  it('the upstream repository is private: skopeo cannot pull it anonymously', () => {
    const r = bounded(60, 'skopeo', ['inspect', '--tls-verify=false', '--no-creds', `docker://${f.upstreamUrl.slice('http://'.length)}/${REPOSITORY}:1`]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unauthorized|authentication required|denied/);
  });

  it('a published mirror with upstream credentials refuses anonymous pulls (401) and serves the private image to its htpasswd users', async () => {
    const stack = new Stack(new App(), 'edge', { environment: new Environment({ name: 'edge', nodeGroups: [{ name: 'edge', minSize: 3, maxSize: 3 }] }) });
    const project = new SwarmProject(stack, 'swarm', { name: 'edge' });
    new DockerHostRegistryMirror(project, 'mirror', {
      access: 'published',
      credentials: { usernameSecret: SECRET_NAMES.username, passwordSecret: SECRET_NAMES.password },
      htpasswdSecret: SECRET_NAMES.htpasswd,
    });
    const result = synthesizeStack(stack);
    expect(result.problems).toEqual([]);
    const dir = path.join(work, 'published');
    writeFilesAtomically(dir, renderFiles([result]));
    const envDir = path.join(dir, 'edge');
    const synthesized = [fs.readFileSync(path.join(envDir, 'hosts', 'registry', 'config.yml'), 'utf8'), fs.readFileSync(path.join(envDir, 'swarm', 'docker-stack.yml'), 'utf8')];
    for (const text of synthesized) expect(text).not.toContain(HUB.password.slice(-12));
    expect(parse(synthesized[0]).auth.htpasswd.path).toBe(`/run/secrets/${SECRET_NAMES.htpasswd}`);

    const mirror = await startSynthesized('published', envDir, f, { REGISTRY_AUTH_HTPASSWD_PATH: path.join(f.secretsDir, SECRET_NAMES.htpasswd) });
    const url = `http://127.0.0.1:${mirror.port}/v2/${REPOSITORY}/manifests/1`;
    const before = f.tokens.requests.length;

    const anonymous = await get(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Basic realm="registry-mirror"');
    expect((await get(url, { user: CLIENT.user, password: 'wrong' })).status).toBe(401);
    // The upstream login is the mirror's; it shares it with nobody that gets a 401.
    expect((await get(url, HUB)).status).toBe(401);
    const refused = pull(mirror.port, path.join(work, 'pulled-anonymous'));
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/unauthorized|authentication required/);
    // Nothing reached the upstream for the refused requests.
    expect(f.tokens.requests.slice(before)).toEqual([]);

    expect((await get(url, CLIENT)).status).toBe(200);
    const pulled = pull(mirror.port, path.join(work, 'pulled-client'), CLIENT);
    if (pulled.status !== 0) throw new Error(`skopeo pull with the htpasswd login failed: ${pulled.stderr}`);
    expect(pulled.layers).toEqual([f.image.layerDigest]);
    // The mirror logged in upstream with the password read from the secret file, quotes and backslashes intact.
    expect(f.tokens.requests.slice(before).some((r) => r.user === HUB.user && r.status === 200 && r.scope.includes(`repository:${REPOSITORY}:pull`))).toBe(true);
    expect(f.tokens.requests.slice(before).filter((r) => r.status !== 200)).toEqual([]);

    // The password is nowhere in the registry's environment (what `docker inspect` and /proc show), only in
    // the mode-0600 in-memory copy of the config.
    const environ = fs.readFileSync(`/proc/${mirror.registryPid}/environ`, 'utf8');
    expect(environ).not.toContain(HUB.password.slice(-12));
    expect(environ).not.toMatch(/REGISTRY_PROXY_(USERNAME|PASSWORD)/);
    const runtime = path.join(work, 'published-runtime', 'config.yml');
    expect(fs.statSync(runtime).mode & 0o777).toBe(0o600);
    expect(parse(fs.readFileSync(runtime, 'utf8')).proxy).toEqual({ remoteurl: 'https://registry-1.docker.io', username: HUB.user, password: HUB.password });
    console.log(
      `published mirror: anonymous 401 (Basic realm), wrong login 401, htpasswd user pulled ${REPOSITORY}:1 (${pulled.layers[0].slice(0, 19)}…); upstream token requests ${f.tokens.requests.length - before}`,
    );
    await mirror.stop();
  });

  it('the swarm-edge reference mirror listens on 127.0.0.1 only, and serves the private image to local anonymous clients (the host’s daemon)', async () => {
    const config = parse(fs.readFileSync(path.join(f.referenceDir, 'swarm-edge', 'hosts', 'registry', 'config.yml'), 'utf8'));
    expect(hostOf(config.http.addr)).toBe('127.0.0.1');
    expect(hostOf(config.http.debug.addr)).toBe('127.0.0.1');
    const addresses = listeningAddresses(f.reference.registryPid);
    expect(addresses.length).toBe(2);
    for (const a of addresses) expect(a).toMatch(/^127\.0\.0\.1:\d+$/);
    const before = f.tokens.requests.length;
    const pulled = pull(f.reference.port, path.join(work, 'pulled-reference'));
    if (pulled.status !== 0) throw new Error(`anonymous local pull failed: ${pulled.stderr}`);
    expect(pulled.layers).toEqual([f.image.layerDigest]);
    expect(f.tokens.requests.slice(before).some((r) => r.user === HUB.user && r.status === 200)).toBe(true);
    console.log(`reference mirror: listening on ${addresses.join(', ')}; anonymous local pull of ${REPOSITORY}:1 served with the upstream login`);
  });

  it('the same config.yml without the start command has no login, and the upstream refuses it: the login is what the binding protects', async () => {
    const port = await freePort();
    const plain = new BoundedRegistry('no-login', port, path.join(work, 'no-login.log'));
    started.registries.push(plain);
    await plain.start(
      ['docker-registry', 'serve', path.join(f.referenceDir, 'swarm-edge', 'hosts', 'registry', 'config.yml')],
      registryEnv(f.bin, {
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${await freePort()}`,
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(work, 'no-login-data'),
        REGISTRY_PROXY_REMOTEURL: f.upstreamUrl,
      }),
    );
    const r = pull(port, path.join(work, 'pulled-no-login'));
    expect(r.status).not.toBe(0);
    expect(r.layers).toEqual([]);
    await plain.stop();
  });

  it('distribution 2.8 ignores proxy.ttl: a config written for distribution 3 with ttl 1m still keeps pulled content for 168h', async () => {
    // What the constructs refuse for a 2.x image, and write for a 3.x one.
    const stack = new Stack(new App(), 'ttl', { environment: new Environment({ name: 'ttl', nodeGroups: [{ name: 'edge', minSize: 1, maxSize: 1 }] }) });
    expect(() => new DockerHostRegistryMirror(stack, 'v2', { swarm: false, ttl: '1m' })).toThrow(/ttl\/v2: distribution 2.x ignores proxy.ttl/);
    const mirror = new DockerHostRegistryMirror(stack, 'v3', {
      swarm: false,
      image: 'registry:3.0.0',
      ttl: '1m',
      credentials: { usernameSecret: SECRET_NAMES.username, passwordSecret: SECRET_NAMES.password },
    });
    const configFile = path.join(work, 'ttl-config.yml');
    fs.writeFileSync(configFile, mirror.config.render());
    expect(parse(fs.readFileSync(configFile, 'utf8')).proxy.ttl).toBe('1m');
    const port = await freePort();
    const registry = new BoundedRegistry('ttl', port, path.join(work, 'ttl.log'));
    started.registries.push(registry);
    await registry.start(
      localCommand(mirror.command!, { secretsDir: f.secretsDir, config: configFile, runtimeDir: path.join(work, 'ttl-runtime') }),
      registryEnv(f.bin, {
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${await freePort()}`,
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(work, 'ttl-data'),
        REGISTRY_PROXY_REMOTEURL: f.upstreamUrl,
      }),
    );
    expect(pull(port, path.join(work, 'pulled-ttl')).layers).toEqual([f.image.layerDigest]);
    const entries = await waitFor('scheduler entries in the log', 20, () => {
      const found = [...fs.readFileSync(registry.log, 'utf8').matchAll(/Adding new scheduler entry for \S+ with ttl=(\d+)h/g)].map((m) => Number(m[1]));
      return found.length > 0 ? found : undefined;
    });
    console.log(`proxy.ttl 1m on docker-registry 2.8: scheduler entries with ttl ${entries.map((h) => `${h}h…`).join(', ')}`);
    for (const hours of entries) expect(hours).toBeGreaterThanOrEqual(167);
    await registry.stop();
  });

  it('distribution 2.8 exits with a panic when it starts while its upstream is unreachable (documented in the construct and the README)', async () => {
    const closed = await freePort();
    const port = await freePort();
    const log = path.join(work, 'down.log');
    const configFile = path.join(f.referenceDir, 'swarm-edge', 'hosts', 'registry', 'config.yml');
    const env = registryEnv(f.bin, {
      REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
      REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${await freePort()}`,
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(work, 'down-data'),
      REGISTRY_PROXY_REMOTEURL: `http://127.0.0.1:${closed}`,
    });
    const daemon = startDaemon('timeout', ['--kill-after=5', '60', 'docker-registry', 'serve', configFile], log, env);
    started.pids.push(daemon.pid);
    const code = await waitFor('the registry to exit', 30, () => (daemon.child.exitCode !== null ? daemon.child.exitCode : undefined));
    expect(code).not.toBe(0);
    expect(code).not.toBe(124);
    expect(fs.readFileSync(log, 'utf8')).toMatch(new RegExp(`panic: Get "http://127\\.0\\.0\\.1:${closed}/v2/": dial tcp 127\\.0\\.0\\.1:${closed}: connect: connection refused`));
  });
});

/** An isolated dockerd whose Docker Hub fallback dies at a closed loopback proxy instead of leaving the machine. */
class LoopbackDockerd extends IsolatedDockerd {
  public override async start(seconds = 45): Promise<void> {
    const proxy = `http://127.0.0.1:${await freePort()}`;
    await super.start(seconds, { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, NO_PROXY: '127.0.0.1,localhost' });
  }
}

/** Imports an image holding busybox and Debian's docker-registry as `registry`, the layout of the registry image. */
function importRegistryImage(engine: IsolatedDockerd, tag: string): void {
  const rootfs = path.join(engine.dir, 'registry-rootfs');
  const copy = (from: string, to: string) => {
    fs.mkdirSync(path.dirname(path.join(rootfs, to)), { recursive: true });
    fs.copyFileSync(fs.realpathSync(from), path.join(rootfs, to));
    fs.chmodSync(path.join(rootfs, to), 0o755);
  };
  copy(must(5, 'sh', ['-c', 'command -v busybox']).trim(), 'bin/busybox');
  for (const applet of must(10, 'busybox', ['--list'])
    .split('\n')
    .filter((a) => a && a !== 'busybox'))
    fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  copy(must(5, 'sh', ['-c', 'command -v docker-registry']).trim(), 'bin/registry');
  // docker-registry is linked against glibc: carry the loader and libc it names.
  for (const lib of must(10, 'ldd', [path.join(rootfs, 'bin', 'registry')]).matchAll(/(\/\S+\.so[.\d]*) \(/g)) copy(lib[1], lib[1].slice(1));
  for (const dir of ['tmp', 'etc/docker/registry', 'var/lib/registry']) fs.mkdirSync(path.join(rootfs, dir), { recursive: true });
  const r = bounded(120, 'sh', ['-c', `tar -C "${rootfs}" -c . | docker import -c 'ENV PATH=/bin' - ${tag}`], engine.env);
  if (r.status !== 0) throw new Error(`docker import ${tag} failed: ${r.stderr}`);
  fs.rmSync(rootfs, { recursive: true, force: true });
}

conformanceSuite('DockerDaemonConfig pulls through the host-local mirror (dockerd, docker-registry 2.8, busybox)', ['registry', 'docker', 'shell'], () => {
  let f: Fixture;
  beforeAll(async () => {
    fixture ??= startFixture();
    f = await fixture;
  }, 180_000);

  it('property: the start command hands any login to the registry intact under busybox sh (the registry image’s shell)', () => {
    // busybox applets only, as in the Alpine-based registry image; `registry` is a stub that leaves the file for inspection.
    const bb = path.join(work, 'busybox-bin');
    fs.mkdirSync(bb);
    const busybox = must(5, 'sh', ['-c', 'command -v busybox']).trim();
    for (const applet of ['sh', 'sed', 'tr', 'cat', 'mkdir']) fs.symlinkSync(busybox, path.join(bb, applet));
    fs.writeFileSync(path.join(bb, 'registry'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const configFile = path.join(work, 'prop-config.yml');
    fs.writeFileSync(configFile, new RegistryConfig('p', { proxy: { remoteUrl: 'https://registry-1.docker.io', authenticated: true } }).render());
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });
    let runs = 0;
    fc.assert(
      fc.property(printable, printable, fc.boolean(), (user, password, newline) => {
        const dir = fs.mkdtempSync(path.join(work, 'prop-'));
        fs.writeFileSync(path.join(dir, 'u'), user + (newline ? '\n' : ''));
        fs.writeFileSync(path.join(dir, 'p'), password + (newline ? '\r\n' : ''));
        const [, , script] = proxyLoginCommand('p', { username: path.join(dir, 'u'), password: path.join(dir, 'p') }, configFile);
        const r = bounded(10, path.join(bb, 'sh'), ['-c', script.split('/dev/shm/registry').join(path.join(dir, 'run'))], { PATH: `${bb}:/usr/bin:/bin` });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const doc = parse(fs.readFileSync(path.join(dir, 'run', 'config.yml'), 'utf8'));
        expect(doc.proxy).toEqual({ remoteurl: 'https://registry-1.docker.io', username: user, password });
        fs.rmSync(dir, { recursive: true, force: true });
        runs++;
      }),
      { numRuns: 60 },
    );
    // A missing or empty secret file stops the start with a message, before anything is written.
    const empty = path.join(work, 'empty');
    fs.writeFileSync(empty, '');
    const [, , script] = proxyLoginCommand('p', { username: empty, password: empty }, configFile);
    const r = bounded(10, path.join(bb, 'sh'), ['-c', script.split('/dev/shm/registry').join(path.join(work, 'empty-run'))], { PATH: `${bb}:/usr/bin:/bin` });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`registry: ${empty} is missing or empty\n`);
    expect(fs.existsSync(path.join(work, 'empty-run'))).toBe(false);
    console.log(`start command under busybox sh: ${runs} random logins read back intact`);
  });

  it('dockerd started with the synthesized daemon.json pulls the private image anonymously through the host-local mirror', async () => {
    // The daemon.json of hosts whose mirror is the reference's, on the port this test gave it; isolated-engine settings as in test/support/engine.ts.
    const stack = new Stack(new App(), 'edge', { environment: new Environment({ name: 'edge', nodeGroups: [{ name: 'edge', minSize: 1, maxSize: 1 }] }) });
    const mirror = new DockerHostRegistryMirror(stack, 'mirror', {
      swarm: false,
      port: f.reference.port,
      credentials: { usernameSecret: SECRET_NAMES.username, passwordSecret: SECRET_NAMES.password },
    });
    new DockerDaemonConfig(stack, 'daemon', { registryMirrors: [mirror], storageDriver: 'vfs', iptables: false, bridge: 'none' });
    const result = synthesizeStack(stack);
    expect(result.problems).toEqual([]);
    const out = path.join(work, 'daemon-out');
    writeFilesAtomically(out, renderFiles([result]));
    const daemonJson = path.join(out, 'edge', 'hosts', 'daemon.json');
    expect(JSON.parse(fs.readFileSync(daemonJson, 'utf8'))['registry-mirrors']).toEqual([`http://127.0.0.1:${f.reference.port}`]);
    // The reference's config.yml is this mirror's, but for the port.
    const reference = fs.readFileSync(path.join(f.referenceDir, 'swarm-edge', 'hosts', 'registry', 'config.yml'), 'utf8');
    expect(mirror.config.render()).toBe(reference.replace('127.0.0.1:5000', `127.0.0.1:${f.reference.port}`).replace('127.0.0.1:5001', `127.0.0.1:${f.reference.port === 5001 ? 5002 : 5001}`));

    const engine = new LoopbackDockerd(workDir('shs-mdk-'), daemonJson);
    started.engines.push(engine);
    await engine.start();
    expect(engine.info().RegistryConfig.Mirrors).toEqual([`http://127.0.0.1:${f.reference.port}/`]);
    const before = f.tokens.requests.length;
    const t0 = Date.now();
    engine.must(['pull', `${REPOSITORY}:1`], 120);
    const seconds = (Date.now() - t0) / 1000;
    const inspected = JSON.parse(engine.must(['image', 'inspect', `${REPOSITORY}:1`]))[0];
    expect(inspected.RootFS.Layers).toEqual([f.image.diffId]);
    expect(inspected.RepoTags).toEqual([`${REPOSITORY}:1`]);
    const log = fs.readFileSync(f.reference.log, 'utf8');
    // The daemon asked the mirror (not Docker Hub) for the tag and fetched the layer from it.
    expect(log).toMatch(new RegExp(`"(HEAD|GET) /v2/${REPOSITORY}/manifests/1 HTTP/1.1" 200 .*"docker/`));
    expect(log).toMatch(new RegExp(`"GET /v2/${REPOSITORY}/blobs/${f.image.layerDigest} HTTP/1.1" 200 .*"docker/`));
    expect(f.tokens.requests.slice(before).filter((r) => r.status !== 200)).toEqual([]);
    console.log(`dockerd pulled ${REPOSITORY}:1 through ${mirror.endpoint} in ${seconds.toFixed(1)}s (layer ${f.image.diffId.slice(0, 19)}…)`);
  }, 180_000);

  it('in Swarm mode the synthesized stack runs the mirror as a global task on the host network, bound to 127.0.0.1, with the login from Swarm secrets, and the node’s daemon pulls through it', async () => {
    // Another swarm on this machine would own docker_gwbridge; never share or delete someone else's.
    expect(bounded(10, 'ip', ['link', 'show', 'docker_gwbridge']).status, 'docker_gwbridge exists: another swarm runs on this machine').not.toBe(0);
    const [port, debugPort] = [await freePort(), await freePort()];
    const stack = new Stack(new App(), 'edge', { environment: new Environment({ name: 'edge', nodeGroups: [{ name: 'local', minSize: 1, maxSize: 1 }] }) });
    const project = new SwarmProject(stack, 'swarm', { name: 'mt', withRegistryAuth: false });
    // The reference's mirror on this test's ports, with an image made here from Debian's docker-registry (2.8.2).
    const mirror = new DockerHostRegistryMirror(project, 'registry-mirror', {
      access: 'host-local',
      port,
      debugPort,
      image: 'local/registry:2.8.2',
      credentials: { usernameSecret: SECRET_NAMES.username, passwordSecret: SECRET_NAMES.password },
    });
    // Containers cannot get more open files than dockerd has; this machine caps it below the 65536 default.
    new DockerDaemonConfig(stack, 'daemon', { registryMirrors: [mirror], storageDriver: 'vfs', iptables: false, bridge: 'none', defaultUlimits: { nofile: { soft: 8192, hard: 16384 } } });
    const result = synthesizeStack(stack);
    expect(result.problems).toEqual([]);
    const out = path.join(work, 'swarm-out');
    writeFilesAtomically(out, renderFiles([result]));
    const envDir = path.join(out, 'edge');
    // The one rewrite: Docker Hub → the local upstream in config.yml (the stack's config points at this file).
    const configFile = path.join(envDir, 'hosts', 'registry', 'config.yml');
    const config = fs.readFileSync(configFile, 'utf8');
    expect(config).toContain('remoteurl: https://registry-1.docker.io\n');
    fs.writeFileSync(configFile, config.replace('remoteurl: https://registry-1.docker.io\n', `remoteurl: ${f.upstreamUrl}\n`));

    const engine = new LoopbackDockerd(workDir('shs-msw-'), path.join(envDir, 'hosts', 'daemon.json'));
    started.engines.push(engine);
    await engine.start();
    importRegistryImage(engine, 'local/registry:2.8.2');
    await engine.swarmInit();
    for (const name of [SECRET_NAMES.username, SECRET_NAMES.password]) engine.must(['secret', 'create', name, path.join(f.secretsDir, name)]);
    const t0 = Date.now();
    engine.must(['stack', 'deploy', '--resolve-image', 'never', '-c', 'docker-stack.yml', 'mt'], 90, path.join(envDir, 'swarm'));
    const task = await waitFor('the mirror task to run and answer on 127.0.0.1', 120, () => {
      const ids = engine.must(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=mt_registry-mirror']).trim().split('\n').filter(Boolean);
      if (ids.length !== 1) return undefined;
      return bounded(5, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/`]).stdout === '200' ? ids[0] : undefined;
    }).catch((e: Error) => {
      const tasks = engine.docker(['service', 'ps', '--no-trunc', '--format', '{{.CurrentState}} {{.Error}}', 'mt_registry-mirror']).stdout;
      const last = engine.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=mt_registry-mirror']).stdout.trim().split('\n')[0];
      const logs = last ? engine.docker(['logs', '--tail', '20', last]) : { stdout: '', stderr: '' };
      throw new Error(`${e.message}\ntasks:\n${tasks}\nlast task log:\n${logs.stdout}${logs.stderr}`);
    });
    const startup = (Date.now() - t0) / 1000;
    const service = JSON.parse(engine.must(['service', 'inspect', 'mt_registry-mirror']))[0];
    expect(service.Spec.Mode).toEqual({ Global: {} });
    expect(service.Spec.TaskTemplate.Networks.length).toBe(1);
    expect(service.Endpoint.Ports ?? []).toEqual([]);
    const container = JSON.parse(engine.must(['inspect', task]))[0];
    expect(container.HostConfig.NetworkMode).toBe('host');
    // Neither `docker inspect` nor the service spec carries the login.
    for (const text of [JSON.stringify(container), JSON.stringify(service)]) {
      expect(text).not.toContain(HUB.password.slice(-12));
      expect(text).not.toMatch(/REGISTRY_PROXY_(USERNAME|PASSWORD)/);
    }
    const addresses = listeningAddresses(container.State.Pid);
    expect(addresses).toEqual([`127.0.0.1:${port}`, `127.0.0.1:${debugPort}`].sort());
    // The completed config lives in the task's /dev/shm, readable by root only.
    expect(engine.must(['exec', task, 'stat', '-c', '%a %u', '/dev/shm/registry/config.yml']).trim()).toBe('600 0');

    const before = f.tokens.requests.length;
    engine.must(['pull', `${REPOSITORY}:1`], 120);
    expect(JSON.parse(engine.must(['image', 'inspect', `${REPOSITORY}:1`]))[0].RootFS.Layers).toEqual([f.image.diffId]);
    expect(f.tokens.requests.slice(before).some((r) => r.user === HUB.user && r.status === 200)).toBe(true);
    const logs = engine.docker(['logs', task]);
    expect(`${logs.stdout}${logs.stderr}`).toMatch(new RegExp(`"GET /v2/${REPOSITORY}/blobs/${f.image.layerDigest} HTTP/1.1" 200 .*"docker/`));
    console.log(`swarm: mirror task up in ${startup.toFixed(1)}s on ${addresses.join(', ')} (host network, nothing published); the node's daemon pulled ${REPOSITORY}:1 through it`);
  }, 300_000);
});
