import { describe, expect, it } from 'vitest';
import { parseArguments } from '../../lib/cli/args';

describe('parseArguments', () => {
  it('collects --env from repeats, commas and --env=, in the order given, without duplicates', () => {
    expect(parseArguments(['synth', '--env', 'prod', '--env=dev,stage', '--env', 'prod', '--out', 'build'])).toEqual({
      command: 'synth',
      environments: ['prod', 'dev', 'stage'],
      out: 'build',
      app: undefined,
      against: undefined,
      exitCode: false,
    });
    expect(parseArguments(['diff', '--exit-code', '--against=committed'])).toMatchObject({ command: 'diff', environments: [], against: 'committed', exitCode: true });
  });

  it('answers help for no arguments and -h anywhere', () => {
    expect(parseArguments([])).toBe('help');
    expect(parseArguments(['diff', '-h'])).toBe('help');
  });

  it.each([
    [['deploy'], 'shipshape: unknown command (got "deploy"). Fix: use one of: synth, diff, validate'],
    [['synth', '--exit-code'], 'shipshape synth: unknown option (got "--exit-code"). Fix: synth accepts --env, --out, --app'],
    [['validate', '--out', 'x'], 'shipshape validate: unknown option (got "--out"). Fix: validate accepts --env, --app'],
    [['synth', '--env'], 'shipshape synth --env: the option needs a value (got undefined)'],
    [['synth', '--env', '--out', 'x'], 'shipshape synth --env: the option needs a value (got "--out")'],
    [['synth', '--out', 'a', '--out', 'b'], 'shipshape synth --out: the option is given more than once (got ["a","b"])'],
    [['diff', '--exit-code=yes'], 'shipshape diff --exit-code: this option takes no value (got "yes")'],
    [['synth', 'prod'], 'shipshape synth: unexpected argument (got "prod")'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseArguments(argv)).toThrow(message);
  });
});
