import * as pulumi from '@pulumi/pulumi';

/** A resource as the (mock) Pulumi engine received it. */
export interface RegisteredResource {
  readonly type: string;
  readonly name: string;
  readonly inputs: any;
  readonly provider?: string;
}

/**
 * Installs Pulumi mocks for `stack` that record every registered resource, and
 * returns the list they fill. `state` adds outputs the engine would compute.
 */
export async function recordResources(stack: string, options: { project?: string; state?: (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown> } = {}): Promise<RegisteredResource[]> {
  const registered: RegisteredResource[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider });
        return { id: `${args.name}-id`, state: { ...args.inputs, ...options.state?.(args) } };
      },
      call: (args) => args.inputs,
    },
    options.project ?? 'shipshape-platform',
    stack,
    false,
  );
  return registered;
}

/** Resolves when every output has been registered with the (mock) engine. */
export function settled(outputs: pulumi.Output<unknown>[]): Promise<unknown[]> {
  return new Promise((resolve) => pulumi.all(outputs).apply(resolve));
}
