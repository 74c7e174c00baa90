import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { run } from '../support/tools';

const root = path.resolve(__dirname, '../..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-cluster-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/cluster-autoscaler', () => {
  it('runs and writes the autoscaler with the priority expander and metrics-server', () => {
    const dir = path.join(out, 'autoscaler');
    const log = run('npx', ['tsx', 'examples/cluster-autoscaler/main.ts', dir], { cwd: root });
    expect(log).toMatch(/prod: \d+ objects, 0 warnings, 1 exemption → /);
    expect(log).toContain('cluster-autoscaler registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.5 scales acme-prod-webapi 3-10, acme-prod-batch 0-6');
    const k = path.join(dir, 'prod', 'kubernetes');
    const deployment = parse(fs.readFileSync(path.join(k, 'deployment-cluster-autoscaler.yaml'), 'utf8'));
    expect(deployment.metadata.namespace).toBe('kube-system');
    expect(deployment.spec.template.spec.containers[0].command).toContain('--nodes=3:10:acme-prod-webapi');
    const priorities = parse(parse(fs.readFileSync(path.join(k, 'configmap-cluster-autoscaler-priority-expander.yaml'), 'utf8')).data.priorities);
    expect(priorities).toEqual({ 50: ['^acme-prod-webapi$'], 10: ['^acme-prod-batch$'] });
    expect(fs.existsSync(path.join(k, 'apiservice-v1beta1.metrics.k8s.io.yaml'))).toBe(true);
    const kustomization = parse(fs.readFileSync(path.join(k, 'kustomization.yaml'), 'utf8'));
    expect(kustomization.resources).toContain('clusterrole-cluster-autoscaler.yaml');
  });
});

describe('examples/etcd-backup', () => {
  it('runs and writes the backup CronJob with off-node upload, the alerts, the restore runbook for its etcd and team1\'s access', () => {
    const dir = path.join(out, 'etcd');
    const log = run('npx', ['tsx', 'examples/etcd-backup/main.ts'], { cwd: root, env: { ...process.env, OUTDIR: dir } });
    expect(log).toMatch(/stage: \d+ objects, 0 warnings, 2 exemptions/);
    expect(log).toContain('exempt  [pod-security] CronJob kube-system/etcd-backup');
    expect(log).toContain('etcd 3.5.15: snapshots in /var/backups/etcd');
    expect(log).toContain('alerts when no backup has succeeded for 12h');
    const k = path.join(dir, 'stage', 'kubernetes');
    const cron = parse(fs.readFileSync(path.join(k, 'cronjob-etcd-backup.yaml'), 'utf8'));
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(pod.priorityClassName).toBe('platform-critical');
    // Three control-plane nodes: the snapshot leaves the node that took it.
    expect(pod.containers.map((c: any) => c.name)).toEqual(['upload']);
    const rule = parse(fs.readFileSync(path.join(k, 'prometheusrule-etcd-backup-alerts.yaml'), 'utf8'));
    expect(rule.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(parse(fs.readFileSync(path.join(dir, 'stage', 'monitoring', 'etcd-backup-alerts.rules.yml'), 'utf8'))).toEqual({ groups: rule.spec.groups });
    const runbook = fs.readFileSync(path.join(dir, 'stage', 'runbooks', 'etcd-backup-restore.md'), 'utf8');
    expect(runbook).toContain('--data-dir /var/lib/etcd-from-backup');
    expect(runbook).toContain('etcdutl snapshot restore /var/backups/etcd/etcd-snapshot-<timestamp>.db');
    expect(fs.existsSync(path.join(k, 'rolebinding-team1-deployer.yaml'))).toBe(true);
  });
});
