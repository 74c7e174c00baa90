import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root. */
export const ROOT = path.resolve(__dirname, '../..');

/** A fenced code block of a Markdown page. */
export interface CodeBlock {
  /** The page, relative to the repository root (`docs/workloads.md`). */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string's first word (`ts`), empty when the fence has none. */
  readonly lang: string;
  /** The info string's other words (`fails` in ```ts fails). */
  readonly flags: readonly string[];
  readonly code: string;
}

/**
 * The pages whose samples and links are checked: README.md and every Markdown file under docs/, except the
 * generated API reference in docs/api.
 */
export function documentationPages(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.md'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)))
    .filter((f) => !f.startsWith(path.join('docs', 'api') + path.sep))
    .sort();
  return ['README.md', ...docs];
}

const FENCE = /^(\s{0,3})(`{3,}|~{3,})\s*([^`\s]*)\s*(.*)$/;

/** The fenced code blocks of `file` (relative to the root), in order. An unclosed fence runs to the end. */
export function codeBlocks(file: string): CodeBlock[] {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, lang, rest] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = lines[j].trim();
      if (close.startsWith(fence[0].repeat(fence.length)) && /^[`~]+$/.test(close)) break;
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    }
    blocks.push({ file, line: i + 1, lang, flags: rest.split(/\s+/).filter(Boolean), code: body.join('\n') + '\n' });
    i = j;
  }
  return blocks;
}

/** `file`'s lines with fenced blocks blanked out (line numbers kept). */
function unfenced(file: string): string[] {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const fenced = new Set<number>();
  for (const block of codeBlocks(file)) {
    const length = block.code.split('\n').length;
    for (let n = block.line - 1; n <= block.line + length - 1; n++) fenced.add(n);
  }
  return lines.map((l, n) => (fenced.has(n) ? '' : l));
}

/** A link of a page: its target as written and the line it is on. */
export interface Link {
  readonly target: string;
  readonly line: number;
}

/** Inline links and images (`[text](target)`), reference definitions (`[id]: target`) and HTML `href`/`src`. */
export function links(file: string): Link[] {
  const found: Link[] = [];
  unfenced(file)
    .map((l) => l.replace(/(`+)[^`]*?\1/g, ''))
    .forEach((text, n) => {
      for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) found.push({ target: m[1], line: n + 1 });
      for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)) found.push({ target: m[1], line: n + 1 });
      for (const m of text.matchAll(/\b(?:href|src)="([^"]+)"/g)) found.push({ target: m[1], line: n + 1 });
    });
  return found;
}

/**
 * The anchors GitHub gives a page's headings: lower-cased, punctuation other than `-` and `_` dropped, spaces
 * turned into hyphens, and `-1`, `-2`… appended to repeats.
 */
export function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const line of unfenced(file)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    const explicit = [...line.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)].map((m) => m[1]);
    for (const id of explicit) result.add(id);
    if (!heading) continue;
    const text = heading[1].replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}
