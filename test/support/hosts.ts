import { App } from 'cdk8s';
import { Environment, Stack, SynthesizedStack, synthesizeStack } from '../../lib';

/** A Swarm-only environment: three nodes in one group, no Kubernetes objects. */
export function swarmEnvironment(nodes = 3, replicas = 3): Environment {
  return new Environment({ name: 'edge', replicas, nodeGroups: [{ name: 'edge', minSize: nodes, maxSize: nodes + 2 }] });
}

/** A stack without a Namespace object, as Swarm and Docker-host environments use. */
export function hostStack(environment: Environment = swarmEnvironment()): Stack {
  return new Stack(new App(), environment.name, { environment });
}

/** The content of a synthesized output file; throws listing the files when it is missing. */
export function fileOf(result: SynthesizedStack, path: string): string {
  const f = result.files.find((x) => x.path === path);
  if (!f) throw new Error(`no file ${path}; have ${result.files.map((x) => x.path).join(', ')}`);
  return f.content;
}

/** Synthesizes and returns the result; `problems` are left to the caller. */
export function synthHost(build: (stack: Stack) => void, environment?: Environment): SynthesizedStack {
  const stack = hostStack(environment);
  build(stack);
  return synthesizeStack(stack);
}
