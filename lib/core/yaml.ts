import { Document, Scalar, isCollection, isPair, isScalar } from 'yaml';

/** YAML options for every written file: no folding, so diffs stay line-based and stable. */
export const YAML_OPTIONS = { lineWidth: 0, minContentWidth: 0 } as const;

// Plain scalars that some reader resolves to something other than a string. The `yaml` package quotes what
// YAML 1.2's core schema would resolve; these add what YAML 1.1 readers resolve: PyYAML and SnakeYAML (the
// 1.1 type regexes), Go's yaml.v2 (what `kubectl create -f` and most Go tools parse with), and the `yaml`
// package in 1.1 mode. Each line names the reader that needs it.
const NULL_AND_BOOL: ReadonlySet<string> = new Set([
  // null (all)
  ...['~', 'null', 'Null', 'NULL', ''],
  // bool: the 1.1 set; y/Y/n/N are yaml.v2 and the `yaml` package
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE', 'on', 'On', 'ON', 'off', 'Off', 'OFF'],
]);
const NON_STRING_PLAIN: readonly RegExp[] = [
  // int: binary, octal, decimal, hexadecimal with `_` separators (1.1), 0o octal (1.2)
  /^[-+]?0b[0-1_]+$/,
  /^[-+]?0[0-7_]+$/,
  /^[-+]?[0-9][0-9_]*$/,
  /^[-+]?0x[0-9a-fA-F_]+$/,
  /^0o[0-7]+$/,
  // sexagesimal int and float (1.1: `1:20` is 80, `12:30:00` is 45000)
  /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/,
  // float: fixed, exponent, infinity and NaN (1.1 and 1.2 spellings)
  /^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*$/,
  /^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$/,
  /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
  // SnakeYAML reads a sign or digit followed by digits and `_` (`+_1`, `1_.5e3`) as a float
  /^(?:[-+][0-9_]+|[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?$/,
  // timestamp: date, or date and time with optional fraction and zone; yaml.v2 also takes one-digit fields
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$/,
  // merge key and the 1.1 value key (PyYAML resolves `=` to a tag it cannot construct)
  /^(?:<<|=)$/,
];

// The first characters NON_STRING_PLAIN and goNumber can match (`e5` is a float): most strings (names, images, paths) start otherwise.
const PATTERN_START = /^[-+.0-9eE<=]/;

/**
 * Go's yaml.v2 drops every `_` and then hands a scalar starting with a sign or digit to strconv, which
 * takes Go's base prefixes (0x, 0o, 0b, and a leading 0 for octal) in either case: `0_x1F`, `1__0`, `0O17`.
 */
function goNumber(value: string): boolean {
  if (!/^[-+0-9]/.test(value)) return false;
  const plain = value.replace(/_/g, '');
  return /^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)$/.test(plain);
}

/**
 * Whether a string written as a plain scalar would be read back as something else (bool, number, null,
 * date, timestamp, merge key) by a YAML 1.1 or 1.2 reader. Such strings must be quoted.
 */
export function isAmbiguousPlainScalar(value: string): boolean {
  if (NULL_AND_BOOL.has(value)) return true;
  if (!PATTERN_START.test(value)) return false;
  return NON_STRING_PLAIN.some((re) => re.test(value)) || goNumber(value);
}

// NEL, LS and PS: line breaks to YAML 1.1 readers, ordinary characters to YAML 1.2 ones.
const YAML11_BREAKS = /[\u0085\u2028\u2029]/;
const YAML11_BREAKS_ALL = /[\u0085\u2028\u2029]/g;

/** Marks the string scalars under `node` (keys included) that must be double-quoted; a direct walk, as `visit` costs more than the checks. */
function quoteWhereNeeded(node: unknown): void {
  if (isScalar(node)) {
    quoteScalar(node);
  } else if (isPair(node)) {
    quoteWhereNeeded(node.key);
    quoteWhereNeeded(node.value);
  } else if (isCollection(node)) {
    for (const item of node.items) quoteWhereNeeded(item);
  }
}

function quoteScalar(node: Scalar): void {
  if (typeof node.value !== 'string') return;
  if (node.type === undefined && isAmbiguousPlainScalar(node.value)) node.type = Scalar.QUOTE_DOUBLE;
  // Go's yaml.v3 (docker stack, kubectl) refuses a literal block whose line starts with a tab ("found a tab character").
  // A literal block whose first line is only spaces loses them on reading (" \n" reads back as "\n").
  else if (node.type === undefined && node.value.includes('\n') && (/(^|\n)\t/.test(node.value) || /^ +(\n|$)/.test(node.value))) node.type = Scalar.QUOTE_DOUBLE;
  // YAML 1.1 readers (go-yaml v2 under kubectl, PyYAML) take NEL, LS and PS for line breaks, even quoted.
  if (YAML11_BREAKS.test(node.value)) node.type = Scalar.QUOTE_DOUBLE;
}

/**
 * Renders a value as YAML that every YAML 1.1 and 1.2 reader reads back unchanged: strings that a reader
 * would resolve to a bool, number, null or date (`on`, `yes`, `1_000`, `2001-01-01`, `12:30:00`) are
 * double-quoted, keys included, and so is a multi-line string with a line starting with a tab or any string
 * with U+0085, U+2028 or U+2029 (escaped, since YAML 1.1 reads them as line breaks); every other
 * string is written exactly as the `yaml` package writes it.
 */
export function toYaml(value: unknown, options: { readonly lineWidth?: number; readonly minContentWidth?: number } = YAML_OPTIONS): string {
  const doc = new Document(value);
  quoteWhereNeeded(doc.contents);
  const text = doc.toString(options);
  // Every string holding one is double-quoted above, and the `yaml` package writes them raw there: escape them.
  return YAML11_BREAKS.test(text) ? text.replace(YAML11_BREAKS_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : text;
}
