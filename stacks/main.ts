import { App } from 'cdk8s';
import { formatSummary, synth } from '../lib';
import { environments } from './environments';
import { buildPlatform } from './platform';

// `npm run synth` and `npx cdk8s synth` both run this file; cdk8s passes the output directory in CDK8S_OUTDIR.
const app = new App();
for (const environment of environments) buildPlatform(app, environment);
try {
  for (const summary of synth(app)) console.log(formatSummary(summary));
} catch (e) {
  console.error((e as Error).message);
  process.exitCode = 1;
}
