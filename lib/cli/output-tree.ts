import * as fs from 'node:fs';
import * as path from 'node:path';
import { ShipshapeError } from '../core/errors';

/** Names at the top of an output directory that belong to the writer's working state, not to the output. */
function isWorkingEntry(name: string, marker: string): boolean {
  return name === marker || name.startsWith('.shipshape-');
}

/** What the symbolic link `link` points at; a link to nothing is an error naming it. */
function linkTarget(link: string): fs.Stats {
  try {
    return fs.statSync(link);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ELOOP') throw e;
    throw new ShipshapeError(link, {
      problem: code === 'ELOOP' ? 'is a symbolic link that points back at itself' : 'is a symbolic link to nothing',
      value: fs.readlinkSync(link),
      fix: 'remove the link, or restore the file it points at',
    });
  }
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
      const stat = entry.isSymbolicLink() ? linkTarget(full) : entry;
      if (stat.isDirectory()) walk(child);
      else if (stat.isFile()) files.set(child, fs.readFileSync(full, 'utf8'));
    }
  };
  walk('');
  return files;
}
