import { describe, expect, it } from 'vitest';
import { applyTier } from '../../lib';
import { EtcdBackup, PLATFORM_TIERS, PlatformPriorityClasses, ROTATE_SCRIPT, SNAPSHOT_FILE_PATTERN, UPLOAD_SCRIPT } from '../../lib/cluster';
import { findObject, objectsOfKind, synthStack } from '../support/synth';
import { expectValidAndClean, shipshapeError } from './helpers';

describe('PlatformPriorityClasses', () => {
  it('creates one cluster-scoped PriorityClass per tier with names for consumers', () => {
    let names: Record<string, string> = {};
    const result = synthStack((stack) => {
      names = { ...new PlatformPriorityClasses(stack, 'tiers', { globalDefault: 'standard' }).names };
    });
    expectValidAndClean(result);
    expect(names).toEqual({ critical: 'platform-critical', high: 'platform-high', standard: 'platform-standard', batch: 'platform-batch' });
    const classes = objectsOfKind(result, 'PriorityClass');
    expect(classes.map((c) => c.metadata.name)).toEqual(['platform-batch', 'platform-critical', 'platform-high', 'platform-standard']);
    expect(classes.every((c) => c.metadata.namespace === undefined)).toBe(true);
    expect(findObject(result, 'PriorityClass', 'platform-critical').value).toBe(PLATFORM_TIERS.critical.value);
    expect(findObject(result, 'PriorityClass', 'platform-batch').preemptionPolicy).toBe('Never');
    expect(classes.filter((c) => c.globalDefault).map((c) => c.metadata.name)).toEqual(['platform-standard']);
    // PriorityClasses apply before the pods that name them.
    expect(applyTier('PriorityClass')).toBe(0);
    expect(result.objects[0].manifest.kind === 'Namespace' || result.objects[0].manifest.kind === 'PriorityClass').toBe(true);
  });

  it('rejects values in the system range and tiers out of order', () => {
    expect(() => synthStack((s) => new PlatformPriorityClasses(s, 't', { tiers: { critical: { value: 2_000_000_000, description: 'x' } } }))).toThrow(/tiers.critical.value/);
    expect(() => synthStack((s) => new PlatformPriorityClasses(s, 't', { tiers: { batch: { value: 5_000_000, description: 'x' } } }))).toThrow(/below the tier above/);
  });
});

