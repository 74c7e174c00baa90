import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fc from 'fast-check';
import * as kplus from 'cdk8s-plus-27';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Environment, Manifest, synthesizeStack } from '../../../lib';
import { renderManifest } from '../../../lib/core/synth';
import { renderFiles } from '../../../lib/core/writer';
import { YAML_OPTIONS } from '../../../lib/core/yaml';
import { isAmbiguousPlainScalar } from '../../../lib/core/yaml';
import { cronScheduleProblem, isDns1035Label, labelValueProblem, qualifiedNameProblem } from '../../../lib/core/validate';
import { conformanceSuite } from '../../support/conformance';
import { seededSample } from '../../support/property';
import { ApiServer, startApiServer } from '../../support/envtest';
import { newStack } from '../../support/synth';
import { CRON_CASES, NAME_CASES, YAML_SPECIAL_WORDS } from '../value-cases';

/*
 * The API server (envtest's kube-apiserver 1.29) as the oracle for two things shipshape decides on its own:
 * - that the YAML it writes reads the same in kubectl's YAML 1.1 parser (Go yaml.v2 through sigs.k8s.io/yaml)
 *   as it meant it, for the words a 1.1 reader takes for bools, numbers and dates;
 * - that its label, name and CronJob schedule rules refuse exactly what the API server refuses.
 */

let api: ApiServer;

// ConfigMap keys: letters, digits, '-', '_', '.', but not '.' or '..'.
const isConfigMapKey = (w: string) => /^[-._a-zA-Z0-9]+$/.test(w) && w !== '.' && w !== '..';
let dir: string;

/** `kubectl create --dry-run=server` on each object: which names the API server accepted. */
function serverAccepts(objects: Manifest[]): Set<string> {
  const r = api.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }), timeoutSeconds: 120 });
  const accepted = new Set(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('/').pop()!),
  );
  // Every object is either accepted or named in an error: nothing is lost in between.
  for (const o of objects) {
    if (!accepted.has(o.metadata.name)) expect(r.stderr, o.metadata.name).toContain(`"${o.metadata.name}"`);
  }
  return accepted;
}

