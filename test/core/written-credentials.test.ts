import { describe, expect, it } from 'vitest';
import { ArgoCdApplication, DockerDaemonConfig, DockerHostRegistryMirror, OutputFile, ShipshapeError, SwarmService, SwarmProject, TeamAccess, synthesizeStack } from '../../lib';
import { hostStack, swarmEnvironment } from '../support/hosts';
import { newStack, synthStack } from '../support/synth';
import { TOKENS } from './policy/credential-cases';

/*
 * Credentials that reached written files without any check: exemption reasons, the Argo CD application file,
 * Swarm images, placement constraints and config files, daemon.json, and any other output file. Each is refused
 * where it is given (construct path, masked value, fix) or, for files, at synth.
 */

/** The ShipshapeError `build` throws; fails when it throws nothing or something else. */
function refusal(build: () => void): ShipshapeError {
  try {
    build();
  } catch (e) {
    if (e instanceof ShipshapeError) return e;
    throw e;
  }
  throw new Error('nothing was refused');
}

/** Asserts the error names the construct and the fix and never prints the secret. */
function expectClean(e: ShipshapeError, constructPath: string, secret: string): void {
  expect(e.path).toBe(constructPath);
  expect(e.message).toMatch(/ Fix: \S/);
  expect(e.message).not.toContain(secret);
}

const SWARM_WEB = { name: 'web', image: 'nginx:1.27.2', user: '101:101' };

describe('exemption reasons', () => {
  it('refuses a token in a TeamAccess clusterAdmin reason, masked', () => {
    const stack = newStack();
    const e = refusal(() => new TeamAccess(stack, 'team', { namespace: 'team1', serviceAccounts: ['dev'], preset: 'deployer', clusterAdmin: { reason: `break-glass, login with ${TOKENS.jwt}` } }));
    expectClean(e, 'test/team/cluster-admin', TOKENS.jwt);
    expect(e.message).toContain('JSON Web Token');
  });

  it('refuses a password URL in a Swarm exemption reason and a token in a daemon exemption reason', () => {
    const stack = hostStack();
    const project = new SwarmProject(stack, 'swarm');
    const e1 = refusal(() => new SwarmService(project, 'web', { ...SWARM_WEB, user: 'root', exemptions: [{ rule: 'run-as-root', reason: 'needs redis://:s3cretpw@cache to bootstrap' }] }));
    expectClean(e1, 'edge/swarm/web', 's3cretpw');
    const e2 = refusal(() => new DockerDaemonConfig(stack, 'daemon', { extra: { icc: true }, exemptions: [{ rule: 'icc', reason: `legacy links, ask ${TOKENS.github}` }] }));
    expectClean(e2, 'edge/daemon', TOKENS.github);
  });

  it('still takes prose about credentials', () => {
    const stack = newStack();
    expect(
      () =>
        new TeamAccess(stack, 'team', { namespace: 'team1', serviceAccounts: ['dev'], preset: 'deployer', clusterAdmin: { reason: 'DB_PASSWORD rotation job: break-glass for the 2024 incident' } }),
    ).not.toThrow();
  });
});

describe('ArgoCdApplication', () => {
  it.each([
    ['repoURL', { repoURL: `https://example.com/acme/deploy.git?token=${TOKENS.jwt}` }, TOKENS.jwt],
    ['repoURL', { repoURL: 'https://example.com/acme/deploy.git?access_token=hunter2hunter2' }, 'hunter2hunter2'],
    ['targetRevision', { repoURL: 'https://github.com/acme/deploy.git', targetRevision: TOKENS.github }, TOKENS.github],
  ])('refuses a credential in %s', (field, props, secret) => {
    const stack = newStack();
    const e = refusal(() => new ArgoCdApplication(stack, 'argocd', props));
    expectClean(e, 'test/argocd', secret);
    expect(e.message).toContain(field);
  });

  it('takes plain repository URLs and revisions', () => {
    const result = synthStack((stack) => new ArgoCdApplication(stack, 'argocd', { repoURL: 'git@github.com:acme/deploy.git', targetRevision: 'release/2024-01' }));
    expect(result.problems).toEqual([]);
    expect(result.files.map((f) => f.path)).toContain('argocd/test.yaml');
  });
});

