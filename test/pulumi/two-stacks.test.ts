import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { beforeAll, describe, expect, it } from 'vitest';
import { Environment } from '../../lib';
import { StackComponent } from '../../lib/pulumi';
import { pulumiChildName, pulumiResourceName } from '../../lib/pulumi/stack-component';
import { environments } from '../../stacks/environments';
import { buildPlatform } from '../../stacks/platform';
import { buildSwarmPlatform, swarmEdge } from '../../stacks/swarm';
import { RegisteredResource, recordResources, settled } from '../support/pulumi-mocks';

let registered: RegisteredResource[] = [];

beforeAll(async () => {
  pulumi.runtime.setAllConfig({ 'shipshape:dockerhubUsername': 'acme', 'shipshape:dockerhubToken': 'not-a-real-token', 'shipshape:dockerHost': 'ssh://ops@edge-1' }, [
    'shipshape:dockerhubUsername',
    'shipshape:dockerhubToken',
  ]);
  registered = await recordResources('two-stacks');
});

const aliasesOf = (r: pulumi.Resource): pulumi.Input<string>[] => (r as unknown as { __aliases: pulumi.Input<string>[] }).__aliases;

describe('two StackComponents in one Pulumi program', () => {
  it('register every child under a name unique to its environment, Kubernetes and Docker alike', async () => {
    const stage = environments.find((e) => e.name === 'stage')!;
    const prod = environments.find((e) => e.name === 'prod')!;
    const edgeB = new Environment({ name: 'edge-b', replicas: 3, nodeGroups: [{ name: 'edge', minSize: 3, maxSize: 5 }] });
    const stacks = [
      new StackComponent('stage', { stack: buildPlatform(new App(), stage) }),
      new StackComponent('prod', { stack: buildPlatform(new App(), prod) }),
      new StackComponent('swarm-edge', { stack: buildSwarmPlatform(new App(), swarmEdge).stack }),
      new StackComponent('edge-b', { stack: buildSwarmPlatform(new App(), edgeB).stack }),
    ];
    await settled(stacks.flatMap((s) => [...s.resources.values(), ...Object.values(s.docker.services)].map((r) => r.urn)));

    const children = registered.filter((r) => r.type !== 'shipshape:index:Stack');
    const keys = children.map((r) => `${r.type}::${r.name}`);
    // The URN is type and name under the same parent type: a repeated pair is a duplicate URN for `pulumi up`.
    expect(children.filter((r) => r.type.startsWith('kubernetes:')).length).toBe(stacks[0].resources.size + stacks[1].resources.size);
    expect(children.filter((r) => r.type === 'docker:index/service:Service').length).toBe(6);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
    // Names shared by stage and prod before (namespace-logging, clusterrole-fluentd, ...) now carry the environment.
    expect(registered.map((r) => r.name)).toEqual(expect.arrayContaining(['stage-namespace-logging', 'prod-namespace-logging', 'swarm-edge-service-web', 'edge-b-service-web']));
    for (const r of children.filter((c) => c.type.startsWith('kubernetes:') || c.type.startsWith('docker:'))) {
      expect(r.name, r.name).toMatch(/^(stage|prod|swarm-edge|edge-b)-/);
    }
  });

  it('moves resources registered under the old unprefixed names instead of replacing them, once per name', async () => {
    registered.length = 0;
    const dev = environments.find((e) => e.name === 'dev')!;
    const first = new StackComponent('dev', { stack: buildPlatform(new App(), dev) });
    const manifest = { kind: 'Namespace', metadata: { name: 'dev' } };
    const namespace = first.resources.get('Namespace dev')!;
    const [urn, aliases] = (await settled([namespace.urn, pulumi.all(aliasesOf(namespace))])) as [string, string[]];
    expect(urn.endsWith(`::${pulumiChildName('dev', manifest)}`)).toBe(true);
    expect(aliases).toEqual([expect.stringMatching(new RegExp(`::${pulumiResourceName(manifest)}$`))]);
  });
});
