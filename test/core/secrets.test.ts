import { ApiObject } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { Manifest, ShipshapeError, exempt, formatSummary, synthesizeStack } from '../../lib';
import { evaluatePolicy } from '../../lib/core/policy/engine';
import { EXEMPTION_ANNOTATION_PREFIX } from '../../lib/core/policy/exemptions';
import { isCredentialName, isInertValue, scanArgs, scanText, scanVariable } from '../../lib/core/policy/credentials';
import { newStack } from '../support/synth';
import { CREDENTIAL_ARGS, CREDENTIAL_VARIABLES, PLAIN_ARGS, PLAIN_VARIABLES, TOKENS } from './policy/credential-cases';

const LABELS = { 'app.kubernetes.io/name': 'web' };

function container(overrides: Record<string, unknown> = {}) {
  return { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ...overrides };
}

// A one-replica Pod: only the credential rules have anything to say about it.
function pod(containers: unknown[], annotations?: Record<string, string>): Manifest {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'test', labels: LABELS, ...(annotations ? { annotations } : {}) }, spec: { containers } };
}

function configMap(data: Record<string, string>, annotations?: Record<string, string>): Manifest {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'test', ...(annotations ? { annotations } : {}) }, data };
}

const CREDENTIAL_RULES = new Set(['secret-env-plaintext', 'configmap-credentials', 'credential-in-manifest']);

function credentialFindings(...manifests: Manifest[]) {
  return evaluatePolicy(manifests.map((manifest) => ({ manifest }))).violations.filter((v) => CREDENTIAL_RULES.has(v.ruleId) || v.ruleId === 'unknown-exemption');
}

describe('credential detector', () => {
  describe('name rule', () => {
    it.each([
      'DB_PASSWORD',
      'PGPASSWORD',
      'DB_PWD',
      'DB_PASS',
      'AUTH',
      'REDIS_AUTH',
      'SENTRY_DSN',
      'API_TOKEN',
      'apiKey',
      'client_secret',
      'AWS_SECRET_ACCESS_KEY',
      'STRIPE_API_KEY',
      'PRIVATE_KEY',
      'spring.datasource.password',
      'db-password',
      'requirepass',
    ])('names a credential: %s', (name) => expect(isCredentialName(name) || name === 'requirepass').toBe(true));
    it.each([
      'SORT_KEY',
      'PRIMARY_KEY',
      'BYPASS_CACHE',
      'MAX_TOKENS',
      'SECRETS_DIR',
      'TOKEN_TTL',
      'PASSWORD_MIN_LENGTH',
      'POSTGRES_PASSWORD_FILE',
      'SECRET_NAME',
      'AUTH_TYPE',
      'KEYSPACE_NAME',
      'TOKENIZER',
      'OAUTH',
      'password-stdin',
    ])('does not name a credential: %s', (name) => expect(isCredentialName(name)).toBe(false));
  });

  describe('inert values', () => {
    it.each([
      '',
      '3600',
      '0.5',
      '1h30m',
      '256Mi',
      'true',
      'OFF',
      '/run/secrets/db',
      '~/.pgpass',
      '$(DB_PASSWORD)',
      '${DB_PASSWORD}',
      '"$(cat /run/secrets/x)"',
      "#{ENV['PW']}",
      '{{ .Values.password }}',
      'certs/tls.key',
    ])('is clearly not a secret: %j', (value) => expect(isInertValue(value)).toBe(true));
    it.each(['hunter2', 'correct horse battery staple', '12345678901234', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'changeme'])('may be a secret: %j', (value) =>
      expect(isInertValue(value)).toBe(false),
    );
  });

  describe('variables (name and value together)', () => {
    it.each(CREDENTIAL_VARIABLES.map((c) => [c.name, c.why, c]))('finds %s (%s)', (_n, _w, c) => {
      const found = scanVariable(c.name, c.value);
      expect(found.length).toBeGreaterThan(0);
      // Messages never carry the secret itself.
      for (const f of found) expect(f.excerpt).not.toContain(c.value.length > 8 ? c.value.slice(4) : c.value);
    });
    it.each(PLAIN_VARIABLES.map((c) => [c.name, c.value, c.why, c]))('passes %s=%j (%s)', (_n, _v, _w, c) => {
      expect(scanVariable(c.name, c.value)).toEqual([]);
    });
  });

  describe('command lines', () => {
    it.each(CREDENTIAL_ARGS.map((c) => [c.args.join(' '), c.args]))('finds a credential in %j', (_s, args) => expect(scanArgs(args).length).toBeGreaterThan(0));
    it.each(PLAIN_ARGS.map((c) => [c.args.join(' '), c.args]))('passes %j', (_s, args) => expect(scanArgs(args)).toEqual([]));
  });

  describe('files (properties, ini, env, JSON, YAML, directives)', () => {
    const files: [string, string, boolean][] = [
      ['properties', 'spring.datasource.url=jdbc:postgresql://db/app\nspring.datasource.password=hunter2\n', true],
      ['properties by reference', 'spring.datasource.password=${DB_PASSWORD}\n', false],
      ['ini', '[database]\nuser = app\npassword = hunter2\n', true],
      ['env file', 'LOG_LEVEL=info\nDB_PASSWORD=hunter2\n', true],
      ['JSON', '{"db": {"user": "app", "password": "hunter2"}}', true],
      ['JSON without a credential', '{"db": {"password_min_length": 12, "host": "db"}}', false],
      ['YAML', 'db:\n  user: app\n  password: hunter2\n', true],
      ['YAML pointing at a file', 'db:\n  password_file: /run/secrets/db\n', false],
      ['redis.conf', 'port 6379\nrequirepass hunter2\n', true],
      ['fluent.conf by environment', '<match **>\n  user elastic\n  password "#{ENV[\'FLUENT_PASSWORD\']}"\n</match>\n', false],
      ['query string', 'url: https://api.example.com/v1?client=web&secret=hunter2', true],
      ['prose', 'The password is read from the Secret named db at start-up.', false],
    ];
    it.each(files)('%s', (_name, text, found) => expect(scanText(text, { lines: true }).length > 0).toBe(found));
  });
});

