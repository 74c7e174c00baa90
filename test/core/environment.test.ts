import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Environment, EnvironmentProps, ShipshapeError, Stack, synthesizeStack } from '../../lib';
import { App } from 'cdk8s';
import { newStack, testEnvironment } from '../support/synth';
import { Construct } from 'constructs';
import { TeamAccess } from '../../lib/cluster';
import { EfkLogging } from '../../lib/logging';

describe('Environment', () => {
  it('fills defaults: namespace = name, containerd, two replicas, instancegroup labels', () => {
    const env = new Environment({ name: 'qa', kubernetesVersion: '1.30.2', nodeGroups: [{ name: 'webapi', minSize: 1, maxSize: 3 }] });
    expect(env.namespace).toBe('qa');
    expect(env.kubernetesMinor).toBe(30);
    expect(env.containerRuntime).toBe('containerd');
    expect(env.replicas).toBe(2);
    expect(env.autoscaling).toBeUndefined();
    expect(env.nodeGroups[0].labels).toEqual({ instancegroup: 'webapi' });
    expect(Object.isFrozen(env)).toBe(true);
  });

  it.each([
    [{ kubernetesVersion: '1.26' }, /kubernetesVersion must be 1.27 or newer.*"1.26"/],
    [{ kubernetesVersion: 'v1.29' }, /kubernetesVersion/],
    [{ name: 'Prod' }, /environment:Prod: name is not a valid Kubernetes name/],
    [{ zones: ['a', 'a'] }, /zones must be distinct/],
    [{ replicas: 0 }, /replicas must be an integer from 1 to 2147483647/],
    [{ autoscaling: { minReplicas: 4, maxReplicas: 2 } }, /minReplicas 4 is greater than autoscaling.maxReplicas 2/],
    [{ nodeGroups: [{ name: 'webapi', minSize: 5, maxSize: 3 }] }, /environment:test\/nodeGroups\/webapi: minSize 5 is greater than maxSize 3/],
    [
      {
        nodeGroups: [
          { name: 'a', minSize: 0, maxSize: 1 },
          { name: 'a', minSize: 0, maxSize: 1 },
        ],
      },
      /node group names must be unique/,
    ],
  ])('rejects %j', (props, message) => {
    expect(() => testEnvironment(props as any)).toThrow(ShipshapeError);
    expect(() => testEnvironment(props as any)).toThrow(message);
  });
});

describe('Environment cluster and delivery', () => {
  it('states no cluster and manual sync unless told', () => {
    const env = testEnvironment();
    expect(env.cluster).toBeUndefined();
    expect(env.clusterKey).toBeUndefined();
    expect(env.delivery).toEqual({ sync: 'manual' });
    expect(testEnvironment({ delivery: { sync: 'automated' } }).delivery.sync).toBe('automated');
  });

  it('takes an API server URL or an Argo CD cluster name, and compares them as Argo CD would', () => {
    expect(testEnvironment({ cluster: { server: 'https://api.prod.example.com:6443' } }).cluster).toEqual({ server: 'https://api.prod.example.com:6443' });
    expect(testEnvironment({ cluster: { name: 'prod-eu' } }).cluster).toEqual({ name: 'prod-eu' });
    const key = (cluster: EnvironmentProps['cluster']) => testEnvironment({ cluster }).clusterKey;
    expect(key({ server: 'https://API.Prod.example.com:443/' })).toBe(key({ server: 'https://api.prod.example.com' }));
    expect(key({ name: 'in-cluster' })).toBe(key({ server: 'https://kubernetes.default.svc' }));
    expect(key({ server: 'https://a.example.com:6443' })).not.toBe(key({ server: 'https://b.example.com:6443' }));
    expect(key({ name: 'prod-eu' })).not.toBe(key({ name: 'prod-us' }));
  });

  it.each([
    [{ cluster: { server: 'http://api.example.com' } }, /cluster.server must be the https URL of a Kubernetes API server.*"http:\/\/api.example.com"/],
    [{ cluster: { server: 'https://admin:secret@api.example.com' } }, /without credentials/],
    [{ cluster: { server: 'https://a.example.com', name: 'a' } }, /cluster needs exactly one of server and name/],
    [{ cluster: {} }, /cluster needs exactly one of server and name/],
    [{ cluster: { name: 'prod eu' } }, /cluster.name must be the name of a cluster registered in Argo CD/],
    [{ delivery: { sync: 'auto' } }, /delivery.sync must be 'automated' or 'manual'/],
    [{ kubernetesVersion: undefined, cluster: { name: 'edge' } }, /cluster is set on an environment without a Kubernetes cluster/],
    // The URL parser refuses these; with controlPlane set they used to end in a TypeError.
    [{ cluster: { server: 'https://10.0.0.1:65536' } }, /cluster.server must be the https URL.*"https:\/\/10.0.0.1:65536"/],
    [{ cluster: { server: 'https://10.0.0.1:99999' }, controlPlane: { kind: 'kubeadm', nodes: 3 } }, /cluster.server must be the https URL.*99999/],
    [{ cluster: { server: 'https://api.example.com:0' }, controlPlane: { kind: 'eks' } }, /cluster.server must be the https URL.*:0"/],
  ])('rejects %j', (props, message) => {
    const e = (() => {
      try {
        testEnvironment(props as any);
      } catch (err) {
        return err as ShipshapeError;
      }
      throw new Error('nothing thrown');
    })();
    expect(e).toBeInstanceOf(ShipshapeError);
    expect(e.message).toMatch(message);
    expect(e.path).toBe('environment:test');
    expect(e.fix.length).toBeGreaterThan(0);
  });
});

describe('Stack', () => {
  it('creates the namespace and labels every object with managed-by and environment', () => {
    const stack = newStack();
    const [ns] = stack.toJson();
    expect(ns).toMatchObject({ kind: 'Namespace', metadata: { name: 'test', labels: { 'app.kubernetes.io/managed-by': 'shipshape', 'shipshape.io/environment': 'test' } } });
    // The restricted Pod Security Standard is enforced by the API server as well as by the policy.
    expect(ns.metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'v1.29' });
  });

  it('is found from any construct inside it, and its absence is a clear error', () => {
    const stack = newStack();
    const inner = new Construct(new Construct(stack, 'a'), 'b');
    expect(Stack.of(inner)).toBe(stack);
    expect(() => Stack.of(new Construct(undefined as any, 'lonely'))).toThrow(/must be created inside a shipshape Stack/);
  });
});

