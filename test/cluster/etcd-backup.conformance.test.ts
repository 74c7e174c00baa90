// Real-tool test of EtcdBackup: a TLS etcd 3.4 (client certificate auth) on loopback, the synthesized
// CronJob's snapshot, rotate and upload commands run for real, and a restore that follows the runbook the
// construct writes. Every process runs under `timeout`; the etcd servers are stopped by PID in afterAll.
//
// What is rewritten, and nothing else (the commands, scripts and env come from the synthesized files):
// - host paths: `<work>/host` stands for the control-plane node's root, so every hostPath volume P of the
//   CronJob (certificate dir /etc/kubernetes/pki/etcd, snapshot dir /var/backups/etcd...) is `<work>/host/P`,
//   and a container's mountPath (/etc/etcd-pki, /snapshots) becomes the host dir of its volume. emptyDir
//   volumes (the uploader's /tmp) are fresh dirs. The runbook's host paths (snapshot dir, certificate dir,
//   /var/lib/etcd-from-backup) move under `<work>/host` the same way;
// - the endpoint: https://127.0.0.1:2379 (the member on the node's loopback) becomes the test etcd's free
//   loopback port;
// - the runbook's `<timestamp>` placeholder becomes the snapshot its own `ls | tail -n 1` picks.
// The upload container runs with a stub `aws` on PATH that records its arguments (no object store here).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Manifest } from '../../lib';
import { EtcdBackup, SNAPSHOT_FILE_PATTERN } from '../../lib/cluster';
import { conformanceSuite } from '../support/conformance';
import { findObject, synthStack } from '../support/synth';
import { run } from '../support/tools';
import { Daemon, FatalError, bounded, freePort, must, startDaemon, stopPid, waitFor, workDir } from '../docker/support/engine';

