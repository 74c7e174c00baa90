import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { OutputFile } from '../core/output-file';
import { Stack } from '../core/stack';
import { ConstructWarning } from '../core/policy/engine';
import { DockerDuration, assertDuration } from './units';

/** A day of the week, as systemd's OnCalendar spells it. */
export type Weekday = 'Mon' | 'Tue' | 'Wed' | 'Thu' | 'Fri' | 'Sat' | 'Sun';

/** When the prune runs (host local time). */
export interface PruneSchedule {
  /**
   * Hour of the day, 0–23.
   * @default 3 (see docs/practice.md#host-maintenance)
   */
  readonly hour?: number;
  /**
   * Minute of the hour, 0–59.
   * @default 30
   */
  readonly minute?: number;
  /**
   * Days of the week it runs on.
   * @default - every day
   */
  readonly weekdays?: Weekday[];
  /**
   * Random delay added to each systemd run (`RandomizedDelaySec`), so the hosts of an estate do not all prune
   * at the same minute; 0 for none. Cron has no equivalent: the cron file runs at the exact minute.
   * @default 30
   */
  readonly randomizedDelayMinutes?: number;
}

/** Where the prune's output goes. */
export interface PruneLogging {
  /**
   * Identifier of the service's lines in the journal (`journalctl -t <id>`).
   * @default - the schedule's name, 'docker-prune'
   */
  readonly syslogIdentifier?: string;
  /**
   * File the cron alternative appends its output to.
   * @default '/var/log/docker-prune.log'
   */
  readonly logFile?: string;
}

/** Properties of a {@link DockerPruneSchedule}. */
export interface DockerPruneScheduleProps {
  /**
   * Base name of the files and units: `<name>.service`, `<name>.timer`, `<name>.cron`.
   * @default 'docker-prune'
   */
  readonly name?: string;
  /**
   * Directory under `dist/<env>/` the files are written to.
   * @default 'hosts'
   */
  readonly directory?: string;
  /**
   * When it runs.
   * @default nightly at 03:30 with up to 30 minutes of random delay
   */
  readonly schedule?: PruneSchedule;
  /**
   * Only objects created longer ago than this are removed (Docker's `until` filter, a Go duration such as
   * `'24h'`): a container that stopped a minute ago stays for `docker logs` and `docker start`. For images
   * Docker compares the image's build time, not when the host pulled it.
   * @default '24h' (see docs/practice.md#host-maintenance)
   */
  readonly until?: DockerDuration;
  /**
   * Label that keeps an object: `key` (any value) or `key=value`, written as Docker's `label!=` filter. Docker
   * ANDs `label!=` filters (an object is kept only when it carries every one of them), so at most one is
   * accepted; an empty list keeps nothing.
   * @default ['io.shipshape.keep']
   */
  readonly keepLabels?: string[];
  /**
   * Remove every unused image older than `until` (`--all`), not only dangling ones. Images are pulled again
   * on demand (through the registry mirror); label images that cannot be pulled again with the keep label.
   * @default true (see docs/practice.md#host-maintenance)
   */
  readonly allImages?: boolean;
  /**
   * Also remove unused volumes without the keep label (`docker volume prune`; Engine 23 and later remove only
   * anonymous volumes, older engines every unused one). Docker has no `until` filter for volumes, so a
   * volume that is unused at night is deleted whatever its age. Synth reports it as a warning.
   * @default false
   */
  readonly volumes?: boolean;
  /**
   * Absolute path of the Docker CLI on the hosts (systemd requires an absolute ExecStart path).
   * @default '/usr/bin/docker' (docker-ce and Debian's docker.io)
   */
  readonly dockerPath?: string;
  /**
   * Where the output goes: the journal for the systemd service, a file for cron.
   * @default journal identifier 'docker-prune', cron log '/var/log/docker-prune.log'
   */
  readonly logging?: PruneLogging;
}

