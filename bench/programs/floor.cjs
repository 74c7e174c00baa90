// The serialization floor: read objects from a JSON dump and write the same files with the same YAML
// library and options as `synth`. Nothing else is loaded, so this is the least a synth can cost.
// Usage: node bench/programs/floor.cjs <dump.json> <outdir>
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { stringify } = require('yaml');

const [dumpFile, outdir] = process.argv.slice(2);
const dump = JSON.parse(fs.readFileSync(dumpFile, 'utf8'));
const made = new Set();
for (const f of dump.files) {
  const file = path.join(outdir, f.path);
  const dir = path.dirname(file);
  if (!made.has(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    made.add(dir);
  }
  fs.writeFileSync(file, 'object' in f ? stringify(f.object, dump.yamlOptions) : f.text);
}
