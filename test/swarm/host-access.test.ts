import { describe, expect, it } from 'vitest';
import { ShipshapeError, formatSummary } from '../../lib';
import { DockerDaemonConfig, DockerDaemonConfigProps } from '../../lib/docker';
import { SwarmService, SwarmServiceProps, SwarmProject, exposesDockerSocket } from '../../lib/swarm';
import { buildSwarmPlatform } from '../../stacks/swarm';
import { App } from 'cdk8s';
import { synthesizeStack } from '../../lib';
import { fileOf, hostStack, synthHost } from '../support/hosts';

const WEB: SwarmServiceProps = { name: 'web', image: 'nginx:1.27.2' };
const REASON = 'the agent manages containers on its node through the Docker API';

function service(props: Partial<SwarmServiceProps>) {
  return synthHost((stack) => {
    const project = new SwarmProject(stack, 'swarm');
    new SwarmService(project, 'web', { ...WEB, ...props });
  });
}

function daemon(props: DockerDaemonConfigProps) {
  return synthHost((stack) => new DockerDaemonConfig(stack, 'daemon', props));
}

describe('SwarmService: root and the Docker socket need a reasoned exemption', () => {
  it.each(['root', '0', '0:0', 'root:root', '0:1000', '00'])('refuses user %j', (user) => {
    expect(() => service({ user })).toThrow(ShipshapeError);
    expect(() => service({ user })).toThrow(/edge\/swarm\/web: user runs the task as root.*Fix: run as an unprivileged uid:gid/);
  });
  it.each(['1000', '1000:1000', 'nobody', 'app:app', '10001'])('accepts user %j', (user) => {
    expect(service({ user }).problems).toEqual([]);
  });

  it.each(['/var/run/docker.sock', '/run/docker.sock', '/var/run', '/var/run/', '/run', '/var', '/', '//var/run/./docker.sock'])('refuses a bind mount of %s, read-only or not', (source) => {
    expect(exposesDockerSocket(source)).toBe(true);
    for (const readOnly of [true, false]) {
      expect(() => service({ mounts: [{ type: 'bind', source, target: '/host', readOnly }] })).toThrow(/mounts\[0\] binds .* the Docker socket: whoever can reach it controls dockerd/);
    }
  });
  it.each(['/var/lib/docker', '/var/log', '/srv/data', '/var/run-data', '/runner'])('accepts a bind mount of %s', (source) => {
    expect(exposesDockerSocket(source)).toBe(false);
    expect(service({ mounts: [{ type: 'bind', source, target: '/host', readOnly: true }] }).problems).toEqual([]);
  });

  it('accepts root and the socket with reasoned exemptions, labels the service and lists them', () => {
    const result = service({
      user: '0',
      mounts: [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }],
      exemptions: [
        { rule: 'run-as-root', reason: REASON },
        { rule: 'docker-socket', reason: REASON },
      ],
    });
    expect(result.problems).toEqual([]);
    expect(fileOf(result, 'swarm/docker-stack.yml')).toContain(`exemptions.shipshape.io/docker-socket: ${REASON}`);
    expect(result.policy.exemptions.map((e) => `${e.ruleId} ${e.object}`)).toEqual(['run-as-root SwarmService web', 'docker-socket SwarmService web']);
  });

  it("gives the reference platform's cAdvisor (which mounts / and /var/run) a docker-socket exemption with its reason", () => {
    const { stack } = buildSwarmPlatform(new App());
    const result = synthesizeStack(stack);
    expect(result.problems).toEqual([]);
    expect(result.policy.exemptions).toEqual([expect.objectContaining({ ruleId: 'docker-socket', object: 'SwarmService cadvisor', reason: expect.stringContaining('docker.sock') })]);
  });
});

