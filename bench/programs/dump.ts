// Writes the floor's input: `dump platform <file>` (the reference platform) or `dump <services> <file>` (a scale stack).
import * as fs from 'node:fs';
import { buildApp } from '../../stacks/platform';
import { dumpApp } from '../generators/dump';
import { buildShipshapeScaleApp } from '../generators/shipshape';

const [what, file] = process.argv.slice(2);
// The reference platform is the app stacks/main.ts synthesizes.
const app = what === 'platform' ? buildApp() : buildShipshapeScaleApp(Number(what));
const dump = dumpApp(app);
fs.writeFileSync(file, JSON.stringify(dump));
console.log(JSON.stringify({ files: dump.files.length }));
