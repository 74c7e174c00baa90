// A private upstream registry for the mirror's real-tool tests, all on 127.0.0.1: `docker-registry serve` with
// token authentication (as Docker Hub uses) and a stand-in token server that checks a Basic login and signs
// ES256 JWTs, plus an OCI image layout built here to push into it.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Daemon, FatalError, bounded, startDaemon, stopPid, waitFor } from './engine';

// --- a self-signed certificate, DER-encoded by hand (no openssl needed) ---

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}
const seq = (...p: Buffer[]) => der(0x30, ...p);
// ecdsa-with-SHA256 (1.2.840.10045.4.3.2) and commonName (2.5.4.3).
const ECDSA_SHA256 = seq(Buffer.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]));
const COMMON_NAME = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]);
function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, '0');
  return der(0x17, Buffer.from(`${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`));
}

/** A P-256 key and a self-signed certificate for it, valid for a day. */
export function selfSignedCertificate(commonName: string): { key: crypto.KeyObject; pem: string; der: Buffer } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = seq(der(0x31, seq(COMMON_NAME, der(0x0c, Buffer.from(commonName)))));
  const now = Date.now();
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, Buffer.concat([Buffer.from([0x01]), crypto.randomBytes(8)])),
    ECDSA_SHA256,
    name,
    seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = crypto.sign('sha256', tbs, privateKey);
  const cert = seq(tbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), signature));
  // Node parses it: a malformed encoding fails here rather than inside the registry.
  new crypto.X509Certificate(cert);
  const pem = `-----BEGIN CERTIFICATE-----\n${cert
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;
  return { key: privateKey, pem, der: cert };
}

// --- the token server (the part of Docker Hub's auth.docker.io the registry and its clients use) ---

/** A request the token server answered. */
export interface TokenRequest {
  readonly user: string | undefined;
  readonly scope: string[];
  readonly status: number;
}

// Runs in a worker thread: the tests call skopeo and docker synchronously, which blocks the main event loop.
const TOKEN_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const key = crypto.createPrivateKey(workerData.keyPem);
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const server = http.createServer((req, res) => {
  const url = new URL(req.url || '/', 'http://127.0.0.1');
  const scope = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
  const header = req.headers.authorization || '';
  const record = (user, status) => fs.appendFileSync(workerData.log, JSON.stringify({ user, scope, status }) + '\\n');
  let user;
  if (header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const name = decoded.slice(0, colon);
    if (!Object.prototype.hasOwnProperty.call(workerData.users, name) || workerData.users[name] !== decoded.slice(colon + 1)) {
      record(name, 401);
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"details":"incorrect username or password"}');
      return;
    }
    user = name;
  }
  const access = scope.map((s) => {
    const [type, name, actions] = s.split(':');
    return { type, name, actions: user ? actions.split(',') : [] };
  });
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'ES256', typ: 'JWT', x5c: [workerData.certDer] });
  const claims = b64({ iss: workerData.issuer, sub: user || '', aud: workerData.service, exp: now + 600, nbf: now - 10, iat: now, jti: crypto.randomUUID(), access });
  const signature = crypto.sign('sha256', Buffer.from(head + '.' + claims), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  record(user, 200);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ token: head + '.' + claims + '.' + signature, expires_in: 600, issued_at: new Date().toISOString() }));
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (m) => {
  if (m === 'stop') {
    server.closeAllConnections();
    server.close(() => parentPort.postMessage('stopped'));
  }
});
`;

/**
 * Issues registry tokens (distribution's token auth): a valid Basic login gets the actions it asks for on
 * `repository:*`, anonymous callers get a token without access (the registry then answers 401), a wrong
 * login gets 401. Every answer is recorded in `log` (JSON lines).
 */
export class TokenServer {
  public readonly certificate = selfSignedCertificate('shipshape-test-token-issuer');
  public readonly issuer = 'shipshape-test-issuer';
  public readonly service = 'shipshape-test-upstream';
  public port = 0;
  private worker?: Worker;

  constructor(
    private readonly users: Record<string, string>,
    public readonly log: string,
  ) {}

  public get realm(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  /** The requests answered so far, in order. */
  public get requests(): TokenRequest[] {
    if (!fs.existsSync(this.log)) return [];
    return fs
      .readFileSync(this.log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TokenRequest);
  }

  public async start(): Promise<void> {
    const keyPem = this.certificate.key.export({ type: 'pkcs8', format: 'pem' }).toString();
    const worker = new Worker(TOKEN_WORKER, {
      eval: true,
      workerData: { keyPem, certDer: this.certificate.der.toString('base64'), users: this.users, issuer: this.issuer, service: this.service, log: this.log },
    });
    this.worker = worker;
    this.port = await new Promise<number>((resolve, reject) => {
      worker.once('message', (m: { port: number }) => resolve(m.port));
      worker.once('error', reject);
    });
  }

  public async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      worker.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.postMessage('stop');
    });
    await worker.terminate();
  }
}

