// Synthesizes the generated scale stacks with shipshape: `synth-scale <services> <outdir>`.
import { synth } from '../../lib';
import { buildShipshapeScaleApp } from '../generators/shipshape';

const [count, outdir] = process.argv.slice(2);
const summaries = synth(buildShipshapeScaleApp(Number(count)), { outdir });
console.log(JSON.stringify({ objects: summaries.reduce((n, s) => n + s.objects, 0) }));
