import { parseAllDocuments } from 'yaml';

/**
 * The credential detector shared by the Kubernetes policy rules, the Swarm service check and the output scan.
 *
 * Two rules, applied together:
 * - the **name rule**: a variable, key or flag named like a credential (`DB_PASSWORD`, `PGPASSWORD`, `api-key`,
 *   `spring.datasource.password`, `SENTRY_DSN`, `REDIS_AUTH`) holds a credential unless its value is clearly
 *   something else: a number, a duration or size, a boolean, an absolute path or a reference to where the
 *   secret really lives (`$(VAR)`, `${VAR}`, `#{ENV['VAR']}`, `{{ ... }}`);
 * - the **value-shape rule**: whatever the name, a value that embeds a password in a URL (`redis://:pw@host`),
 *   a token of a known format (GitHub, AWS access key id, JWT, Slack, Stripe, GitLab, npm, Docker Hub, Google),
 *   a private key, or a `password=…`-style assignment (command lines, query strings, properties, ini, env, JSON
 *   and YAML files) holds a credential.
 *
 * Names that merely mention a credential word (`SORT_KEY`, `PRIMARY_KEY`, `BYPASS_CACHE`, `TOKEN_TTL`,
 * `SECRETS_DIR`, `PASSWORD_MIN_LENGTH`, `MAX_TOKENS`) are not credentials: words are matched whole, `key` only
 * with a qualifier (`API_KEY`, `SECRET_KEY`), and a credential word followed by a metadata word (`_TTL`, `_DIR`,
 * `_FILE`, `_NAME`, `_LENGTH`...) names something about the credential, not the credential.
 */

/** One credential found in a value. */
export interface CredentialFinding {
  /** The variable, key or flag holding it, when there is one; a per-variable exemption names this. */
  readonly subject?: string;
  /** What was found, e.g. `a password in a URL`, `a GitHub token`, `a credential-named value`. */
  readonly kind: string;
  /** The matched text with the secret masked, safe to print. */
  readonly excerpt: string;
}

// Words that name a credential when a name token ends with them (PGPASSWORD, GITHUB_TOKEN, clientSecret).
const CREDENTIAL_SUFFIX = /(password|passwd|passphrase|passcode|secret|token|credential|apikey|accesskey|secretkey|privatekey|authtoken)s?$/;
// Words that name a credential only as a whole token (DB_PASS, DB_PWD, SENTRY_DSN, REDIS_AUTH).
const CREDENTIAL_WORD = new Set(['pass', 'pwd', 'dsn', 'auth', 'creds', 'cred', 'pat', 'bearer']);
// `key` names a credential after one of these (API_KEY, SECRET_KEY, SIGNING_KEY); SORT_KEY and PRIMARY_KEY do not.
const KEY_QUALIFIER = new Set([
  'api',
  'access',
  'private',
  'secret',
  'signing',
  'sign',
  'encryption',
  'encrypt',
  'decryption',
  'client',
  'master',
  'account',
  'app',
  'application',
  'license',
  'licence',
  'service',
  'webhook',
  'shared',
  'hmac',
  'session',
  'storage',
  'auth',
  'admin',
  'root',
  'ssh',
  'deploy',
  'sas',
  'subscription',
  'consumer',
  'cookie',
  'jwt',
  'cipher',
  'aes',
  'crypto',
  'ingest',
  'write',
  'read',
  'management',
  'server',
  'user',
  'pgp',
  'gpg',
  'tls',
  'ssl',
  'x509',
]);
// Words after a credential word that make the name about the credential rather than the credential itself.
const METADATA_WORD = new Set([
  'ttl',
  'expiry',
  'expires',
  'expiration',
  'lifetime',
  'timeout',
  'age',
  'length',
  'len',
  'size',
  'min',
  'max',
  'count',
  'limit',
  'dir',
  'directory',
  'path',
  'file',
  'files',
  'name',
  'names',
  'ref',
  'refs',
  'type',
  'types',
  'mode',
  'enabled',
  'enable',
  'disabled',
  'required',
  'policy',
  'url',
  'uri',
  'endpoint',
  'endpoints',
  'host',
  'port',
  'header',
  'audience',
  'issuer',
  'scope',
  'scopes',
  'version',
  'format',
  'algorithm',
  'alg',
  'rotation',
  'interval',
  'period',
  'duration',
  'seconds',
  'minutes',
  'hours',
  'days',
  'ms',
  'kind',
  'provider',
  'store',
  'backend',
  'source',
  'label',
  'labels',
  'stdin',
  'prompt',
  'hash',
  'env',
  'var',
  'field',
  'location',
  'mount',
  'volume',
  'namespace',
  'id',
  'ids',
  'checksum',
  'strength',
  'complexity',
  'regex',
  'pattern',
  'chars',
  'characters',
  'reset',
  'retries',
  'attempts',
  'hint',
  'description',
  'cache',
]);
// Names with a credential word that name identifiers: etcd's initial-cluster-token tells clusters apart and is no secret.
const NOT_CREDENTIAL: readonly string[][] = [['initial', 'cluster', 'token']];
// Prefixes that make a credential word a quantity (MAX_TOKENS, NUM_TOKENS).
const QUANTITY_PREFIX = new Set(['max', 'min', 'num', 'n', 'count', 'total', 'default']);