const root = path.resolve(__dirname, '../..');
// The endpoint the CronJob reaches on the control-plane node's host network.
const NODE_ENDPOINT = 'https://127.0.0.1:2379';
// Where the runbook restores to.
const RESTORE_DIR = '/var/lib/etcd-from-backup';
// Upper bound for each etcd server; afterAll stops them long before.
const ETCD_LIFETIME_SECONDS = 600;

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

  async function startEtcd(name: string, dataDir: string, log: string): Promise<Etcd> {
    const [client, peer] = [await freePort(), await freePort()];
    const endpoint = `https://127.0.0.1:${client}`;
    const peerUrl = `https://127.0.0.1:${peer}`;
    const daemon = startDaemon('timeout', [
      '--kill-after=10', String(ETCD_LIFETIME_SECONDS), 'etcd',
      `--name=${name}`, `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`, `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--initial-cluster=${name}=${peerUrl}`,
      '--client-cert-auth', `--trusted-ca-file=${pki}/ca.crt`, `--cert-file=${pki}/server.crt`, `--key-file=${pki}/server.key`,
      '--peer-client-cert-auth', `--peer-trusted-ca-file=${pki}/ca.crt`, `--peer-cert-file=${pki}/peer.crt`, `--peer-key-file=${pki}/peer.key`,
      '--logger=zap', '--log-outputs=stderr',
    ], log);
    const etcd = { daemon, endpoint };
    started.push(etcd);
    await waitFor(`etcd ${name} on ${endpoint}`, 40, () => {
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) throw new FatalError(`etcd exited:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
      etcdctl(endpoint, ['endpoint', 'health']);
      return true;
    });
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

  const snapshotsIn = (dir: string) => fs.readdirSync(dir).filter((f) => SNAPSHOT_FILE_PATTERN.test(f)).sort();

  function status(file: string): { revision: number; totalKey: number } {
    return JSON.parse(must(30, 'etcdctl', ['snapshot', 'status', file, '--write-out=json'], { PATH: process.env.PATH }));
  }

  beforeAll(async () => {
    work = workDir('shs-etcd-');
    host = path.join(work, 'host');
    stubBin = path.join(work, 'bin');
    awsCalls = path.join(work, 'aws-calls');
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
    fs.writeFileSync(path.join(stubBin, 'aws'), `#!/bin/sh\nprintf '%s\\n' "$@" >> '${awsCalls}'\nprintf '%s\\n' --- >> '${awsCalls}'\n`, { mode: 0o755 });
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
    fc.sample(fc.uint8Array({ minLength: 1, maxLength: 2048 }), 24).forEach((bytes, i) => put(`/random/${i}`, Buffer.from(bytes)));
    for (let i = 0; i < 60; i++) put(`/registry/configmaps/ns-${i % 6}/cm-${i}`, Buffer.from(JSON.stringify({ kind: 'ConfigMap', data: { n: String(i), text: 'a b\nc' } })));
    // Older revisions and deletions must not come back.
    put('overwritten', Buffer.from('first'));
    put('overwritten', Buffer.from('second'));
    put('deleted', Buffer.from('gone soon'));
    etcdctl(live.endpoint, ['del', 'deleted']);
    expected.delete('deleted');

    const state = dump(live.endpoint);
    expect([...state.kvs.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [k, v] of expected) expect(state.kvs.get(k)!.equals(v), k).toBe(true);
  });

  it('keeps exactly `keep` snapshots over repeated Jobs (healthcheck-client certificate, keep 3)', async () => {
    const cron = findObject(
      synthStack((s) => new EtcdBackup(s, 'etcd', { keep: 3, snapshotDirectory: '/var/lib/etcd-snapshots', certificates: { cert: 'healthcheck-client.crt', key: 'healthcheck-client.key' } })),
      'CronJob', 'etcd-backup',
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
    const keep = Number(podOf(exampleCron).initContainers.find((c: any) => c.name === 'rotate').env.find((e: any) => e.name === 'KEEP').value);
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
    const calls = fs.readFileSync(awsCalls, 'utf8').split('---\n').filter(Boolean).map((c) => c.trim().split('\n'));
    expect(calls).toHaveLength(3);
    calls.forEach((args, i) => expect(args).toEqual([
      's3', 'cp', '--endpoint-url', 'https://minio.storage.example.com', '--only-show-errors', path.join(dir, files[i]), `s3://acme-etcd-backups/stage/${files[i]}`,
    ]));
    kept.push(`${files.length}/${keep} after 3 Jobs`);

    // Written after the last snapshot: a restore of the newest snapshot must not have it.
    etcdctl(live.endpoint, ['put', '/after-last-snapshot', 'x']);
    writes++;
  });

  it('restores the newest snapshot by the runbook into a new etcd with every key and value', async () => {
    const t0 = Date.now();
    const blocks = [...runbook.matchAll(/^[ \t]*```bash\n([\s\S]*?)^[ \t]*```/gm)].map((m) =>
      m[1].replace(/\\\n\s*/g, '').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')),
    );
    const block = (needle: string) => {
      const found = blocks.find((b) => b.some((l) => l.includes(needle)));
      if (!found) throw new Error(`runbook has no fenced bash block with "${needle}":\n${runbook}`);
      return found;
    };
    const pod = podOf(exampleCron);
    const hostDirs = [pod.volumes.find((v: any) => v.name === 'snapshots').hostPath.path, pod.volumes.find((v: any) => v.name === 'etcd-certs').hostPath.path, RESTORE_DIR];
    let timestamp = '<timestamp>';
    let endpoint = NODE_ENDPOINT;
    const hostDir = new RegExp(hostDirs.map((d) => d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
    const rewrite = (line: string) => {
      const out = line.split(NODE_ENDPOINT).join(endpoint).split('<timestamp>').join(timestamp).replace(hostDir, (d) => onHost(d));
      // etcd 3.4 has no etcdutl; its `etcdctl snapshot restore|status` takes the same arguments.
      return bounded(5, 'sh', ['-c', 'command -v etcdutl']).status === 0 ? out : out.replace(/\betcdutl snapshot (restore|status)\b/, 'etcdctl snapshot $1');
    };
    const sh = (line: string) => must(60, 'bash', ['-c', rewrite(line)], { PATH: process.env.PATH });

    // 1. Pick the newest snapshot and check it.
    const pick = block('snapshot status');
    const newest = sh(pick.find((l) => l.startsWith('ls '))!).trim();
    expect(path.dirname(newest)).toBe(onHost('/var/backups/etcd'));
    expect(path.basename(newest)).toBe(snapshotsIn(path.dirname(newest)).at(-1));
    timestamp = /etcd-snapshot-(\d{8}T\d{6}Z)\.db$/.exec(newest)![1];
    const table = sh(pick.find((l) => l.includes('snapshot status'))!);
    const row = table.split('\n').find((l) => /^\|\s*[0-9a-f]+\s*\|/.test(l))!;
    const [, , revision, totalKeys] = row.split('|').map((c) => c.trim());
    expect(Number(revision)).toBe(finalRevision);
    // The key bucket holds one entry per revision (nothing is compacted), plus etcd's own bookkeeping.
    expect(Number(totalKeys)).toBeGreaterThanOrEqual(finalRevision - 1);

    // 2, 4, 5 (stop kube-apiserver, repoint and restart etcd) are kubelet/systemd steps: here the original
    // etcd stops and a new one starts on the restored directory.
    await stopPid(live.daemon.pid, 20);

    // 3. Restore into the new data directory.
    for (const line of block('snapshot restore')) sh(line);
    expect(fs.existsSync(path.join(onHost(RESTORE_DIR), 'member', 'snap', 'db'))).toBe(true);
    const restored = await startEtcd('cp-1', onHost(RESTORE_DIR), path.join(work, 'etcd-restored.log'));

    // 6. Verify with the runbook's own health check (kubectl needs a cluster: not run here).
    endpoint = restored.endpoint;
    for (const line of block('endpoint health').filter((l) => l.includes('etcdctl'))) {
      // etcdctl 3.4 prints the health line on stderr.
      const health = bounded(30, 'bash', ['-c', rewrite(line)], { PATH: process.env.PATH });
      expect(health.status, health.stderr).toBe(0);
      expect(health.stdout + health.stderr).toContain(`${restored.endpoint} is healthy`);
    }

    const state = dump(restored.endpoint);
    expect(state.revision).toBe(finalRevision);
    expect([...state.kvs.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [k, v] of expected) expect(state.kvs.get(k)!.equals(v), `value of ${k}`).toBe(true);
    expect(state.kvs.get('/snapshot-run')!.toString()).toBe('2');
    expect(state.kvs.has('/after-last-snapshot')).toBe(false);
    expect(state.kvs.has('deleted')).toBe(false);

    console.log(
      `etcd-backup conformance: ${writes} puts, ${expected.size} keys live at revision ${finalRevision}, ` +
        `${state.kvs.size} keys restored byte-identical from ${path.basename(newest)} in ${Date.now() - t0} ms; ` +
        `snapshots kept ${kept.join(', ')}`,
    );
  });
});
