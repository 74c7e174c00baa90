// Real-tool tests of DockerPruneSchedule.
// - systemd: `systemd-analyze verify` must accept the units without a word; how systemd reads each ExecStart is
//   taken from `systemd --test --system` (the manager's own dump of the loaded units, which runs without being
//   PID 1 and refuses to run as root, so it runs as nobody). Its "Command Line:" is the parsed argument vector
//   re-quoted for sh, read back with sh; `$$` is then turned into `$`, as systemd does when it runs the command.
// - cron: no cron daemon runs here; the command field of the cron line gets cron's `\%` → `%` rule and is run by
//   /bin/sh, as cron would, with the docker path pointing at a script that records its arguments.
// - Docker: an isolated dockerd (own data-root, exec-root, pidfile and socket, vfs, no iptables, no default
//   bridge); the prune runs the exact argument vectors systemd parsed from the synthesized unit, with
//   DOCKER_HOST pointing at that engine. Everything is stopped by PID in afterAll.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'cdk8s';
import * as fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Environment, ShipshapeError, Stack, synthesizeStack } from '../../lib';
import { renderFiles, writeFilesAtomically } from '../../lib/core/writer';
import { DockerPruneSchedule, DockerPruneScheduleProps } from '../../lib/docker';
import { SYSTEMD_BINARIES, conformanceSuite } from '../support/conformance';
import { IsolatedDockerd, bounded, must, workDir } from '../support/engine';

const ENV = new Environment({ name: 'hosts-test', replicas: 1, nodeGroups: [{ name: 'edge', minSize: 1, maxSize: 1 }] });
const KEEP = 'io.shipshape.keep';

function dockerCli(): string {
  return fs.realpathSync(must(10, 'sh', ['-c', 'command -v docker']).trim());
}

/** Synthesizes one schedule into `outdir` (through the real writer) and returns the unit directory and the construct. */
function synthesize(outdir: string, props: DockerPruneScheduleProps): { dir: string; schedule: DockerPruneSchedule; warnings: string[] } {
  const stack = new Stack(new App(), ENV.name, { environment: ENV });
  const schedule = new DockerPruneSchedule(stack, 'prune', props);
  const result = synthesizeStack(stack);
  expect(result.problems).toEqual([]);
  writeFilesAtomically(outdir, renderFiles([result]));
  const dir = path.join(outdir, ENV.name, props.directory ?? 'hosts');
  // systemd --test runs as nobody and must read the units.
  for (let d = dir; d !== path.dirname(outdir); d = path.dirname(d)) fs.chmodSync(d, 0o755);
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
  return { dir, schedule, warnings: result.policy.warnings.map((w) => w.ruleId) };
}