/** Splits a name into lower-case words: `dbPassword` → db, password; `spring.datasource.password` → spring, datasource, password. */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

function credentialWordAt(words: readonly string[], i: number): boolean {
  const w = words[i];
  if (CREDENTIAL_WORD.has(w) || CREDENTIAL_SUFFIX.test(w)) return true;
  return (w === 'key' || w === 'keys') && i > 0 && KEY_QUALIFIER.has(words[i - 1]);
}

/**
 * The name rule: whether a variable, key or flag name says it holds a credential. `SECRET_KEY_FILE`,
 * `TOKEN_TTL` and `MAX_TOKENS` name something about a credential and are not credentials.
 */
export function isCredentialName(name: string): boolean {
  let known = credentialNames.get(name);
  if (known === undefined) {
    // Synth asks about the same few hundred keys (name, image, app.kubernetes.io/name) for every object.
    if (credentialNames.size >= CREDENTIAL_NAMES_CACHED) credentialNames.clear();
    known = judgeName(name);
    credentialNames.set(name, known);
  }
  return known;
}

const credentialNames = new Map<string, boolean>();
// Enough for every distinct key of a large platform; past it the cache starts over, so memory stays bounded.
const CREDENTIAL_NAMES_CACHED = 10_000;

function judgeName(name: string): boolean {
  const words = nameWords(name);
  if (NOT_CREDENTIAL.some((n) => n.every((w, i) => words[words.length - n.length + i] === w))) return false;
  for (let i = words.length - 1; i >= 0; i--) {
    if (!credentialWordAt(words, i)) continue;
    // A trailing metadata word (the credential's file, name, length...) or a count before it.
    if (words.slice(i + 1).some((w) => METADATA_WORD.has(w))) return false;
    if (i > 0 && QUANTITY_PREFIX.has(words[i - 1]) && !words[i].endsWith('key')) return false;
    return true;
  }
  return false;
}

// Authentication schemes: `AUTH=basic` or `REDIS_AUTH=none` names how to log in, not the login.
const AUTH_SCHEME = /^(basic|bearer|digest|oauth2?|oidc|ldap|saml|kerberos|jwt|token|apikey|api-key|anonymous|iam|sigv4|mtls|tls|x509|cert|plain|scram-sha-\d+|md5|trust|peer|password)$/i;

