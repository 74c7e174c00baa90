import { isDeepStrictEqual } from 'node:util';
import { yaml } from './yaml';

/** The differences of one environment (or of the shared folders). */
export interface GroupDiff {
  /** Environment name, or `shared` for the folders outside every environment. */
  readonly name: string;
  /** `kind namespace/name` of Kubernetes objects. */
  readonly objects: { readonly added: string[]; readonly changed: string[]; readonly removed: string[] };
  /** Other files, relative to the environment directory (or the output directory for shared ones). */
  readonly files: { readonly added: string[]; readonly changed: string[]; readonly removed: string[] };
  /** Set when the whole environment exists on one side only. */
  readonly status?: 'new environment' | 'environment removed';
}

/** What `shipshape diff` found. */
export interface DiffReport {
  readonly groups: readonly GroupDiff[];
}

/** Every Kubernetes object of a manifest folder, by `kind namespace/name`; files that do not parse as manifests are left in `rest`. */
function objectsOf(files: ReadonlyMap<string, string>, prefix: string): { objects: Map<string, unknown>; rest: Map<string, string> } {
  const objects = new Map<string, unknown>();
  const rest = new Map<string, string>();
  for (const [rel, content] of files) {
    const local = rel.slice(prefix.length);
    if (!local.startsWith('kubernetes/') || !local.endsWith('.yaml') || local === 'kubernetes/kustomization.yaml') {
      rest.set(local, content);
      continue;
    }
    const docs = yaml().parseAllDocuments(content);
    const values = Array.isArray(docs) ? docs.filter((d) => d.errors.length === 0).map((d) => d.toJS() as unknown) : [];
    const manifests = values.filter((v): v is { kind: string; metadata: { name: string; namespace?: string } } => {
      const m = v as { kind?: unknown; metadata?: { name?: unknown } } | null;
      return typeof m?.kind === 'string' && typeof m.metadata?.name === 'string';
    });
    if (manifests.length === 0 || manifests.length !== values.length || (Array.isArray(docs) && docs.length !== values.length)) {
      rest.set(local, content);
      continue;
    }
    for (const m of manifests) objects.set(`${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata.name}`, m);
  }
  return { objects, rest };
}

function compareMaps<T>(before: ReadonlyMap<string, T>, after: ReadonlyMap<string, T>, same: (a: T, b: T) => boolean, withRemoved = true) {
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    added: [...after.keys()].filter((k) => !before.has(k)).sort(byName),
    changed: [...after.keys()].filter((k) => before.has(k) && !same(before.get(k)!, after.get(k)!)).sort(byName),
    removed: withRemoved ? [...before.keys()].filter((k) => !after.has(k)).sort(byName) : [],
  };
}

function filesUnder(files: ReadonlyMap<string, string>, matches: (rel: string) => boolean): Map<string, string> {
  return new Map([...files].filter(([rel]) => matches(rel)));
}

function environmentDiff(name: string, before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): GroupDiff {
  const prefix = `${name}/`;
  const old = objectsOf(
    filesUnder(before, (r) => r.startsWith(prefix)),
    prefix,
  );
  const now = objectsOf(
    filesUnder(after, (r) => r.startsWith(prefix)),
    prefix,
  );
  // Objects compare by content, not by text: a reordered key or a re-quoted string is no change.
  const objects = compareMaps(old.objects, now.objects, isDeepStrictEqual);
  const files = compareMaps(old.rest, now.rest, (a, b) => a === b);
  // The kustomization lists the objects' files; when objects come or go, its change is already told.
  if (objects.added.length + objects.removed.length > 0) files.changed = files.changed.filter((f) => f !== 'kubernetes/kustomization.yaml');
  const status = old.objects.size + old.rest.size === 0 ? 'new environment' : now.objects.size + now.rest.size === 0 ? 'environment removed' : undefined;
  return { name, objects, files, ...(status !== undefined ? { status } : {}) };
}

/**
 * Compares the output synth would write (`after`) with a directory's (`before`), per environment. With
 * `only` set (synth of some environments), other environments are not compared and shared files that
 * synth would not write are not reported as removed.
 */