// Nightly in the quiet hours, away from the top of the hour where other jobs cluster (docs/practice.md#host-maintenance).
export const DEFAULT_PRUNE_HOUR = 3;
export const DEFAULT_PRUNE_MINUTE = 30;
export const DEFAULT_PRUNE_RANDOMIZED_DELAY_MINUTES = 30;
// A day keeps recently stopped containers for inspection and fresh builds (Docker's pruning docs use 24h).
export const DEFAULT_PRUNE_UNTIL = '24h';
// Docker recommends reverse-DNS label keys.
export const DEFAULT_KEEP_LABEL = 'io.shipshape.keep';
export const DEFAULT_DOCKER_PATH = '/usr/bin/docker';
export const DEFAULT_PRUNE_LOG_FILE = '/var/log/docker-prune.log';
// Vixie cron (Debian's cron) reads at most 1000 characters of a command.
const CRON_MAX_COMMAND = 1000;
const MAX_LABEL_LENGTH = 256;
const WEEKDAYS: readonly Weekday[] = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const CRON_DAY: Record<Weekday, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const UNIT_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const SAFE_PATH = /^\/[A-Za-z0-9._+\-/]*$/;
const IDENTIFIER = /^[A-Za-z0-9._-]{1,64}$/;
// Control characters end a line in cron and systemd (or break it); U+2028/U+2029 end lines in many editors.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// The docker CLI trims Unicode white space around a filter value (strings.TrimSpace).
const EDGE_SPACE = /^[\s\u0085]|[\s\u0085]$/;
// Words neither systemd nor sh treat specially.
const PLAIN_WORD = /^[A-Za-z0-9_./=:,+@-]+$/;

/**
 * Nightly `docker system prune` for an environment's Docker hosts, with explicit filters: only objects older
 * than `until`, never the ones carrying the keep label, volumes only by opt-in. Written to
 * `dist/<env>/hosts/`: `docker-prune.service` (oneshot, logs to the journal) and `docker-prune.timer`
 * (install in /etc/systemd/system, `systemctl enable --now docker-prune.timer`), and `docker-prune.cron`
 * for /etc/cron.d on hosts without systemd.
 */
export class DockerPruneSchedule extends Construct {
  /** The systemd service unit. */
  public readonly service: OutputFile;
  /** The systemd timer unit. */
  public readonly timer: OutputFile;
  /** The /etc/cron.d file. */
  public readonly cron: OutputFile;
  /** The label filter values that keep objects (`key` or `key=value`). */
  public readonly keepLabels: readonly string[];
  /** Each prune command as its argument vector, in order. */
  public readonly commands: readonly (readonly string[])[];
  /** How the synth summary names the files. */
  public readonly policyObject: string;
  /** Findings listed as warnings in the synth summary. */
  public readonly policyWarnings: readonly ConstructWarning[];
  private readonly name: string;

  constructor(scope: Construct, id: string, props: DockerPruneScheduleProps = {}) {
    super(scope, id);
    Stack.of(this);
    this.name = props.name ?? 'docker-prune';
    if (!UNIT_NAME.test(this.name)) {
      throw new ShipshapeError(this, { problem: 'name must be a systemd unit base name: lower-case letters, digits and "-", at most 64 characters', value: this.name, fix: 'use e.g. "docker-prune"' });
    }
    const directory = props.directory ?? 'hosts';
    const until = assertDuration(this, 'until', props.until ?? DEFAULT_PRUNE_UNTIL, false);
    const dockerPath = this.assertPath('dockerPath', props.dockerPath ?? DEFAULT_DOCKER_PATH);
    const logFile = this.assertPath('logging.logFile', props.logging?.logFile ?? DEFAULT_PRUNE_LOG_FILE);
    const identifier = props.logging?.syslogIdentifier ?? this.name;
    if (!IDENTIFIER.test(identifier)) {
      throw new ShipshapeError(this, { problem: 'logging.syslogIdentifier must be letters, digits, ".", "_" or "-" (at most 64)', value: identifier, fix: `omit it for "${this.name}"` });
    }
    this.keepLabels = this.assertKeepLabels(props.keepLabels ?? [DEFAULT_KEEP_LABEL]);
    const schedule = this.assertSchedule(props.schedule ?? {});

    const keep = this.keepLabels.flatMap((l) => ['--filter', `label!=${l}`]);
    const system = [dockerPath, 'system', 'prune', '--force', ...((props.allImages ?? true) ? ['--all'] : []), '--filter', `until=${until}`, ...keep];
    // `until` is refused with volumes, so they are pruned by a command of their own.
    const volumes = props.volumes ? [[dockerPath, 'volume', 'prune', '--force', ...keep]] : [];
    this.commands = [system, ...volumes];

    this.policyObject = `DockerPruneSchedule ${directory}/${this.name}.service`;
    this.policyWarnings = props.volumes
      ? [
          {
            ruleId: 'prune-volumes',
            message: `deletes unused Docker volumes (anonymous ones on Engine 23 and later, every unused one on older engines)${this.keepLabels.length ? ` without the label ${this.keepLabels[0]}` : ''} on each run, whatever its age (Docker has no until filter for volumes); a volume holds data that no registry can give back`,
            fix: this.keepLabels.length ? `label every volume to keep with ${this.keepLabels[0]}, or remove volumes: true` : 'set keepLabels and label the volumes to keep, or remove volumes: true',
          },
        ]
      : [];

    const what = `${(props.allImages ?? true) ? 'unused' : 'dangling'} images, stopped containers, unused networks and build cache${props.volumes ? ', unused volumes' : ''}`;
    this.service = new OutputFile(this, 'service', { path: `${directory}/${this.name}.service`, content: this.serviceUnit(what, until, identifier) });
    this.timer = new OutputFile(this, 'timer', { path: `${directory}/${this.name}.timer`, content: this.timerUnit(schedule) });
    this.cron = new OutputFile(this, 'cron', { path: `${directory}/${this.name}.cron`, content: this.cronFile(schedule, logFile) });
  }