describe('Docker/Swarm-only environments', () => {
  const edge = new Environment({ name: 'edge', replicas: 3 });

  it('have no Kubernetes version, no namespace and no Kubernetes output', () => {
    expect(edge.hasKubernetes).toBe(false);
    expect(() => edge.kubernetesMinor).toThrow(/environment:edge: a Kubernetes construct was added, but environment "edge" has no Kubernetes cluster.*Fix: set kubernetesVersion/);
    const stack = new Stack(new App(), 'edge', { environment: edge });
    expect(stack.toJson()).toEqual([]);
    expect(synthesizeStack(stack).problems).toEqual([]);
  });

  it('accepts ports 1 and 65535 in cluster.server', () => {
    for (const server of ['https://10.0.0.1:1', 'https://10.0.0.1:65535']) {
      expect(testEnvironment({ cluster: { server }, controlPlane: { kind: 'kubeadm', nodes: 3 } }).cluster).toEqual({ server });
    }
  });

  it('refuse EfkLogging and TeamAccess by their construct path, naming the environment', () => {
    for (const [id, add] of [
      ['logging', (s: Stack) => new EfkLogging(s, 'logging')],
      ['team-access', (s: Stack) => new TeamAccess(s, 'team-access', { namespace: 'team1', serviceAccounts: ['developer1'], preset: 'deployer' })],
    ] as const) {
      const stack = new Stack(new App(), 'edge', { environment: edge });
      const e = (() => {
        try {
          add(stack);
        } catch (err) {
          return err as ShipshapeError;
        }
        throw new Error('nothing thrown');
      })();
      expect(e).toBeInstanceOf(ShipshapeError);
      expect(e.path).toBe(`edge/${id}`);
      expect(e.message).toContain('environment "edge" has no Kubernetes cluster');
      expect(e.fix).toMatch(/set kubernetesVersion/);
    }
    // A stack asked for its namespace names itself.
    expect(() => new Stack(new App(), 'edge', { environment: edge, createNamespace: true })).toThrow(/^edge: a Kubernetes construct was added/);
  });

  it('refuse Kubernetes constructs at synth, naming them and the fix', () => {
    const stack = new Stack(new App(), 'edge', { environment: edge });
    new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
    const [problem] = synthesizeStack(stack).problems;
    expect(problem).toMatch(/^edge\/web\/.*environment "edge" has no Kubernetes cluster, but \d+ Kubernetes object\(s\) were added \(.*Deployment .*web.*\)\. Fix: set kubernetesVersion/);
  });
});

describe('Environment and Stack refuse values the API server refuses', () => {
  it('refuses replicas and autoscaling bounds above 2^31 - 1 (int32)', () => {
    const base = { name: 'big', nodeGroups: [] } as EnvironmentProps;
    expect(() => new Environment({ ...base, replicas: 2 ** 31 })).toThrow(/environment:big.*replicas must be an integer from 1 to 2147483647/);
    expect(() => new Environment({ ...base, autoscaling: { minReplicas: 2, maxReplicas: 2 ** 31 } })).toThrow(/autoscaling\.maxReplicas/);
    expect(new Environment({ ...base, replicas: 2 ** 31 - 1 }).replicas).toBe(2 ** 31 - 1);
  });

  it('accepts only the Pod Security Standards as podSecurity', () => {
    for (const podSecurity of ['on', '', 'Restricted']) {
      try {
        new Stack(new App(), 'stack', { environment: testEnvironment(), podSecurity: podSecurity as 'restricted' });
        expect.unreachable(`podSecurity ${JSON.stringify(podSecurity)} was accepted`);
      } catch (e) {
        expect(e).toBeInstanceOf(ShipshapeError);
        expect((e as ShipshapeError).path).toBe('stack');
        expect((e as Error).message).toMatch(/podSecurity must be one of privileged, baseline, restricted/);
      }
    }
    const [ns] = new Stack(new App(), 'stack', { environment: testEnvironment(), podSecurity: 'baseline' }).toJson();
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('baseline');
  });
});
