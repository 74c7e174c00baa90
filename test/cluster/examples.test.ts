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
  it('runs and writes the backup CronJob, the restore runbook and team1\'s access', () => {
    const dir = path.join(out, 'etcd');
    const log = run('npx', ['tsx', 'examples/etcd-backup/main.ts'], { cwd: root, env: { ...process.env, OUTDIR: dir } });
    expect(log).toMatch(/stage: \d+ objects, 0 warnings, 2 exemptions/);
    expect(log).toContain('exempt  [pod-security] CronJob kube-system/etcd-backup');
    const cron = parse(fs.readFileSync(path.join(dir, 'stage', 'kubernetes', 'cronjob-etcd-backup.yaml'), 'utf8'));
    expect(cron.spec.jobTemplate.spec.template.spec.priorityClassName).toBe('platform-critical');
    expect(fs.readFileSync(path.join(dir, 'stage', 'runbooks', 'etcd-backup-restore.md'), 'utf8')).toContain('--data-dir /var/lib/etcd-from-backup');
    expect(fs.existsSync(path.join(dir, 'stage', 'kubernetes', 'rolebinding-team1-deployer.yaml'))).toBe(true);
  });
});
