// The Pulumi packages are optional peer dependencies, absent from a synth-only install. Without this check the
// first missing one surfaces as Node's bare "Cannot find module", which says neither that it is optional nor what
// else to install. Imported first by the entry, so it runs before any module that loads Pulumi.
import { ShipshapeError } from '../core/errors';

// The optional peer dependencies `shipshape/pulumi` loads at run time.
const PULUMI_PEERS = ['@pulumi/pulumi', '@pulumi/kubernetes', '@pulumi/docker'] as const;

function resolvable(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

const missing = PULUMI_PEERS.filter((name) => !resolvable(name));
if (missing.length > 0) {
  throw new ShipshapeError('shipshape/pulumi', {
    problem: `the Pulumi back end loads the optional peer dependencies ${PULUMI_PEERS.join(', ')}; not installed: ${missing.join(', ')}`,
    fix: `npm install ${missing.join(' ')} (synthesis alone needs none of them: import it from 'shipshape')`,
  });
}