// --- an OCI image layout with one small layer ---

function tarEntry(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
  field(0, 100, name);
  field(100, 8, '0000644\0');
  field(108, 8, '0000000\0');
  field(116, 8, '0000000\0');
  field(124, 12, `${content.length.toString(8).padStart(11, '0')}\0`);
  field(136, 12, `${'0'.padStart(11, '0')}\0`);
  header.fill(' ', 148, 156);
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const b of header) sum += b;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding]);
}

/** What {@link writeOciImage} wrote. */
export interface OciImage {
  readonly dir: string;
  readonly tag: string;
  readonly manifestDigest: string;
  readonly layerDigest: string;
  /** Digest of the uncompressed layer (the image's rootfs diff_id). */
  readonly diffId: string;
}

/** Writes an OCI image layout (one gzip layer holding `files`) that skopeo can copy from `oci:<dir>:<tag>`. */
export function writeOciImage(dir: string, tag: string, files: Record<string, string>): OciImage {
  const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const digest = sha(b);
    fs.writeFileSync(path.join(blobs, digest), b);
    return { digest: `sha256:${digest}`, size: b.length };
  };
  const tar = Buffer.concat([...Object.entries(files).map(([name, content]) => tarEntry(name, Buffer.from(content))), Buffer.alloc(1024)]);
  const layer = put(zlib.gzipSync(tar));
  const diffId = `sha256:${sha(tar)}`;
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello.txt'] }, rootfs: { type: 'layers', diff_ids: [diffId] } })));
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
  );
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { dir, tag, manifestDigest: manifest.digest, layerDigest: layer.digest, diffId };
}

// --- htpasswd ---

/**
 * An htpasswd line with a bcrypt hash (the only scheme distribution accepts), made by libcrypt through perl
 * (perl-base is essential on Debian; libxcrypt does bcrypt).
 */
export function htpasswdLine(user: string, password: string): string {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const salt = Array.from(crypto.randomBytes(22), (b) => alphabet[b % 64]).join('');
  const r = spawnSync('timeout', ['20', 'perl', '-e', 'print crypt($ARGV[0], $ARGV[1])', '--', password, `$2b$05$${salt}`], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.startsWith('$2b$05$')) throw new Error(`could not make a bcrypt hash with perl's crypt: ${r.stderr || r.stdout}`);
  return `${user}:${r.stdout}\n`;
}

// --- processes ---

/** A registry process (possibly started through a shell command that execs it), bounded by coreutils timeout. */
export class BoundedRegistry {
  public daemon?: Daemon;
  constructor(
    public readonly name: string,
    public readonly port: number,
    public readonly log: string,
  ) {}

  /** Starts `command` under `timeout` and waits until the registry answers HTTP on its port (any status). */
  public async start(command: string[], env: NodeJS.ProcessEnv, seconds = 30): Promise<void> {
    this.daemon = startDaemon('timeout', ['--kill-after=5', '900', ...command], this.log, env);
    const daemon = this.daemon;
    await waitFor(`${this.name} on ${this.port}`, seconds, () => {
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) throw new FatalError(`${this.name} exited:\n${fs.readFileSync(daemon.log, 'utf8').slice(-3000)}`);
      return bounded(5, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${this.port}/`]).stdout === '200';
    });
  }

  /** PID of the registry itself (the child of `timeout`, which the shell exec'd into). */
  public get registryPid(): number {
    const pid = this.daemon!.pid;
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    if (children.length !== 1) throw new Error(`${this.name}: expected one child of timeout (${pid}), found ${children.join(', ')}`);
    return children[0];
  }

  public async stop(): Promise<void> {
    await stopPid(this.daemon?.pid, 15);
  }
}

/** Local addresses of the TCP sockets a process listens on (from /proc/net/tcp{,6}). */
export function listeningAddresses(pid: number): string[] {
  const inodes = new Set(
    fs.readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        return m ? [m[1]] : [];
      } catch {
        return [];
      }
    }),
  );
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local remote st ... inode (index 9); state 0A is LISTEN.
      if (cols[3] !== '0A' || !inodes.has(cols[9])) continue;
      const [hex, port] = cols[1].split(':');
      const address = hex.length === 8 ? Buffer.from(hex, 'hex').reverse().join('.') : `[${hex}]`;
      found.push(`${address}:${Number.parseInt(port, 16)}`);
    }
  }
  return found.sort();
}
