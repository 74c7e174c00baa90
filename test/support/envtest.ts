import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A real etcd + kube-apiserver on 127.0.0.1 for tests, following controller-runtime's envtest
 * convention: `KUBEBUILDER_ASSETS` names a directory holding `kube-apiserver` and `etcd`
 * (`setup-envtest use -p path 1.29.x` gives one). Only those two run: no controller-manager,
 * scheduler or kubelet, so workloads never become Pods and namespaces get no `default`
 * ServiceAccount; validation, defaulting, admission, RBAC, server-side apply, dry-run and diff
 * are the real thing.
 */

export interface KubectlResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface ApiServer {
  readonly url: string;
  readonly kubeconfig: string;
  readonly dir: string;
  /** Runs kubectl against this server; never throws (status 124 on timeout). */
  kubectl(args: string[], options?: { input?: string; timeoutSeconds?: number }): KubectlResult;
  /** Like {@link kubectl}, returning stdout and throwing with stderr when kubectl fails. */
  mustKubectl(args: string[], options?: { input?: string; timeoutSeconds?: number }): string;
  /** Stops kube-apiserver and etcd by PID and removes the temp dir. */
  stop(): Promise<void>;
}

/** Upstream CRDs for the custom kinds synth emits (see test/fixtures/crds/README.md). */
export const CRD_DIR = path.resolve(__dirname, '../fixtures/crds');

// Hard bound on both servers' lifetime (coreutils `timeout`), in case a test run dies before stop().
const LIFETIME_SECONDS = 1800;
const ETCD_READY_SECONDS = 30;
const APISERVER_READY_SECONDS = 90;
const KUBECTL_DEFAULT_TIMEOUT_SECONDS = 60;
// In-cluster names of the API server, so the serving cert also fits the `kubernetes` Service.
const SERVING_SANS = 'IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local';

interface Server {
  readonly name: string;
  readonly child: ChildProcess;
  readonly log: string;
}

