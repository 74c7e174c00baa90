// Registers every resource of the reference platform (all environments) with Pulumi's mock engine.
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { StackComponent } from '../../lib/pulumi';
import { environments } from '../../stacks/environments';
import { buildPlatform } from '../../stacks/platform';

async function main(): Promise<void> {
  let registered = 0;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered += 1;
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    'shipshape-platform',
    'bench',
    false,
  );
  const urns: pulumi.Output<string>[] = [];
  for (const environment of environments) {
    const provider = new k8s.Provider(`kubernetes-${environment.name}`, {});
    const component = new StackComponent(environment.name, { stack: buildPlatform(new App(), environment), provider });
    urns.push(component.urn, ...[...component.resources.values()].map((r) => r.urn));
  }
  await new Promise((resolve) => pulumi.all(urns).apply(resolve));
  console.log(JSON.stringify({ resources: registered }));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