export function diffOutputs(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>, environments: readonly string[], sharedFolders: readonly string[], only: boolean): DiffReport {
  const top = (rel: string) => rel.split('/')[0];
  const known = new Set(environments);
  const sharedTop = (t: string) => !known.has(t) && (sharedFolders.includes(t) || [...after.keys()].some((r) => top(r) === t && !known.has(t)));
  const groups = environments.map((e) => environmentDiff(e, before, after));
  if (!only) {
    // Folders of the compared output that are neither an environment of the program nor shared: removed environments.
    const gone = [...new Set([...before.keys()].map(top))].filter((t) => !known.has(t) && !sharedTop(t) && [...before.keys()].some((r) => r.startsWith(`${t}/`)));
    for (const t of gone.sort()) groups.push(environmentDiff(t, before, after));
  }
  const isShared = (rel: string) => {
    const t = top(rel);
    return rel.includes('/') ? sharedTop(t) : !known.has(t);
  };
  const shared = compareMaps(filesUnder(before, isShared), filesUnder(after, isShared), (a, b) => a === b, !only);
  groups.push({ name: 'shared', objects: { added: [], changed: [], removed: [] }, files: shared });
  return { groups };
}

function count(g: GroupDiff): number {
  return [g.objects.added, g.objects.changed, g.objects.removed, g.files.added, g.files.changed, g.files.removed].reduce((n, l) => n + l.length, 0);
}

/** Whether anything differs. */
export function hasDifferences(report: DiffReport): boolean {
  return report.groups.some((g) => count(g) > 0);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function headline(g: GroupDiff): string {
  const parts: string[] = [];
  const add = (list: readonly string[], what: string, verb: string) => {
    if (list.length > 0) parts.push(`${plural(list.length, what)} ${verb}`);
  };
  add(g.objects.added, 'object', 'added');
  add(g.objects.changed, 'object', 'changed');
  add(g.objects.removed, 'object', 'removed');
  add(g.files.added, 'file', 'added');
  add(g.files.changed, 'file', 'changed');
  add(g.files.removed, 'file', 'removed');
  const status = g.status !== undefined ? `${g.status}: ` : '';
  return `- ${g.name}: ${parts.length === 0 ? 'no changes' : `${status}${parts.join(', ')}`}`;
}

/** Lines listed per group before "and N more": enough to review, short enough for a pull-request comment. */
export const DIFF_LIST_LIMIT = 10;

/**
 * The report as text that reads in a terminal and renders as Markdown in a pull-request comment: one line
 * per environment, then the objects and files of each environment that differs, at most `limit` each.
 */
export function formatDiff(report: DiffReport, against: string, limit = DIFF_LIST_LIMIT): string {
  const differing = report.groups.filter((g) => count(g) > 0);
  const environments = report.groups.filter((g) => g.name !== 'shared');
  const changedEnvironments = differing.filter((g) => g.name !== 'shared').length;
  const lines = [
    differing.length === 0
      ? `shipshape diff: no differences from ${against}`
      : `shipshape diff: ${changedEnvironments} of ${plural(environments.length, 'environment')} ${changedEnvironments === 1 ? 'differs' : 'differ'} from ${against}${differing.some((g) => g.name === 'shared') ? ', and shared files' : ''}`,
    '',
  ];
  for (const g of report.groups) if (g.name !== 'shared' || count(g) > 0) lines.push(headline(g));
  for (const g of differing) {
    const entries = [
      ...g.objects.added.map((o) => `+ ${o}`),
      ...g.objects.changed.map((o) => `~ ${o}`),
      ...g.objects.removed.map((o) => `- ${o}`),
      ...g.files.added.map((f) => `+ file ${f}`),
      ...g.files.changed.map((f) => `~ file ${f}`),
      ...g.files.removed.map((f) => `- file ${f}`),
    ];
    lines.push('', `${g.name}:`, '```diff', ...entries.slice(0, limit));
    if (entries.length > limit) lines.push(`  … and ${entries.length - limit} more`);
    lines.push('```');
  }
  return lines.join('\n');
}
