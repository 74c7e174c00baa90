// Real-tool test of EtcdBackup: a TLS etcd 3.4 (client certificate auth) on loopback, the synthesized
// CronJob's snapshot, rotate and upload commands run for real, and restores that follow the runbook the
// construct writes, command by command as written: into one new member, and into three members from the copy in
// object storage. Every process runs under `timeout`; the etcd servers are stopped by PID in afterAll.
//
// Which etcd: Debian 12 has etcd 3.4 only, and etcd 3.4 has no etcdutl. The runbooks run here are therefore
// those rendered for a 3.4 cluster (etcdVersion '3.4.23', the etcdctl commands); the runbooks for etcd 3.5 and
// 3.6 (what kubeadm installs for every Kubernetes this library supports) use etcdutl and are checked textually
// against etcdutl's documented syntax, not run.
//
// What is rewritten, and nothing else (the commands, scripts and env come from the synthesized files):
// - host paths: `<work>/host` stands for the control-plane node's root, so every hostPath volume P of the
//   CronJob (certificate dir /etc/kubernetes/pki/etcd, snapshot dir /var/backups/etcd...) is `<work>/host/P`,
//   and a container's mountPath (/etc/etcd-pki, /snapshots) becomes the host dir of its volume. emptyDir
//   volumes (the uploader's /tmp) are fresh dirs. The runbook's host paths (snapshot dir, certificate dir,
//   /var/lib/etcd-from-backup) move under `<work>/host` the same way;
// - the endpoint: https://127.0.0.1:2379 (the member on the node's loopback) becomes the test etcd's free
//   loopback port;
// - the runbook's `<timestamp>` placeholder becomes the snapshot its own `ls | tail -n 1` (or `aws s3 ls`) picks;
// - three members share one loopback address, so each gets a host root of its own (`<work>/node-<i>`, node 1's
//   is `<work>/host`), its node name `cp-<i>`, IP 127.0.0.1, and a free port for the runbook's peer port 2380.
// The upload container and the runbook run with a stub `aws` on PATH that records its arguments and keeps
// `s3 cp` / `s3 ls` objects under `<work>/s3/<bucket>/<key>` (no object store here).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Environment, Manifest } from '../../lib';
import { EtcdBackup, EtcdBackupProps, KUBEADM_ETCD_VERSIONS, SNAPSHOT_FILE_PATTERN } from '../../lib/cluster';
import { conformanceSuite } from '../support/conformance';
import { seededSample } from '../support/property';
import { findObject, synthStack, testEnvironment } from '../support/synth';
import { run } from '../support/tools';
import { Daemon, FatalError, bounded, freePort, must, startDaemon, stopPid, waitFor, workDir } from '../support/engine';

const root = path.resolve(__dirname, '../..');
// The endpoint the CronJob reaches on the control-plane node's host network.
const NODE_ENDPOINT = 'https://127.0.0.1:2379';
// Where the runbook restores to.
const RESTORE_DIR = '/var/lib/etcd-from-backup';
// Upper bound for each etcd server; afterAll stops them long before.
const ETCD_LIFETIME_SECONDS = 600;
// The etcd of this machine (Debian 12's etcd-server): the runbooks run here are rendered for it.
const LOCAL_ETCD = '3.4.23';
// An etcd 3.4 image for the CronJob (its etcdctl minor must be the cluster's).
const ETCD_34_IMAGE = 'registry.k8s.io/etcd:3.4.13-0';
const kubeadm = (nodes: number, kubernetesVersion = '1.29'): Environment => testEnvironment({ kubernetesVersion, controlPlane: { kind: 'kubeadm', nodes } });

/** The restore runbook an EtcdBackup writes for `props` in `env`. */
function runbookFor(props: EtcdBackupProps, env: Environment): string {
  let backup!: EtcdBackup;
  synthStack((s) => {
    backup = new EtcdBackup(s, 'etcd', props);
  }, env);
  return backup.restoreRunbook;
}

