import fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { EnvironmentProps } from '../../lib';
import { applyTier } from '../../lib/core/ordering';
import {
  EtcdBackup,
  EtcdBackupProps,
  KUBEADM_ETCD_VERSIONS,
  NODE_LOCAL_ANNOTATION,
  PLATFORM_TIERS,
  PlatformPriorityClasses,
  ROTATE_SCRIPT,
  SNAPSHOT_FILE_PATTERN,
  UPLOAD_SCRIPT,
  longestScheduleGapSeconds,
} from '../../lib/cluster';
import { findObject, objectsOfKind, synthStack, testEnvironment } from '../support/synth';
import { expectValidAndClean, shipshapeError } from '../support/cluster';

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

/** A kubeadm environment (one control-plane node unless `nodes` says otherwise). */
const kubeadm = (props: Partial<EnvironmentProps> = {}, nodes = 1) => testEnvironment({ controlPlane: { kind: 'kubeadm', nodes }, ...props });
const backup = (props: EtcdBackupProps = {}, env = kubeadm()) => synthStack((stack) => new EtcdBackup(stack, 'etcd', props), env);
const runbookOf = (result: ReturnType<typeof backup>) => result.files.find((f) => f.path === 'runbooks/etcd-backup-restore.md')!.content;
const S3 = { destination: 's3://acme-etcd/stage' };

describe('EtcdBackup', () => {
  it('runs etcdctl snapshot save on a control-plane node over the host network with hostPath certificates', () => {
    const result = backup({ keep: 7, schedule: '30 2 * * *' });
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
      'etcdctl',
      '--endpoints=https://127.0.0.1:2379',
      '--cacert=/etc/etcd-pki/ca.crt',
      '--cert=/etc/etcd-pki/server.crt',
      '--key=/etc/etcd-pki/server.key',
      '--command-timeout=120s',
      'snapshot',
      'save',
      '/snapshots/.in-progress.db',
    ]);
    // kubeadm 1.29's etcd: the snapshot client has the server's minor.
    expect(snapshot.image).toBe(`registry.k8s.io/etcd:${KUBEADM_ETCD_VERSIONS[29]}`);
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
    const result = backup({ upload: { destination: 's3://acme-etcd/prod/', endpointUrl: 'https://minio.storage.svc:9000', credentialsSecret: 'etcd-backup-s3', region: 'eu-west-1' } });
    expectValidAndClean(result);
    const pod = findObject(result, 'CronJob', 'etcd-backup').spec.jobTemplate.spec.template.spec;
    expect(pod.initContainers.map((c: any) => c.name)).toEqual(['snapshot', 'rotate']);
    const upload = pod.containers[0];
    expect(upload.name).toBe('upload');
    expect(upload.env).toContainEqual({ name: 'DESTINATION', value: 's3://acme-etcd/prod' });
    expect(upload.env).toContainEqual({ name: 'AWS_DEFAULT_REGION', value: 'eu-west-1' });
    expect(upload.envFrom).toEqual([{ secretRef: { name: 'etcd-backup-s3' } }]);
    expect(upload.command).toEqual(['/bin/sh', '-c', UPLOAD_SCRIPT]);
  });

  it('writes the restore runbook with the snapshot restore into a new data directory and the data-dir switch', () => {
    const result = backup();
    const runbook = result.files.find((f) => f.path === 'runbooks/etcd-backup-restore.md')!;
    expect(runbook.shared).toBe(false);
    expect(runbook.content).toMatch(/etcdutl snapshot restore .* \\\n\s+--data-dir \/var\/lib\/etcd-from-backup/);
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
      const files = readdirSync(dir)
        .filter((f) => SNAPSHOT_FILE_PATTERN.test(f))
        .sort();
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
    const e = shipshapeError(() => backup({ schedule: 'every day' }));
    expect(e.path).toBe('test/etcd');
    expect(() => backup({ keep: 0 })).toThrow(/keep/);
    expect(() => backup({ snapshotDirectory: 'backups' })).toThrow(/absolute host path/);
    expect(() => backup({ snapshotDirectory: '/var/../etc' })).toThrow(/absolute host path/);
    expect(() => backup({ certificates: { cert: '../server.crt' } })).toThrow(/certificates.cert/);
    expect(() => backup({ upload: { destination: 'https://bucket' } })).toThrow(/s3:\/\//);
    expect(() => backup({ upload: { ...S3, region: 'Europe' } })).toThrow(/upload.region/);
    expect(() => backup({ etcdImage: 'registry.k8s.io/etcd' })).toThrow(/etcdImage must be pinned/);
    // A date that never comes: the API server accepts it and no backup ever runs.
    expect(shipshapeError(() => backup({ schedule: '0 0 30 2 *' })).message).toMatch(/no backup would ever run/);
    expect(() => backup({ schedule: '@every 30s' })).toThrow(/more than once a minute/);
  });
});

