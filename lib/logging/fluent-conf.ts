import { ErrorScope, ShipshapeError } from '../core/errors';

/**
 * A value read from the Fluentd process environment when the config is loaded,
 * rendered as `"#{ENV['NAME']}"`. Credentials reach fluent.conf only this way:
 * the rendered file names the variable, the pod takes its value from a Secret.
 */
export class FluentEnv {
  constructor(public readonly variable: string) {}
}

/** A regular expression parameter, rendered as `/source/`. */
export class FluentRegexp {
  constructor(public readonly source: string) {}
}

/** A parameter value of a fluent.conf directive. */
export type FluentValue = string | number | boolean | readonly string[] | FluentEnv | FluentRegexp;

/** One `<name arg>...</name>` section of fluent.conf. */
export interface FluentDirective {
  /** Section name: `source`, `filter`, `match`, `label`, `parse`, `buffer`, `store`, `metric`, `labels`, `system`... */
  readonly name: string;
  /**
   * Section argument: the tag pattern of `filter`/`match`, the label of `label`, the chunk keys of `buffer`.
   * @default - none
   */
  readonly arg?: string;
  /**
   * Parameters in the order they are rendered.
   * @default []
   */
  readonly params?: readonly (readonly [string, FluentValue])[];
  /**
   * Nested sections, rendered after the parameters.
   * @default []
   */
  readonly children?: readonly FluentDirective[];
}

// Section names and parameter keys Fluentd accepts (`@type`, `@id`, `@label`, `@log_level` are the system keys).
const DIRECTIVE_NAME = /^[a-z][a-z_]*$/;
const PARAM_KEY = /^(@(type|id|label|log_level)|[a-z][a-z0-9_]*)$/;
// Tag patterns (`kubernetes.**`, `{a,b}.*`), labels (`@FLUENT_LOG`) and buffer chunk keys (`tag,time`).
const DIRECTIVE_ARG = /^[A-Za-z0-9_.*{},@$-]+$/;
// Values that need no quoting: nothing Fluentd's literal parser treats specially (quotes, brackets, '#', spaces).
const BARE_VALUE = /^[A-Za-z0-9_./:%*+=,@-]+$/;
const ENV_VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INDENT = '  ';

/**
 * Quotes a string for fluent.conf. Inside double quotes Fluentd evaluates
 * backslash escapes and `#{...}` Ruby code, so `\`, `"` and `#` are escaped:
 * a value can never inject code or end its line early.
 */
export function quoteFluentString(value: string): string {
  const escaped = value.replace(/[\\"#\n\r\t]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '#': '\\#', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!);
  return `"${escaped}"`;
}

function renderString(value: string): string {
  return value !== '' && BARE_VALUE.test(value) ? value : quoteFluentString(value);
}

/** Renders one parameter value; throws naming `scope` and `key` when it cannot be written safely. */
export function renderFluentValue(scope: ErrorScope, key: string, value: FluentValue): string {
  if (value instanceof FluentEnv) {
    if (!ENV_VARIABLE.test(value.variable)) {
      throw new ShipshapeError(scope, {
        problem: `fluent.conf parameter ${key} reads an environment variable whose name is not an identifier`,
        value: value.variable,
        fix: 'use letters, digits and _',
      });
    }
    return `"#{ENV['${value.variable}']}"`;
  }
  if (value instanceof FluentRegexp) {
    // Written bare, so a '#' would start a comment and a line break would end the value.
    if (value.source === '' || /[\n\r#]/.test(value.source) || value.source.trim() !== value.source) {
      throw new ShipshapeError(scope, {
        problem: `fluent.conf parameter ${key} has a regular expression that cannot be written as /.../`,
        value: value.source,
        fix: 'use a non-empty single-line expression without "#" or surrounding spaces (write # as \\x23)',
      });
    }
    return `/${value.source}/`;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ShipshapeError(scope, { problem: `fluent.conf parameter ${key} must be a finite number`, value, fix: 'give a number' });
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return renderString(value);
  // Arrays are written as JSON, which Fluentd's array type reads. Fluentd may evaluate `#{...}` inside the
  // JSON strings and JSON has no escape for '#', so elements with '#' or control characters are refused.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  const bad = value.find((v) => typeof v !== 'string' || /[#\u0000-\u001f]/.test(v));
  if (bad !== undefined) {
    throw new ShipshapeError(scope, { problem: `an element of fluent.conf array parameter ${key} contains "#" or a control character`, value: bad, fix: 'remove the character from the element' });
  }
  return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
}

function renderDirective(scope: ErrorScope, d: FluentDirective, depth: number, out: string[]): void {
  const pad = INDENT.repeat(depth);
  if (!DIRECTIVE_NAME.test(d.name)) {
    throw new ShipshapeError(scope, { problem: 'a fluent.conf section name must be lower-case letters and _', value: d.name, fix: 'use a Fluentd section name such as "match"' });
  }
  if (d.arg !== undefined && !DIRECTIVE_ARG.test(d.arg)) {
    throw new ShipshapeError(scope, { problem: `the argument of <${d.name}> must be a tag pattern, label or chunk-key list`, value: d.arg, fix: 'use letters, digits and . * _ - , { } @ only' });
  }
  out.push(`${pad}<${d.name}${d.arg !== undefined ? ` ${d.arg}` : ''}>`);
  const seen = new Set<string>();
  for (const [key, value] of d.params ?? []) {
    if (!PARAM_KEY.test(key)) {
      throw new ShipshapeError(scope, { problem: `fluent.conf parameter name in <${d.name}> is not valid`, value: key, fix: 'use lower-case letters, digits and _, or @type/@id/@label/@log_level' });
    }
    if (seen.has(key)) throw new ShipshapeError(scope, { problem: `<${d.name}> sets ${key} twice; Fluentd keeps only the last`, value: key, fix: 'set each parameter once' });
    seen.add(key);
    out.push(`${pad}${INDENT}${key} ${renderFluentValue(scope, key, value)}`);
  }
  for (const child of d.children ?? []) renderDirective(scope, child, depth + 1, out);
  out.push(`${pad}</${d.name}>`);
}

/**
 * Renders sections as fluent.conf text: deterministic (sections and parameters
 * in the given order, two-space indentation, one trailing newline) and escaped.
 */
export function renderFluentConf(scope: ErrorScope, directives: readonly FluentDirective[], header?: string): string {
  const out: string[] = [];
  if (header) for (const line of header.split('\n')) out.push(`# ${line}`.trimEnd());
  directives.forEach((d, i) => {
    if (i > 0 || header) out.push('');
    renderDirective(scope, d, 0, out);
  });
  return `${out.join('\n')}\n`;
}