describe('DockerDaemonConfig: dangerous host settings need a reasoned exemption', () => {
  const TLS = { tlsverify: true, tlscacert: '/etc/docker/ca.pem', tlscert: '/etc/docker/server.pem', tlskey: '/etc/docker/server-key.pem' };

  it.each([
    ['every interface, plain', { hosts: ['unix:///var/run/docker.sock', 'tcp://0.0.0.0:2375'] }],
    ['an empty host', { hosts: ['tcp://:2375'] }],
    ['IPv6 any', { hosts: ['tcp://[::]:2375'] }],
    ['a LAN address without a scheme', { hosts: ['10.0.0.5:2375'] }],
    ['TLS without client verification', { hosts: ['tcp://0.0.0.0:2376'], tls: true, tlscert: '/c.pem', tlskey: '/k.pem' }],
    ['tlsverify without the certificates', { hosts: ['tcp://0.0.0.0:2376'], tlsverify: true }],
  ])('refuses hosts on %s', (_what, extra) => {
    expect(() => daemon({ extra })).toThrow(/extra.hosts exposes the Docker API on .* without client-certificate TLS.*Fix: listen on unix:/);
  });
  it.each([
    ['the Unix socket', { hosts: ['unix:///var/run/docker.sock'] }],
    ['loopback TCP', { hosts: ['fd://', 'tcp://127.0.0.1:2375', 'tcp://localhost:2375', 'tcp://[::1]:2375'] }],
    ['TLS with client verification', { hosts: ['tcp://0.0.0.0:2376'], ...TLS }],
  ])('accepts hosts on %s', (_what, extra) => {
    const result = daemon({ extra });
    expect(result.problems).toEqual([]);
    expect(JSON.parse(fileOf(result, 'hosts/daemon.json')).hosts).toEqual(extra.hosts);
  });
  it('refuses hosts that is not a list of strings', () => {
    expect(() => daemon({ extra: { hosts: 'tcp://0.0.0.0:2375' } })).toThrow(/extra.hosts must be a list of sockets/);
  });

  it.each([
    ['icc: true', { icc: true }, /extra.icc: true lets every container on the default bridge reach/],
    ['no-new-privileges: false', { 'no-new-privileges': false }, /no-new-privileges"\]: false lets processes in containers gain privileges/],
  ])('refuses %s and accepts the safe value', (_what, extra, message) => {
    expect(() => daemon({ extra })).toThrow(message);
    const safe = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, !v]));
    expect(JSON.parse(fileOf(daemon({ extra: safe }), 'hosts/daemon.json'))).toMatchObject(safe);
  });

  it('accepts each with a reasoned exemption, listed in the synth summary', () => {
    const result = daemon({
      extra: { hosts: ['tcp://0.0.0.0:2375'], icc: true, 'no-new-privileges': false },
      exemptions: [
        { rule: 'tcp-socket', reason: 'lab hosts on an isolated VLAN that CI drives over TCP' },
        { rule: 'icc', reason: 'legacy containers on the default bridge talk to each other' },
        { rule: 'no-new-privileges', reason: 'the build agents run sudo inside their containers' },
      ],
    });
    expect(result.problems).toEqual([]);
    const summary = formatSummary({ environment: 'edge', objects: 0, warnings: [], exemptions: result.policy.exemptions, notes: [], directory: 'dist/edge' });
    expect(summary).toContain('exempt  [tcp-socket] DockerDaemonConfig hosts/daemon.json: lab hosts on an isolated VLAN that CI drives over TCP');
    expect(summary).toContain('exempt  [icc] DockerDaemonConfig hosts/daemon.json');
    expect(summary).toContain('exempt  [no-new-privileges] DockerDaemonConfig hosts/daemon.json');
  });
  it.each([
    ['a reason too short to judge', [{ rule: 'icc', reason: 'legacy' }], /needs a reason a reviewer can judge/],
    ['an unknown rule', [{ rule: 'docker-socket', reason: REASON }], /exemptions\[\]\.rule must name a DockerDaemonConfig check/],
  ])('refuses an exemption with %s', (_what, exemptions, message) => {
    expect(() => new DockerDaemonConfig(hostStack(), 'daemon', { exemptions: exemptions as never })).toThrow(message);
  });
});
