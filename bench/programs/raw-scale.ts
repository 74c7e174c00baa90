// The same objects as synth-scale, written with plain cdk8s-plus-27: `raw-scale <services> <outdir>`.
import { buildRawScaleApp, writeRawApp } from '../generators/raw';

const [count, outdir] = process.argv.slice(2);
console.log(JSON.stringify({ objects: writeRawApp(buildRawScaleApp(Number(count)), outdir) }));