/** `systemd-analyze verify` on the unit files: exit status and everything it printed. */
function verify(files: string[]): { status: number; output: string } {
  const r = bounded(60, 'systemd-analyze', ['verify', ...files], { ...process.env, SYSTEMD_LOG_LEVEL: 'notice', SYSTEMD_PAGER: '' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * The argument vectors systemd's manager parsed from ExecStart of `<unit>` found in `dir` (searched before the
 * system's unit directories, so docker.service and the default targets resolve).
 */
function systemdExecStart(dir: string, unit: string): string[][] {
  const manager = SYSTEMD_BINARIES.find((b) => fs.existsSync(b))!;
  const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  const [bin, ...args] = [...asNobody, manager, '--test', '--system', `--unit=${unit}`, '--log-target=console', '--no-pager'];
  const r = bounded(60, bin, args, { PATH: process.env.PATH, HOME: dir, SYSTEMD_UNIT_PATH: `${dir}:` });
  if (r.status !== 0) throw new Error(`systemd --test exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const lines = r.stdout.split('\n');
  const start = lines.indexOf(`\t-> Unit ${unit}:`);
  if (start < 0) throw new Error(`systemd did not load ${unit}: ${r.stderr.slice(-2000)}`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('\t-> Unit '));
  const block = lines.slice(start, end < 0 ? undefined : end);
  const exec = block.indexOf('\t\t-> ExecStart:');
  const commands: string[][] = [];
  for (let i = exec + 1; exec >= 0 && block[i]?.startsWith('\t\t\tCommand Line: '); i++) {
    commands.push(readShellWords(block[i].slice('\t\t\tCommand Line: '.length)).map(systemdRunTimeDollars));
  }
  return commands;
}

/** Words of a sh command line, as sh reads them (systemd quotes its dump for sh). */
function readShellWords(line: string): string[] {
  const r = spawnSync('timeout', ['10', 'sh', '-c', 'eval "set -- $1"; for a in "$@"; do printf "%s\\0" "$a"; done', 'sh', line], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sh could not read ${line}: ${r.stderr}`);
  return r.stdout.split('\0').slice(0, -1);
}

/** systemd expands `$$` to `$` when it runs a command; any other `$` would be a variable. */
function systemdRunTimeDollars(word: string): string {
  if (/\$(?!\$)/.test(word.replace(/\$\$/g, ''))) throw new Error(`systemd would expand a variable in ${JSON.stringify(word)}`);
  return word.replace(/\$\$/g, '$');
}

/** The command of the cron file's job line, as cron hands it to /bin/sh (`\%` → `%`; an unescaped % would end it). */
function cronCommand(cronFile: string): string {
  const job = cronFile.split('\n').find((l) => /^\d/.test(l))!;
  const command = job.replace(/^(\S+\s+){6}/, '');
  expect(/(^|[^\\])%/.test(command)).toBe(false);
  return command.replace(/\\%/g, '%');
}

/** Runs a cron command with cron's environment (the file's SHELL and PATH) plus `extra`. */
function runCron(command: string, extra: Record<string, string>): { status: number; stderr: string } {
  const r = spawnSync('timeout', ['120', '/bin/sh', '-c', command], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/', ...extra }, encoding: 'utf8' });
  return { status: r.status ?? -1, stderr: r.stderr };
}

conformanceSuite('DockerPruneSchedule units read by systemd', ['systemd-analyze', 'docker-cli'], () => {
  let work = '';
  beforeAll(() => {
    work = workDir('shp-units-');
    // systemd --test runs as nobody and reads the units below it.
    fs.chmodSync(work, 0o755);
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('systemd-analyze verify accepts the service and timer: defaults, weekdays without delay, volumes, other names', () => {
    const docker = dockerCli();
    const variants: DockerPruneScheduleProps[] = [
      { dockerPath: docker },
      { dockerPath: docker, schedule: { hour: 0, minute: 0, weekdays: ['Mon', 'Sat', 'Sun'], randomizedDelayMinutes: 0 } },
      { dockerPath: docker, volumes: true, until: '1h30m', keepLabels: [`${KEEP}=yes`], allImages: false },
      { dockerPath: docker, name: 'nightly-prune', directory: 'hosts/maintenance', keepLabels: [], logging: { syslogIdentifier: 'prune' } },
    ];
    variants.forEach((props, i) => {
      const { dir } = synthesize(path.join(work, `verify-${i}`), props);
      const name = props.name ?? 'docker-prune';
      expect(verify([path.join(dir, `${name}.service`), path.join(dir, `${name}.timer`)])).toEqual({ status: 0, output: '' });
    });
  });

  it('rejects a broken unit, so the check can fail: a missing binary, a bad calendar, unbalanced quotes', () => {
    const { dir } = synthesize(path.join(work, 'broken'), { dockerPath: dockerCli() });
    const service = fs.readFileSync(path.join(dir, 'docker-prune.service'), 'utf8');
    const timer = fs.readFileSync(path.join(dir, 'docker-prune.timer'), 'utf8');
    const broken: [string, string, string][] = [
      ['missing.service', service.replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/docker'), 'is not executable'],
      ['calendar.timer', timer.replace(/^OnCalendar=.*$/m, 'OnCalendar=*-*-* 25:61:00').replace(/^Unit=.*$/m, 'Unit=docker-prune.service'), 'Failed to parse calendar specification'],
      ['quotes.service', service.replace(/^(ExecStart=.*)$/m, '$1 "unterminated'), 'Unbalanced quoting'],
    ];
    for (const [file, content, message] of broken) {
      fs.writeFileSync(path.join(dir, file), content);
      const r = verify([path.join(dir, 'docker-prune.service'), path.join(dir, file)]);
      expect(r.status, `${file}: ${r.output}`).not.toBe(0);
      expect(r.output).toContain(message);
    }
  });

  it('systemd parses ExecStart into exactly the argument vectors the construct means', () => {
    const docker = dockerCli();
    for (const [i, volumes] of [false, true].entries()) {
      const { dir, schedule } = synthesize(path.join(work, `argv-${i}`), { dockerPath: docker, volumes });
      expect(systemdExecStart(dir, 'docker-prune.service')).toEqual(schedule.commands);
    }
    expect(synthesize(path.join(work, 'argv-default'), { dockerPath: docker }).schedule.commands).toEqual([
      [docker, 'system', 'prune', '--force', '--all', '--filter', 'until=24h', '--filter', `label!=${KEEP}`],
    ]);
  });

  it('hostile keep labels are refused with a ShipshapeError, or read back exactly by systemd and by cron + sh', () => {
    // A stand-in docker that records its arguments: verify wants an executable, sh runs it from the cron line.
    const recorder = path.join(work, 'docker');
    fs.writeFileSync(recorder, '#!/bin/sh\nfor a in "$@"; do printf \'%s\\0\' "$a"; done >> "$RECORD"\nprintf \'\\001\' >> "$RECORD"\n', { mode: 0o755 });
    const hostile = [
      '%',
      '%%',
      '%n',
      '%i',
      '$',
      '$$',
      '$HOME',
      '${HOME}',
      '"',
      "'",
      '\\',
      ' ',
      '\t',
      '\n',
      ';',
      ' ; ',
      '#',
      '=',
      '!',
      '`id`',
      '$(id)',
      '|',
      '&',
      '*',
      '?',
      '~',
      'é',
      '😀',
      '\u00a0',
      '\u2028',
      'k',
      'x',
    ];
    const label = fc.oneof(
      fc.string({ unit: fc.constantFrom(...hostile), minLength: 1, maxLength: 12 }),
      fc.tuple(fc.string({ unit: fc.constantFrom(...hostile), minLength: 1, maxLength: 6 }), fc.string({ unit: fc.constantFrom(...hostile), maxLength: 6 })).map(([k, v]) => `${k}=${v}`),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }),
    );
    let accepted = 0;
    let refused = 0;
    let run = 0;
    fc.assert(
      fc.property(label, fc.boolean(), (keep, volumes) => {
        let schedule: DockerPruneSchedule;
        try {
          schedule = new DockerPruneSchedule(new Stack(new App(), ENV.name, { environment: ENV }), 'prune', {
            keepLabels: [keep],
            volumes,
            dockerPath: recorder,
            logging: { logFile: path.join(work, 'cron.log') },
          });
        } catch (e) {
          expect(e).toBeInstanceOf(ShipshapeError);
          refused++;
          return;
        }
        accepted++;
        const { dir } = synthesize(path.join(work, `prop-${run++}`), { keepLabels: [keep], volumes, dockerPath: recorder, logging: { logFile: path.join(work, 'cron.log') } });
        expect(verify([path.join(dir, 'docker-prune.service'), path.join(dir, 'docker-prune.timer')])).toEqual({ status: 0, output: '' });
        expect(systemdExecStart(dir, 'docker-prune.service')).toEqual(schedule.commands);
        const record = path.join(work, 'record');
        fs.rmSync(record, { force: true });
        const r = runCron(cronCommand(fs.readFileSync(path.join(dir, 'docker-prune.cron'), 'utf8')), { RECORD: record });
        expect(r.status, r.stderr).toBe(0);
        const recorded = fs
          .readFileSync(record, 'utf8')
          .split('\u0001')
          .slice(0, -1)
          .map((c) => [recorder, ...c.split('\0').slice(0, -1)]);
        expect(recorded).toEqual(schedule.commands);
      }),
      { numRuns: 40 },
    );
    // The generator must exercise both outcomes, or the property proves little.
    expect(accepted).toBeGreaterThan(5);
    expect(refused).toBeGreaterThan(0);
  });
});

// Objects the engine test creates, by role.
const UNTIL_SECONDS = 20;
const NET_BASE = 100 + Math.floor(Math.random() * 100);

conformanceSuite('DockerPruneSchedule on a real Docker engine', ['docker', 'docker-cli', 'systemd-analyze'], () => {
  let work = '';
  let engine: IsolatedDockerd;
  const networks: string[] = [];
  let docker = '';

  beforeAll(async () => {
    docker = dockerCli();
    work = workDir('shp-');
    fs.chmodSync(work, 0o755);
    const config = path.join(work, 'daemon.json');
    fs.writeFileSync(config, JSON.stringify({ 'storage-driver': 'vfs', iptables: false, bridge: 'none' }));
    engine = new IsolatedDockerd(path.join(work, 'e'), config);
    fs.mkdirSync(engine.dir);
    await engine.start();
  });

  afterAll(async () => {
    const problems: string[] = [];
    if (engine?.daemon) {
      const ids = engine.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) engine.docker(['rm', '-f', ...ids], 60);
      // Bridges of user-defined networks live in the host's namespace; remove the ones this test made.
      for (const n of networks) engine.docker(['network', 'rm', n]);
      problems.push(...(await engine.stop()));
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
    expect(problems).toEqual([]);
  });

  function network(name: string, index: number, labels: string[] = []): void {
    networks.push(name);
    engine.must(['network', 'create', '--internal', '--subnet', `10.${NET_BASE}.${index}.0/24`, ...labels.flatMap((l) => ['--label', l]), name]);
  }

  /** A new image committed from the base image's filesystem, with its own creation time and labels. */
  function image(tag: string, labels: string[] = []): void {
    const id = engine.must(['create', 'local/running:1', 'true']).trim();
    engine.must(['commit', ...labels.flatMap((l) => ['-c', `LABEL ${l}`]), id, tag]);
    engine.must(['rm', id]);
  }

  function stoppedContainer(name: string, labels: string[] = []): void {
    engine.must(['create', '--name', name, '--network', 'none', ...labels.flatMap((l) => ['--label', l]), 'local/running:1', 'true']);
  }

  const names = (args: string[]) =>
    engine
      .must(args)
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .sort();
  const images = () => names(['images', '--format', '{{.Repository}}:{{.Tag}}']);
  const containers = () => names(['ps', '-a', '--format', '{{.Names}}']);
  const networkNames = () => names(['network', 'ls', '--format', '{{.Name}}']).filter((n) => !['host', 'none', 'bridge'].includes(n));
  const volumes = () => names(['volume', 'ls', '--format', '{{.Name}}']);

  function runUnit(dir: string): string {
    const commands = systemdExecStart(dir, 'docker-prune.service');
    expect(commands.length).toBeGreaterThan(0);
    let output = '';
    for (const [bin, ...args] of commands) {
      expect(bin).toBe(docker);
      output += must(120, bin, args, engine.env);
    }
    return output;
  }

  it('removes old unused images, stopped containers and networks; keeps running, labelled-keep and recent ones; leaves volumes', async () => {
    engine.importBusybox('local/running:1');
    network('inuse-net', 1);
    network('old-net', 2);
    network('keep-net', 3, [`${KEEP}=true`]);
    engine.must(['run', '-d', '--name', 'runner', '--network', 'inuse-net', 'local/running:1', 'sleep', '600']);
    image('local/old:1');
    image('local/keep:1', [`${KEEP}=true`]);
    stoppedContainer('old-stopped');
    stoppedContainer('keep-stopped', [`${KEEP}=true`]);
    engine.must(['volume', 'create', 'old-named-vol']);
    engine.must(['volume', 'create', '--label', `${KEEP}=true`, 'keep-named-vol']);
    // An anonymous volume: created with a container, which is then removed without -v.
    engine.must(['rm', engine.must(['create', '--network', 'none', '-v', '/data', 'local/running:1', 'true']).trim()]);
    const volumesBefore = volumes();
    expect(volumesBefore).toHaveLength(3);

    // Everything above must be older than `until` when the prune runs, everything below younger.
    await new Promise((r) => setTimeout(r, (UNTIL_SECONDS + 1) * 1000));
    const youngFrom = Date.now();
    image('local/young:1');
    stoppedContainer('young-stopped');
    network('young-net', 4);

    const { dir, warnings } = synthesize(path.join(work, 'out-a'), { until: `${UNTIL_SECONDS}s`, dockerPath: docker });
    expect(warnings).toEqual([]);
    const output = runUnit(dir);
    // The young objects were made well inside the window, so `until` is what spared them.
    expect(Date.now() - youngFrom).toBeLessThan((UNTIL_SECONDS - 3) * 1000);

    expect(output).toContain('Total reclaimed space');
    expect(images()).toEqual(['local/keep:1', 'local/running:1', 'local/young:1']);
    expect(containers()).toEqual(['keep-stopped', 'runner', 'young-stopped']);
    expect(networkNames()).toEqual(['inuse-net', 'keep-net', 'young-net']);
    expect(volumes()).toEqual(volumesBefore);
    expect(engine.must(['inspect', '-f', '{{.State.Running}}', 'runner']).trim()).toBe('true');
  });

  it('with volumes opted in, removes the unused volumes without the keep label (systemd units, then the cron file)', () => {
    // Anonymous volumes are the ones every Engine version prunes (23 and later spare named ones).
    const anonymous = (labels: string[] = []) => {
      const id = engine.must(['create', '--network', 'none', '--mount', ['type=volume', 'dst=/data', ...labels.map((l) => `volume-label=${l}`)].join(','), 'local/running:1', 'true']).trim();
      const volume = engine.must(['inspect', '-f', '{{range .Mounts}}{{.Name}}{{end}}', id]).trim();
      engine.must(['rm', id]);
      return volume;
    };
    const plain = anonymous();
    const kept = anonymous([`${KEEP}=true`]);
    const inUse = engine
      .must(['inspect', '-f', '{{range .Mounts}}{{.Name}}{{end}}', engine.must(['run', '-d', '--name', 'vol-user', '--network', 'none', '-v', '/data', 'local/running:1', 'sleep', '600']).trim()])
      .trim();

    const { dir, warnings } = synthesize(path.join(work, 'out-b'), { until: `${UNTIL_SECONDS}s`, dockerPath: docker, volumes: true });
    expect(warnings).toEqual(['prune-volumes']);
    runUnit(dir);
    const after = volumes();
    expect(after).not.toContain(plain);
    expect(after).toContain(kept);
    expect(after).toContain(inUse);
    expect(after).toContain('keep-named-vol');

    // The cron alternative, run as cron would: appends a timestamp and the CLI's report to its log file.
    const again = anonymous();
    const log = path.join(work, 'prune.log');
    const { dir: cronDir } = synthesize(path.join(work, 'out-c'), { until: `${UNTIL_SECONDS}s`, dockerPath: docker, volumes: true, logging: { logFile: log } });
    const r = runCron(cronCommand(fs.readFileSync(path.join(cronDir, 'docker-prune.cron'), 'utf8')), { DOCKER_HOST: engine.env.DOCKER_HOST! });
    expect(r.status, r.stderr).toBe(0);
    expect(volumes()).not.toContain(again);
    expect(volumes()).toContain(kept);
    const written = fs.readFileSync(log, 'utf8');
    expect(written).toMatch(/UTC \d{4}\n/);
    expect(written).toContain('Total reclaimed space');
  });
});
