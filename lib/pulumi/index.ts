// The public entry `shipshape/pulumi`: explicit names only, so a helper added to a module stays internal until
// it is listed (and documented) here.
import './optional-peers';
export { StackComponent, ShipshapeStack } from './stack-component';
export type { StackComponentArgs, ShipshapeStackArgs } from './stack-component';
export type { DockerResources } from './docker';
export { kubernetesManifestOf, shipshapePolicies } from './policy-pack';
export { fromInput } from './from-input';
