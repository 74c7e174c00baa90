import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'cdk8s';
import * as fc from 'fast-check';
import { parse } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Environment, ShipshapeError, Stack, synth } from '../../lib';
import { SwarmService, SwarmServiceProps, SwarmProject } from '../../lib/swarm';
import { conformanceSuite } from '../support/conformance';
import { run } from '../support/tools';
import { DOLLAR_EVERYWHERE } from './hostile-values';

// Variables of the machine that deploys. None of these values may reach the stack: each marks a leak.
const SENTINELS: Record<string, string> = {
  AWS_SECRET_ACCESS_KEY: 'SENTINEL_1',
  HOSTNAME: 'SENTINEL_2',
  X: 'SENTINEL_3',
  APP_UID: 'SENTINEL_4',
  TAG: 'SENTINEL_5',
  ZONE: 'SENTINEL_6',
  app: 'SENTINEL_7',
  x: 'SENTINEL_8',
  a: 'SENTINEL_9',
};
// The one variable a service asks to have interpolated.
const RELEASE_SHA = 'abc1234';

let dir: string;

/** `docker stack config` on a stack file, with the sentinels in its environment; returns the resolved document. */
function stackConfig(file: string): { text: string; doc: any } {
  const env = { PATH: process.env.PATH, DOCKER_CONFIG: path.join(dir, 'docker-config'), ...SENTINELS, CI_COMMIT_SHA: RELEASE_SHA };
  const text = run('timeout', ['30', 'docker', 'stack', 'config', '-c', path.basename(file)], { cwd: path.dirname(file), env, timeoutMs: 40_000 });
  return { text, doc: parse(text) };
}

/**
 * What `docker stack config` prints for a value it resolved to `value`: its YAML printer (Go's yaml.v3 emitter)
 * drops the first line break of a literal block that starts with one ("\n\nx" prints as "\nx"; a double-quoted
 * "\nx" in the input shows the same). The loaded value, which deploy uses, keeps it.
 */
function printedAs(value: string): string[] {
  return value.startsWith('\n') ? [value, value.slice(1)] : [value];
}

function expectNoSentinel(text: string): void {
  for (const [name, value] of Object.entries(SENTINELS)) expect(text, `$${name} of the deploying machine leaked into the stack`).not.toContain(value);
}

conformanceSuite('docker stack config resolves every SwarmService value to what was written', ['docker-cli'], () => {
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-interpolation-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps $VAR, ${VAR}, $$ and ${VAR:-default} literal in every field, and interpolates only what is asked for', () => {
    const app = new App();
    const stack = new Stack(app, 'edge', { environment: new Environment({ name: 'edge', replicas: 2 }) });
    const project = new SwarmProject(stack, 'swarm', { name: 'shop' });
    new SwarmService(project, 'web', DOLLAR_EVERYWHERE);
    new SwarmService(project, 'release', { name: 'release', image: 'nginx:1.27.2', environment: { RELEASE: '${CI_COMMIT_SHA}', NOTE: '${CI_COMMIT_SHA}' }, interpolate: ['RELEASE'] });
    synth(app, { outdir: dir });

    const { text, doc } = stackConfig(path.join(dir, 'edge', 'swarm', 'docker-stack.yml'));
    expectNoSentinel(text);
    const web = doc.services.web;
    const p = DOLLAR_EVERYWHERE;
    expect(web.environment).toEqual(p.environment);
    expect(web.entrypoint).toEqual(p.entrypoint);
    expect(web.command).toEqual(p.command);
    expect(web.healthcheck.test).toEqual(p.healthcheck && p.healthcheck.test);
    expect(web.deploy.labels).toEqual(p.labels);
    expect(web.user).toBe(p.user);
    expect(web.logging.options.tag).toBe('web.$TAG.{{.Name}}');
    expect(web.deploy.placement.constraints).toEqual(p.placement!.constraints);
    expect(web.configs[0].target).toBe(p.configs![0].target);
    expect(web.volumes[0].target).toBe(p.mounts![0].target);
    // The deliberate interpolation is the only value taken from the deploying machine.
    expect(doc.services.release.environment).toEqual({ RELEASE: RELEASE_SHA, NOTE: '${CI_COMMIT_SHA}' });
  });

  it('property: any string with $, braces, quotes, newlines and YAML-special words resolves to itself, or the service is refused', () => {
    const piece = fc.constantFrom(
      '$',
      '$$',
      '{',
      '}',
      '${',
      '$X',
      '$a',
      '${X}',
      '${X:-d}',
      '${X:?boom}',
      '${HOSTNAME}',
      '$AWS_SECRET_ACCESS_KEY',
      '"',
      "'",
      '\\',
      '\n',
      ' ',
      '\t',
      ':',
      ': ',
      '#',
      ' #',
      '-',
      '- ',
      '?',
      '&',
      '*',
      '!',
      '|',
      '>',
      '%',
      '@',
      '`',
      ',',
      '[',
      ']',
      // Credential-shaped pieces, so that the credential check refuses some values.
      'PASSWORD=',
      'hunter2',
      'redis://:',
      '@cache',
      'a',
      'x',
      'X',
      '_',
      '0',
      '1',
      'on',
      'yes',
      'no',
      'off',
      'y',
      'N',
      'null',
      '~',
      'true',
      '1_000',
      '0x1F',
      '0o17',
      '1e3',
      '.inf',
      '2001-01-01',
      '12:30:00',
      '<<',
      '=',
    );
    const value = fc.array(piece, { minLength: 1, maxLength: 12 }).map((parts) => parts.join(''));
    let refused = 0;
    let resolved = 0;
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 8 }), (values) => {
        const props = (v: string, i: number): SwarmServiceProps => ({
          name: `s${i}`,
          image: 'nginx:1.27.2',
          environment: { V: v },
          command: ['echo', v],
          labels: { 'com.example.v': v },
          healthcheck: { test: ['CMD-SHELL', v] },
        });
        // A value the credential check refuses is a clean outcome; everything else goes into one stack file.
        const accepted: number[] = [];
        values.forEach((v, i) => {
          try {
            new SwarmService(new Stack(new App(), 'probe', { environment: new Environment({ name: 'probe', replicas: 1 }) }), 'svc', props(v, i));
            accepted.push(i);
          } catch (e) {
            if (!(e instanceof ShipshapeError)) throw e;
            refused++;
          }
        });
        if (accepted.length === 0) return;
        const stack = new Stack(new App(), 'edge', { environment: new Environment({ name: 'edge', replicas: 1 }) });
        const swarm = new SwarmProject(stack, 'swarm', { name: 'shop' });
        for (const i of accepted) new SwarmService(swarm, `s${i}`, props(values[i], i));
        const file = path.join(dir, 'property', 'docker-stack.yml');
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, swarm.render());
        const { text, doc } = stackConfig(file);
        expectNoSentinel(text);
        for (const i of accepted) {
          const s = doc.services[`s${i}`];
          const v = values[i];
          expect(printedAs(v)).toContain(s.environment.V);
          expect(s.command[0]).toBe('echo');
          expect(printedAs(v)).toContain(s.command[1]);
          expect(printedAs(v)).toContain(s.deploy.labels['com.example.v']);
          expect(s.healthcheck.test[0]).toBe('CMD-SHELL');
          expect(printedAs(v)).toContain(s.healthcheck.test[1]);
          resolved++;
        }
      }),
      { numRuns: 100 },
    );
    // Both outcomes counted: the property would be vacuous if every value were refused.
    console.log(`docker stack config property: ${resolved} services resolved to their values, ${refused} refused`);
    expect(resolved).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(0);
  });
});
