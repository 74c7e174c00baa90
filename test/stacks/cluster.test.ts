import { App } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { Environment, Stack, synthesizeApp, synthesizeStack } from '../../lib';
import { crossEnvironmentProblems } from '../../lib/core/synth';
import { describe as describeObject } from '../../lib/core/manifest';
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

  it('synthesizes stage and prod with autoscaler, metrics-server, priority classes, etcd backup (stage) and team access, policy clean', () => {
    for (const env of ['stage', 'prod']) {
      const r = byEnv(env);
      for (const o of r.objects) validateManifest(o.manifest);
      expect(r.problems).toEqual([]);
      for (const [kind, name] of [
        ['Deployment', 'cluster-autoscaler'],
        ['APIService', 'v1beta1.metrics.k8s.io'],
        ['PriorityClass', 'platform-critical'],
        ['CronJob', 'etcd-backup'],
        ['RoleBinding', 'team1-deployer'],
      ]) {
        if (env === 'prod' && (name === 'team1-deployer' || name === 'etcd-backup')) continue;
        findObject(r, kind, name);
      }
    }
    // Prod is EKS: AWS runs its etcd, and a backup Job there would find no control-plane node.
    expect(byEnv('prod').objects.some((o) => o.manifest.kind === 'CronJob')).toBe(false);
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

  it('writes an Argo CD Application and AppProject per environment, each on its own cluster, with sync from the environment', () => {
    const servers = new Map<string, string>();
    for (const r of results) {
      const file = r.files.find((f) => f.path === `argocd/${r.environment.name}.yaml`)!;
      const [project, app] = parseAllDocuments(file.content).map((d) => d.toJS());
      validateManifest(project);
      validateManifest(app);
      expect(app.spec.source.path).toBe(`dist/${r.environment.name}/kubernetes`);
      expect(app.spec.syncPolicy.automated === undefined).toBe(r.environment.delivery.sync === 'manual');
      expect(app.spec.destination.server).toBe((r.environment.cluster as { server: string }).server);
      servers.set(r.environment.name, app.spec.destination.server);
      const namespaces = new Set(r.objects.map((o) => o.manifest.metadata.namespace).filter(Boolean));
      for (const ns of namespaces) expect(project.spec.destinations).toContainEqual({ server: app.spec.destination.server, namespace: ns });
      expect(new Set(project.spec.destinations.map((d: any) => d.server))).toEqual(new Set([app.spec.destination.server]));
    }
    expect(new Set(servers.values()).size).toBe(3);
    expect(servers.get('dev')).not.toBe('https://kubernetes.default.svc');
    expect(environmentNamed('prod').delivery.sync).toBe('manual');
    expect(environmentNamed('dev').delivery.sync).toBe('automated');
    expect(environmentNamed('stage').delivery.sync).toBe('automated');
    expect(crossEnvironmentProblems(results)).toEqual([]);
  });

  it('would be refused if dev and prod shared a cluster: they own the same logging, RBAC and add-on objects', () => {
    const app = new App();
    const onProdCluster = (env: Environment) =>
      new Environment({
        name: env.name,
        kubernetesVersion: env.kubernetesVersion,
        zones: [...env.zones],
        replicas: env.replicas,
        autoscaling: env.autoscaling,
        nodeGroups: env.nodeGroups.map((g) => ({ ...g, labels: { ...g.labels }, taints: [...g.taints] })),
        cluster: environmentNamed('prod').cluster,
        delivery: env.delivery,
        controlPlane: env.controlPlane,
        monitoring: env.monitoring,
      });
    addArgoCdApplications(environments.map((env) => buildPlatform(app, env.name === 'stage' ? env : onProdCluster(env))));
    let message = '';
    try {
      synthesizeApp(app);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/environments "dev" and "prod" both deploy to https:\/\/[0-9A-F]+\.gr7\.eu-west-1\.eks\.amazonaws\.com and would both own \d+ object\(s\): .*Namespace logging/);
    expect(message).toContain('ClusterRole fluentd (dev/logging/fluentd/cluster-role and prod/logging/fluentd/cluster-role)');
    // Every object both would own is counted: the intersection of what dev and prod synthesize.
    const keys = (name: string) => new Set(results.find((r) => r.environment.name === name)!.objects.map((o) => describeObject(o.manifest)));
    const prodKeys = keys('prod');
    const shared = [...keys('dev')].filter((k) => prodKeys.has(k));
    expect(shared.length).toBeGreaterThan(10);
    expect(message).toContain(`would both own ${shared.length} object(s)`);
    expect(message).not.toMatch(/"stage"/);
  });

  it("reaches stage's Cluster API management cluster through a mounted kubeconfig and grants no cluster.x-k8s.io rights in stage", () => {
    const pod = findObject(byEnv('stage'), 'Deployment', 'cluster-autoscaler').spec.template.spec;
    expect(pod.containers[0].command).toContain('--cloud-config=/etc/cluster-api-management/kubeconfig');
    expect(pod.volumes[0].secret.secretName).toBe('capi-management-kubeconfig');
    for (const env of ['stage', 'prod']) {
      const rules = findObject(byEnv(env), 'ClusterRole', 'cluster-autoscaler').rules as any[];
      expect(rules.some((r) => r.apiGroups.includes('cluster.x-k8s.io'))).toBe(false);
      expect(rules.find((r) => r.resources.includes('nodes')).verbs).toEqual(['watch', 'list', 'get', 'update']);
    }
  });
});