conformanceSuite('Kubernetes reads what shipshape writes, and refuses what it refuses', ['kubectl', 'kube-apiserver'], () => {
  beforeAll(async () => {
    api = await startApiServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-yaml-'));
  }, 180_000);

  afterAll(async () => {
    await api?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('YAML 1.1 words', () => {
    function hostileStack() {
      const stack = newStack(new Environment({ name: 'on', kubernetesVersion: '1.29' }));
      const words = YAML_SPECIAL_WORDS.filter((w) => w !== '');
      // Label values must be label values; the rest go where any string goes.
      const labelWords = words.filter((w) => labelValueProblem(w) === undefined);
      new kplus.ConfigMap(stack, 'words', {
        metadata: {
          name: 'words',
          labels: Object.fromEntries(labelWords.map((w, i) => [`w${i}`, w])),
          annotations: Object.fromEntries(words.map((w, i) => [`example.com/w${i}`, w])),
        },
        data: Object.fromEntries(words.map((w, i) => [`k${i}`, w])),
      });
      new kplus.ConfigMap(stack, 'keys', { metadata: { name: 'keys' }, data: Object.fromEntries(words.filter(isConfigMapKey).map((w) => [w, w])) });
      new AntiAffinityDeployment(stack, 'web', {
        name: 'web',
        image: 'ghcr.io/acme/web:1.0.0',
        component: 'off',
        ports: [{ port: 8080 }],
        args: words,
        env: Object.fromEntries(words.map((w, i) => [`W${i}`, w])),
      });
      return { stack, words, labelWords };
    }

    it('kubectl create -f reads every label, annotation, env value, argument and ConfigMap entry back as the string written', () => {
      const { stack, words, labelWords } = hostileStack();
      const result = synthesizeStack(stack);
      expect(result.problems).toEqual([]);
      const out = path.join(dir, 'quoted');
      for (const [file, text] of renderFiles([result])) {
        fs.mkdirSync(path.dirname(path.join(out, file)), { recursive: true });
        fs.writeFileSync(path.join(out, file), text);
      }
      const manifests = path.join(out, 'on', 'kubernetes');
      // Every manifest, not the kustomization (which is kustomize's, not the API server's).
      const objectFiles = fs.readdirSync(manifests).filter((f) => f !== 'kustomization.yaml');
      const each = objectFiles.flatMap((f) => ['-f', path.join(manifests, f)]);
      // One JSON document per file, printed one after the other.
      const items: Manifest[] = JSON.parse(
        `[${api
          .mustKubectl(['create', '--dry-run=client', '-o', 'json', ...each])
          .trim()
          .replace(/\n\}\n\{/g, '\n},\n{')}]`,
      );
      expect(items).toHaveLength(each.length / 2);
      const find = (kind: string, name: string) => items.find((o) => o.kind === kind && o.metadata.name === name)!;
      expect(find('Namespace', 'on')).toBeDefined();
      const cm = find('ConfigMap', 'words');
      expect(cm.data).toEqual(Object.fromEntries(words.map((w, i) => [`k${i}`, w])));
      expect(cm.metadata.labels).toMatchObject(Object.fromEntries(labelWords.map((w, i) => [`w${i}`, w])));
      expect(cm.metadata.annotations).toEqual(Object.fromEntries(words.map((w, i) => [`example.com/w${i}`, w])));
      expect(Object.keys(find('ConfigMap', 'keys').data).sort()).toEqual(words.filter(isConfigMapKey).sort());
      const container = find('Deployment', 'web').spec.template.spec.containers[0];
      expect(container.args).toEqual(words);
      expect(container.env.map((e: { value: string }) => e.value)).toEqual(words);
      expect(find('Deployment', 'web').metadata.labels!['app.kubernetes.io/component']).toBe('off');

      // The API server accepts all of it under strict field validation.
      api.mustKubectl(['create', '-f', path.join(manifests, 'namespace-on.yaml')]);
      api.mustKubectl(['create', '--dry-run=server', '--validate=strict', ...objectFiles.filter((f) => f !== 'namespace-on.yaml').flatMap((f) => ['-f', path.join(manifests, f)])], {
        timeoutSeconds: 120,
      });
    });

    it('reads back random scalars built from digits, signs, dots, colons and letters as written (Go yaml.v2, property sample)', () => {
      const tricky = fc.array(fc.constantFrom(...'0123456789._:-+eExXoObBTtZ~<=yYnN '.split('')), { minLength: 1, maxLength: 10 }).map((c) => c.join(''));
      const values = fc.sample(tricky, 1500);
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'random', namespace: 'default' }, data: Object.fromEntries(values.map((v, i) => [`k${i}`, v])) };
      const file = path.join(dir, 'random.yaml');
      fs.writeFileSync(file, renderManifest(cm));
      const created = JSON.parse(api.mustKubectl(['create', '--dry-run=client', '-o', 'json', '-f', file]));
      expect(created.data).toEqual(cm.data);
      // The sample held scalars a YAML 1.1 reader takes for something else: the quoting was exercised.
      expect(values.filter(isAmbiguousPlainScalar).length).toBeGreaterThan(20);
    });

    it('fails the same objects written by plain stringify, as the issue reported (the check is not vacuous)', () => {
      const { stack } = hostileStack();
      const result = synthesizeStack(stack);
      const file = path.join(dir, 'plain.yaml');
      fs.writeFileSync(file, result.objects.map((o) => stringify(o.manifest, YAML_OPTIONS)).join('---\n'));
      const r = api.kubectl(['create', '--dry-run=client', '-o', 'json', '-f', file]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/cannot unmarshal (bool|number)/);
    });
  });

  describe('rules against the API server', () => {
    it('refuses exactly the label keys and values the API server refuses', () => {
      const { values: random, seed } = seededSample(
        fc.record({
          key: fc.string({ unit: fc.constantFrom(...'aZ9._-/ '.split('')), minLength: 1, maxLength: 8 }),
          value: fc.string({ unit: fc.constantFrom(...'aZ9._- '.split('')), maxLength: 8 }),
        }),
        120,
      );
      const cases = [
        ...NAME_CASES.qualifiedName.valid.map((key) => ({ key, value: 'v' })),
        ...NAME_CASES.qualifiedName.invalid.map((key) => ({ key, value: 'v' })),
        ...NAME_CASES.labelValue.valid.map((value) => ({ key: 'k', value })),
        ...NAME_CASES.labelValue.invalid.map((value) => ({ key: 'k', value })),
        ...random,
      ];
      const objects = cases.map((c, i): Manifest => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `label-${i}`, namespace: 'default', labels: { [c.key]: c.value } } }));
      const accepted = serverAccepts(objects);
      const disagreements = cases.filter((c, i) => accepted.has(`label-${i}`) !== (qualifiedNameProblem(c.key) === undefined && labelValueProblem(c.value) === undefined));
      expect(disagreements, `fast-check seed ${seed}`).toEqual([]);
      expect(accepted.size).toBeGreaterThan(10);
      expect(cases.length - accepted.size).toBeGreaterThan(10);
    });

    it('refuses exactly the CronJob schedules the API server refuses', () => {
      const token = fc.constantFrom('*', '?', '0', '1', '5', '7', '09', '23', '31', '59', '60', '99', '+', '-', '/', ',', 'MON', 'sun', 'jan', 'DEC', 'FRİ', 'x');
      const field = fc.oneof(
        // Valid in every field, so that a good part of the sample is accepted.
        { arbitrary: fc.constantFrom('*', '?', '1', '1-5', '*/5', '1,2', '1/2', '*-7', '+5', '*/+2', '2-+3', ','), weight: 10 },
        fc.constantFrom('0', '5', '59', '60', '99', 'MON', 'jan', '*/0', '5-1'),
        fc.string({ unit: fc.constantFrom(...'0123456789*/-,'.split('')), minLength: 1, maxLength: 4 }),
        fc.array(token, { minLength: 1, maxLength: 4 }).map((t) => t.join('')),
      );
      // Separators Go's strings.Fields splits on and JavaScript's \s does not (U+0085), and the reverse (U+FEFF).
      const space = fc.constantFrom(' ', ' ', ' ', ' ', ' ', ' ', '  ', '\t', '\u00a0', '\u0085', '\ufeff', '\u3000');
      const count = fc.oneof({ arbitrary: fc.constant(5), weight: 4 }, fc.constantFrom(4, 6));
      const fields = fc
        .tuple(
          count.chain((n) => fc.array(fc.tuple(field, space), { minLength: n, maxLength: n })),
          fc.constantFrom('', ' ', '\u0085'),
        )
        .map(
          ([f, end]) =>
            f
              .map(([x, s]) => x + s)
              .join('')
              .trimEnd() + end,
        );
      const duration = fc
        .array(fc.constantFrom('0', '1', '5', '90', '2562048', '.', 'h', 'm', 's', 'ms', 'µs', 'μs', 'us', 'ns', 'H', 'd', '-', '+'), { minLength: 1, maxLength: 5 })
        .map((t) => t.join(''));
      const descriptor = fc.oneof(
        fc.tuple(fc.constantFrom('', ' '), fc.constantFrom('@daily', '@weekly', '@hourly', '@yearly', '@reboot', '@Daily'), fc.constantFrom('', ' ')).map((p) => p.join('')),
        fc.tuple(fc.constantFrom('@every ', '@every  ', '@every\t', '@every'), duration).map((p) => p.join('')),
      );
      const { values: random, seed } = seededSample(fc.oneof({ arbitrary: fields, weight: 4 }, { arbitrary: descriptor, weight: 1 }), 200);
      const schedules = [...CRON_CASES.valid, ...CRON_CASES.invalid.filter((s) => s !== ''), ...random];
      const objects = schedules.map((schedule, i): Manifest => ({
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: `cron-${i}`, namespace: 'default' },
        spec: { schedule, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox:1.36.1' }] } } } } },
      }));
      const accepted = serverAccepts(objects);
      const disagreements = schedules.filter((s, i) => accepted.has(`cron-${i}`) !== (cronScheduleProblem(s) === undefined));
      expect(disagreements, `fast-check seed ${seed}`).toEqual([]);
      // The random part has both verdicts in number, so it tests the rule and not only the fixed cases.
      const randomAccepted = schedules.filter((_, i) => i >= schedules.length - random.length && accepted.has(`cron-${i}`)).length;
      expect(randomAccepted, `fast-check seed ${seed}`).toBeGreaterThan(10);
      expect(random.length - randomAccepted, `fast-check seed ${seed}`).toBeGreaterThan(10);
    });

    it('refuses exactly the Service names the API server refuses', () => {
      const names = [...NAME_CASES.dns1035Label.valid, ...NAME_CASES.dns1035Label.invalid.filter((n) => n !== ''), '9svc', 'svc-9'];
      for (const name of names) {
        const r = api.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], {
          input: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port: 80 }] } }),
        });
        expect(r.status === 0, `${name}: ${r.stderr}`).toBe(isDns1035Label(name));
      }
    });
  });
});
