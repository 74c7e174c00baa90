import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ShipshapeError } from '../../lib';
import { SwarmService, SwarmServiceProps, SwarmProject, escapeInterpolation } from '../../lib/swarm';
import { fileOf, hostStack, synthHost } from '../support/hosts';
import { DOLLAR_EVERYWHERE } from './hostile-values';

function render(props: SwarmServiceProps) {
  const result = synthHost((stack) => {
    const project = new SwarmProject(stack, 'swarm');
    new SwarmService(project, 'web', props);
  });
  expect(result.problems).toEqual([]);
  return parse(fileOf(result, 'swarm/docker-stack.yml')).services.web;
}

describe('SwarmService values reach the container as written (docker stack deploy interpolation)', () => {
  it('refuses an empty environment value, which docker stack deploy would fill from the deploying machine', () => {
    expect(() => render({ name: 'web', image: 'nginx:1.27.2', environment: { X: '' } })).toThrow(ShipshapeError);
    expect(() => render({ name: 'web', image: 'nginx:1.27.2', environment: { X: '' } })).toThrow(/edge\/swarm\/web: environment variable X is empty.*Fix: give it a value/s);
  });

  it('doubles every $ of every value it writes to docker-stack.yml', () => {
    const web = render(DOLLAR_EVERYWHERE);
    const twice = (s: string) => s.replace(/\$/g, '$$$$');
    expect(web.entrypoint).toEqual(DOLLAR_EVERYWHERE.entrypoint!.map(twice));
    expect(web.command).toEqual(DOLLAR_EVERYWHERE.command!.map(twice));
    expect(web.environment).toEqual({ GREETING: 'key=$${AWS_SECRET_ACCESS_KEY}', HOST: '$$HOSTNAME', DOUBLE: '$$$$x', DEFAULTED: '$${X:-default}' });
    expect(web.healthcheck.test).toEqual(['CMD-SHELL', 'test -n "$$HOSTNAME"']);
    expect(web.deploy.labels).toEqual({ 'com.example.price': '$$5' });
    expect(web.user).toBe('$${APP_UID}');
    expect(web.logging.options.tag).toBe('web.$$TAG.{{.Name}}');
    expect(web.deploy.placement.constraints).toEqual(['node.labels.zone == $$ZONE']);
    expect(web.configs[0].target).toBe('/etc/$$app/settings.yml');
    expect(web.volumes[0].target).toBe('/cache/$$x');
  });

  it('leaves no single $ anywhere in the service', () => {
    const text = JSON.stringify(render(DOLLAR_EVERYWHERE));
    expect(text.replace(/\$\$/g, '')).not.toContain('$');
  });

  it('interpolates only the environment variables listed in interpolate', () => {
    const web = render({ name: 'web', image: 'nginx:1.27.2', environment: { RELEASE: '${CI_COMMIT_SHA}', NOTE: '${CI_COMMIT_SHA}' }, interpolate: ['RELEASE'] });
    expect(web.environment).toEqual({ NOTE: '$${CI_COMMIT_SHA}', RELEASE: '${CI_COMMIT_SHA}' });
  });

  it('refuses interpolate naming a variable that is not in environment', () => {
    const build = () => new SwarmService(hostStack(), 'web', { name: 'web', image: 'nginx:1.27.2', environment: { A: '1' }, interpolate: ['B'] });
    expect(build).toThrow(ShipshapeError);
    expect(build).toThrow(/interpolate names B, which is not in environment.*Fix:/);
  });

  it('escapes nested values and leaves numbers and booleans alone', () => {
    expect(escapeInterpolation({ a: ['$x', { b: '$$' }], n: 1, t: true })).toEqual({ a: ['$$x', { b: '$$$$' }], n: 1, t: true });
  });
});
