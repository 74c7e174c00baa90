import * as fc from 'fast-check';
import { App, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, ShipshapeError, Stack } from '../../lib';
import { ClusterAutoscaler, EtcdBackup, MetricsServer } from '../../lib/cluster';
import { Elasticsearch } from '../../lib/logging';
import { DockerHostRegistryMirror, RegistryMirror } from '../../lib/registry';
import { SwarmService } from '../../lib/swarm';
import { assertPinnedImage, imageReferenceProblem, parseImageReference } from '../../lib/core/images';
import {
  assertAnnotations,
  assertCronSchedule,
  assertLabels,
  cronScheduleProblem,
  isDns1035Label,
  isDns1123Label,
  isDns1123Subdomain,
  labelValueProblem,
  portNameProblem,
  qualifiedNameProblem,
} from '../../lib/core/validate';
import { newStack, synthStack, testEnvironment } from '../support/synth';
import { CRON_CASES, IMAGE_CASES, NAME_CASES } from './value-cases';
import { acceptsOrRefuses, shipshapeError } from '../support/errors';

const SHA = 'a'.repeat(64);
// EtcdBackup needs to know the control plane runs on nodes of the cluster.
const selfManaged = () => testEnvironment({ controlPlane: { kind: 'kubeadm', nodes: 1 } });

describe('Kubernetes name, label and reference rules', () => {
  it('checks DNS-1123 labels and subdomains, DNS-1035 labels, qualified names and label values like the API server', () => {
    for (const v of NAME_CASES.dns1123Label.valid) expect(isDns1123Label(v), v).toBe(true);
    for (const v of NAME_CASES.dns1123Label.invalid) expect(isDns1123Label(v), v).toBe(false);
    for (const v of NAME_CASES.dns1123Subdomain.valid) expect(isDns1123Subdomain(v), v).toBe(true);
    for (const v of NAME_CASES.dns1123Subdomain.invalid) expect(isDns1123Subdomain(v), v).toBe(false);
    for (const v of NAME_CASES.dns1035Label.valid) expect(isDns1035Label(v), v).toBe(true);
    for (const v of NAME_CASES.dns1035Label.invalid) expect(isDns1035Label(v), v).toBe(false);
    for (const v of NAME_CASES.qualifiedName.valid) expect(qualifiedNameProblem(v), v).toBeUndefined();
    for (const v of NAME_CASES.qualifiedName.invalid) expect(qualifiedNameProblem(v), v).toBeDefined();
    for (const v of NAME_CASES.labelValue.valid) expect(labelValueProblem(v), v).toBeUndefined();
    for (const v of NAME_CASES.labelValue.invalid) expect(labelValueProblem(v), v).toBeDefined();
  });

  it('parses image references with the distribution grammar', () => {
    for (const v of IMAGE_CASES.valid) expect(imageReferenceProblem(v), v).toBeUndefined();
    for (const v of IMAGE_CASES.invalid) expect(imageReferenceProblem(v), JSON.stringify(v)).toBeDefined();
    expect(parseImageReference(`registry:5000/team/app:1.2@sha256:${SHA}`)).toEqual({ name: 'registry:5000/team/app', tag: '1.2', digest: `sha256:${SHA}` });
    expect(parseImageReference('localhost:5000/app')).toEqual({ name: 'localhost:5000/app' });
    expect(imageReferenceProblem('NGINX:1.0')).toMatch(/lower case/);
  });

  it('accepts a pinned image and refuses an unpinned one with the path, the value and an example', () => {
    expect(assertPinnedImage('x', 'image', 'nginx:1.27.2')).toBe('nginx:1.27.2');
    for (const image of ['nginx', 'nginx:latest', 'ghcr.io/acme/web']) {
      const e = shipshapeError(() => assertPinnedImage('stack/web', 'image', image, 'nginx:1.27.2'));
      expect(e.message).toMatch(/^stack\/web: image must be pinned/);
      expect(e.fix).toContain('nginx:1.27.2');
    }
  });

  it('either accepts an arbitrary string as a pinned image or refuses it with a ShipshapeError, never another error (property)', () => {
    const part = fc.string({ unit: fc.constantFrom(...'aZ09._-/:@ \n'.split('')), maxLength: 12 });
    acceptsOrRefuses(
      fc.oneof(fc.string(), part, fc.constantFrom(...IMAGE_CASES.valid, ...IMAGE_CASES.invalid)),
      (image) => {
        assertPinnedImage('p', 'image', image);
        expect(image).not.toMatch(/\s/);
        expect(parseImageReference(image)).toBeDefined();
      },
      { numRuns: 1000, atLeast: { accepted: 5, refused: 100 } },
    );
  });

  it('checks CronJob schedules like robfig/cron: fields, ranges, steps, names and macros', () => {
    for (const v of CRON_CASES.valid) expect(cronScheduleProblem(v), v).toBeUndefined();
    for (const v of CRON_CASES.invalid) expect(cronScheduleProblem(v), v).toBeDefined();
    expect(cronScheduleProblem('*/0 * * * *')).toMatch(/positive/);
    expect(cronScheduleProblem('99 99 99 99 99')).toMatch(/outside 0-59/);
  });

  it('either accepts an arbitrary string as a schedule or refuses it with a ShipshapeError, never another error (property)', () => {
    const token = fc.constantFrom('*', '?', '0', '1', '7', '+', '-', '/', ',', ' ', '\t', '\u0085', 'MON', 'İ', '@', '@every ', '.', 'h', 'µs', 'constructor', '__proto__', 'toString');
    acceptsOrRefuses(
      fc.oneof(
        fc.string(),
        fc.array(token, { maxLength: 12 }).map((t) => t.join('')),
        fc.constantFrom(...CRON_CASES.valid, ...CRON_CASES.invalid),
      ),
      (schedule) => {
        assertCronSchedule('p', 'schedule', schedule);
        expect(cronScheduleProblem(schedule)).toBeUndefined();
      },
      { numRuns: 2000, atLeast: { accepted: 20, refused: 200 } },
    );
  });
});