  private serviceUnit(what: string, until: string, identifier: string): string {
    return [
      `# /etc/systemd/system/${this.name}.service, started by ${this.name}.timer`,
      '[Unit]',
      `Description=Remove Docker ${what} older than ${until}`,
      'Documentation=https://docs.docker.com/engine/manage-resources/pruning/',
      'Requires=docker.service',
      'After=docker.service',
      '',
      '[Service]',
      'Type=oneshot',
      ...this.commands.map((argv) => `ExecStart=${argv.map(systemdWord).join(' ')}`),
      'StandardOutput=journal',
      'StandardError=journal',
      `SyslogIdentifier=${identifier}`,
      // Deleting layers is disk-heavy; the host's containers come first.
      'Nice=10',
      'IOSchedulingClass=best-effort',
      'IOSchedulingPriority=7',
      // A hung CLI would otherwise keep the unit active and the timer from ever starting it again.
      'TimeoutStartSec=1h',
      '',
    ].join('\n');
  }

  private timerUnit(s: Required<PruneSchedule>): string {
    const days = s.weekdays.length > 0 ? `${s.weekdays.join(',')} ` : '';
    return [
      `# /etc/systemd/system/${this.name}.timer; enable with: systemctl enable --now ${this.name}.timer`,
      '[Unit]',
      `Description=Run ${this.name}.service on schedule`,
      '',
      '[Timer]',
      `OnCalendar=${days}*-*-* ${pad(s.hour)}:${pad(s.minute)}:00`,
      ...(s.randomizedDelayMinutes > 0 ? [`RandomizedDelaySec=${s.randomizedDelayMinutes}min`] : []),
      // A host that was off at the scheduled time prunes when it comes back.
      'Persistent=true',
      `Unit=${this.name}.service`,
      '',
      '[Install]',
      'WantedBy=timers.target',
      '',
    ].join('\n');
  }

  private cronFile(s: Required<PruneSchedule>, logFile: string): string {
    const days = s.weekdays.length > 0 ? [...new Set(s.weekdays.map((d) => CRON_DAY[d]))].sort((a, b) => a - b).join(',') : '*';
    const commands = this.commands.map((argv) => argv.map(shellWord).join(' ')).join(' && ');
    // cron turns an unescaped % into a newline; `date -u` needs no format, so the only % are the labels' own.
    const command = `{ date -u; ${commands}; } >> ${logFile} 2>&1`.replace(/%/g, '\\%');
    if (command.length > CRON_MAX_COMMAND) {
      throw new ShipshapeError(this, {
        problem: `the cron command is ${command.length} characters long; cron reads at most ${CRON_MAX_COMMAND}`,
        value: command,
        fix: 'shorten keepLabels, dockerPath or logging.logFile',
      });
    }
    return [
      `# /etc/cron.d/${this.name}: the same prune as ${this.name}.service, for hosts without systemd`,
      'SHELL=/bin/sh',
      'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
      `${s.minute} ${s.hour} * * ${days} root ${command}`,
      '',
    ].join('\n');
  }

