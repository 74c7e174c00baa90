import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ShipshapeError, formatSummary } from '../../lib';
import { SwarmService, SwarmServiceProps, SwarmProject } from '../../lib/swarm';
import { CREDENTIAL_ARGS, CREDENTIAL_VARIABLES, PLAIN_ARGS, PLAIN_VARIABLES, TOKENS } from '../core/policy/credential-cases';
import { fileOf, hostStack, synthHost } from '../support/hosts';

const WEB: SwarmServiceProps = { name: 'web', image: 'nginx:1.27.2' };

function service(props: Partial<SwarmServiceProps>): SwarmService {
  const stack = hostStack();
  const project = new SwarmProject(stack, 'swarm');
  return new SwarmService(project, 'web', { ...WEB, ...props });
}

/** The rendered docker-stack.yml of one service. */
function rendered(props: Partial<SwarmServiceProps>) {
  const result = synthHost((stack) => {
    const project = new SwarmProject(stack, 'swarm');
    new SwarmService(project, 'web', { ...WEB, ...props });
  });
  expect(result.problems).toEqual([]);
  return { result, text: fileOf(result, 'swarm/docker-stack.yml'), doc: parse(fileOf(result, 'swarm/docker-stack.yml')) };
}

function refusal(props: Partial<SwarmServiceProps>): ShipshapeError {
  try {
    service(props);
  } catch (e) {
    expect(e).toBeInstanceOf(ShipshapeError);
    return e as ShipshapeError;
  }
  throw new Error(`accepted ${JSON.stringify(props)}`);
}

describe('SwarmService: the same credential rule as Kubernetes', () => {
  it.each(CREDENTIAL_VARIABLES.map((c) => [c.name, c.why, c]))('refuses environment %s (%s)', (_n, _w, c) => {
    const e = refusal({ environment: { [c.name]: c.value } });
    expect(e.path).toBe('edge/swarm/web');
    expect(e.message).toContain(`environment variable ${c.name} looks like a credential`);
    expect(e.message).toMatch(/Fix: mount it from a Swarm secret/);
    // The error names the value masked: it goes to CI logs.
    expect(e.message).not.toContain(c.value.slice(4));
  });
  it.each(PLAIN_VARIABLES.map((c) => [c.name, c.value, c]))('writes environment %s=%j as given', (_n, _v, c) => {
    const { doc } = rendered({ environment: { [c.name]: c.value } });
    expect(doc.services.web.environment[c.name]).toBe(c.value.replace(/\$/g, '$$$$'));
  });

  it.each(CREDENTIAL_ARGS.map((c) => [c.args.join(' '), c.args]))('refuses %j as command, entrypoint and healthcheck', (_s, args) => {
    expect(refusal({ command: args }).message).toMatch(/command looks like a credential/);
    expect(refusal({ entrypoint: args }).message).toMatch(/entrypoint looks like a credential/);
    expect(refusal({ healthcheck: { test: ['CMD', ...args] } }).message).toMatch(/healthcheck.test looks like a credential/);
  });
  it.each(PLAIN_ARGS.map((c) => [c.args.join(' '), c.args]))('writes %j as command', (_s, args) => {
    expect(rendered({ command: args }).doc.services.web.command).toEqual(args.map((a) => a.replace(/\$/g, '$$$$')));
  });

  it.each([
    ['a credential-named label', { 'com.example.api-token': 'f00dfeedcafe1234' }, true],
    ['a URL with a password', { 'com.example.source': 'https://ci:hunter2@git.example.com/acme/app.git' }, true],
    ['a token', { 'com.example.notify': TOKENS.slack }, true],
    ['ordinary labels', { 'com.example.team': 'payments', 'com.example.token-ttl': '1h' }, false],
  ] as const)('labels with %s', (_what, labels, refused) => {
    if (refused) expect(refusal({ labels: { ...labels } }).message).toMatch(/label .* looks like a credential/);
    else expect(rendered({ labels: { ...labels } }).doc.services.web.deploy.labels).toEqual(labels);
  });

  it('refuses the DATABASE_URL the Kubernetes rule refuses, and says how to exempt a variable that is no credential', () => {
    const e = refusal({ environment: { DATABASE_URL: 'postgres://admin:hunter2@db:5432/app' } });
    expect(e.message).toContain('a password in a URL');
    expect(e.fix).toContain("exemptions: [{ rule: 'secret-env-plaintext', reason, variables: ['DATABASE_URL'] }]");
  });
});

describe('SwarmService exemptions', () => {
  const reason = 'the public demo account, printed on the login page';

  it('exempts one variable with a reason: still refuses the others, labels the service and lists it in the summary', () => {
    const exemptions = [{ rule: 'secret-env-plaintext' as const, reason, variables: ['DEMO_PASSWORD'] }];
    expect(() => service({ environment: { DEMO_PASSWORD: 'demo', DB_PASSWORD: 'hunter2' }, exemptions })).toThrow(/environment variable DB_PASSWORD looks like a credential/);
    const { result, doc } = rendered({ environment: { DEMO_PASSWORD: 'demo' }, exemptions });
    expect(doc.services.web.environment).toEqual({ DEMO_PASSWORD: 'demo' });
    expect(doc.services.web.deploy.labels).toEqual({ 'exemptions.shipshape.io/secret-env-plaintext.DEMO_PASSWORD': reason });
    expect(result.policy.exemptions).toEqual([{ ruleId: 'secret-env-plaintext', variable: 'DEMO_PASSWORD', object: 'SwarmService web', constructPath: 'edge/swarm/web', reason }]);
    const summary = formatSummary({ environment: 'edge', objects: 0, warnings: [], exemptions: result.policy.exemptions, notes: [], directory: 'dist/edge' });
    expect(summary).toContain(`exempt  [secret-env-plaintext DEMO_PASSWORD] SwarmService web: ${reason}`);
  });
  it.each([
    ['a reason too short to judge', [{ rule: 'secret-env-plaintext', reason: 'demo', variables: ['X'] }], /needs a reason a reviewer can judge/],
    ['an unknown rule', [{ rule: 'pod-security', reason }], /exemptions\[\]\.rule must name a SwarmService check/],
    ['variables on a whole-service rule', [{ rule: 'run-as-root', reason, variables: ['X'] }], /take no variables/],
  ] as const)('refuses %s', (_what, exemptions, message) => {
    expect(refusal({ exemptions: exemptions as never }).message).toMatch(message);
  });
});