function exited(s: Server): boolean {
  return s.child.exitCode !== null || s.child.signalCode !== null;
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('timeout', ['30', 'openssl', ...args], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Runs `bin` under `timeout` (which forwards SIGTERM to it), logging to `log`. */
function startServer(name: string, bin: string, args: string[], log: string): Server {
  const fd = fs.openSync(log, 'a');
  // ETCD_* variables in the caller's environment would reconfigure etcd.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
  const child = spawn('timeout', ['--kill-after=10', String(LIFETIME_SECONDS), bin, ...args], { env, stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  if (!child.pid) throw new Error(`could not start ${name}`);
  child.unref();
  return { name, child, log };
}

async function stopServer(s: Server | undefined, graceSeconds = 15): Promise<void> {
  if (!s || exited(s) || !s.child.pid) return;
  const pid = s.child.pid;
  const done = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
  const within = async (ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const ok = await Promise.race([done.then(() => true), late]);
    clearTimeout(timer);
    return ok;
  };
  s.child.kill('SIGTERM');
  if (await within(graceSeconds * 1000)) return;
  // `timeout` leads its own process group (detached): kill that group, i.e. it and the server.
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  await within(2000);
}

function httpGet(url: string, ca: Buffer, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers: token ? { Authorization: `Bearer ${token}` } : {}, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function httpGetPlain(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = net.connect({ host: '127.0.0.1', port: Number(new URL(url).port) }, () => {
      req.write(`GET ${new URL(url).pathname} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`);
    });
    let body = '';
    req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    req.on('data', (c) => (body += c));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** Polls until `check` resolves true, the server exits (rejects with its log) or `seconds` pass. */
async function waitReady(what: Server, seconds: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if (exited(what)) throw new Error(`${what.name} exited (${what.child.exitCode ?? what.child.signalCode}):\n${tail(what.log)}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what.name} not ready within ${seconds}s:\n${tail(what.log)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

function makePki(dir: string): string {
  const old = process.umask(0o077);
  try {
    openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7', '-subj', '/CN=envtest-ca']);
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver']);
    fs.writeFileSync(path.join(dir, 'san.ext'), `subjectAltName=${SERVING_SANS}\n`);
    openssl(dir, ['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'apiserver.crt', '-days', '7', '-extfile', 'san.ext']);
    openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
    openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
    const r = spawnSync('openssl', ['rand', '-hex', '32'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl rand failed: ${r.stderr}`);
    const token = r.stdout.trim();
    fs.writeFileSync(path.join(dir, 'admin.token'), token);
    fs.writeFileSync(path.join(dir, 'tokens.csv'), `${token},admin,admin-uid,system:masters\n`);
    return token;
  } finally {
    process.umask(old);
  }
}

/**
 * `kubectl wait --for=condition=Established` on CRDs, retried while one has no status conditions yet: kubectl then
 * fails at once (".status.conditions accessor error", kubernetes/kubernetes#66439) instead of waiting.
 */
export async function waitEstablished(kubectl: ApiServer['kubectl'], targets: string[], seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const r = kubectl(['wait', '--for=condition=Established', `--timeout=${left}s`, ...targets], { timeoutSeconds: left + 30 });
    if (r.status === 0) return;
    if (!r.stderr.includes('.status.conditions accessor error') || Date.now() > deadline) {
      throw new Error(`kubectl wait --for=condition=Established ${targets.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/**
 * Starts etcd and kube-apiserver (flags as in ../shared/envtest/start.sh: RBAC, token auth,
 * privileged pods allowed, service CIDR 10.96.0.0/16, no endpoint reconciler) in a fresh temp dir
 * and writes an admin kubeconfig. With `crds: true` the upstream CRDs of test/fixtures/crds are
 * applied and Established before this resolves.
 */
export async function startApiServer(options: { crds?: boolean } = {}): Promise<ApiServer> {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (!assets) throw new Error('KUBEBUILDER_ASSETS is not set (a directory holding kube-apiserver and etcd; setup-envtest use -p path 1.29.x)');
  for (const b of ['kube-apiserver', 'etcd']) {
    if (!fs.existsSync(path.join(assets, b))) throw new Error(`${b} not found in KUBEBUILDER_ASSETS=${assets}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-envtest-'));
  let etcd: Server | undefined;
  let apiserver: Server | undefined;
  const stopAll = async (): Promise<void> => {
    await stopServer(apiserver);
    await stopServer(etcd);
  };
  // A worker that exits without stop() still takes its servers with it.
  const onExit = (): void => {
    for (const s of [apiserver, etcd]) if (s && !exited(s)) s.child.kill('SIGTERM');
  };
  process.once('exit', onExit);

  try {
    const token = makePki(dir);
    const ca = fs.readFileSync(path.join(dir, 'ca.crt'));
    let url = '';
    // A port picked free can be taken before the server binds it: retry with new ports.
    for (let attempt = 1; ; attempt++) {
      const [etcdPort, peerPort, apiPort] = await freePorts(3);
      url = `https://127.0.0.1:${apiPort}`;
      fs.rmSync(path.join(dir, 'etcd'), { recursive: true, force: true });
      for (const log of ['etcd.log', 'kube-apiserver.log']) fs.rmSync(path.join(dir, log), { force: true });
      try {
        etcd = startServer(
          'etcd',
          path.join(assets, 'etcd'),
          [
            '--name',
            'envtest',
            '--data-dir',
            path.join(dir, 'etcd'),
            '--listen-client-urls',
            `http://127.0.0.1:${etcdPort}`,
            '--advertise-client-urls',
            `http://127.0.0.1:${etcdPort}`,
            '--listen-peer-urls',
            `http://127.0.0.1:${peerPort}`,
            '--initial-advertise-peer-urls',
            `http://127.0.0.1:${peerPort}`,
            '--initial-cluster',
            `envtest=http://127.0.0.1:${peerPort}`,
            '--quota-backend-bytes=2147483648',
            '--logger=zap',
            '--log-outputs=stderr',
          ],
          path.join(dir, 'etcd.log'),
        );
        await waitReady(etcd, ETCD_READY_SECONDS, async () => (await httpGetPlain(`http://127.0.0.1:${etcdPort}/health`)).includes('"health":"true"'));
        apiserver = startServer(
          'kube-apiserver',
          path.join(assets, 'kube-apiserver'),
          [
            `--etcd-servers=http://127.0.0.1:${etcdPort}`,
            '--bind-address=127.0.0.1',
            '--advertise-address=127.0.0.1',
            `--secure-port=${apiPort}`,
            `--cert-dir=${path.join(dir, 'certs')}`,
            `--tls-cert-file=${path.join(dir, 'apiserver.crt')}`,
            `--tls-private-key-file=${path.join(dir, 'apiserver.key')}`,
            '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
            `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
            `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
            `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
            '--authorization-mode=RBAC',
            '--allow-privileged=true',
            '--service-cluster-ip-range=10.96.0.0/16',
            '--endpoint-reconciler-type=none',
            '--profiling=false',
          ],
          path.join(dir, 'kube-apiserver.log'),
        );
        await waitReady(apiserver, APISERVER_READY_SECONDS, async () => {
          const r = await httpGet(`${url}/readyz`, ca, token);
          return r.status === 200 && r.body === 'ok';
        });
        break;
      } catch (e) {
        const portTaken = [etcd, apiserver].some((s) => s && /address already in use/.test(tail(s.log, 200)));
        await stopAll();
        etcd = apiserver = undefined;
        if (!portTaken || attempt >= 3) throw e;
      }
    }

    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: envtest',
        '  cluster:',
        `    server: ${url}`,
        `    certificate-authority-data: ${ca.toString('base64')}`,
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: envtest',
        '  context:',
        '    cluster: envtest',
        '    user: admin',
        'current-context: envtest',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );

    const kubectl = (args: string[], opts: { input?: string; timeoutSeconds?: number } = {}): KubectlResult => {
      const seconds = opts.timeoutSeconds ?? KUBECTL_DEFAULT_TIMEOUT_SECONDS;
      // Discovery cache in the temp dir: never touch ~/.kube, and never reuse another server's cache.
      const r = spawnSync('timeout', ['--kill-after=5', String(seconds), 'kubectl', '--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'kube-cache'), ...args], {
        input: opts.input,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, KUBECONFIG: kubeconfig },
      });
      const stderr = (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '') + (r.status === 124 ? `\nkubectl timed out after ${seconds}s` : '');
      return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr };
    };
    const mustKubectl = (args: string[], opts?: { input?: string; timeoutSeconds?: number }): string => {
      const r = kubectl(args, opts);
      if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout ? `\n${r.stdout}` : ''}`);
      return r.stdout;
    };

    if (options.crds) {
      mustKubectl(['apply', '--server-side', '-f', CRD_DIR], { timeoutSeconds: 120 });
      await waitEstablished(kubectl, ['-f', CRD_DIR]);
    }

    let stopped = false;
    return {
      url,
      kubeconfig,
      dir,
      kubectl,
      mustKubectl,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await stopAll();
        process.removeListener('exit', onExit);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await stopAll();
    process.removeListener('exit', onExit);
    const logs = ['etcd.log', 'kube-apiserver.log'].map((l) => `--- ${l}\n${tail(path.join(dir, l))}`).join('\n');
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start the API server: ${(e as Error).message}\n${logs}`);
  }
}
