import { formatSummary, synth } from '../lib';
import { buildApp } from './platform';

// `npm run synth` and `npx cdk8s synth` both run this file; cdk8s passes the output directory in CDK8S_OUTDIR.
try {
  for (const summary of synth(buildApp())) console.log(formatSummary(summary));
} catch (e) {
  console.error((e as Error).message);
  process.exitCode = 1;
}
