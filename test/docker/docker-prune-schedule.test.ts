import * as path from 'node:path';
import { App } from 'cdk8s';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShipshapeError, formatSummary, synthesizeStack } from '../../lib';
import { DockerPruneSchedule, DockerPruneScheduleProps, shellWord, systemdWord } from '../../lib/docker';
import { buildSwarmPlatform } from '../../stacks/swarm';
import { shipshapeError } from '../support/errors';
import { fileOf, hostStack, synthHost } from '../support/hosts';

function prune(props: DockerPruneScheduleProps = {}) {
  const result = synthHost((stack) => new DockerPruneSchedule(stack, 'prune', props));
  expect(result.problems).toEqual([]);
  const name = props.name ?? 'docker-prune';
  const dir = props.directory ?? 'hosts';
  return {
    result,
    service: fileOf(result, `${dir}/${name}.service`),
    timer: fileOf(result, `${dir}/${name}.timer`),
    cron: fileOf(result, `${dir}/${name}.cron`),
  };
}

const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));
const refuse = (props: DockerPruneScheduleProps) => shipshapeError(() => new DockerPruneSchedule(hostStack(), 'prune', props));

describe('DockerPruneSchedule', () => {
  it('writes a oneshot service, a nightly timer and a cron file with the practice defaults', () => {
    const { service, timer, cron } = prune();
    expect(service).toBe(
      [
        '# /etc/systemd/system/docker-prune.service, started by docker-prune.timer',
        '[Unit]',
        'Description=Remove Docker unused images, stopped containers, unused networks and build cache older than 24h',
        'Documentation=https://docs.docker.com/engine/manage-resources/pruning/',
        'Requires=docker.service',
        'After=docker.service',
        '',
        '[Service]',
        'Type=oneshot',
        'ExecStart=/usr/bin/docker system prune --force --all --filter until=24h --filter "label!=io.shipshape.keep"',
        'StandardOutput=journal',
        'StandardError=journal',
        'SyslogIdentifier=docker-prune',
        'Nice=10',
        'IOSchedulingClass=best-effort',
        'IOSchedulingPriority=7',
        'TimeoutStartSec=1h',
        '',
      ].join('\n'),
    );
    expect(lines(timer, 'OnCalendar=')).toEqual(['OnCalendar=*-*-* 03:30:00']);
    expect(lines(timer, 'RandomizedDelaySec=')).toEqual(['RandomizedDelaySec=30min']);
    expect(lines(timer, 'Persistent=')).toEqual(['Persistent=true']);
    expect(lines(timer, 'Unit=')).toEqual(['Unit=docker-prune.service']);
    expect(lines(timer, 'WantedBy=')).toEqual(['WantedBy=timers.target']);
    expect(lines(cron, '30 3 ')).toEqual([
      "30 3 * * * root { date -u; /usr/bin/docker system prune --force --all --filter until=24h --filter 'label!=io.shipshape.keep'; } >> /var/log/docker-prune.log 2>&1",
    ]);
  });

  it('exposes the keep label and the argument vectors it writes', () => {
    const schedule = new DockerPruneSchedule(hostStack(), 'prune', { dockerPath: '/usr/local/bin/docker', until: '48h', allImages: false });
    expect(schedule.keepLabels).toEqual(['io.shipshape.keep']);
    expect(schedule.commands).toEqual([['/usr/local/bin/docker', 'system', 'prune', '--force', '--filter', 'until=48h', '--filter', 'label!=io.shipshape.keep']]);
  });

  it('renders weekdays, hour, minute and delay into both OnCalendar and the cron fields', () => {
    const { timer, cron } = prune({ schedule: { hour: 4, minute: 5, weekdays: ['Sun', 'Wed'], randomizedDelayMinutes: 0 } });
    expect(lines(timer, 'OnCalendar=')).toEqual(['OnCalendar=Wed,Sun *-*-* 04:05:00']);
    expect(lines(timer, 'RandomizedDelaySec=')).toEqual([]);
    expect(
      cron
        .split('\n')
        .filter((l) => /^\d/.test(l))
        .map((l) => l.split(' ').slice(0, 6).join(' ')),
    ).toEqual(['5 4 * * 0,3 root']);
  });

  it('takes the name, directory, until, keep label, docker path and logging from its props', () => {
    const { service, cron, result } = prune({
      name: 'nightly-prune',
      directory: 'hosts/maintenance',
      until: '168h',
      keepLabels: ['com.example.pin=yes'],
      dockerPath: '/opt/docker/bin/docker',
      logging: { syslogIdentifier: 'prune', logFile: '/var/log/prune/docker.log' },
    });
    expect(result.files.map((f) => f.path)).toEqual(['hosts/maintenance/nightly-prune.cron', 'hosts/maintenance/nightly-prune.service', 'hosts/maintenance/nightly-prune.timer']);
    expect(lines(service, 'ExecStart=')).toEqual(['ExecStart=/opt/docker/bin/docker system prune --force --all --filter until=168h --filter "label!=com.example.pin=yes"']);
    expect(lines(service, 'SyslogIdentifier=')).toEqual(['SyslogIdentifier=prune']);
    expect(cron).toContain("--filter 'label!=com.example.pin=yes'; } >> /var/log/prune/docker.log 2>&1");
  });

  it('writes no keep filter for an empty keepLabels', () => {
    const { service } = prune({ keepLabels: [] });
    expect(lines(service, 'ExecStart=')).toEqual(['ExecStart=/usr/bin/docker system prune --force --all --filter until=24h']);
  });

  it('prunes volumes only by opt-in, in a command of its own without until, and reports a warning', () => {
    expect(prune().service).not.toContain('volume');
    expect(prune({ volumes: false }).result.policy.warnings).toEqual([]);
    const { service, cron, result } = prune({ volumes: true });
    expect(lines(service, 'ExecStart=')).toEqual([
      'ExecStart=/usr/bin/docker system prune --force --all --filter until=24h --filter "label!=io.shipshape.keep"',
      'ExecStart=/usr/bin/docker volume prune --force --filter "label!=io.shipshape.keep"',
    ]);
    expect(cron).toContain("&& /usr/bin/docker volume prune --force --filter 'label!=io.shipshape.keep'; }");
    expect(result.policy.warnings).toHaveLength(1);
    expect(result.policy.warnings[0]).toMatchObject({ ruleId: 'prune-volumes', severity: 'warning', object: 'DockerPruneSchedule hosts/docker-prune.service', constructPath: 'edge/prune' });
    expect(result.problems).toEqual([]);
    const summary = formatSummary({ environment: 'edge', objects: 0, warnings: result.policy.warnings, exemptions: [], notes: [], directory: 'dist/edge' });
    expect(summary).toContain('edge: 0 objects, 1 warning, 0 exemptions');
    expect(summary).toContain(
      'warning [prune-volumes] DockerPruneSchedule hosts/docker-prune.service: deletes unused Docker volumes (anonymous ones on Engine 23 and later, every unused one on older engines) without the label io.shipshape.keep',
    );
  });

  it('escapes %, $, quotes, backslashes and spaces for systemd, and quotes for sh without backslashes', () => {
    expect(systemdWord('--force')).toBe('--force');
    expect(systemdWord('label!=a b')).toBe('"label!=a b"');
    expect(systemdWord('label!=50%')).toBe('"label!=50%%"');
    expect(systemdWord('label!=$HOME')).toBe('"label!=$$HOME"');
    expect(systemdWord('label!=a"b\\c')).toBe('"label!=a\\"b\\\\c"');
    expect(systemdWord('label!=%n${X}')).toBe('"label!=%%n$${X}"');
    expect(shellWord("label!=it's")).toBe(`'label!=it'"'"'s'`);
    expect(shellWord('label!=$(id) `id` ;|&')).toBe("'label!=$(id) `id` ;|&'");
    const { cron, service } = prune({ keepLabels: ['keep=50% off'] });
    expect(cron).toContain("--filter 'label!=keep=50\\% off'; }");
    expect(service).toContain('--filter "label!=keep=50%% off"');
  });

  describe('refuses, naming the construct path, the value and the fix', () => {
    const cases: [string, DockerPruneScheduleProps, RegExp][] = [
      ['an until that is not a Go duration', { until: '1d' }, /until must be a non-zero Go duration/],
      ['a zero until', { until: '0s' }, /non-zero Go duration/],
      ['a bare number as until', { until: '24' }, /Go duration/],
      ['two keep labels (Docker ANDs them)', { keepLabels: ['a', 'b'] }, /Docker ANDs label!= filters/],
      ['a keep label with a newline', { keepLabels: ['keep\nExecStart=/bin/sh'] }, /control characters/],
      ['a keep label with a line separator', { keepLabels: ['keep\u2028x'] }, /control characters/],
      ['a keep label with a backslash', { keepLabels: ['keep\\%'] }, /backslash/],
      ['a keep label with leading space', { keepLabels: [' keep'] }, /white space/],
      ['a keep label with trailing no-break space', { keepLabels: ['keep\u00a0'] }, /white space/],
      ['an empty keep label key', { keepLabels: ['=x'] }, /non-empty key/],
      ['a lone surrogate', { keepLabels: ['keep\ud800'] }, /lone surrogate/],
      ['a long keep label', { keepLabels: ['k'.repeat(257)] }, /at most 256/],
      ['a relative docker path', { dockerPath: 'docker' }, /dockerPath must be an absolute path/],
      ['a docker path with a space', { dockerPath: '/usr/bin/docker --host tcp://x' }, /dockerPath must be an absolute path/],
      ['a docker path with %', { dockerPath: '/usr/bin/%n' }, /dockerPath must be an absolute path/],
      ['a log file with ..', { logging: { logFile: '/var/log/../etc/passwd' } }, /logging.logFile must be an absolute path/],
      ['a log file with $', { logging: { logFile: '/var/log/$HOME' } }, /logging.logFile/],
      ['a syslog identifier with a space', { logging: { syslogIdentifier: 'docker prune' } }, /syslogIdentifier/],
      ['an hour of 24', { schedule: { hour: 24 } }, /schedule.hour/],
      ['a fractional minute', { schedule: { minute: 1.5 } }, /schedule.minute/],
      ['a negative delay', { schedule: { randomizedDelayMinutes: -1 } }, /schedule.randomizedDelayMinutes/],
      ['an unknown weekday', { schedule: { weekdays: ['Monday' as never] } }, /schedule.weekdays must name days/],
      ['a weekday twice', { schedule: { weekdays: ['Mon', 'Mon'] } }, /lists a day twice/],
      ['a unit name with a capital', { name: 'Docker-prune' }, /name must be a systemd unit base name/],
      ['a unit name with a specifier', { name: 'prune%n' }, /name must be a systemd unit base name/],
    ];
    for (const [what, props, message] of cases) {
      it(what, () => {
        const e = refuse(props);
        expect(e.message).toMatch(message);
        expect(e.path).toBe('edge/prune');
        expect(e.message).toContain('(got ');
        expect(e.fix.length).toBeGreaterThan(5);
      });
    }

    it('a cron command longer than cron reads', () => {
      const e = refuse({ keepLabels: ['k'.repeat(250)], dockerPath: `/${'d'.repeat(700)}`, volumes: true });
      expect(e.message).toMatch(/cron reads at most 1000/);
    });
  });

  it('never lets a keep label add or split a line of the unit or cron file (any string, accepted or refused)', () => {
    const base = prune();
    const count = (text: string) => text.split('\n').length;
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('%', '$', '\\', '"', "'", ' ', '\n', '\r', ';', '#', 'k', '=', '\u2028', '\u0085') })), (label) => {
        let schedule: DockerPruneSchedule;
        try {
          schedule = new DockerPruneSchedule(hostStack(), 'prune', { keepLabels: [label] });
        } catch (e) {
          expect(e).toBeInstanceOf(ShipshapeError);
          return;
        }
        const [service, cron] = [schedule.service.render(), schedule.cron.render()];
        expect(count(service)).toBe(count(base.service));
        expect(count(cron)).toBe(count(base.cron));
        // cron would cut the command at an unescaped %.
        expect(/(^|[^\\])%/.test(cron.split('\n')[3])).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('prunes the reference swarm-edge hosts nightly, volumes excluded', () => {
    const platform = buildSwarmPlatform(new App());
    const result = synthesizeStack(platform.stack);
    expect(result.problems.filter((p) => p.startsWith(platform.prune.node.path))).toEqual([]);
    const service = fileOf(result, 'hosts/docker-prune.service');
    expect(lines(service, 'ExecStart=')).toEqual(['ExecStart=/usr/bin/docker system prune --force --all --filter until=24h --filter "label!=io.shipshape.keep"']);
    expect(fileOf(result, 'hosts/docker-prune.timer')).toContain('OnCalendar=*-*-* 03:30:00');
    expect(path.basename(result.files.find((f) => f.path.endsWith('.cron'))!.path)).toBe('docker-prune.cron');
    expect(result.policy.warnings.filter((w) => w.ruleId === 'prune-volumes')).toEqual([]);
  });
});