/** Whether `value` is clearly not the credential `name` would hold. */
function inertFor(name: string, value: string): boolean {
  if (isInertValue(value)) return true;
  const words = nameWords(name);
  return words[words.length - 1] === 'auth' && AUTH_SCHEME.test(value.trim());
}

// Values that are clearly not a secret: numbers with units, booleans, absolute paths, references.
const INERT: readonly RegExp[] = [
  /^\s*$/,
  // numbers, durations and sizes: 3600, 0.5, 1h30m, 256Mi, 10s, 80%
  /^[-+]?\d{1,10}(\.\d+)?(%|[KMGTPE]i?|[kKMGT]?B|[kmgt]|ns|us|ms|s|m|h|d|w|y)?$/,
  /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d))+$/,
  /^(true|false|yes|no|on|off|enabled|disabled|none|null|nil|required|optional|always|never)$/i,
  // absolute and home paths, file URLs: /run/secrets/db, ~/.pgpass, file:///etc/x
  /^(~|file:\/\/)?\/[\w.@+/-]*$/,
  // relative paths of key, certificate and configuration files: certs/tls.key, ./client.p12
  /^(\.{1,2}\/)?([\w.-]+\/)*[\w-][\w.-]*\.(key|pem|crt|cer|der|p12|pfx|jks|keystore|truststore|json|ya?ml|txt|conf|cfg|ini|properties|env|asc|gpg|pub)$/,
  // references to where the value lives: $(VAR), ${VAR}, $VAR, "$(cat /run/secrets/x)", #{ENV['X']}, {{ .Values.x }}, <password>
  // (`$$` is compose's escape of `$`: docker-stack.yml writes the reference `$(VAR)` as `$$(VAR)`)
  /^(["']?)\$\$?(\([^)]*\)|\{[^}]*\}|[A-Za-z_]\w*)\1$/,
  /^(["']?)#\{ENV\[[^\]]+\]\}\1$/,
  /^\{\{[^}]*\}\}$/,
  /^<[^<>]*>$/,
  // masks of a value shown elsewhere
  /^\*+$/,
];

/** Whether a value is clearly not a secret (a number, boolean, absolute path or a reference such as `$(VAR)`). */
export function isInertValue(value: string): boolean {
  return INERT.some((re) => re.test(value));
}

/** A known credential format. */
interface Shape {
  readonly kind: string;
  readonly pattern: RegExp;
}

// Token formats documented by their issuers; the prefixes make false positives unlikely.
const SHAPES: readonly Shape[] = [
  { kind: 'a private key', pattern: /-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----/ },
  { kind: 'a GitHub token', pattern: /\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})/ },
  // AKIA: long-term, ASIA: temporary access key id (other 4-letter prefixes are identifiers of users and roles).
  { kind: 'an AWS access key id', pattern: /\b(AKIA|ASIA)[A-Z0-9]{16}\b/ },
  { kind: 'a JSON Web Token', pattern: /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/ },
  { kind: 'a Slack token', pattern: /\bxox[abprse]-[A-Za-z0-9-]{10,}/ },
  { kind: 'a Slack webhook', pattern: /hooks\.slack\.com\/services\/T[A-Za-z0-9]+\/B[A-Za-z0-9]+\/[A-Za-z0-9]+/ },
  { kind: 'a Stripe key', pattern: /\b[rs]k_(live|test)_[A-Za-z0-9]{16,}/ },
  { kind: 'a GitLab token', pattern: /\bgl(pat|dt|rt|ptt|cbt)-[A-Za-z0-9_-]{20,}/ },
  { kind: 'an npm token', pattern: /\bnpm_[A-Za-z0-9]{36}\b/ },
  { kind: 'a Docker Hub token', pattern: /\bdckr_pat_[A-Za-z0-9_-]{20,}/ },
  { kind: 'a Google API key', pattern: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { kind: 'a SendGrid key', pattern: /\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/ },
];

// scheme://[user]:password@host — the user may be empty (redis://:pw@host); an image digest (x:tag@sha256:) is not a login.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*):\/\/([^\s/:@'"]*):([^\s/@'"]+)@(?!sha\d+:)/gi;

// A `key=value` or `key: value` assignment inside text: command lines (--db-password=x), shell (export PASSWORD=x),
// query strings (?user=a&password=x), properties (spring.datasource.password=x), ini, env files, JSON, YAML.
const ASSIGNMENT = /(?<![\w.$-]|\$\{)(?:-D|-{0,2})(["']?)([A-Za-z_][\w.-]*)\1[ \t]*(?:=|:(?![/\\]))[ \t]*("[^"\n]*"|'[^'\n]*'|\$\{[^}\n]*\}|\$\([^)\n]*\)|[^\s&;,"'}\]]*)/g;
// A `--password value` flag followed by its value (command lines and shell scripts).
const FLAG_PAIR = /(?<![\w.$-]|\$\{)(--?)([A-Za-z][\w.-]*)[ \t]+("[^"\n]*"|'[^'\n]*'|[^\s\-;&|<>][^\s;&|<>]*)/g;
// A line holding exactly `key value` (fluent.conf, nginx, redis.conf: `requirepass hunter2`, `password hunter2`).
const KEY_VALUE_LINE = /^[ \t]*([A-Za-z_][\w.-]*)[ \t]+("[^"\n]*"|'[^'\n]*'|\S+)[ \t]*$/gm;

// What every pattern of scanText needs somewhere in the text: `=` or `:` (assignments, URLs), a blank (flag pairs,
// `key value` lines, private keys) or the literal prefix of a token format. Most strings (names, labels, paths) hold none.
const MAY_HOLD_CREDENTIAL = /[=: \t]|gh[pousr]_|github_pat_|AKIA|ASIA|eyJ|xox|hooks\.slack\.com|[rs]k_(?:live|test)_|gl(?:pat|dt|rt|ptt|cbt)-|npm_|dckr_pat_|AIza|SG\./;

function unquote(v: string): string {
  const quote = v.charAt(0);
  return v.length >= 2 && (quote === '"' || quote === "'") && v.endsWith(quote) ? v.slice(1, -1) : v;
}

/** Masks a secret for messages: its first characters and its length. */
export function maskSecret(value: string): string {
  return value.length >= 12 ? `${value.slice(0, 4)}…(${value.length} chars)` : `…(${value.length} chars)`;
}

// Directives whose value is a password although no credential word is whole in their name (redis.conf).
const CREDENTIAL_DIRECTIVE = new Set(['requirepass', 'masterauth']);

function namedCredential(name: string): boolean {
  return isCredentialName(name) || CREDENTIAL_DIRECTIVE.has(name.toLowerCase());
}

/** The value-shape rule alone: known token formats and passwords in URLs, found anywhere in `text`. */
export function credentialShapes(text: string): CredentialFinding[] {
  const found: CredentialFinding[] = [];
  for (const s of SHAPES) {
    const m = s.pattern.exec(text);
    if (m) found.push({ kind: s.kind, excerpt: maskSecret(m[0]) });
  }
  for (const m of text.matchAll(URL_USERINFO)) {
    if (isInertValue(m[3])) continue;
    found.push({ kind: 'a password in a URL', excerpt: `${m[1]}://${m[2]}:${maskSecret(m[3])}@` });
  }
  return found;
}

/**
 * Scans free text (an argument, a command line, a script, a configuration file, an annotation) for
 * credentials: known shapes, and assignments to credential-named keys whose value is not inert.
 * `lines` also reads lines that hold exactly `key value` (configuration files).
 */
export function scanText(text: string, options: { readonly lines?: boolean } = {}): CredentialFinding[] {
  return MAY_HOLD_CREDENTIAL.test(text) ? scanTextFully(text, options) : [];
}

/** {@link scanText} without the first test for what every pattern needs: every pattern runs on `text`. */
export function scanTextFully(text: string, options: { readonly lines?: boolean } = {}): CredentialFinding[] {
  const found = credentialShapes(text);
  const assigned = (key: string, raw: string) => {
    const value = unquote(raw.trim());
    // A quoted stretch of shell code (`password: "'; tr -d ... < file`), not a value.
    if (/\s/.test(value) && /[;|<>`]|\$\(/.test(value)) return;
    if (namedCredential(key) && !inertFor(key, value) && !PLAIN_URL.test(value)) {
      found.push({ subject: key.replace(/^-+/, ''), kind: 'a credential-named value', excerpt: `${key}=${maskSecret(value)}` });
    }
  };
  for (const m of text.matchAll(ASSIGNMENT)) assigned(m[2], m[3]);
  for (const m of text.matchAll(FLAG_PAIR)) {
    assigned(m[2], m[3]);
    const login = userLogin(m[1], m[2], m[3]);
    if (login) found.push(login);
  }
  if (options.lines) for (const m of text.matchAll(KEY_VALUE_LINE)) assigned(m[1], m[2]);
  return dedupe(found);
}

// A URL without user information is judged by the URL rule alone (`TOKEN_ISSUER`-like names, OAuth endpoints);
// one with a user part (a Sentry DSN's key) is a credential-named value like any other.
const PLAIN_URL = /^[a-z][a-z0-9+.-]*:\/\/[^\s@/?#]*([/?#]\S*)?$/i;

/**
 * Scans one named value (an environment variable, a ConfigMap key, a label or annotation): the name rule
 * (a credential-named variable with a value that is not inert) and everything {@link scanText} finds in it.
 */
export function scanVariable(name: string, value: string, options: { readonly lines?: boolean } = {}): CredentialFinding[] {
  const found: CredentialFinding[] = [];
  if (namedCredential(name) && !inertFor(name, value) && !PLAIN_URL.test(value.trim())) {
    found.push({ subject: name, kind: 'a credential-named value', excerpt: `${name}=${maskSecret(value)}` });
  }
  for (const f of scanText(value, options)) found.push({ ...f, subject: f.subject ?? name });
  return dedupe(found);
}

/** `curl -u user:password`, `-fsu user:password`, `--user user:password`: a login given as one flag value. */
function userLogin(dashes: string, flag: string, raw: string): CredentialFinding | undefined {
  if (!(dashes === '--' ? flag === 'user' : /^[A-Za-z]*u$/.test(flag))) return undefined;
  const m = /^([^:\s]*):(.+)$/.exec(unquote(raw.trim()));
  if (!m || isInertValue(m[2])) return undefined;
  return { subject: dashes === '--' ? 'user' : 'u', kind: 'a user:password login', excerpt: `${m[1]}:${maskSecret(m[2])}` };
}

/** Scans a list of arguments (a container's command and args): each one, and `--password value` pairs across two. */
export function scanArgs(args: readonly string[]): CredentialFinding[] {
  const found = args.flatMap((a) => scanText(a, { lines: a.includes('\n') }));
  for (let i = 0; i + 1 < args.length; i++) {
    const flag = /^(--?)([A-Za-z][\w.-]*)$/.exec(args[i]);
    if (flag && namedCredential(flag[2]) && !inertFor(flag[2], args[i + 1]) && !args[i + 1].startsWith('-')) {
      found.push({ subject: flag[2], kind: 'a credential-named value', excerpt: `${args[i]} ${maskSecret(args[i + 1])}` });
    }
    const login = flag ? userLogin(flag[1], flag[2], args[i + 1]) : undefined;
    if (login) found.push(login);
  }
  return dedupe(found);
}

/** Annotation and label keys of shipshape's own exemptions: their values are reasons, not settings. */
export const EXEMPTION_KEY = /^exemptions\.shipshape\.io\//;

/** A credential found in a document, with where. */
export interface LocatedCredential extends CredentialFinding {
  /** JSON-path-like location, e.g. `spec.template.spec.containers[0].env[1]`. */
  readonly path: string;
}

/**
 * Scans a parsed document (a manifest, docker-stack.yml, daemon.json, config.yml): every mapping key with
 * its string value by the name rule, `{ name, value }` pairs (environment lists) likewise, and every string by
 * {@link scanText}. Multi-line strings (embedded files) are read line by line too.
 */
export function scanDocument(doc: unknown, skip: (path: string) => boolean = () => false): LocatedCredential[] {
  const found: LocatedCredential[] = [];
  const visit = (node: unknown, path: string, key: string | undefined) => {
    if (skip(path)) return;
    if (typeof node === 'string') {
      const lines = node.includes('\n');
      const hits = key !== undefined && !EXEMPTION_KEY.test(key) ? scanVariable(lastSegment(key), node, { lines }) : key !== undefined ? [] : scanText(node, { lines });
      for (const f of hits) found.push({ ...f, path });
      return;
    }
    if (Array.isArray(node)) {
      // A command line (exec probes, hooks, compose `command`): each argument and `--password value` pairs.
      if (node.length > 0 && node.every((item) => typeof item === 'string')) {
        for (const f of scanArgs(node as string[])) found.push({ ...f, path });
        return;
      }
      // Index loops and Object.keys rather than forEach and Object.entries: this walk visits every field of every object.
      for (let i = 0; i < node.length; i++) visit(node[i], `${path}[${i}]`, undefined);
      return;
    }
    if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      const keys = Object.keys(o);
      // An environment entry: { name: DB_PASSWORD, value: ... }.
      if (typeof o.name === 'string' && typeof o.value === 'string') {
        for (const f of scanVariable(o.name, o.value)) found.push({ ...f, path: `${path}.value` });
        for (const k of keys) if (k !== 'value') visit(o[k], `${path}.${k}`, k);
        return;
      }
      for (const k of keys) visit(o[k], path ? `${path}.${k}` : k, k);
    }
  };
  visit(doc, '', undefined);
  return found;
}

/** `example.com/api-token` → `api-token`: the name part of a qualified key. */
function lastSegment(key: string): string {
  const slash = key.lastIndexOf('/');
  return slash >= 0 ? key.slice(slash + 1) : key;
}

function dedupe(found: CredentialFinding[]): CredentialFinding[] {
  const seen = new Set<string>();
  return found.filter((f) => {
    const k = `${f.subject ?? ''}\u0000${f.kind}\u0000${f.excerpt}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Scans one written file: YAML and JSON are parsed and scanned as documents (keys with their values,
 * environment entries, embedded files line by line); any other file, or one that does not parse, as text.
 */
export function scanFile(fileName: string, content: string): LocatedCredential[] {
  try {
    if (/\.ya?ml$/i.test(fileName)) {
      const documents = parseAllDocuments(content).map((d) => {
        if (d.errors.length > 0) throw d.errors[0];
        return d.toJS();
      });
      return scanYamlDocuments(documents);
    }
    if (/\.json$/i.test(fileName)) return scanDocument(JSON.parse(content));
  } catch {
    // Not well-formed: read it as text below.
  }
  return content.split('\n').flatMap((line, i) => scanText(line, { lines: true }).map((f) => ({ ...f, path: `line ${i + 1}` })));
}

/**
 * {@link scanFile} of a YAML file that is `documents`, in order, each as `toYaml` renders it, after nothing but
 * comment lines: toYaml writes what every reader reads back unchanged, so the values themselves are scanned
 * instead of the file parsed again.
 */
export function scanYamlDocuments(documents: readonly unknown[]): LocatedCredential[] {
  return documents.flatMap((d, i) => scanDocument(d).map((f) => ({ ...f, path: `document ${i}: ${f.path}` })));
}