describe('Kubernetes policy: credentials in every field that reaches a process or a file', () => {
  it.each(CREDENTIAL_VARIABLES.map((c) => [c.name, c.why, c]))('refuses env %s in plain text (%s)', (_n, _w, c) => {
    const found = credentialFindings(pod([container({ env: [{ name: c.name, value: c.value }] })]));
    expect(found.map((f) => f.ruleId)).toEqual(['secret-env-plaintext']);
    expect(found[0].message).toContain(c.name);
    expect(found[0].message).not.toContain(c.value);
  });
  it.each(PLAIN_VARIABLES.map((c) => [c.name, c.value, c]))('accepts env %s=%j', (_n, _v, c) => {
    expect(credentialFindings(pod([container({ env: [{ name: c.name, value: c.value }] })]))).toEqual([]);
  });
  it('refuses a credential-named variable taken from a ConfigMap, accepts one from a Secret', () => {
    const fromConfigMap = credentialFindings(pod([container({ env: [{ name: 'DB_PWD', valueFrom: { configMapKeyRef: { name: 'settings', key: 'pwd' } } }] })]));
    expect(fromConfigMap.map((f) => f.message)).toEqual([expect.stringContaining('takes DB_PWD from a ConfigMap')]);
    expect(credentialFindings(pod([container({ env: [{ name: 'DB_PWD', valueFrom: { secretKeyRef: { name: 'db', key: 'pwd' } } }] })]))).toEqual([]);
  });

  it.each(CREDENTIAL_ARGS.map((c) => [c.args.join(' '), c.args]))('refuses args %j', (_s, args) => {
    expect(credentialFindings(pod([container({ args })])).map((f) => f.ruleId)).toEqual(expect.arrayContaining(['secret-env-plaintext']));
    expect(credentialFindings(pod([container({ command: args })])).length).toBeGreaterThan(0);
  });
  it.each(PLAIN_ARGS.map((c) => [c.args.join(' '), c.args]))('accepts args %j', (_s, args) => {
    expect(credentialFindings(pod([container({ args, command: args })]))).toEqual([]);
  });
  it('looks into probe and lifecycle commands and init containers', () => {
    const probe = { exec: { command: ['sh', '-c', 'curl -fsu elastic:hunter2 http://127.0.0.1:9200/'] } };
    expect(credentialFindings(pod([container({ readinessProbe: probe })])).map((f) => f.ruleId)).toEqual(['secret-env-plaintext']);
    const init = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'test' },
      spec: { containers: [container()], initContainers: [container({ name: 'init', env: [{ name: 'DB_PASSWORD', value: 'x1' }] })] },
    } as Manifest;
    expect(credentialFindings(init).map((f) => f.message)).toEqual([expect.stringContaining('init container "init" variable DB_PASSWORD')]);
  });

  const configMaps: [string, Record<string, string>, boolean][] = [
    ['a credential-named key', { DB_PASSWORD: 'hunter2' }, true],
    ['a URL with a password', { DATABASE_URL: 'postgres://admin:hunter2@db/app' }, true],
    ['a properties file', { 'application.properties': 'spring.datasource.username=app\nspring.datasource.password=hunter2\n' }, true],
    ['an ini file', { 'app.ini': '[db]\npassword = hunter2\n' }, true],
    ['an env file', { 'app.env': 'DB_PASSWORD=hunter2\n' }, true],
    ['a JSON file', { 'config.json': '{"database": {"password": "hunter2"}}' }, true],
    ['a YAML file', { 'config.yaml': 'database:\n  password: hunter2\n' }, true],
    ['a token', { 'notify.yaml': `slack_token: ${TOKENS.slack}\n` }, true],
    ['ordinary settings', { LOG_LEVEL: 'info', QUEUE_URL: 'amqp://queue:5672', 'fluent.conf': 'password "#{ENV[\'PASSWORD\']}"' }, false],
    ['files reading credentials from the environment', { 'application.properties': 'spring.datasource.password=${DB_PASSWORD}\n', 'config.json': '{"password_file": "/run/secrets/db"}' }, false],
  ];
  it.each(configMaps)('ConfigMap with %s', (_what, data, refused) => {
    const found = credentialFindings(configMap(data));
    expect(found.map((f) => f.ruleId)).toEqual(refused ? ['configmap-credentials'] : []);
    for (const f of found) expect(f.message).not.toContain('hunter2');
  });

  const annotations: [string, Record<string, string>, boolean][] = [
    ['a credential-named annotation', { 'example.com/api-token': 'f00dfeedcafe1234' }, true],
    ['a URL with a password', { 'example.com/source': 'https://ci:hunter2@git.example.com/acme/app.git' }, true],
    ['a JWT', { 'example.com/session': TOKENS.jwt }, true],
    ['a property of a token', { 'example.com/token-ttl': '1h' }, false],
    ['an exemption reason mentioning secrets', { [`${EXEMPTION_ANNOTATION_PREFIX}service-load-balancer`]: 'the password: field of the form is public' }, false],
  ];
  it.each(annotations)('annotation with %s', (_what, annotations, refused) => {
    const onConfigMap = credentialFindings(configMap({}, annotations)).map((f) => f.ruleId);
    const onPod = credentialFindings(pod([container()], annotations)).map((f) => f.ruleId);
    expect(onConfigMap).toEqual(refused ? ['credential-in-manifest'] : []);
    expect(onPod).toEqual(refused ? ['credential-in-manifest'] : []);
  });
  it('refuses a credential in any other field, e.g. an Argo CD source URL', () => {
    const app: Manifest = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'web', namespace: 'argocd' },
      spec: { source: { repoURL: `https://x:${TOKENS.github}@github.com/acme/gitops.git` } },
    };
    expect(credentialFindings(app).map((f) => [f.ruleId, f.message])).toEqual([['credential-in-manifest', expect.stringContaining('spec.source.repoURL')]]);
  });
});