describe('the rules at construct boundaries', () => {
  const web = { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] };

  it('refuses malformed images in AntiAffinityDeployment, its sidecars and init containers', () => {
    for (const image of ['NGINX:1.0', ' nginx:1.0', 'nginx:1.0 ', 'nginx: 1.0', 'nginx:1.0\n', 'nginx@sha256:abc']) {
      const e = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, image }));
      expect(e.path).toBe('test/web');
      expect(e.value).toBe(image);
      expect(e.fix).toMatch(/ghcr.io\/acme\/web:1.4.2/);
    }
    expect(shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, sidecars: [{ name: 'proxy', image: 'Envoy:1' }] })).message).toContain('sidecars[0].image');
    expect(shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, initContainers: [{ name: 'init', image: 'busybox' }] })).message).toContain(
      'initContainers[0].image must be pinned',
    );
  });

  it('refuses malformed images wherever images are accepted', () => {
    const stack = () => newStack();
    const cases: [string, () => unknown][] = [
      ['SwarmService', () => new SwarmService(stack(), 'svc', { name: 'svc', image: 'NGINX:1.27.2' })],
      ['MetricsServer', () => new MetricsServer(stack(), 'ms', { image: 'registry.k8s.io/metrics-server/metrics-server: v0.7.1' })],
      ['ClusterAutoscaler', () => new ClusterAutoscaler(stack(), 'ca', { cloud: { provider: 'aws', region: 'eu-west-1' }, image: 'registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.0\n' })],
      ['EtcdBackup', () => new EtcdBackup(newStack(selfManaged()), 'etcd', { etcdImage: 'registry.k8s.io/etcd@sha256:123' })],
      ['Elasticsearch', () => new Elasticsearch(stack(), 'es', { image: ' docker.elastic.co/elasticsearch/elasticsearch:8.15.3' })],
      ['RegistryMirror', () => new RegistryMirror(stack(), 'mirror', { image: 'Registry:2.8.3' })],
      ['DockerHostRegistryMirror', () => new DockerHostRegistryMirror(stack(), 'mirror', { image: 'registry:2.8.3 ' })],
    ];
    for (const [what, build] of cases) {
      const e = shipshapeError(build);
      expect(e.message, what).toMatch(/[Ii]mage is not a valid image reference/);
    }
  });

  it('refuses labels and a component that the API server would reject', () => {
    expect(shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, component: 'front end' })).message).toMatch(/component becomes a label value/);
    expect(shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, component: 'x'.repeat(64) })).fix).toMatch(/63/);
    const bad: Record<string, string>[] = [{ 'my team': 'a' }, { team: 'a b' }, { team: 'x'.repeat(64) }, { 'Example.com/team': 'a' }, { team: 'a\nb' }];
    for (const labels of bad) {
      const e = shipshapeError(() => new Stack(new App(), 'prod', { environment: testEnvironment(), labels }));
      expect(e.path).toBe('prod');
      expect(e.message).toMatch(/labels/);
    }
    const ca = shipshapeError(() => new ClusterAutoscaler(newStack(), 'ca', { cloud: { provider: 'aws', region: 'eu-west-1' }, serviceAccountAnnotations: { 'role arn': 'x' } }));
    expect(ca.message).toMatch(/serviceAccountAnnotations has an invalid annotation key/);
  });

  it('refuses a Service name that starts with a digit and two Service ports with one number', () => {
    const e = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, name: '1web' }));
    expect(e.message).toMatch(/RFC 1035/);
    expect(e.value).toBe('1web');
    // Without a Service, a digit is fine (Deployment names are DNS-1123 labels).
    expect(
      () =>
        new AntiAffinityDeployment(newStack(), 'web', {
          ...web,
          name: '1web',
          service: false,
          liveness: kplus.Probe.fromTcpSocket({ port: 8080 }),
          readiness: kplus.Probe.fromTcpSocket({ port: 8080 }),
        }),
    ).not.toThrow();
    const ports = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, ports: [{ port: 8080 }, { port: 80 }], service: { port: 80 } }));
    expect(ports.message).toMatch(/two ports 80/);
    // Any Service, whatever construct made it, is checked at synth.
    const result = synthStack((s) => new kplus.Service(s, 'raw', { metadata: { name: '9svc' }, ports: [{ port: 80 }] }));
    expect(result.problems.join('\n')).toMatch(/test\/raw: Service name "9svc" must start with a letter/);
  });

  it('refuses writablePaths that are relative, climb with .., or repeat', () => {
    for (const writablePaths of [['tmp'], ['/a/../b'], ['/tmp', '/tmp'], ['/tmp/'], ['/'], ['/a b']]) {
      const e = shipshapeError(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, writablePaths }));
      expect(e.message).toMatch(/writablePaths/);
    }
    expect(() => new AntiAffinityDeployment(newStack(), 'web', { ...web, writablePaths: ['/tmp', '/var/cache/app'] })).not.toThrow();
  });

  it('takes the EtcdBackup schedules CronJobs take, macros and names included, and refuses the rest', () => {
    for (const schedule of ['@daily', '0 3 * * MON', '@hourly', '0 */6 * * *']) {
      const result = synthStack((s) => new EtcdBackup(s, 'etcd', { schedule }), selfManaged());
      expect(result.problems, schedule).toEqual([]);
    }
    for (const schedule of ['99 99 99 99 99', '*/0 * * * *', '0 3 * * 7']) {
      const e = shipshapeError(() => new EtcdBackup(newStack(selfManaged()), 'etcd', { schedule }));
      expect(e.message).toMatch(/^test\/etcd: schedule is not a valid cron schedule/);
      expect(e.fix).toMatch(/@daily/);
    }
  });

  it('refuses a memory Size that is not a Size (a string from JavaScript) with a ShipshapeError, not a TypeError', () => {
    const e = shipshapeError(() => new Elasticsearch(newStack(), 'es', { memory: '2Gi' as unknown as Size }));
    expect(e.message).toMatch(/memory must be a finite, positive Size \(a Size object, not the string "2Gi"\)/);
  });
});

