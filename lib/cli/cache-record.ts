import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What the cache records for one bundle: its file and every input it was built from, with its hash. */
export interface CacheRecord {
  /** Hash of what the bundle depends on besides its inputs: options, esbuild and Node versions, project folder. */
  readonly fingerprint: string;
  /** The bundle's file name, in the cache folder. */
  readonly bundle: string;
  /** Absolute path → content hash, or null for a file that did not exist (a tsconfig.json that may appear). */
  readonly inputs: Record<string, string | null>;
  /** Absolute path → the file's signature (see signature), taken before its content was hashed. */
  readonly signatures: Record<string, string>;
  /** When the record was written (ms since the epoch). */
  readonly written: number;
}

// The change time's resolution is the kernel's clock tick, and a coarse file system's is seconds: a signature taken
// sooner than this after the file's last change could also be that of a write in the same tick, so it is not trusted.
const SETTLE_MS = 2000;

/** The SHA-256 of a file's content, or null when it cannot be read. */
function hashFile(file: string): string | null {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
}

/**
 * A file's device, inode, size, and modification and change times, or undefined when there is none. Any write gives
 * the file another: its change time cannot be set back (npm gives every file it unpacks the same modification time).
 */
export function signature(file: string): string | undefined {
  const s = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
  return s === undefined ? undefined : `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** An input as recorded: its hash, and its signature taken before the content was read (a later write changes it). */
export interface ObservedInput {
  readonly hash: string | null;
  readonly signature?: string;
}

/** Hashes a file, taking its signature first. */
export function observeFile(file: string): ObservedInput {
  const before = signature(file);
  return { hash: hashFile(file), signature: before };
}

/** Collects observed inputs into a record's `inputs` and `signatures`. */
export function recordInputs(observed: Iterable<[string, ObservedInput]>): Pick<CacheRecord, 'inputs' | 'signatures'> {
  const inputs: Record<string, string | null> = {};
  const signatures: Record<string, string> = {};
  for (const [file, { hash, signature: sig }] of observed) {
    inputs[file] = hash;
    if (hash !== null && sig !== undefined) signatures[file] = sig;
  }
  return { inputs, signatures };
}

/** Whether the file's last change, as `sig` gives it, lies far enough before `written` for any later write to change `sig`. */
function settled(sig: string, written: number): boolean {
  return Number(BigInt(sig.slice(sig.lastIndexOf(':') + 1)) / 1_000_000n) < written - SETTLE_MS;
}

/** Writes `file` under a temporary name and renames it, so that a concurrent reader sees the old file or the new one. */
export function writeAtomically(file: string, content: string | Uint8Array): void {
  const temporary = `${file}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`;
  fs.writeFileSync(temporary, content);
  fs.renameSync(temporary, file);
}

/** The record in `file`, or undefined when there is none or it does not parse. */
export function readRecord<T extends CacheRecord>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * Whether `record` still describes its inputs: same fingerprint, bundle present, every input unchanged. An input
 * whose signature is the recorded, settled one is unchanged without being read; any other is hashed. When inputs
 * were hashed and none changed, the record is written again with their new signatures, so that the next run
 * reads none of them.
 */
export function isCurrent(record: CacheRecord | undefined, fingerprint: string, file: string): record is CacheRecord {
  if (record === undefined || record.fingerprint !== fingerprint || !fs.existsSync(path.join(path.dirname(file), record.bundle))) return false;
  const signatures: Record<string, string> = {};
  let renewed = false;
  for (const [input, hash] of Object.entries(record.inputs)) {
    const now = signature(input);
    if (now === undefined) {
      if (hash === null) continue;
      return false;
    }
    if (now === record.signatures[input] && settled(now, record.written)) {
      signatures[input] = now;
      continue;
    }
    if (hashFile(input) !== hash) return false;
    if (hash !== null) {
      signatures[input] = now;
      renewed = true;
    }
  }
  if (renewed) {
    try {
      writeAtomically(file, JSON.stringify({ ...record, signatures, written: Date.now() }));
    } catch {
      // The next run hashes them again.
    }
  }
  return true;
}