describe('SwarmService', () => {
  const build = (props: Record<string, unknown>) => {
    const stack = hostStack();
    const project = new SwarmProject(stack, 'swarm');
    return () => new SwarmService(project, 'web', { ...SWARM_WEB, ...props } as never);
  };

  it.each([
    ['image', { image: `ghcr.io/acme/${TOKENS.github.toLowerCase()}:1` }, TOKENS.github.toLowerCase(), 'docker-stack.yml'],
    ['placement constraint', { placement: { constraints: [`node.labels.t == ${TOKENS.github}`] } }, TOKENS.github, 'docker-stack.yml'],
    ['config settings', { configs: [{ name: 'settings', content: `token: ${TOKENS.github}\n`, target: '/etc/app/settings.yml' }] }, TOKENS.github, 'swarm/configs/web-settings'],
    ['config settings', { configs: [{ name: 'settings', content: 'spring.datasource.password=hunter2\n', target: '/etc/app/app.properties' }] }, 'hunter2', 'swarm/configs/web-settings'],
  ])('refuses a credential in the %s', (where, props, secret, file) => {
    const e = refusal(build(props));
    expectClean(e, 'edge/swarm/web', secret);
    expect(e.message).toContain(where);
    expect(e.message).toContain(file);
  });

  it('refuses a token in placement constraints through DockerHostRegistryMirror', () => {
    const stack = hostStack();
    const project = new SwarmProject(stack, 'swarm');
    const e = refusal(() => new DockerHostRegistryMirror(project, 'mirror', { access: 'host-local', constraints: [`node.labels.t == ${TOKENS.github}`] }));
    expect(e.path.startsWith('edge/swarm/mirror')).toBe(true);
    expect(e.message).not.toContain(TOKENS.github);
  });

  it('takes config files without credentials, and an exempted config key', () => {
    const result = (() => {
      const stack = hostStack();
      const project = new SwarmProject(stack, 'swarm');
      new SwarmService(project, 'web', { ...SWARM_WEB, configs: [{ name: 'settings', content: 'price: $5\nwhen: on\n', target: '/etc/app/settings.yml' }] });
      new SwarmService(project, 'api', {
        ...SWARM_WEB,
        name: 'api',
        configs: [{ name: 'settings', content: 'sort.token=column_a\n', target: '/etc/app/app.properties' }],
        exemptions: [{ rule: 'secret-env-plaintext', reason: 'sort.token names a column, it is no credential', variables: ['sort.token'] }],
      });
      return synthesizeStack(stack);
    })();
    expect(result.problems).toEqual([]);
  });

  it('keeps an exempted environment variable out of the file scan of docker-stack.yml', () => {
    const stack = hostStack();
    const project = new SwarmProject(stack, 'swarm');
    new SwarmService(project, 'web', {
      ...SWARM_WEB,
      environment: { DB_PASSWORD: 'not-a-secret' },
      exemptions: [{ rule: 'secret-env-plaintext', reason: 'the value is a public demo password', variables: ['DB_PASSWORD'] }],
    });
    expect(synthesizeStack(stack).problems).toEqual([]);
  });
});

describe('DockerDaemonConfig', () => {
  it.each([
    ['insecure-registries', { insecureRegistries: [`${TOKENS.awsAccessKeyId}.example.com:5000`] }, TOKENS.awsAccessKeyId],
    ['labels', { extra: { labels: [`ci=${TOKENS.github}`] } }, TOKENS.github],
    ['proxies', { extra: { proxies: { 'http-proxy': 'http://user:hunter2@proxy:3128' } } }, 'hunter2'],
  ])('refuses a credential in %s', (key, props, secret) => {
    const stack = hostStack(swarmEnvironment());
    const e = refusal(() => new DockerDaemonConfig(stack, 'daemon', props));
    expectClean(e, 'edge/daemon', secret);
    expect(e.message).toContain(key);
    expect(e.message).toContain('hosts/daemon.json');
  });

  it('takes labels and proxies without credentials', () => {
    const stack = hostStack();
    expect(() => new DockerDaemonConfig(stack, 'daemon', { insecureRegistries: ['10.0.0.5:5000'], extra: { labels: ['on=yes'], proxies: { 'http-proxy': 'http://proxy:3128' } } })).not.toThrow();
  });
});

describe('every written file', () => {
  it('refuses at synth a credential in any output file, naming the file and the construct', () => {
    const stack = hostStack();
    new OutputFile(stack, 'notes', { path: 'hosts/notes.txt', content: () => `deploy key ${TOKENS.github}\n` });
    const problems = synthesizeStack(stack).problems.filter((p) => p.includes('hosts/notes.txt'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^edge: the file edge\/hosts\/notes\.txt of the output directory would hold a credential in plain text \(a GitHub token\) at line 1: .* Fix: \S/);
    expect(problems[0]).not.toContain(TOKENS.github);
  });

  it('lets the owner of a file allow what its exemptions cover', () => {
    const stack = hostStack();
    new OutputFile(stack, 'notes', { path: 'hosts/notes.txt', content: `deploy key ${TOKENS.github}\n`, allowsCredential: () => true });
    expect(synthesizeStack(stack).problems).toEqual([]);
  });
});
