import * as fc from 'fast-check';
import * as kplus from 'cdk8s-plus-27';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Environment, synthesizeStack } from '../../lib';
import { renderFiles } from '../../lib/core/writer';
import { YAML_OPTIONS, isAmbiguousPlainScalar, toYaml } from '../../lib/core/yaml';
import { SwarmService, SwarmProject } from '../../lib/swarm';
import { newStack } from '../support/synth';
import { YAML_SPECIAL_WORDS } from './value-cases';

const read11 = (text: string) => parse(text, { version: '1.1' });
const read12 = (text: string) => parse(text, { version: '1.2' });

// Characters that build the scalars the readers disagree on.
const TRICKY = '0123456789._:-+eExXoObBTtZ~<=yYnN ';
const tricky = fc.array(fc.constantFrom(...TRICKY), { minLength: 1, maxLength: 12 }).map((c) => c.join(''));
const anyString = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), tricky, fc.constantFrom(...YAML_SPECIAL_WORDS));

describe('YAML every reader reads the same way', () => {
  it('quotes every special word, as a value, a key and a list item, and both YAML versions read back the string', () => {
    for (const word of YAML_SPECIAL_WORDS) {
      expect(isAmbiguousPlainScalar(word), word).toBe(true);
      const value = { labels: { [word]: word }, args: [word] };
      const text = toYaml(value);
      expect(read11(text), text).toEqual(value);
      expect(read12(text), text).toEqual(value);
    }
  });

  it('fixes what plain stringify got wrong: YAML 1.1 read on as true, 1_000 as 1000 and 12:30:00 as 45000', () => {
    const plain = stringify({ a: 'on', b: '1_000', c: '12:30:00', d: 'y' }, YAML_OPTIONS);
    expect(read11(plain)).toEqual({ a: true, b: 1000, c: 45000, d: true });
    expect(read11(toYaml({ a: 'on', b: '1_000', c: '12:30:00', d: 'y' }))).toEqual({ a: 'on', b: '1_000', c: '12:30:00', d: 'y' });
  });

  it('reads back every string, key and list item unchanged in YAML 1.1 and 1.2 (property)', () => {
    let quoted = 0;
    let plain = 0;
    fc.assert(
      fc.property(fc.dictionary(anyString, fc.oneof(anyString, fc.array(anyString, { maxLength: 3 })), { maxKeys: 4 }), (value) => {
        const text = toYaml(value);
        expect(read11(text)).toEqual(value);
        expect(read12(text)).toEqual(value);
        if (Object.keys(value).some(isAmbiguousPlainScalar)) quoted++;
        else plain++;
      }),
      { numRuns: 400 },
    );
    // Both kinds of input were exercised.
    expect(quoted).toBeGreaterThan(20);
    expect(plain).toBeGreaterThan(20);
  });

  it('writes exactly the bytes of plain stringify when no string is ambiguous (property)', () => {
    let compared = 0;
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.array(fc.string(), { maxLength: 3 })), { maxKeys: 5 }), (value) => {
        const strings = [
          ...Object.keys(value),
          ...Object.values(value)
            .flat()
            .filter((v): v is string => typeof v === 'string'),
        ];
        fc.pre(!strings.some(isAmbiguousPlainScalar));
        compared++;
        expect(toYaml(value)).toBe(stringify(value, YAML_OPTIONS));
      }),
      { numRuns: 300 },
    );
    expect(compared).toBeGreaterThan(100);
  });

  it('flags every plain scalar the yaml package reads as something else in YAML 1.1 or 1.2 (property)', () => {
    let flagged = 0;
    fc.assert(
      fc.property(tricky, (s) => {
        // Scalars the writer never leaves plain anyway: surrounding spaces, comments, indicators.
        fc.pre(s === s.trim() && !/: | #|^[-?:]( |$)|:$/.test(s));
        const v11 = read11(`k: ${s}\n`).k;
        const v12 = read12(`k: ${s}\n`).k;
        if (v11 !== s || v12 !== s) {
          expect(isAmbiguousPlainScalar(s), `${s} reads as ${String(v11)} / ${String(v12)}`).toBe(true);
          flagged++;
        }
      }),
      { numRuns: 3000 },
    );
    expect(flagged).toBeGreaterThan(30);
  });

  it('escapes U+0085, U+2028 and U+2029 in double quotes, since YAML 1.1 readers (go-yaml v2) take them for line breaks', () => {
    const value = { 'k\u2028ey': 'nel\u0085x', ls: 'ls\u2028x', ps: ['\u2029', 'a\u2028\nb c\u2029', 'x\\\u2028'], plain: 'on' };
    const text = toYaml(value);
    expect(text).not.toMatch(/[\u0085\u2028\u2029]/);
    expect(text).toContain('ls: "ls\\u2028x"');
    expect(text).toContain('"k\\u2028ey": "nel\\u0085x"');
    expect(read11(text), text).toEqual(value);
    expect(read12(text), text).toEqual(value);
    // Strings without them keep the bytes stringify writes.
    expect(toYaml({ a: 'b c', d: 'e\nf' })).toBe(stringify({ a: 'b c', d: 'e\nf' }, YAML_OPTIONS));
    // A first line of spaces would be lost in a literal block.
    expect(read11(toYaml({ v: ' \n' }))).toEqual({ v: ' \n' });
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.constantFrom('\u0085', '\u2028', '\u2029', '\\', '"', '\n', ' ')), { maxLength: 8 }).map((p) => p.join('')),
        (s) => {
          const out = toYaml({ [s]: [s] });
          expect(out).not.toMatch(/[\u0085\u2028\u2029]/);
          expect(read11(out)).toEqual({ [s]: [s] });
          expect(read12(out)).toEqual({ [s]: [s] });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes manifests, the kustomization, docker-stack.yml and ConfigMap data that YAML 1.1 reads as the same strings', () => {
    const stack = newStack(new Environment({ name: 'on', kubernetesVersion: '1.29' }));
    const settings = new kplus.ConfigMap(stack, 'settings', { metadata: { name: 'settings', annotations: { 'example.com/window': '12:30:00' } }, data: { yes: '2001-01-01', FLAG: 'off' } });
    new AntiAffinityDeployment(stack, 'web', {
      name: 'web',
      image: 'ghcr.io/acme/web:1.0.0',
      component: 'off',
      ports: [{ port: 8080 }],
      args: ['no', '1_000', '0x1F'],
      env: { ENABLED: 'yes', RATIO: '1:20', WHEN: '2001-12-14t21:59:43.10-05:00', NOTHING: '~' },
      envFrom: [{ configMap: settings }],
    });
    const project = new SwarmProject(stack, 'swarm', { name: 'on' });
    new SwarmService(project, 'svc', { name: 'svc', image: 'nginx:1.27.2', environment: { DEBUG: 'on', LIMIT: '1_000' }, healthcheck: false });
    const result = synthesizeStack(stack);
    expect(result.problems).toEqual([]);
    const files = renderFiles([result]);
    const checked: string[] = [];
    for (const [file, text] of files) {
      if (!/\.ya?ml$/.test(file)) continue;
      const as11 = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS());
      const as12 = parseAllDocuments(text, { version: '1.2' }).map((d) => d.toJS());
      expect(as11, file).toEqual(as12);
      checked.push(file);
    }
    const deployment = read11(files.get('on/kubernetes/deployment-web.yaml')!);
    expect(deployment.metadata.namespace).toBe('on');
    expect(deployment.metadata.labels['app.kubernetes.io/component']).toBe('off');
    expect(deployment.spec.template.spec.containers[0].args).toEqual(['no', '1_000', '0x1F']);
    expect(deployment.spec.template.spec.containers[0].env).toEqual(
      expect.arrayContaining([
        { name: 'ENABLED', value: 'yes' },
        { name: 'RATIO', value: '1:20' },
        { name: 'NOTHING', value: '~' },
      ]),
    );
    const configMap = read11(files.get('on/kubernetes/configmap-settings.yaml')!);
    expect(configMap.data).toEqual({ yes: '2001-01-01', FLAG: 'off' });
    expect(configMap.metadata.annotations['example.com/window']).toBe('12:30:00');
    const swarm = read11(files.get('on/swarm/docker-stack.yml')!);
    expect(swarm.services.svc.environment).toMatchObject({ DEBUG: 'on', LIMIT: '1_000' });
    expect(checked).toEqual(expect.arrayContaining(['on/kubernetes/kustomization.yaml', 'on/kubernetes/namespace-on.yaml', 'on/swarm/docker-stack.yml']));
  });
});