  private assertPath(field: string, value: string): string {
    if (typeof value !== 'string' || !SAFE_PATH.test(value) || value.split('/').some((seg, i) => i > 0 && (seg === '' || seg === '.' || seg === '..'))) {
      throw new ShipshapeError(this, {
        problem: `${field} must be an absolute path of letters, digits, ".", "_", "+", "-" and "/" (no empty, "." or ".." segments)`,
        value,
        fix: `set ${field} to e.g. "${field === 'dockerPath' ? DEFAULT_DOCKER_PATH : DEFAULT_PRUNE_LOG_FILE}"`,
      });
    }
    return value;
  }

  private assertKeepLabels(labels: readonly string[]): string[] {
    if (!Array.isArray(labels)) throw new ShipshapeError(this, { problem: 'keepLabels must be a list', value: labels, fix: `use e.g. ["${DEFAULT_KEEP_LABEL}"]` });
    if (labels.length > 1) {
      throw new ShipshapeError(this, {
        problem: 'keepLabels has more than one label, but Docker ANDs label!= filters: an object carrying only one of them would be removed',
        value: labels,
        fix: `put one label (e.g. "${DEFAULT_KEEP_LABEL}") on everything to keep and list only it`,
      });
    }
    for (const label of labels) {
      const problem =
        typeof label !== 'string' || label.split('=')[0] === ''
          ? 'a keep label must be "key" or "key=value" with a non-empty key'
          : label.length > MAX_LABEL_LENGTH
            ? `a keep label must be at most ${MAX_LABEL_LENGTH} characters`
            : CONTROL.test(label)
              ? 'a keep label must not hold control characters or line separators, which end the line of a unit or cron file'
              : LONE_SURROGATE.test(label)
                ? 'a keep label must be valid Unicode (it has a lone surrogate, which cannot be written as UTF-8)'
                : label.includes('\\')
                  ? 'a keep label must not hold a backslash, which cron implementations read differently'
                  : EDGE_SPACE.test(label)
                    ? 'a keep label must not start or end with white space, which the docker CLI trims from filter values'
                    : undefined;
      if (problem) throw new ShipshapeError(this, { problem, value: label, fix: `use a reverse-DNS key such as "${DEFAULT_KEEP_LABEL}"` });
    }
    return [...labels];
  }

  private assertSchedule(s: PruneSchedule): Required<PruneSchedule> {
    const hour = assertInteger(this, 'schedule.hour', s.hour ?? DEFAULT_PRUNE_HOUR, 0, 23);
    const minute = assertInteger(this, 'schedule.minute', s.minute ?? DEFAULT_PRUNE_MINUTE, 0, 59);
    const randomizedDelayMinutes = assertInteger(this, 'schedule.randomizedDelayMinutes', s.randomizedDelayMinutes ?? DEFAULT_PRUNE_RANDOMIZED_DELAY_MINUTES, 0, 720);
    const weekdays = s.weekdays ?? [];
    for (const d of weekdays) {
      if (!WEEKDAYS.includes(d))
        throw new ShipshapeError(this, { problem: 'schedule.weekdays must name days as Mon, Tue, Wed, Thu, Fri, Sat or Sun', value: d, fix: 'use the three-letter English names' });
    }
    if (new Set(weekdays).size !== weekdays.length) throw new ShipshapeError(this, { problem: 'schedule.weekdays lists a day twice', value: weekdays, fix: 'list each day once' });
    return { hour, minute, randomizedDelayMinutes, weekdays: [...weekdays].sort((a, b) => WEEKDAYS.indexOf(a) - WEEKDAYS.indexOf(b)) };
  }
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * One ExecStart word that systemd reads back exactly: `%` is doubled (specifiers are expanded first), `$`
 * doubled (environment variables are expanded when the command runs), anything else special double-quoted
 * with `\` and `"` escaped.
 */
export function systemdWord(word: string): string {
  const quoted = PLAIN_WORD.test(word) ? word : `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return quoted.replace(/%/g, '%%').replace(/\$/g, '$$$$');
}

/** One word that sh reads back exactly: single-quoted, with `'` written as `'"'"'` (no backslash, which cron may rewrite). */
export function shellWord(word: string): string {
  return PLAIN_WORD.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}