describe('EtcdBackup and the control plane', () => {
  it('refuses an environment that does not say who runs its control plane', () => {
    const e = shipshapeError(() => synthStack((s) => new EtcdBackup(s, 'etcd'), testEnvironment()));
    expect(e.message).toMatch(/does not say who runs its control plane.*Pending forever/);
    expect(e.fix).toMatch(/controlPlane/);
  });

  it('refuses EKS, GKE and AKS: no node carries the control-plane label, the Job would stay Pending forever', () => {
    for (const kind of ['eks', 'gke', 'aks'] as const) {
      const e = shipshapeError(() => backup({}, testEnvironment({ controlPlane: { kind } })));
      expect(e.path).toBe('test/etcd');
      expect(e.message).toMatch(new RegExp(`managed ${kind.toUpperCase()} control plane.*node-role.kubernetes.io/control-plane.*Pending forever`));
      expect(e.fix).toMatch(/remove the EtcdBackup/);
    }
  });

  it('refuses an IRSA role off EKS: nothing there turns the annotation into credentials', () => {
    const e = shipshapeError(() => backup({ upload: { ...S3, roleArn: 'arn:aws:iam::111122223333:role/etcd-backup' } }));
    expect(e.message).toMatch(/upload.roleArn asks for an IRSA role.*kubeadm control plane/);
    expect(e.fix).toMatch(/Secret by name|instance profile/);
  });

  it('requires off-node upload on a multi-node control plane, unless opted out with a reason', () => {
    for (const kind of ['kubeadm', 'cluster-api'] as const) {
      const env = testEnvironment({ controlPlane: { kind, nodes: 3 } });
      const e = shipshapeError(() => backup({}, env));
      expect(e.message).toMatch(/control plane has 3 nodes.*lost with that node/);
      expect(e.fix).toMatch(/upload: \{ destination: 's3:/);
      const uploaded = backup({ upload: S3 }, env);
      expectValidAndClean(uploaded);
      expect(findObject(uploaded, 'CronJob', 'etcd-backup').spec.jobTemplate.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['upload']);
    }
    const env = kubeadm({}, 3);
    const reason = 'the node backup agent copies /var/backups/etcd to the vault hourly';
    const local = backup({ keepOnNodeOnly: { reason } }, env);
    expectValidAndClean(local);
    expect(findObject(local, 'CronJob', 'etcd-backup').metadata.annotations?.[NODE_LOCAL_ANNOTATION]).toBe(reason);
    expect(() => backup({ keepOnNodeOnly: { reason: ' ' } }, env)).toThrow(/keepOnNodeOnly needs a reason/);
    expect(() => backup({ keepOnNodeOnly: { reason }, upload: S3 }, env)).toThrow(/both upload and keepOnNodeOnly/);
    // One node: the snapshot on it is the snapshot of the whole cluster, so node-local is allowed.
    expectValidAndClean(backup({}, kubeadm({}, 1)));
  });

  it('the environment refuses nodes on a managed control plane and an EKS endpoint declared as kubeadm', () => {
    expect(() => testEnvironment({ controlPlane: { kind: 'eks', nodes: 3 } })).toThrow(/runs on the provider's machines/);
    expect(() => testEnvironment({ controlPlane: { kind: 'kubeadm' }, cluster: { server: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com' } })).toThrow(
      /is an EKS API endpoint, but controlPlane.kind is 'kubeadm'/,
    );
    expect(() => testEnvironment({ controlPlane: { kind: 'k3s' as never } })).toThrow(/controlPlane.kind must be one of/);
    expect(() => testEnvironment({ controlPlane: { kind: 'kubeadm', nodes: 0 } })).toThrow(/controlPlane.nodes/);
    expect(testEnvironment({ controlPlane: { kind: 'cluster-api' } }).controlPlane).toEqual({ kind: 'cluster-api', nodes: 1 });
  });
});

describe('EtcdBackup restore tools follow the etcd version', () => {
  it('uses etcdutl for etcd 3.5 and 3.6 (kubeadm 1.27-1.33 and 1.34), never the etcdctl snapshot restore/status removed in 3.6', () => {
    for (const [minor, etcd] of [
      [27, '3.5.12'],
      [29, '3.5.15'],
      [33, '3.5.21'],
      [34, '3.6.4'],
      [40, '3.6.4'],
    ] as const) {
      const result = backup({}, kubeadm({ kubernetesVersion: `1.${minor}` }));
      const runbook = runbookOf(result);
      expect(runbook).toContain(`etcd ${etcd} on a kubeadm control plane`);
      expect(runbook).toMatch(/^\s+etcdutl snapshot status \S+ --write-out=table$/m);
      expect(runbook).toMatch(/^\s+etcdutl snapshot restore \S+ \\$/m);
      expect(runbook).not.toMatch(/etcdctl\s+snapshot\s+(restore|status)\s+\//);
      expect(findObject(result, 'CronJob', 'etcd-backup').spec.jobTemplate.spec.template.spec.initContainers[0].image).toBe(`registry.k8s.io/etcd:${etcd}-0`);
    }
  });

  it('uses etcdctl for an etcd 3.4 cluster, which has no etcdutl, with an image of the same minor', () => {
    const result = backup({ etcdVersion: '3.4.23', etcdImage: 'registry.k8s.io/etcd:3.4.13-0' });
    expectValidAndClean(result);
    const runbook = runbookOf(result);
    expect(runbook).toContain('etcd 3.4.23 on a kubeadm control plane');
    expect(runbook).toMatch(/^\s+etcdctl snapshot restore \S+ \\$/m);
    expect(runbook).not.toContain('etcdutl snapshot');
    expect(() => backup({ etcdVersion: '3.4' })).toThrow(/not the etcd kubeadm installs for Kubernetes 1.29.*registry.k8s.io\/etcd:3.4.13-0/);
    expect(() => backup({ etcdVersion: '3.5', etcdImage: 'registry.k8s.io/etcd:3.4.13-0' })).toThrow(/etcdImage carries etcd 3.4.13 but the cluster runs etcd 3.5/);
    expect(() => backup({ etcdVersion: '3.3.1' })).toThrow(/etcdVersion must be an etcd version 3.4 or newer/);
    expect(() => backup({}, testEnvironment({ controlPlane: { kind: 'self-managed' } }))).toThrow(/set etcdVersion/);
    expect(runbookOf(backup({ etcdVersion: '3.5.9' }, testEnvironment({ controlPlane: { kind: 'self-managed' } })))).toContain('etcd 3.5.9 on a self-managed control plane');
  });

  it('on several nodes restores every member from one snapshot fetched from object storage', () => {
    const runbook = runbookOf(backup({ upload: { ...S3, endpointUrl: 'https://minio.example.com' } }, kubeadm({}, 3)));
    expect(runbook).toContain('aws s3 --endpoint-url https://minio.example.com cp s3://acme-etcd/stage/etcd-snapshot-<timestamp>.db /var/backups/etcd/etcd-snapshot-<timestamp>.db');
    expect(runbook).toContain('--initial-cluster <node-1 name>=https://<node-1 IP>:2380,<node-2 name>=https://<node-2 IP>:2380,<node-3 name>=https://<node-3 IP>:2380');
    expect(runbook).toContain("--initial-advertise-peer-urls https://<this node's IP>:2380");
    expect(runbook).toContain('endpoint health --cluster');
  });
});

describe('EtcdBackup alerts', () => {
  it('writes the plain rules file always and the PrometheusRule only when the Prometheus Operator runs', () => {
    const plain = backup();
    expect(objectsOfKind(plain, 'PrometheusRule')).toEqual([]);
    const file = plain.files.find((f) => f.path === 'monitoring/etcd-backup-alerts.rules.yml')!;
    const groups = parse(file.content).groups;
    expect(groups[0].rules.map((r: any) => r.alert)).toEqual(['EtcdBackupTooOld', 'EtcdBackupNeverSucceeded', 'EtcdBackupNotStarted', 'EtcdBackupNotWatched']);
    // Two periods of the default six-hourly schedule.
    expect(groups[0].rules[0].expr).toBe('time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{namespace="kube-system",cronjob="etcd-backup"}) > 43200');

    const operator = backup({ alerts: { prometheusLabels: { release: 'prometheus' } } });
    expectValidAndClean(operator);
    const rule = findObject(operator, 'PrometheusRule', 'etcd-backup-alerts');
    expect(rule.metadata).toMatchObject({ namespace: 'kube-system', labels: { release: 'prometheus' } });
    expect(rule.spec.groups).toEqual(groups);
    expect(() => backup({ alerts: { prometheusOperator: false, prometheusLabels: { release: 'x' } } })).toThrow(/prometheusLabels are set but prometheusOperator is false/);
    const none = backup({ alerts: false });
    expect(none.files.map((f) => f.path)).toEqual(['runbooks/etcd-backup-restore.md']);
  });

  it("allows two of the schedule's longest gaps, macros and irregular schedules included", () => {
    const h = 3600;
    const d = 24 * h;
    const cases: Array<[string, string, number]> = [
      ['0 */6 * * *', '6h', 6 * h],
      ['30 2 * * *', '1d', d],
      ['@daily', '1d', d],
      ['@midnight', '1d', d],
      ['@hourly', '1h', h],
      ['@weekly', '7d', 7 * d],
      ['@monthly', '31d', 31 * d],
      ['@yearly', '366d', 366 * d],
      // Weekdays only: Friday to Monday.
      ['0 2 * * 1-5', '3d', 3 * d],
      ['0 2 * * MON-FRI', '3d', 3 * d],
      // Day 31 skips the 30-day months: 31 August to 31 October.
      ['0 0 31 * *', '61d', 61 * d],
      // Both day fields restricted: either matches (the 13th or a Friday).
      ['0 0 13 * 5', '7d', 7 * d],
      ['0 0 29 2 *', '1461d', 1461 * d],
      ['5/20 * * * *', '20m', 1200],
      ['@every 1h30m', '1h30m', 5400],
    ];
    for (const [schedule, period, seconds] of cases) {
      const rules = parse(backup({ schedule }).files.find((f) => f.path === 'monitoring/etcd-backup-alerts.rules.yml')!.content).groups[0].rules;
      expect(rules[0].expr, schedule).toMatch(new RegExp(`\\) > ${2 * seconds}$`));
      expect(rules[1].expr, schedule).toContain(`> ${2 * seconds})`);
      expect(rules[2].expr, schedule).toMatch(new RegExp(`\\) > ${seconds}$`));
      expect(rules[2].annotations.description, schedule).toContain(`at most ${period} between runs`);
    }
  });

  it('finds the longest gap of any minute/hour/weekday schedule, as a minute-by-minute walk does (property)', () => {
    const part = (min: number, max: number) =>
      fc.oneof(
        fc.constant('*'),
        fc.integer({ min, max }).map(String),
        fc.tuple(fc.integer({ min, max }), fc.integer({ min, max })).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
        fc.integer({ min: 2, max: max + 1 }).map((step) => `*/${step}`),
        fc.uniqueArray(fc.integer({ min, max }), { minLength: 2, maxLength: 3 }).map((v) => v.join(',')),
      );
    fc.assert(
      fc.property(part(0, 59), part(0, 23), part(0, 6), (minute, hour, dow) => {
        const schedule = `${minute} ${hour} * * ${dow}`;
        // Without day-of-month or month the schedule repeats every week: three weeks hold every gap.
        const set = (expr: string, min: number, max: number) => {
          const out = new Set<number>();
          for (const p of expr.split(',')) {
            const [range, step = '1'] = p.split('/');
            const [a, b] =
              range === '*'
                ? [min, max]
                : range
                    .split('-')
                    .map(Number)
                    .concat(range.includes('-') ? [] : [Number(range)]);
            for (let v = a; v <= b; v += Number(step)) out.add(v);
          }
          return out;
        };
        const [m, h, d] = [set(minute, 0, 59), set(hour, 0, 23), set(dow, 0, 6)];
        let last: number | undefined;
        let longest = 0;
        const start = Date.UTC(2024, 0, 1);
        for (let t = 0; t < 21 * 1440; t++) {
          const date = new Date(start + t * 60_000);
          if (m.has(date.getUTCMinutes()) && h.has(date.getUTCHours()) && d.has(date.getUTCDay())) {
            if (last !== undefined) longest = Math.max(longest, t - last);
            last = t;
          }
        }
        expect(longestScheduleGapSeconds(schedule)).toBe(longest * 60);
      }),
      { numRuns: 60 },
    );
  });
});

describe('EtcdBackup runbook parses as Markdown with fenced commands', () => {
  it('has balanced code fences', () => {
    const result = backup({ upload: { destination: 's3://acme-etcd/prod' } });
    const content = runbookOf(result);
    expect((content.match(/```/g) ?? []).length % 2).toBe(0);
    expect(content).toContain('s3://acme-etcd/prod');
  });
});

describe("names derived from props stay within the API server's limits", () => {
  it('EtcdBackup refuses names over 52 characters, the longest CronJob name', () => {
    expect(findObject(backup({ name: 'n'.repeat(52) }), 'CronJob', 'n'.repeat(52)).metadata.name).toHaveLength(52);
    const e = shipshapeError(() => backup({ name: 'n'.repeat(53) }));
    expect(e.path).toBe('test/etcd');
    expect(e.message).toMatch(/at most 52 characters.*this one has 53/);
  });

  it('PlatformPriorityClasses refuses prefixes that make `<prefix>-standard` longer than a label value', () => {
    const ok = 'p'.repeat(54);
    const result = synthStack((s) => new PlatformPriorityClasses(s, 't', { prefix: ok }));
    expect(findObject(result, 'PriorityClass', `${ok}-standard`).metadata.labels?.['app.kubernetes.io/name']).toHaveLength(63);
    const e = shipshapeError(() => synthStack((s) => new PlatformPriorityClasses(s, 't', { prefix: 'p'.repeat(55) })));
    expect(e.path).toBe('test/t');
    expect(e.message).toMatch(/longer than 63 characters.*Fix: shorten prefix to at most 54 characters/);
  });
});

describe('schedule periods with empty list items (robfig/cron drops them)', () => {
  it('reads "1,,2" as "1,2" and a field of commas alone as never firing', () => {
    expect(longestScheduleGapSeconds('1,,2 * * * *')).toBe(longestScheduleGapSeconds('1,2 * * * *'));
    expect(longestScheduleGapSeconds(',5, 3,, * * *')).toBe(86_400);
    expect(longestScheduleGapSeconds(', * * * *')).toBeUndefined();
    expect(longestScheduleGapSeconds('0 0 , * *')).toBeUndefined();
    expect(findObject(backup({ schedule: '1,,2 * * * *' }), 'CronJob', 'etcd-backup').spec.schedule).toBe('1,,2 * * * *');
    expect(shipshapeError(() => backup({ schedule: '0 , * * *' })).message).toMatch(/no backup would ever run/);
  });
});

describe("schedule periods read with robfig/cron's other quirks", () => {
  it('reads "*-N" as "*", a "+" sign as no sign, "İ" in a name as "i" and separators Go splits on', () => {
    expect(longestScheduleGapSeconds('0 0 * * *-3')).toBe(86_400);
    // "*-3/2" is every other weekday from Sunday: the star bit goes with the step, so both day fields count.
    expect(longestScheduleGapSeconds('0 0 1 * *-3/2')).toBe(longestScheduleGapSeconds('0 0 1 * 0-6/2'));
    expect(longestScheduleGapSeconds('+30 */+6 * * *')).toBe(6 * 3600);
    expect(longestScheduleGapSeconds('0 0 * * FRİ')).toBe(7 * 86_400);
    expect(longestScheduleGapSeconds('0\u00850 * * *')).toBe(86_400);
    expect(() => longestScheduleGapSeconds('0\ufeff0 * * *')).toThrow(/5 fields/);
  });

  it('reads @every as the controller runs it: whole seconds, at least one', () => {
    expect(longestScheduleGapSeconds('@every 1h30m')).toBe(5400);
    expect(longestScheduleGapSeconds('@every 1.5s')).toBe(1);
    expect(longestScheduleGapSeconds('@every 90.9s')).toBe(90);
    expect(longestScheduleGapSeconds('@every -1h')).toBe(1);
    expect(longestScheduleGapSeconds('@every 0')).toBe(1);
    expect(() => longestScheduleGapSeconds('@every  1h')).toThrow(/Go duration/);
  });

  it('refuses at the construct a step longer than its field, which matches one value, and accepts one as long as the field', () => {
    // "*/90" in minutes runs at minute 0 of every hour, not every 90 minutes.
    for (const [schedule, item, field, cycle] of [
      ['*/90 * * * *', '*/90', 'minute', 'hour'],
      ['0 5/30 * * *', '5/30', 'hour', 'day'],
      ['0 0 1,*/40 * *', '*/40', 'day of month', 'month'],
      ['0 0 1 */13 *', '*/13', 'month', 'year'],
    ]) {
      const e = shipshapeError(() => backup({ schedule }));
      expect(e.path).toBe('test/etcd');
      expect(e.value).toBe(schedule);
      expect(e.message).toContain(`the step in "${item}" is longer than the ${field} field`);
      expect(e.message).toContain(`starts over every ${cycle}`);
      expect(e.fix).toMatch(/step at most \d+/);
    }
    for (const schedule of ['*/60 * * * *', '0 */24 * * *', '0 0 */31 * *', '0 0 1 */12 *']) {
      expect(findObject(backup({ schedule }), 'CronJob', 'etcd-backup').spec.schedule).toBe(schedule);
    }
  });

  it('refuses at the construct an @every the controller would not run as written, and accepts whole seconds', () => {
    for (const schedule of ['@every -1h', '@every 0', '@every 500ms', '@every 90.5s']) {
      const e = shipshapeError(() => backup({ schedule }));
      expect(e.path).toBe('test/etcd');
      expect(e.value).toBe(schedule);
      expect(e.message).toMatch(/whole seconds, at least one/);
      expect(e.fix).toMatch(/@every \d+s/);
    }
    expect(findObject(backup({ schedule: '@every 6h' }), 'CronJob', 'etcd-backup').spec.schedule).toBe('@every 6h');
    expect(findObject(backup({ schedule: '@every 1.5h' }), 'CronJob', 'etcd-backup').spec.schedule).toBe('@every 1.5h');
  });
});
