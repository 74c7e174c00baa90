import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readYaml, runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/etcd-backup', () => {
  it("runs and writes the backup CronJob with off-node upload, the alerts, the restore runbook for its etcd and team1's access", () => {
    const log = runExample('etcd-backup', out);
    expect(log).toMatch(/stage: \d+ objects, 0 warnings, 2 exemptions/);
    expect(log).toContain('exempt  [pod-security] CronJob kube-system/etcd-backup');
    expect(log).toContain('etcd 3.5.15: snapshots in /var/backups/etcd');
    expect(log).toContain('alerts when no backup has succeeded for 12h');
    const k = path.join(out, 'stage', 'kubernetes');
    const pod = readYaml(k, 'cronjob-etcd-backup.yaml').spec.jobTemplate.spec.template.spec;
    expect(pod.priorityClassName).toBe('platform-critical');
    // Three control-plane nodes: the snapshot leaves the node that took it.
    expect(pod.containers.map((c: { name: string }) => c.name)).toEqual(['upload']);
    const rule = readYaml(k, 'prometheusrule-etcd-backup-alerts.yaml');
    expect(rule.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(readYaml(out, 'stage', 'monitoring', 'etcd-backup-alerts.rules.yml')).toEqual({ groups: rule.spec.groups });
    const runbook = fs.readFileSync(path.join(out, 'stage', 'runbooks', 'etcd-backup-restore.md'), 'utf8');
    expect(runbook).toContain('--data-dir /var/lib/etcd-from-backup');
    expect(runbook).toContain('etcdutl snapshot restore /var/backups/etcd/etcd-snapshot-<timestamp>.db');
    expect(fs.existsSync(path.join(k, 'rolebinding-team1-deployer.yaml'))).toBe(true);
  });
});