describe('isAmbiguousPlainScalar fast path', () => {
  // The full check it replaces: every pattern tried on every string.
  const FULL_CHECK: readonly RegExp[] = [
    /^(?:~|null|Null|NULL|)$/,
    /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
    /^[-+]?0b[0-1_]+$/,
    /^[-+]?0[0-7_]+$/,
    /^[-+]?[0-9][0-9_]*$/,
    /^[-+]?0x[0-9a-fA-F_]+$/,
    /^0o[0-7]+$/,
    /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/,
    /^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*$/,
    /^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$/,
    /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
    /^(?:[-+][0-9_]+|[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?$/,
    /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$/,
    /^(?:<<|=)$/,
  ];
  const fullCheck = (value: string): boolean =>
    FULL_CHECK.some((re) => re.test(value)) ||
    (/^[-+0-9]/.test(value) && /^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)$/.test(value.replace(/_/g, '')));

  /** Every string anywhere in the shared value cases. */
  const caseStrings = (value: unknown): string[] =>
    typeof value === 'string' ? [value] : Array.isArray(value) ? value.flatMap(caseStrings) : value && typeof value === 'object' ? Object.values(value).flatMap(caseStrings) : [];

  it('agrees with the full check on every shared value case', async () => {
    const strings = caseStrings(await import('./value-cases'));
    expect(strings.length).toBeGreaterThan(200);
    let ambiguous = 0;
    for (const s of strings) {
      expect(isAmbiguousPlainScalar(s), JSON.stringify(s)).toBe(fullCheck(s));
      if (fullCheck(s)) ambiguous++;
    }
    expect(ambiguous).toBeGreaterThan(30);
  });

  it('agrees with the full check on arbitrary strings (property)', () => {
    let ambiguous = 0;
    let plain = 0;
    // Strings starting with each character the patterns start with, and with letters and anything else.
    const starts = fc.constantFrom(...'-+.0123456789eEoxb<=~:_ yYnNtTfFaZ\t'.split(''), '');
    fc.assert(
      fc.property(
        fc.oneof(
          anyString,
          fc.tuple(starts, tricky).map(([a, b]) => a + b),
          fc.tuple(tricky, fc.string()).map(([a, b]) => a + b),
        ),
        (s) => {
          const expected = fullCheck(s);
          expect(isAmbiguousPlainScalar(s), JSON.stringify(s)).toBe(expected);
          if (expected) ambiguous++;
          else plain++;
        },
      ),
      { numRuns: 5000 },
    );
    expect(ambiguous).toBeGreaterThan(200);
    expect(plain).toBeGreaterThan(200);
  });
});
