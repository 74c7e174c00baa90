import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { readYaml, runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/cluster-autoscaler', () => {
  it('runs and writes the autoscaler with the priority expander and metrics-server', () => {
    const log = runExample('cluster-autoscaler', out);
    expect(log).toMatch(/prod: \d+ objects, 0 warnings, 1 exemption → /);
    expect(log).toContain('cluster-autoscaler registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.5 scales acme-prod-webapi 3-10, acme-prod-batch 0-6');
    const k = path.join(out, 'prod', 'kubernetes');
    const deployment = readYaml(k, 'deployment-cluster-autoscaler.yaml');
    expect(deployment.metadata.namespace).toBe('kube-system');
    expect(deployment.spec.template.spec.containers[0].command).toContain('--nodes=3:10:acme-prod-webapi');
    const priorities = parse(readYaml(k, 'configmap-cluster-autoscaler-priority-expander.yaml').data.priorities);
    expect(priorities).toEqual({ 50: ['^acme-prod-webapi$'], 10: ['^acme-prod-batch$'] });
    expect(fs.existsSync(path.join(k, 'apiservice-v1beta1.metrics.k8s.io.yaml'))).toBe(true);
    expect(readYaml(k, 'kustomization.yaml').resources).toContain('clusterrole-cluster-autoscaler.yaml');
  });
});