describe('port names (IANA_SVC_NAME, as IsValidPortName checks them)', () => {
  it('accepts 1-15 lower-case letters, digits and single hyphens with a letter, and nothing else', () => {
    for (const name of ['http', 'a', 'metrics-2', '8080a', 'a'.repeat(15), 'h-t-t-p']) expect(portNameProblem(name), name).toBeUndefined();
    expect(portNameProblem('a--b')).toMatch(/consecutive hyphens/);
    expect(portNameProblem('8080')).toMatch(/at least one letter/);
    expect(portNameProblem('-http')).toMatch(/begin or end/);
    expect(portNameProblem('http-')).toMatch(/begin or end/);
    expect(portNameProblem('HTTP')).toMatch(/lower-case/);
    expect(portNameProblem('a_b')).toMatch(/lower-case/);
    expect(portNameProblem('a'.repeat(16))).toMatch(/at most 15/);
    expect(portNameProblem('')).toMatch(/non-empty/);
    expect(portNameProblem(80)).toMatch(/non-empty string/);
  });
});

describe('label and annotation keys cdk8s cannot serialize', () => {
  it('refuses "constructor" with the scope and the reason, and accepts it with a prefix', () => {
    for (const assert of [assertLabels, assertAnnotations]) {
      expect(() => assert('test/web', 'labels', { constructor: 'v' })).toThrow(/^test\/web: .*cdk8s cannot serialize an object with the key "constructor" \(got "constructor"\)\. Fix: /);
      expect(assert('test/web', 'labels', { 'example.com/constructor': 'v' })).toEqual({ 'example.com/constructor': 'v' });
    }
  });

  it('refuses it on a workload before anything is rendered', () => {
    const stack = newStack();
    expect(() => new AntiAffinityDeployment(stack, 'web', { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }], annotations: { constructor: 'v' } })).toThrow(ShipshapeError);
  });
});

describe('annotation keys are checked as the API server checks them', () => {
  it('lower-cases annotation keys first (an upper-case prefix is accepted), but not label keys', () => {
    expect(assertAnnotations('test/web', 'annotations', { 'Example.com/owner': 'a' })).toEqual({ 'Example.com/owner': 'a' });
    expect(() => assertLabels('test/web', 'labels', { 'Example.com/owner': 'a' })).toThrow(/invalid label key: the prefix "Example.com"/);
    expect(() => assertAnnotations('test/web', 'annotations', { 'ex ample.com/owner': 'a' })).toThrow(/invalid annotation key/);
  });
});
