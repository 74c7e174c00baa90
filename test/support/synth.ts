import { App } from 'cdk8s';
import { Environment, EnvironmentProps, Manifest, Stack, SynthesizedStack, synthesizeStack } from '../../lib';

/** A small three-zone environment with webapi and batch node groups. */
export function testEnvironment(props: Partial<EnvironmentProps> = {}): Environment {
  return new Environment({
    name: 'test',
    kubernetesVersion: '1.29',
    zones: ['zone-a', 'zone-b', 'zone-c'],
    replicas: 3,
    nodeGroups: [
      { name: 'webapi', minSize: 3, maxSize: 6 },
      { name: 'batch', minSize: 0, maxSize: 2, taints: [{ key: 'instancegroup', value: 'batch', effect: 'NoSchedule' }] },
    ],
    ...props,
  });
}

/** A fresh app with one stack for `environment`. */
export function newStack(environment: Environment = testEnvironment()): Stack {
  return new Stack(new App(), environment.name, { environment });
}

/** Builds a stack and synthesizes it in memory; problems are returned, not thrown. */
export function synthStack(build: (stack: Stack) => void, environment?: Environment): SynthesizedStack {
  const stack = newStack(environment);
  build(stack);
  return synthesizeStack(stack);
}

/** The object of a kind and name; throws listing what exists when there is none. */
export function findObject(result: Pick<SynthesizedStack, 'objects'>, kind: string, name: string): Manifest {
  const found = result.objects.find((o) => o.manifest.kind === kind && o.manifest.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}; have ${result.objects.map((o) => `${o.manifest.kind}/${o.manifest.metadata.name}`).join(', ')}`);
  return found.manifest;
}

/** Every object of a kind. */
export function objectsOfKind(result: Pick<SynthesizedStack, 'objects'>, kind: string): Manifest[] {
  return result.objects.filter((o) => o.manifest.kind === kind).map((o) => o.manifest);
}
