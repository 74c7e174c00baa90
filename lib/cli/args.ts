import { ShipshapeError } from '../core/errors';

/** The commands of the `shipshape` CLI. */
export const COMMANDS = ['synth', 'diff', 'validate'] as const;
export type Command = (typeof COMMANDS)[number];

/** A parsed command line. */
export interface CliOptions {
  readonly command: Command;
  /** Environments named with --env, in the order given; empty means every environment. */
  readonly environments: readonly string[];
  /** --out: output directory of synth (and the default of diff's --against). */
  readonly out?: string;
  /** --app: the program to run. */
  readonly app?: string;
  /** --against: directory diff compares with. */
  readonly against?: string;
  /** --exit-code: diff exits 1 when anything differs. */
  readonly exitCode: boolean;
}

export const USAGE = `Usage:
  shipshape synth    [--env <name>]… [--out <dir>] [--app <file>]
  shipshape diff     [--env <name>]… [--against <dir>] [--out <dir>] [--exit-code] [--app <file>]
  shipshape validate [--env <name>]… [--app <file>]

  --env <name>     only this environment (repeat, or separate names with commas); default: every environment
  --out <dir>      output directory (diff: the default of --against); default: the program's, else CDK8S_OUTDIR, else cdk8s.yaml's output, else dist
  --app <file>     the program; default: the file cdk8s.yaml's app command runs, else main.ts
  --against <dir>  diff compares with this directory; default: the output directory
  --exit-code      diff exits 1 when anything differs

Exit codes: 0 done; 1 problems found (or, with diff --exit-code, differences); 2 the command could not run.
See docs/cli.md.`;

// Which options each command takes; a value option is followed by its value (or written --name=value).
const VALUE_OPTIONS: Record<Command, readonly string[]> = {
  synth: ['env', 'out', 'app'],
  diff: ['env', 'out', 'app', 'against'],
  validate: ['env', 'app'],
};
const FLAG_OPTIONS: Record<Command, readonly string[]> = { synth: [], diff: ['exit-code'], validate: [] };

function usageError(where: string, problem: string, value: unknown, fix: string): ShipshapeError {
  return new ShipshapeError(where, { problem, value, fix });
}

/** Parses the arguments after `shipshape`; `help` for -h/--help or no arguments. */
export function parseArguments(argv: readonly string[]): CliOptions | 'help' {
  if (argv.length === 0 || argv.includes('-h') || argv.includes('--help')) return 'help';
  const [command, ...rest] = argv;
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw usageError('shipshape', 'unknown command', command, `use one of: ${COMMANDS.join(', ')}`);
  }
  const cmd = command as Command;
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw usageError(`shipshape ${cmd}`, 'unexpected argument', arg, `options start with --; see shipshape --help`);
    const [, name, inline] = match;
    if (FLAG_OPTIONS[cmd].includes(name)) {
      if (inline !== undefined) throw usageError(`shipshape ${cmd} --${name}`, 'this option takes no value', inline, `write --${name} alone`);
      flags.add(name);
    } else if (VALUE_OPTIONS[cmd].includes(name)) {
      const value = inline ?? rest[++i];
      if (value === undefined || value === '' || (inline === undefined && value.startsWith('--'))) {
        throw usageError(`shipshape ${cmd} --${name}`, 'the option needs a value', value, `write --${name} <value>`);
      }
      values.set(name, [...(values.get(name) ?? []), value]);
    } else {
      const accepted = [...VALUE_OPTIONS[cmd], ...FLAG_OPTIONS[cmd]].map((o) => `--${o}`).join(', ');
      throw usageError(`shipshape ${cmd}`, 'unknown option', arg, `${cmd} accepts ${accepted}`);
    }
  }
  const single = (name: string): string | undefined => {
    const given = values.get(name) ?? [];
    if (given.length > 1) throw usageError(`shipshape ${cmd} --${name}`, 'the option is given more than once', given, `give --${name} once`);
    return given[0];
  };
  const environments = (values.get('env') ?? []).flatMap((v) => v.split(',')).filter((e) => e !== '');
  return {
    command: cmd,
    environments: environments.filter((e, i) => environments.indexOf(e) === i),
    out: single('out'),
    app: single('app'),
    against: single('against'),
    exitCode: flags.has('exit-code'),
  };
}