/** The runbook's fenced bash blocks, continuation lines joined, comments and blank lines dropped. */
function bashBlocks(markdown: string): string[][] {
  return [...markdown.matchAll(/^[ \t]*```bash\n([\s\S]*?)^[ \t]*```/gm)].map((m) =>
    m[1]
      .replace(/\\\n\s*/g, '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  );
}

/** The fenced block holding a line with `needle`; throws with the runbook when there is none. */
function blockWith(markdown: string, needle: string): string[] {
  const found = bashBlocks(markdown).find((b) => b.some((l) => l.includes(needle)));
  if (!found) throw new Error(`runbook has no fenced bash block with "${needle}":\n${markdown}`);
  return found;
}

/**
 * A stand-in for the AWS CLI: records its arguments, and keeps `s3 cp` objects under `<root>/<bucket>/<key>` so
 * `s3 ls` and a copy back find them (`--endpoint-url` and `--only-show-errors` are accepted and ignored).
 */
function awsStub(calls: string, root: string): string {
  return [
    '#!/bin/sh',
    `printf '%s\\n' "$@" >> '${calls}'`,
    `printf '%s\\n' --- >> '${calls}'`,
    'set -eu',
    `root='${root}'`,
    'n=0',
    'while [ $# -gt 0 ]; do',
    '  case "$1" in',
    '    --endpoint-url) shift 2 ;;',
    '    --only-show-errors) shift ;;',
    '    *) n=$((n + 1)); eval "p$n=\\$1"; shift ;;',
    '  esac',
    'done',
    'local_of() { case "$1" in s3://*) printf \'%s/%s\' "$root" "${1#s3://}" ;; *) printf \'%s\' "$1" ;; esac; }',
    'case "$p1 $p2" in',
    '  "s3 cp") src=$(local_of "$p3"); dst=$(local_of "$p4"); mkdir -p "$(dirname "$dst")"; cp "$src" "$dst" ;;',
    '  "s3 ls") dir=$(local_of "$p3"); for f in "$dir"*; do [ -f "$f" ] || continue; printf \'2024-01-01 00:00:00 %10d %s\\n\' "$(wc -c < "$f")" "$(basename "$f")"; done ;;',
    '  *) echo "aws stub: unsupported command $p1 $p2" >&2; exit 2 ;;',
    'esac',
    '',
  ].join('\n');
}

interface Etcd {
  readonly daemon: Daemon;
  readonly endpoint: string;
}

interface Dump {
  readonly revision: number;
  readonly kvs: Map<string, Buffer>;
}

conformanceSuite('EtcdBackup against a real etcd 3.4 (TLS, client certificates)', ['etcd', 'shell'], () => {
  // Set in beforeAll: a skipped suite still runs this body to collect its tests.
  let work = '';
  let host = '';
  let stubBin = '';
  let awsCalls = '';
  let s3 = '';
  const started: Etcd[] = [];
  const expected = new Map<string, Buffer>();
  let exampleCron: Manifest;
  let runbook: string;
  let pki: string;
  let live: Etcd;
  let writes = 0;
  let lastRunSecond = 0;
  const kept: string[] = [];

  const onHost = (p: string) => path.join(host, p);

  /** etcdctl as the test's own client (kubeadm's healthcheck-client pair), under `timeout`. */
  function etcdctl(endpoint: string, args: string[], input?: Buffer): string {
    const tls = [`--endpoints=${endpoint}`, `--cacert=${pki}/ca.crt`, `--cert=${pki}/healthcheck-client.crt`, `--key=${pki}/healthcheck-client.key`];
    const r = spawnSync('timeout', ['--kill-after=5', '30', 'etcdctl', ...tls, ...args], { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { PATH: process.env.PATH } });
    if (r.status !== 0) throw new Error(`etcdctl ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** Puts a value given on stdin (so NUL and any other byte arrive as they are) and records it. */
  function put(key: string, value: Buffer): void {
    if (value.length === 0) etcdctl(live.endpoint, ['put', key, '']);
    else etcdctl(live.endpoint, ['put', key], value);
    expected.set(key, value);
    writes++;
  }

  /** Every key and value, and the store's revision. */
  function dump(endpoint: string): Dump {
    const out = JSON.parse(etcdctl(endpoint, ['get', '', '--prefix', '--write-out=json']));
    const kvs = new Map<string, Buffer>();
    for (const kv of out.kvs ?? []) kvs.set(Buffer.from(kv.key, 'base64').toString('utf8'), Buffer.from(kv.value ?? '', 'base64'));
    return { revision: Number(out.header.revision), kvs };
  }

  async function startEtcd(name: string, dataDir: string, log: string, peerPort?: number): Promise<Etcd> {
    const etcd = await spawnEtcd(name, dataDir, log, peerPort);
    await healthy(etcd, log);
    return etcd;
  }

  async function healthy(etcd: Etcd, log: string): Promise<void> {
    const { daemon, endpoint } = etcd;
    await waitFor(`etcd on ${endpoint}`, 40, () => {
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) throw new FatalError(`etcd exited:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
      etcdctl(endpoint, ['endpoint', 'health']);
      return true;
    });
  }

  /** Starts an etcd member (a restored data directory brings its own cluster membership). */
  async function spawnEtcd(name: string, dataDir: string, log: string, peerPort?: number): Promise<Etcd> {
    const [client, peer] = [await freePort(), peerPort ?? (await freePort())];
    const endpoint = `https://127.0.0.1:${client}`;
    const peerUrl = `https://127.0.0.1:${peer}`;
    const daemon = startDaemon(
      'timeout',
      [
        '--kill-after=10',
        String(ETCD_LIFETIME_SECONDS),
        'etcd',
        `--name=${name}`,
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${endpoint}`,
        `--advertise-client-urls=${endpoint}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${name}=${peerUrl}`,
        '--client-cert-auth',
        `--trusted-ca-file=${pki}/ca.crt`,
        `--cert-file=${pki}/server.crt`,
        `--key-file=${pki}/server.key`,
        '--peer-client-cert-auth',
        `--peer-trusted-ca-file=${pki}/ca.crt`,
        `--peer-cert-file=${pki}/peer.crt`,
        `--peer-key-file=${pki}/peer.key`,
        '--logger=zap',
        '--log-outputs=stderr',
      ],
      log,
    );
    const etcd = { daemon, endpoint };
    started.push(etcd);
    return etcd;
  }

  /** kubeadm's etcd PKI (CA, server with serverAuth+clientAuth, peer, healthcheck-client) in `dir`. */
  function writePki(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ssl = (args: string[]) => must(60, 'openssl', args, process.env, dir);
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=etcd-ca']);
    const leaf = (name: string, subject: string, ext: string) => {
      fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
      ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
      ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`]);
      fs.rmSync(path.join(dir, `${name}.csr`));
      fs.rmSync(path.join(dir, `${name}.ext`));
    };
    const san = 'subjectAltName=DNS:localhost,IP:127.0.0.1';
    leaf('server', '/CN=cp-1', `${san}\nextendedKeyUsage=serverAuth,clientAuth`);
    leaf('peer', '/CN=cp-1', `${san}\nextendedKeyUsage=serverAuth,clientAuth`);
    leaf('healthcheck-client', '/CN=kube-etcd-healthcheck-client', 'extendedKeyUsage=clientAuth');
    for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o600);
  }

  const podOf = (cron: Manifest) => cron.spec.jobTemplate.spec.template.spec;

  /** The host directory each volume of the pod stands for (hostPath under `host`, emptyDir a fresh dir). */
  function volumeDirs(cron: Manifest): Map<string, string> {
    const dirs = new Map<string, string>();
    for (const v of podOf(cron).volumes) {
      if (v.hostPath) {
        const dir = onHost(v.hostPath.path);
        if (v.hostPath.type === 'DirectoryOrCreate') fs.mkdirSync(dir, { recursive: true });
        else expect(fs.statSync(dir).isDirectory(), `hostPath ${v.hostPath.path} (type ${v.hostPath.type}) must exist`).toBe(true);
        dirs.set(v.name, dir);
      } else if (v.emptyDir) {
        dirs.set(v.name, fs.mkdtempSync(path.join(work, `${v.name}-`)));
      } else {
        throw new Error(`volume ${v.name} is neither hostPath nor emptyDir`);
      }
    }
    return dirs;
  }

  /** Rewrites a container's mount paths to their host dirs and the node endpoint to `endpoint`. */
  function rewriter(container: any, dirs: Map<string, string>, endpoint: string): (s: string) => string {
    const to = new Map<string, string>((container.volumeMounts ?? []).map((m: any) => [m.mountPath, dirs.get(m.name)!]));
    // One pass, longest mount path first, so a replaced path is never rewritten again.
    const from = [...to.keys()].sort((a, b) => b.length - a.length).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const mountPath = new RegExp(`(^|[="'])(${from.join('|')})(?=/|$|["'])`, 'g');
    return (s) => {
      const out = s.split(NODE_ENDPOINT).join(endpoint);
      return from.length ? out.replace(mountPath, (_, lead: string, p: string) => lead + to.get(p)!) : out;
    };
  }

  /**
   * Runs one Job of the CronJob the way the kubelet would: init containers in order, then the containers,
   * each with exactly its command, args and env (plus PATH), stopping at the first failure.
   */
  async function runJob(cron: Manifest, endpoint: string): Promise<{ output: Record<string, string>; snapshots: string }> {
    // Snapshot names carry a one-second UTC timestamp: start each Job in a new second.
    while (Math.floor(Date.now() / 1000) <= lastRunSecond) await new Promise((r) => setTimeout(r, 50));
    const pod = podOf(cron);
    const dirs = volumeDirs(cron);
    const output: Record<string, string> = {};
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const rewrite = rewriter(c, dirs, endpoint);
      const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])].map(rewrite);
      const env: NodeJS.ProcessEnv = { PATH: `${stubBin}:${process.env.PATH}` };
      for (const e of c.env ?? []) env[e.name] = rewrite(e.value);
      const r = bounded(150, argv[0], argv.slice(1), env);
      output[c.name] = r.stdout + r.stderr;
      if (r.status !== 0) throw new Error(`container ${c.name} exited ${r.status}: ${argv.join(' ')}\n${r.stdout}\n${r.stderr}`);
    }
    lastRunSecond = Math.floor(Date.now() / 1000);
    return { output, snapshots: dirs.get('snapshots')! };
  }

  const snapshotsIn = (dir: string) =>
    fs
      .readdirSync(dir)
      .filter((f) => SNAPSHOT_FILE_PATTERN.test(f))
      .sort();

  function status(file: string): { revision: number; totalKey: number } {
    return JSON.parse(must(30, 'etcdctl', ['snapshot', 'status', file, '--write-out=json'], { PATH: process.env.PATH }));
  }

  beforeAll(async () => {
    work = workDir('shs-etcd-');
    host = path.join(work, 'host');
    stubBin = path.join(work, 'bin');
    awsCalls = path.join(work, 'aws-calls');
    s3 = path.join(work, 's3');
    const out = path.join(work, 'dist');
    run('npx', ['tsx', 'examples/etcd-backup/main.ts', out], { cwd: root, timeoutMs: 120_000 });
    exampleCron = parse(fs.readFileSync(path.join(out, 'stage', 'kubernetes', 'cronjob-etcd-backup.yaml'), 'utf8'));
    expect(exampleCron.kind).toBe('CronJob');
    runbook = fs.readFileSync(path.join(out, 'stage', 'runbooks', 'etcd-backup-restore.md'), 'utf8');

    // The certificate directory is wherever the CronJob mounts its etcd-certs volume from.
    const certs = podOf(exampleCron).volumes.find((v: any) => v.name === 'etcd-certs');
    pki = onHost(certs.hostPath.path);
    writePki(pki);
    live = await startEtcd('cp-1', path.join(work, 'etcd-data'), path.join(work, 'etcd.log'));

    fs.mkdirSync(stubBin);
    fs.writeFileSync(path.join(stubBin, 'aws'), awsStub(awsCalls, s3), { mode: 0o755 });
  });

  afterAll(async () => {
    for (const e of started) await stopPid(e.daemon.pid, 20);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('synthesizes a CronJob whose certificate files exist in the kubeadm layout', () => {
    const snapshot = podOf(exampleCron).initContainers.find((c: any) => c.name === 'snapshot');
    const argv: string[] = snapshot.command;
    expect(argv).toContain(`--endpoints=${NODE_ENDPOINT}`);
    const mount = snapshot.volumeMounts.find((m: any) => m.name === 'etcd-certs').mountPath;
    const files = argv.filter((a) => /^--(cacert|cert|key)=/.test(a)).map((a) => a.split('=')[1]);
    expect(files).toHaveLength(3);
    for (const f of files) {
      expect(f.startsWith(`${mount}/`)).toBe(true);
      expect(fs.existsSync(path.join(pki, f.slice(mount.length + 1))), f).toBe(true);
    }
  });

  it('writes keys with spaces, newlines, empty and arbitrary bytes', () => {
    put('greeting', Buffer.from('hello etcd world, with  two spaces '));
    put('multi/line', Buffer.from('line one\nline two\n\n  indented\ttab\n'));
    put('key with spaces', Buffer.from('value with spaces'));
    put('ключ/ünïcødé ✓', Buffer.from('значение ✓'));
    put('empty', Buffer.alloc(0));
    put('all-bytes', Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    put('crlf', Buffer.from('a\r\nb\r\n'));
    put('large', randomBytes(512 * 1024));
    const { values: random, seed } = seededSample(fc.uint8Array({ minLength: 1, maxLength: 2048 }), 24);
    random.forEach((bytes, i) => put(`/random/${i}`, Buffer.from(bytes)));
    for (let i = 0; i < 60; i++) put(`/registry/configmaps/ns-${i % 6}/cm-${i}`, Buffer.from(JSON.stringify({ kind: 'ConfigMap', data: { n: String(i), text: 'a b\nc' } })));
    // Older revisions and deletions must not come back.
    put('overwritten', Buffer.from('first'));
    put('overwritten', Buffer.from('second'));
    put('deleted', Buffer.from('gone soon'));
    etcdctl(live.endpoint, ['del', 'deleted']);
    expected.delete('deleted');

    const state = dump(live.endpoint);
    expect([...state.kvs.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [k, v] of expected) expect(state.kvs.get(k)!.equals(v), `${k} (fast-check seed ${seed})`).toBe(true);
  });

  it('keeps exactly `keep` snapshots over repeated Jobs (healthcheck-client certificate, keep 3)', async () => {
    const cron = findObject(
      synthStack(
        (s) =>
          new EtcdBackup(s, 'etcd', {
            keep: 3,
            snapshotDirectory: '/var/lib/etcd-snapshots',
            certificates: { cert: 'healthcheck-client.crt', key: 'healthcheck-client.key' },
            etcdVersion: LOCAL_ETCD,
            etcdImage: ETCD_34_IMAGE,
          }),
        kubeadm(1),
      ),
      'CronJob',
      'etcd-backup',
    );
    const dir = onHost('/var/lib/etcd-snapshots');
    fs.mkdirSync(dir, { recursive: true });
    // Files the rotation must leave alone.
    fs.writeFileSync(path.join(dir, 'etcd-snapshot-manual.db'), 'manual');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'notes');

    const saved: string[] = [];
    const removed: string[] = [];
    for (let i = 0; i < 5; i++) {
      put('/rotation-run', Buffer.from(String(i)));
      const { output } = await runJob(cron, live.endpoint);
      saved.push(/saved .*\/(etcd-snapshot-\S+\.db)/.exec(output.rotate)![1]);
      removed.push(...[...output.rotate.matchAll(/removed (\S+)/g)].map((m) => m[1]));
      expect(snapshotsIn(dir)).toHaveLength(Math.min(i + 1, 3));
    }
    expect(new Set(saved).size).toBe(5);
    expect(snapshotsIn(dir)).toEqual(saved.slice(2));
    expect(removed).toEqual(saved.slice(0, 2));
    expect(fs.readFileSync(path.join(dir, '.latest'), 'utf8').trim()).toBe(saved[4]);
    expect(fs.readdirSync(dir)).toEqual(expect.arrayContaining(['etcd-snapshot-manual.db', 'notes.txt']));
    expect(fs.existsSync(path.join(dir, '.in-progress.db'))).toBe(false);
    // Each kept file is a whole snapshot, newer names at higher revisions.
    const revisions = snapshotsIn(dir).map((f) => status(path.join(dir, f)).revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(new Set(revisions).size).toBe(3);
    kept.push(`${snapshotsIn(dir).length}/3 after 5 Jobs`);
  });

  let finalRevision = 0;
  it('runs the example CronJob (server certificate, keep 28, upload) three times', async () => {
    const keep = Number(
      podOf(exampleCron)
        .initContainers.find((c: any) => c.name === 'rotate')
        .env.find((e: any) => e.name === 'KEEP').value,
    );
    expect(keep).toBe(28);
    let dir = '';
    for (let i = 0; i < 3; i++) {
      put('/snapshot-run', Buffer.from(String(i)));
      finalRevision = dump(live.endpoint).revision;
      const job = await runJob(exampleCron, live.endpoint);
      dir = job.snapshots;
      expect(job.output.snapshot).toMatch(/Snapshot saved at .*\.in-progress\.db/);
      expect(job.output.upload).toMatch(/uploaded etcd-snapshot-\d{8}T\d{6}Z\.db to s3:\/\/acme-etcd-backups\/stage/);
    }
    expect(dir).toBe(onHost('/var/backups/etcd'));
    const files = snapshotsIn(dir);
    expect(files).toHaveLength(3);
    const latest = fs.readFileSync(path.join(dir, '.latest'), 'utf8').trim();
    expect(latest).toBe(files[2]);
    expect(status(path.join(dir, latest)).revision).toBe(finalRevision);

    // The uploader copied each new snapshot, named by .latest, to the destination through the endpoint URL.
    const calls = fs
      .readFileSync(awsCalls, 'utf8')
      .split('---\n')
      .filter(Boolean)
      .map((c) => c.trim().split('\n'));
    expect(calls).toHaveLength(3);
    calls.forEach((args, i) =>
      expect(args).toEqual(['s3', 'cp', '--endpoint-url', 'https://minio.storage.example.com', '--only-show-errors', path.join(dir, files[i]), `s3://acme-etcd-backups/stage/${files[i]}`]),
    );
    // And each arrived off the node, byte for byte.
    for (const f of files) expect(fs.readFileSync(path.join(s3, 'acme-etcd-backups', 'stage', f)).equals(fs.readFileSync(path.join(dir, f))), f).toBe(true);
    kept.push(`${files.length}/${keep} after 3 Jobs`);

    // Written after the last snapshot: a restore of the newest snapshot must not have it.
    etcdctl(live.endpoint, ['put', '/after-last-snapshot', 'x']);
    writes++;
  });

  /** What the restores below have to bring back: the state at the last snapshot. */
  function expectRestored(state: Dump): void {
    expect(state.revision).toBe(finalRevision);
    expect([...state.kvs.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [k, v] of expected) expect(state.kvs.get(k)!.equals(v), `value of ${k}`).toBe(true);
    expect(state.kvs.get('/snapshot-run')!.toString()).toBe('2');
    expect(state.kvs.has('/after-last-snapshot')).toBe(false);
    expect(state.kvs.has('deleted')).toBe(false);
  }

  /** Runs one runbook line as written under bash, after `rewrite`, with the stub aws first on PATH. */
  const sh = (line: string, rewrite: (l: string) => string) => must(60, 'bash', ['-c', rewrite(line)], { PATH: `${stubBin}:${process.env.PATH}` });
  const hostDirs = () => {
    const pod = podOf(exampleCron);
    return [pod.volumes.find((v: any) => v.name === 'snapshots').hostPath.path, pod.volumes.find((v: any) => v.name === 'etcd-certs').hostPath.path, RESTORE_DIR];
  };
  const escape = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('restores the newest snapshot by the etcd 3.4 runbook, as written, into a new etcd with every key and value', async () => {
    const t0 = Date.now();
    // The example's configuration on a one-node control plane of this machine's etcd.
    const upload = { destination: 's3://acme-etcd-backups/stage', endpointUrl: 'https://minio.storage.example.com', credentialsSecret: 'etcd-backup-s3' };
    const runbook34 = runbookFor({ keep: 28, upload, etcdVersion: LOCAL_ETCD, etcdImage: ETCD_34_IMAGE }, kubeadm(1));
    expect(runbook34).toContain(`etcd ${LOCAL_ETCD} on a kubeadm control plane with 1 node`);
    expect(runbook34).not.toContain('etcdutl snapshot');
    // The same paths as the example's CronJob, which took the snapshots.
    expect(runbook).toContain('/var/backups/etcd/etcd-snapshot-<timestamp>.db');
    let timestamp = '<timestamp>';
    let endpoint = NODE_ENDPOINT;
    const hostDir = new RegExp(hostDirs().map(escape).join('|'), 'g');
    const rewrite = (line: string) =>
      line
        .split(NODE_ENDPOINT)
        .join(endpoint)
        .split('<timestamp>')
        .join(timestamp)
        .replace(hostDir, (d) => onHost(d));

    // 1. Pick the newest snapshot and check it.
    const pick = blockWith(runbook34, 'snapshot status');
    const newest = sh(
      pick.find((l) => l.startsWith('ls '))!,
      rewrite,
    ).trim();
    expect(path.dirname(newest)).toBe(onHost('/var/backups/etcd'));
    expect(path.basename(newest)).toBe(snapshotsIn(path.dirname(newest)).at(-1));
    timestamp = /etcd-snapshot-(\d{8}T\d{6}Z)\.db$/.exec(newest)![1];
    const statusLine = pick.find((l) => l.includes('snapshot status'))!;
    expect(statusLine).toMatch(/^etcdctl snapshot status /);
    const table = sh(statusLine, rewrite);
    const row = table.split('\n').find((l) => /^\|\s*[0-9a-f]+\s*\|/.test(l))!;
    const [, , revision, totalKeys] = row.split('|').map((c) => c.trim());
    expect(Number(revision)).toBe(finalRevision);
    // The key bucket holds one entry per revision (nothing is compacted), plus etcd's own bookkeeping.
    expect(Number(totalKeys)).toBeGreaterThanOrEqual(finalRevision - 1);

    // 2, 4, 5 (stop kube-apiserver, repoint and restart etcd) are kubelet/systemd steps: here the original
    // etcd stops and a new one starts on the restored directory.
    await stopPid(live.daemon.pid, 20);

    // 3. Restore into the new data directory.
    const restoreLines = blockWith(runbook34, 'snapshot restore');
    expect(restoreLines).toEqual([`etcdctl snapshot restore /var/backups/etcd/etcd-snapshot-<timestamp>.db --data-dir ${RESTORE_DIR}`]);
    for (const line of restoreLines) sh(line, rewrite);
    expect(fs.existsSync(path.join(onHost(RESTORE_DIR), 'member', 'snap', 'db'))).toBe(true);
    const restored = await startEtcd('cp-1', onHost(RESTORE_DIR), path.join(work, 'etcd-restored.log'));

    // 6. Verify with the runbook's own health check (kubectl needs a cluster: not run here).
    endpoint = restored.endpoint;
    for (const line of blockWith(runbook34, 'endpoint health').filter((l) => l.includes('etcdctl'))) {
      // etcdctl 3.4 prints the health line on stderr.
      const health = bounded(30, 'bash', ['-c', rewrite(line)], { PATH: process.env.PATH });
      expect(health.status, health.stderr).toBe(0);
      expect(health.stdout + health.stderr).toContain(`${restored.endpoint} is healthy`);
    }

    const state = dump(restored.endpoint);
    expectRestored(state);
    await stopPid(restored.daemon.pid, 20);

    console.log(
      `etcd-backup conformance: ${writes} puts, ${expected.size} keys live at revision ${finalRevision}, ` +
        `${state.kvs.size} keys restored byte-identical from ${path.basename(newest)} in ${Date.now() - t0} ms; ` +
        `snapshots kept ${kept.join(', ')}`,
    );
  });

  it('restores three members by the multi-node etcd 3.4 runbook, from the copy in object storage, into one healthy cluster', async () => {
    const t0 = Date.now();
    const upload = { destination: 's3://acme-etcd-backups/stage', endpointUrl: 'https://minio.storage.example.com', credentialsSecret: 'etcd-backup-s3' };
    const runbook3 = runbookFor({ keep: 28, upload, etcdVersion: LOCAL_ETCD, etcdImage: ETCD_34_IMAGE }, kubeadm(3));
    const nodes = [1, 2, 3].map((i) => ({ name: `cp-${i}`, root: i === 1 ? host : path.join(work, `node-${i}`) }));
    // The runbook's peer port, 2380 on every node, becomes a free port per member: they share one address here.
    const peerPorts = await Promise.all(nodes.map(() => freePort()));
    let timestamp = '<timestamp>';
    const onNode = (root: string) => {
      const dirs = new RegExp(hostDirs().map(escape).join('|'), 'g');
      return (line: string, self = 0) =>
        line
          .split('<timestamp>')
          .join(timestamp)
          .replace(/<node-(\d) name>/g, (_, i) => nodes[Number(i) - 1].name)
          .replace(/<node-(\d) IP>:2380/g, (_, i) => `127.0.0.1:${peerPorts[Number(i) - 1]}`)
          .split("<this node's name>")
          .join(nodes[self].name)
          .split("<this node's IP>:2380")
          .join(`127.0.0.1:${peerPorts[self]}`)
          .replace(dirs, (d) => path.join(root, d));
    };

    // 1. The newest object in the bucket, fetched to node 1 and checked there.
    const pick = blockWith(runbook3, 'snapshot status');
    const [list, fetch] = [pick.find((l) => l.includes(' ls ')), pick.find((l) => l.includes(' cp '))];
    expect(list).toMatch(/^aws s3 --endpoint-url https:\/\/minio\.storage\.example\.com ls s3:\/\/acme-etcd-backups\/stage\/ \|/);
    const newest = sh(list!, onNode(host)).trim();
    expect(newest).toBe(snapshotsIn(path.join(s3, 'acme-etcd-backups', 'stage')).at(-1));
    timestamp = /^etcd-snapshot-(\d{8}T\d{6}Z)\.db$/.exec(newest)![1];
    // Node 1 loses its copy: the restore must work from object storage alone.
    fs.rmSync(path.join(host, 'var/backups/etcd', newest));
    sh(fetch!, onNode(host));
    const table = sh(
      pick.find((l) => l.includes('snapshot status'))!,
      onNode(host),
    );
    const row = table.split('\n').find((l) => /^\|\s*[0-9a-f]+\s*\|/.test(l))!;
    expect(Number(row.split('|')[2].trim())).toBe(finalRevision);
    // "Copy the same file to every control-plane node."
    for (const node of nodes.slice(1)) {
      fs.mkdirSync(path.join(node.root, 'var/backups/etcd'), { recursive: true });
      fs.copyFileSync(path.join(host, 'var/backups/etcd', newest), path.join(node.root, 'var/backups/etcd', newest));
    }

    // 3. Restore on every node with its own name and peer URL.
    const restoreLines = blockWith(runbook3, 'snapshot restore');
    expect(restoreLines).toHaveLength(1);
    expect(restoreLines[0]).toMatch(
      /^etcdctl snapshot restore \S+ --name <this node's name> --initial-cluster .+ --initial-cluster-token etcd-restore-<timestamp> --initial-advertise-peer-urls https:\/\/<this node's IP>:2380 --data-dir \S+$/,
    );
    // The single-member restore above used node 1's restore directory; the runbook restores into a new one.
    fs.rmSync(path.join(host, RESTORE_DIR), { recursive: true, force: true });
    nodes.forEach((node, i) => sh(restoreLines[0], (l) => onNode(node.root)(l, i)));

    // 5. Start every member on its restored data directory; they find each other by the restored membership.
    const members = await Promise.all(nodes.map((node, i) => spawnEtcd(node.name, path.join(node.root, RESTORE_DIR), path.join(work, `member-${i + 1}.log`), peerPorts[i])));
    await Promise.all(members.map((m, i) => healthy(m, path.join(work, `member-${i + 1}.log`))));

    // 6. The runbook's health check, across the cluster.
    const health = blockWith(runbook3, 'endpoint health').find((l) => l.includes('etcdctl'))!;
    expect(health).toMatch(/endpoint health --cluster$/);
    const checked = bounded(30, 'bash', ['-c', onNode(host)(health).split(NODE_ENDPOINT).join(members[0].endpoint)], { PATH: process.env.PATH });
    expect(checked.status, checked.stderr).toBe(0);
    for (const m of members) expect(checked.stdout + checked.stderr).toContain(`${m.endpoint} is healthy`);
    const list3 = JSON.parse(etcdctl(members[0].endpoint, ['member', 'list', '--write-out=json']));
    expect(list3.members.map((m: any) => m.name).sort()).toEqual(['cp-1', 'cp-2', 'cp-3']);
    // Every member serves the same, complete data.
    for (const m of members) expectRestored(dump(m.endpoint));
    console.log(`etcd-backup conformance: 3 members restored from s3 copy ${newest} and healthy in ${Date.now() - t0} ms`);
  });

  it("renders etcdutl commands for etcd 3.5 and 3.6 in etcdutl's documented syntax (not run: no etcdutl on this machine)", () => {
    // etcdutl's README: `etcdutl snapshot restore <filename>` with --data-dir, --wal-dir, --name, --initial-cluster,
    // --initial-cluster-token, --initial-advertise-peer-urls, --skip-hash-check, --bump-revision, --mark-compacted;
    // `etcdutl snapshot status <filename>` with the global --write-out (-w) simple|json|table|fields.
    const RESTORE_FLAGS = new Set([
      '--data-dir',
      '--wal-dir',
      '--name',
      '--initial-cluster',
      '--initial-cluster-token',
      '--initial-advertise-peer-urls',
      '--skip-hash-check',
      '--bump-revision',
      '--mark-compacted',
    ]);
    const upload = { destination: 's3://acme-etcd-backups/stage' };
    let checkedCommands = 0;
    for (const minor of Object.keys(KUBEADM_ETCD_VERSIONS).map(Number)) {
      for (const nodes of [1, 3]) {
        const md = runbookFor({ upload }, kubeadm(nodes, `1.${minor}`));
        const lines = bashBlocks(md).flat();
        expect(
          lines.some((l) => /\betcdctl\s+snapshot\s+(restore|status)\b/.test(l)),
          `1.${minor}`,
        ).toBe(false);
        const utl = lines.filter((l) => l.startsWith('etcdutl'));
        expect(utl).toHaveLength(2);
        for (const line of utl) {
          // The operator fills in the node placeholders (which hold spaces); the file keeps its <timestamp>.
          const [, sub, verb, file, ...rest] = line.replace(/<(?!timestamp>)[^>]+>/g, 'VALUE').split(/\s+/);
          expect(sub).toBe('snapshot');
          expect(file).toMatch(/^\/var\/backups\/etcd\/etcd-snapshot-<timestamp>\.db$/);
          const flags = rest.filter((_, i) => i % 2 === 0);
          const values = rest.filter((_, i) => i % 2 === 1);
          expect(
            values.every((v) => !v.startsWith('-')),
            line,
          ).toBe(true);
          if (verb === 'status') expect(rest).toEqual(['--write-out=table']);
          else {
            expect(verb).toBe('restore');
            for (const f of flags) expect(RESTORE_FLAGS.has(f), `${f} in ${line}`).toBe(true);
            expect(flags).toContain('--data-dir');
            if (nodes > 1) expect(flags).toEqual(expect.arrayContaining(['--name', '--initial-cluster', '--initial-cluster-token', '--initial-advertise-peer-urls']));
          }
          checkedCommands++;
        }
      }
    }
    expect(checkedCommands).toBe(Object.keys(KUBEADM_ETCD_VERSIONS).length * 2 * 2);
  });
});