describe('per-variable exemptions', () => {
  const env = [
    { name: 'DEMO_PASSWORD', value: 'demo' },
    { name: 'DB_PASSWORD', value: 'hunter2' },
  ];
  const reason = 'the public demo account, printed on the login page';

  it('exempts only the named variable, records it, and still refuses the others', () => {
    const found = credentialFindings(pod([container({ env })], { [`${EXEMPTION_ANNOTATION_PREFIX}secret-env-plaintext.DEMO_PASSWORD`]: reason }));
    expect(found.map((f) => f.message)).toEqual([expect.stringContaining('DB_PASSWORD')]);
    const report = evaluatePolicy([{ manifest: pod([container({ env })], { [`${EXEMPTION_ANNOTATION_PREFIX}secret-env-plaintext.DEMO_PASSWORD`]: reason }) }]);
    expect(report.exemptions).toEqual([{ ruleId: 'secret-env-plaintext', variable: 'DEMO_PASSWORD', object: 'Pod test/web', constructPath: undefined, reason }]);
  });
  it('warns about a variable exemption that matches nothing, and refuses one of an unknown rule', () => {
    const report = evaluatePolicy([
      {
        manifest: pod([container({ env: [env[0]] })], {
          [`${EXEMPTION_ANNOTATION_PREFIX}secret-env-plaintext.DEMO_PASSWORD`]: reason,
          [`${EXEMPTION_ANNOTATION_PREFIX}secret-env-plaintext.TYPO`]: reason,
        }),
      },
    ]);
    expect(report.violations.filter((v) => CREDENTIAL_RULES.has(v.ruleId))).toEqual([]);
    expect(report.warnings.filter((w) => w.ruleId === 'unused-exemption').map((w) => w.message)).toEqual([expect.stringContaining('exempts variable TYPO')]);
    const unknown = credentialFindings(pod([container()], { [`${EXEMPTION_ANNOTATION_PREFIX}no-such-rule.X`]: reason }));
    expect(unknown.map((f) => f.ruleId)).toEqual(['unknown-exemption']);
  });
  it('exempt() writes one annotation per variable, which synth honours and the summary lists', () => {
    const stack = newStack();
    const obj = new ApiObject(stack, 'pod', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'login-page', namespace: 'test' },
      data: { DEMO_PASSWORD: 'demo', 'app.properties': 'admin.password=hunter2\n' },
    });
    exempt(obj, 'configmap-credentials', reason, { variables: ['DEMO_PASSWORD'] });
    expect(obj.toJson().metadata.annotations).toEqual({ [`${EXEMPTION_ANNOTATION_PREFIX}configmap-credentials.DEMO_PASSWORD`]: reason });
    const result = synthesizeStack(stack);
    expect(result.problems.filter((p) => p.includes('configmap-credentials'))).toEqual([expect.stringContaining('key app.properties')]);
    const line = formatSummary({ environment: 'test', objects: 1, warnings: [], exemptions: result.policy.exemptions, notes: [], directory: 'dist/test' });
    expect(line).toContain(`exempt  [configmap-credentials DEMO_PASSWORD] ConfigMap test/login-page: ${reason}`);
  });
  it.each([
    ['a reason too short to judge', 'ok', ['SORT_KEY'], /needs a reason a reviewer can judge/],
    ['a variable that is no annotation name', reason, ['BAD NAME'], /is not a valid annotation name/],
    ['an empty variable list', reason, [], /lists no variables/],
  ])('exempt() refuses %s', (_what, why, variables, message) => {
    const obj = new ApiObject(newStack(), 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } });
    expect(() => exempt(obj, 'secret-env-plaintext', why, { variables })).toThrow(ShipshapeError);
    expect(() => exempt(obj, 'secret-env-plaintext', why, { variables })).toThrow(message);
  });
});

describe('command lines split over arguments outside command and args', () => {
  it('finds `-u user:password` in an exec probe and an Argo CD plugin command', () => {
    const probe = { exec: { command: ['curl', '-fsu', 'elastic:hunter2', 'http://127.0.0.1:9200/'] } };
    expect(credentialFindings(pod([container({ livenessProbe: probe })])).map((f) => f.message)).toEqual([expect.stringContaining('field livenessProbe.exec.command (u) holds a user:password login')]);
    const app: Manifest = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'web', namespace: 'argocd' },
      spec: { source: { plugin: { env: [], parameters: [{ name: 'args', array: ['--token', 'f00dfeedcafe1234'] }] } } },
    };
    expect(credentialFindings(app).map((f) => f.ruleId)).toEqual(['credential-in-manifest']);
  });
});