describe('EtcdBackup', () => {
  it('runs etcdctl snapshot save on a control-plane node over the host network with hostPath certificates', () => {
    const result = synthStack((stack) => new EtcdBackup(stack, 'etcd', { keep: 7, schedule: '30 2 * * *' }));
    expectValidAndClean(result);
    const cron = findObject(result, 'CronJob', 'etcd-backup');
    expect(cron.metadata.namespace).toBe('kube-system');
    expect(cron.spec).toMatchObject({ schedule: '30 2 * * *', concurrencyPolicy: 'Forbid' });
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.nodeSelector).toEqual({ 'node-role.kubernetes.io/control-plane': '' });
    expect(pod.tolerations).toContainEqual({ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' });
    expect(pod.volumes).toContainEqual({ name: 'etcd-certs', hostPath: { path: '/etc/kubernetes/pki/etcd', type: 'Directory' } });
    const snapshot = pod.initContainers[0];
    expect(snapshot.command).toEqual([
      'etcdctl', '--endpoints=https://127.0.0.1:2379', '--cacert=/etc/etcd-pki/ca.crt', '--cert=/etc/etcd-pki/server.crt', '--key=/etc/etcd-pki/server.key',
      '--command-timeout=120s', 'snapshot', 'save', '/snapshots/.in-progress.db',
    ]);
    expect(snapshot.volumeMounts).toContainEqual({ name: 'etcd-certs', mountPath: '/etc/etcd-pki', readOnly: true });
    const rotate = pod.containers[0];
    expect(rotate.name).toBe('rotate');
    expect(rotate.env).toContainEqual({ name: 'KEEP', value: '7' });
    // Root on the host network is declared, with its reason, and shows in the report.
    expect(cron.metadata.annotations?.['exemptions.shipshape.io/pod-security']).toMatch(/root.*host network.*hostPath/);
    expect(result.policy.exemptions.map((e) => `${e.ruleId} ${e.object}`).sort()).toEqual(['host-path-volume CronJob kube-system/etcd-backup', 'pod-security CronJob kube-system/etcd-backup']);
    expect(result.policy.warnings).toEqual([]);
  });

  it('adds the upload step after naming and pruning when object storage is configured', () => {
    const result = synthStack((stack) => new EtcdBackup(stack, 'etcd', {
      upload: { destination: 's3://acme-etcd/prod/', endpointUrl: 'https://minio.storage.svc:9000', credentialsSecret: 'etcd-backup-s3' },
    }));
    expectValidAndClean(result);
    const pod = findObject(result, 'CronJob', 'etcd-backup').spec.jobTemplate.spec.template.spec;
    expect(pod.initContainers.map((c: any) => c.name)).toEqual(['snapshot', 'rotate']);
    const upload = pod.containers[0];
    expect(upload.name).toBe('upload');
    expect(upload.env).toContainEqual({ name: 'DESTINATION', value: 's3://acme-etcd/prod' });
    expect(upload.envFrom).toEqual([{ secretRef: { name: 'etcd-backup-s3' } }]);
    expect(upload.command).toEqual(['/bin/sh', '-c', UPLOAD_SCRIPT]);
  });

  it('writes the restore runbook with the notes\' snapshot restore and data-dir switch', () => {
    const result = synthStack((stack) => new EtcdBackup(stack, 'etcd'));
    const runbook = result.files.find((f) => f.path === 'runbooks/etcd-backup-restore.md')!;
    expect(runbook.shared).toBe(false);
    expect(runbook.content).toMatch(/etcdctl snapshot restore .* \\\n\s+--data-dir \/var\/lib\/etcd-from-backup/);
    expect(runbook.content).toMatch(/kube-apiserver/);
    expect(runbook.content).toMatch(/systemctl daemon-reload/);
  });

  it('names snapshots by UTC timestamp and keeps the newest N (script run with a real shell)', async () => {
    const { mkdtempSync, writeFileSync, readdirSync, readFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { execFileSync } = await import('node:child_process');
    const dir = mkdtempSync(join(tmpdir(), 'etcd-rotate-'));
    try {
      for (const ts of ['20240101T000000Z', '20240102T000000Z', '20240103T000000Z']) writeFileSync(join(dir, `etcd-snapshot-${ts}.db`), 'old');
      writeFileSync(join(dir, 'unrelated.txt'), 'keep me');
      writeFileSync(join(dir, '.in-progress.db'), 'new');
      execFileSync('timeout', ['20', '/bin/sh', '-c', ROTATE_SCRIPT], { env: { PATH: process.env.PATH, KEEP: '2', SNAPSHOTS: dir } });
      const files = readdirSync(dir).filter((f) => SNAPSHOT_FILE_PATTERN.test(f)).sort();
      expect(files).toHaveLength(2);
      expect(files[0]).toBe('etcd-snapshot-20240103T000000Z.db');
      const latest = readFileSync(join(dir, '.latest'), 'utf8').trim();
      expect(files[1]).toBe(latest);
      expect(readFileSync(join(dir, latest), 'utf8')).toBe('new');
      expect(readdirSync(dir)).toContain('unrelated.txt');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad schedules, paths, retention and destinations', () => {
    const e = shipshapeError(() => synthStack((s) => new EtcdBackup(s, 'etcd', { schedule: 'every day' })));
    expect(e.path).toBe('test/etcd');
    expect(() => synthStack((s) => new EtcdBackup(s, 'etcd', { keep: 0 }))).toThrow(/keep/);
    expect(() => synthStack((s) => new EtcdBackup(s, 'etcd', { snapshotDirectory: 'backups' }))).toThrow(/absolute host path/);
    expect(() => synthStack((s) => new EtcdBackup(s, 'etcd', { snapshotDirectory: '/var/../etc' }))).toThrow(/absolute host path/);
    expect(() => synthStack((s) => new EtcdBackup(s, 'etcd', { certificates: { cert: '../server.crt' } }))).toThrow(/certificates.cert/);
    expect(() => synthStack((s) => new EtcdBackup(s, 'etcd', { upload: { destination: 'https://bucket' } }))).toThrow(/s3:\/\//);
    expect(() => synthStack((s) => new EtcdBackup(s, 'etcd', { etcdImage: 'registry.k8s.io/etcd' }))).toThrow(/etcdImage must be pinned/);
  });
});

describe('EtcdBackup runbook parses as Markdown with fenced commands', () => {
  it('has balanced code fences', () => {
    const result = synthStack((stack) => new EtcdBackup(stack, 'etcd', { upload: { destination: 's3://acme-etcd/prod' } }));
    const content = result.files[0].content;
    expect((content.match(/```/g) ?? []).length % 2).toBe(0);
    expect(content).toContain('s3://acme-etcd/prod');
  });
});
