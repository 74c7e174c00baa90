import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Environment, ShipshapeError, Stack, synthesizeStack } from '../../lib';
import { App } from 'cdk8s';
import { newStack, testEnvironment } from '../support/synth';
import { Construct } from 'constructs';

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
    [{ replicas: 0 }, /replicas must be an integer ≥ 1/],
    [{ autoscaling: { minReplicas: 4, maxReplicas: 2 } }, /minReplicas 4 is greater than autoscaling.maxReplicas 2/],
    [{ nodeGroups: [{ name: 'webapi', minSize: 5, maxSize: 3 }] }, /environment:test\/nodeGroups\/webapi: minSize 5 is greater than maxSize 3/],
    [{ nodeGroups: [{ name: 'a', minSize: 0, maxSize: 1 }, { name: 'a', minSize: 0, maxSize: 1 }] }, /node group names must be unique/],
  ])('rejects %j', (props, message) => {
    expect(() => testEnvironment(props as any)).toThrow(ShipshapeError);
    expect(() => testEnvironment(props as any)).toThrow(message);
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
    expect(() => edge.kubernetesMinor).toThrow(/environment:edge: a Kubernetes construct was added, but this environment has no Kubernetes cluster.*Fix: set kubernetesVersion/);
    const stack = new Stack(new App(), 'edge', { environment: edge });
    expect(stack.toJson()).toEqual([]);
    expect(synthesizeStack(stack).problems).toEqual([]);
  });

  it('refuse Kubernetes constructs at synth, naming them and the fix', () => {
    const stack = new Stack(new App(), 'edge', { environment: edge });
    new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'web:1.0.0', ports: [{ port: 80 }] });
    const [problem] = synthesizeStack(stack).problems;
    expect(problem).toMatch(/^edge\/web\/.*environment "edge" has no Kubernetes cluster, but \d+ Kubernetes object\(s\) were added \(.*Deployment .*web.*\)\. Fix: set kubernetesVersion/);
  });
});

