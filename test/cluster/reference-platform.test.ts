import { App } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { Stack, synthesizeStack } from '../../lib';
import { addArgoCdApplications } from '../../stacks/cluster';
import { environmentNamed, environments } from '../../stacks/environments';
import { buildPlatform } from '../../stacks/platform';
import { validateManifest } from '../support/schema';
import { findObject } from '../support/synth';
import { parseAllDocuments } from 'yaml';

function platform() {
  const app = new App();
  const stacks: Stack[] = environments.map((env) => buildPlatform(app, env));
  addArgoCdApplications(stacks);
  return stacks.map((s) => synthesizeStack(s));
}

describe('reference platform cluster operations', () => {
  const results = platform();
  const byEnv = (name: string) => results.find((r) => r.environment.name === name)!;

  it('synthesizes stage and prod with autoscaler, metrics-server, priority classes, etcd backup and team access, policy clean', () => {
    for (const env of ['stage', 'prod']) {
      const r = byEnv(env);
      for (const o of r.objects) validateManifest(o.manifest);
      expect(r.problems).toEqual([]);
      for (const [kind, name] of [['Deployment', 'cluster-autoscaler'], ['APIService', 'v1beta1.metrics.k8s.io'], ['PriorityClass', 'platform-critical'], ['CronJob', 'etcd-backup'], ['RoleBinding', 'team1-deployer']]) {
        if (env === 'prod' && name === 'team1-deployer') continue;
        findObject(r, kind, name);
      }
    }
    expect(findObject(byEnv('prod'), 'Role', 'team1-read-only').metadata.namespace).toBe('team1');
  });

  it('uses AWS in prod and Cluster API in stage, with node groups from the environment and the cluster minor', () => {
    const prodArgs: string[] = findObject(byEnv('prod'), 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0].command;
    const prodEnv = environmentNamed('prod');
    for (const g of prodEnv.nodeGroups) expect(prodArgs).toContain(`--nodes=${g.minSize}:${g.maxSize}:${g.cloudGroupName ?? g.name}`);
    expect(prodArgs).toContain('--cloud-provider=aws');
    const stageArgs: string[] = findObject(byEnv('stage'), 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0].command;
    expect(stageArgs).toContain('--cloud-provider=clusterapi');
    const image: string = findObject(byEnv('prod'), 'Deployment', 'cluster-autoscaler').spec.template.spec.containers[0].image;
    expect(image).toContain(`:v1.${prodEnv.kubernetesMinor}.`);
    // Every HPA of the platform has metrics-server next to it.
    for (const r of results) {
      const hpas = r.objects.filter((o) => o.manifest.kind === 'HorizontalPodAutoscaler');
      if (hpas.length > 0) findObject(r, 'APIService', 'v1beta1.metrics.k8s.io');
    }
  });

  it('writes an Argo CD Application and AppProject per environment: automated for dev/stage, manual for prod', () => {
    for (const r of results) {
      const file = r.files.find((f) => f.path === `argocd/${r.environment.name}.yaml`)!;
      const [project, app] = parseAllDocuments(file.content).map((d) => d.toJS());
      validateManifest(project);
      validateManifest(app);
      expect(app.spec.source.path).toBe(`dist/${r.environment.name}/kubernetes`);
      expect(app.spec.syncPolicy.automated === undefined).toBe(r.environment.name === 'prod');
      const namespaces = new Set(r.objects.map((o) => o.manifest.metadata.namespace).filter(Boolean));
      for (const ns of namespaces) expect(project.spec.destinations.map((d: any) => d.namespace)).toContain(ns);
    }
  });
});
