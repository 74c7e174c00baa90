import * as fs from 'node:fs';
import * as path from 'node:path';

/** Names at the top of an output directory that belong to the writer's working state, not to the output. */
function isWorkingEntry(name: string, marker: string): boolean {
  return name === marker || name.startsWith('.shipshape-');
}

/**
 * Every file under `dir` (path relative to it, with forward slashes → content), the output marker and the
 * writer's working directories left out; top-level entries for which `skip` holds are not read. An absent
 * directory reads as empty.
 */
export function readOutputTree(dir: string, marker: string, skip: (topLevel: string) => boolean = () => false): Map<string, string> {
  const files = new Map<string, string>();
  if (!fs.existsSync(dir)) return files;
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (rel === '' && (isWorkingEntry(entry.name, marker) || skip(entry.name))) continue;
      const full = path.join(dir, child);
      const stat = entry.isSymbolicLink() ? fs.statSync(full) : entry;
      if (stat.isDirectory()) walk(child);
      else if (stat.isFile()) files.set(child, fs.readFileSync(full, 'utf8'));
    }
  };
  walk('');
  return files;
}
