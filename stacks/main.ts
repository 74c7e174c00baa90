import { buildApp } from './platform';

// `npm run synth` and `npx cdk8s synth` both run this file; cdk8s passes the output directory in CDK8S_OUTDIR.
buildApp().synth();
