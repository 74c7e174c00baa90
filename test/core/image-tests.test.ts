import * as kplus from 'cdk8s-plus-27';
import * as fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, Manifest, OutputFile, SynthesizedStack, synthesizeApp } from '../../lib';
import { ImageUse, environmentImageTests, imageStructureTests, imageTestFileName } from '../../lib/core/image-tests';
import { scanFile, scanYamlDocuments } from '../../lib/core/policy/credentials';
import { renderFiles } from '../../lib/core/writer';
import { ELASTICSEARCH_IMAGE, Elasticsearch } from '../../lib/logging';
import { SwarmProject, SwarmService } from '../../lib/swarm';
import { buildApp } from '../../stacks/platform';
import { swarmEnvironment, synthHost } from '../support/hosts';
import { structureTestConfigProblems } from '../support/structure-test';
import { synthStack } from '../support/synth';

const platform: SynthesizedStack[] = synthesizeApp(buildApp());
// Images the platform's constructs run as their publishers build them, whose uses state nothing else a structure
// test can check (the user and ports are the pods' own; the executables are looked up on PATH or use tcp probes).
const UNCHECKABLE = new Set([
  'registry.k8s.io/etcd:3.5.15-0',
  'docker.elastic.co/elasticsearch/elasticsearch:8.15.3',
  'docker.elastic.co/kibana/kibana:8.15.3',
  'quay.io/prometheuscommunity/elasticsearch-exporter:v1.7.0',
  'fluent/fluentd-kubernetes-daemonset:v1.17.1-debian-elasticsearch8-1.0',
  'ghcr.io/acme/fluentd-efk:v1.17.1-1.0',
  'registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.5',
  'registry.k8s.io/metrics-server/metrics-server:v0.7.2',
  'registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0',
]);
const env = (name: string) => platform.find((r) => r.environment.name === name)!;
const configOf = (r: SynthesizedStack, image: string) => {
  const t = r.imageTests.find((x) => x.image === image);
  if (!t) throw new Error(`no structure test for ${image}; have ${r.imageTests.map((x) => x.image).join(', ')}`);
  return { ...t, doc: parse(t.content, { version: '1.1' }) };
};

// Where each workload kind keeps its pod spec (written out here rather than taken from the library under test).
function podSpec(m: Manifest): any {
  if (m.kind === 'Pod') return m.spec;
  if (m.kind === 'CronJob') return m.spec?.jobTemplate?.spec?.template?.spec;
  return ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(m.kind) ? m.spec?.template?.spec : undefined;
}

/** Every image a workload of the environment runs: containers of pod templates and Swarm services. */
function workloadImages(r: SynthesizedStack): string[] {
  const images = new Set<string>();
  for (const { manifest } of r.objects) {
    const spec = podSpec(manifest);
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) images.add(c.image);
  }
  const compose = r.files.find((f) => f.path === 'swarm/docker-stack.yml');
  for (const s of Object.values<any>(compose ? parse(compose.content).services : {})) images.add(s.image);
  return [...images].sort();
}

const use = (over: Partial<ImageUse>): ImageUse => ({
  image: 'ghcr.io/acme/app:1.0.0',
  usedBy: 'Deployment test/app, container app',
  constructPath: 'test/app',
  requiresNonRoot: false,
  ports: [],
  executables: [],
  mounts: [],
  ...over,
});

describe('image structure tests of the reference platform', () => {
  it("writes one config per workload image of every environment, each accepted by container-structure-test's parser", () => {
    let checked = 0;
    for (const r of platform) {
      const images = workloadImages(r);
      expect(images.length).toBeGreaterThan(0);
      // Nothing to check, so no file: see UNCHECKABLE.
      expect(r.imageTests.map((t) => t.image)).toEqual(images.filter((i) => !UNCHECKABLE.has(i)));
      for (const t of r.imageTests) {
        expect(t.path).toMatch(/^images\/[A-Za-z0-9._-]+\.cst\.yaml$/);
        expect(structureTestConfigProblems(t.path, t.content)).toEqual([]);
        const doc = parse(t.content, { version: '1.1' });
        // YAML 1.1 (the tool's go-yaml v2) and 1.2 read the same values; at least one test, or the tool reports FAIL.
        expect(doc).toEqual(parse(t.content));
        expect(doc).toEqual(t.config);
        expect((doc.metadataTest ? 1 : 0) + (doc.fileExistenceTests?.length ?? 0)).toBeGreaterThan(0);
        for (const p of doc.metadataTest?.exposedPorts ?? []) expect(p).toMatch(/^[1-9][0-9]*$/);
        checked++;
      }
    }
    // dev 2, stage 4, prod 3, swarm-edge 3 images.
    expect(checked).toBe(12);
  });

  it('leaves out the etcd snapshot image, whose one use states nothing a structure test can check', () => {
    const stage = env('stage');
    expect(workloadImages(stage)).toContain('registry.k8s.io/etcd:3.5.15-0');
    const cronJob = stage.objects.find((o) => o.manifest.kind === 'CronJob' && o.manifest.metadata.name === 'etcd-backup')!.manifest;
    const snapshot = podSpec(cronJob).initContainers.find((c: any) => c.image === 'registry.k8s.io/etcd:3.5.15-0');
    expect(snapshot.command[0]).toBe('etcdctl');
    expect(snapshot.ports).toBeUndefined();
    expect(snapshot.securityContext.runAsUser ?? podSpec(cronJob).securityContext?.runAsUser).toBe(0);
  });

  it('writes them under dist/<env>/images/ next to the Fluentd Dockerfile, without touching any other file', () => {
    const files = renderFiles(platform);
    const prod = [...files.keys()].filter((f) => f.startsWith('prod/images/')).sort();
    expect(prod).toContain('prod/images/fluentd/Dockerfile');
    expect(prod).toContain('prod/images/ghcr.io-acme-web-api-1.14.2.cst.yaml');
    expect(files.get('prod/images/ghcr.io-acme-web-api-1.14.2.cst.yaml')).toBe(configOf(env('prod'), 'ghcr.io/acme/web-api:1.14.2').content);
    expect([...files.keys()].filter((f) => f.endsWith('.cst.yaml')).length).toBe(12);
  });

  it('checks prod web-api for its port, and names what it cannot check: the runAsNonRoot uid and the PATH lookup of sleep', () => {
    const t = configOf(env('prod'), 'ghcr.io/acme/web-api:1.14.2');
    expect(t.path).toBe('images/ghcr.io-acme-web-api-1.14.2.cst.yaml');
    expect(t.doc).toEqual({ schemaVersion: '2.0.0', metadataTest: { exposedPorts: ['8080', '9090'] } });
    expect(t.content).toContain('#   - Deployment prod/web-api, container web-api\n');
    expect(t.content).toMatch(/# {3}- USER must be a numeric, non-zero uid: Deployment prod\/web-api, container web-api sets runAsNonRoot without runAsUser/);
    expect(t.content).toContain('#   - "sleep" (preStop hook of Deployment prod/web-api, container web-api) is looked up on the image\'s PATH');
    expect(t.content).toContain('container-structure-test test --image ghcr.io/acme/web-api:1.14.2 --config ghcr.io-acme-web-api-1.14.2.cst.yaml');
  });

  it("checks the report worker's probe executable, and neither USER nor EXPOSE of the images the platform runs as their publishers build them", () => {
    expect(configOf(env('prod'), 'ghcr.io/acme/report-worker:3.2.0').doc.fileExistenceTests).toEqual([
      {
        name: expect.stringMatching(/^\/app\/healthcheck is an executable \(livenessProbe of Deployment prod\/report-worker.*readinessProbe/),
        path: '/app/healthcheck',
        shouldExist: true,
        isExecutableBy: 'any',
      },
    ]);
    // Elasticsearch's pods run as 1000:1000 and listen on readiness.port 8080, the autoscaler's as 65534 on 8085: the
    // published images declare what their publishers chose, and nothing needs them to agree.
    const prod = env('prod');
    for (const image of ['docker.elastic.co/elasticsearch/elasticsearch:8.15.3', 'docker.elastic.co/kibana/kibana:8.15.3', 'registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.5']) {
      expect(workloadImages(prod)).toContain(image);
      expect(prod.imageTests.map((t) => t.image)).not.toContain(image);
    }
    // The etcd backup's helpers: the /bin/sh its commands start is checked, the root user it sets is not demanded.
    const helper = configOf(env('stage'), 'amazon/aws-cli:2.15.0');
    expect(helper.doc).toEqual({
      schemaVersion: '2.0.0',
      fileExistenceTests: [{ name: '/bin/sh is an executable (command of CronJob kube-system/etcd-backup, container upload)', path: '/bin/sh', shouldExist: true, isExecutableBy: 'any' }],
    });
    expect(helper.content).toContain(
      '#   - CronJob kube-system/etcd-backup, container upload runs the publisher\'s image with user "0:0" of its own, whatever USER and EXPOSE it declares, which asserts neither\n',
    );
  });

  it('asserts the user and ports of an image that a platform construct and a workload of the team share only from the workload', () => {
    const result = synthStack((s) => {
      const es = new Elasticsearch(s, 'es');
      new AntiAffinityDeployment(s, 'tool', { name: 'tool', image: es.image, ports: [{ port: 9200 }], runAsUser: 1000 });
      new AntiAffinityDeployment(s, 'probe', { name: 'probe', image: es.image, ports: [{ port: 9201 }] });
    });
    const t = result.imageTests.find((x) => x.image === ELASTICSEARCH_IMAGE)!;
    expect(parse(t.content).metadataTest).toEqual({ exposedPorts: ['9200', '9201'] });
    expect(t.content).toMatch(/StatefulSet \S+\/elasticsearch, container elasticsearch runs the publisher's image with user "1000:1000" and ports 9200, 9300, 8080 of its own/);
  });

  it('reads Swarm services: target ports, an absolute entrypoint, and nothing from paths their mounts provide', () => {
    const edge = env('swarm-edge');
    expect(configOf(edge, 'nginx:1.27.2-alpine').doc).toEqual({ schemaVersion: '2.0.0', metadataTest: { exposedPorts: ['80'] } });
    expect(configOf(edge, 'registry:2.8.3').doc.fileExistenceTests).toEqual([
      { name: '/bin/sh is an executable (entrypoint of SwarmService registry-mirror)', path: '/bin/sh', shouldExist: true, isExecutableBy: 'any' },
    ]);
  });
});

describe('image structure tests from workload facts', () => {
  it('merges the uses of one image: the union of ports and executables, one user', () => {
    const { tests, problems } = imageStructureTests([
      use({ user: { user: '65532' }, ports: [{ port: 8080, protocol: 'tcp' }], executables: [{ command: '/app/check', purpose: 'livenessProbe' }] }),
      use({
        usedBy: 'SwarmService app',
        user: { user: '65532', group: '65532' },
        ports: [
          { port: 9090, protocol: 'tcp' },
          { port: 8080, protocol: 'udp' },
        ],
        executables: [
          { command: '/app/check', purpose: 'healthcheck' },
          { command: '/app/serve', purpose: 'entrypoint' },
        ],
      }),
    ]);
    expect(problems).toEqual([]);
    expect(tests).toHaveLength(1);
    expect(tests[0].config).toEqual({
      schemaVersion: '2.0.0',
      metadataTest: { user: '65532:65532', exposedPorts: ['8080', '9090'] },
      fileExistenceTests: [
        { name: '/app/check is an executable (livenessProbe of Deployment test/app, container app; healthcheck of SwarmService app)', path: '/app/check', shouldExist: true, isExecutableBy: 'any' },
        { name: '/app/serve is an executable (entrypoint of SwarmService app)', path: '/app/serve', shouldExist: true, isExecutableBy: 'any' },
      ],
    });
    expect(tests[0].content).toContain('port 8080 is used as tcp and udp; the tool compares port numbers only');
  });

  it('refuses uses that run one image as different users, naming each use, the users and the fix', () => {
    const { tests, problems } = imageStructureTests([use({ user: { user: '1000' } }), use({ usedBy: 'Deployment test/other, container other', constructPath: 'test/other', user: { user: '2000' } })]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^test\/app: the workloads running image ghcr\.io\/acme\/app:1\.0\.0 state different users \(Deployment test\/app, container app runs it as "1000", Deployment test\/other, container other runs it as "2000"\).*Fix: run every workload of this image as the same user/,
    );
    expect(tests[0]?.config.metadataTest?.user).toBeUndefined();
    expect(imageStructureTests([use({ user: { user: '1000', group: '1' } }), use({ user: { user: '1000', group: '2' } })]).problems).toHaveLength(1);
  });

  it('asserts no user for root uses, and resolves relative executables only against a stated working directory', () => {
    const { tests } = imageStructureTests([
      use({ user: { user: '0' }, executables: [{ command: './bin/run', purpose: 'command' }] }),
      use({
        user: { user: 'root' },
        workingDir: '/srv',
        executables: [
          { command: './bin/run', purpose: 'command' },
          { command: 'sh', purpose: 'livenessProbe' },
        ],
      }),
    ]);
    expect(tests[0].config).toEqual({ schemaVersion: '2.0.0', fileExistenceTests: [expect.objectContaining({ path: '/srv/bin/run' })] });
    expect(tests[0].content).toContain('"./bin/run" (command of Deployment test/app, container app) resolves against the image\'s WORKDIR');
    expect(tests[0].content).toContain('"sh" (livenessProbe of Deployment test/app, container app) is looked up on the image\'s PATH');
  });

  it('writes no file for an image without a checkable fact (the tool fails a run of zero tests)', () => {
    expect(imageStructureTests([use({ executables: [{ command: 'sleep', purpose: 'preStop hook' }] })]).tests).toEqual([]);
  });

  it('gives distinct references that map to one file name a hash of each reference', () => {
    const { tests } = imageStructureTests([use({ image: 'acme/app:1', ports: [{ port: 1, protocol: 'tcp' }] }), use({ image: 'acme-app:1', ports: [{ port: 1, protocol: 'tcp' }] })]);
    expect(tests.map((t) => t.path)).toEqual([imageTestFileName('acme-app:1', true), imageTestFileName('acme/app:1', true)].map((f) => `images/${f}`));
    expect(new Set(tests.map((t) => t.path)).size).toBe(2);
    expect(imageTestFileName('a'.repeat(300) + ':1').length).toBeLessThanOrEqual(200 + '.cst.yaml'.length);
  });

  it("property: the config holds exactly the agreed user and the union of port numbers, and the tool's parser accepts it", () => {
    const anyUse = fc.record({
      user: fc.option(fc.constantFrom('0', '1000', '65532'), { nil: undefined }),
      ports: fc.array(fc.record({ port: fc.integer({ min: 1, max: 65535 }), protocol: fc.constantFrom('tcp', 'udp', 'sctp') }), { maxLength: 4 }),
      executables: fc.array(fc.record({ command: fc.constantFrom('/bin/sh', '/app/x', 'wget', './run', '/tmp/y'), purpose: fc.constantFrom('livenessProbe', 'command') }), { maxLength: 3 }),
      mounts: fc.subarray(['/tmp', '/data']),
    });
    fc.assert(
      fc.property(fc.array(anyUse, { minLength: 1, maxLength: 5 }), (raw) => {
        const uses = raw.map((u, i) => use({ usedBy: `use ${i}`, ...(u.user ? { user: { user: u.user } } : {}), ports: u.ports, executables: u.executables, mounts: u.mounts }));
        const { tests, problems } = imageStructureTests(uses);
        const nonRoot = new Set(raw.flatMap((u) => (u.user && u.user !== '0' ? [u.user] : [])));
        expect(problems.length).toBe(nonRoot.size > 1 ? 1 : 0);
        const ports = [...new Set(raw.flatMap((u) => u.ports.map((p) => p.port)))].sort((a, b) => a - b).map(String);
        const files = new Set(uses.flatMap((u) => u.executables.filter((e) => e.command.startsWith('/') && !u.mounts.some((m) => e.command.startsWith(`${m}/`))).map((e) => e.command)));
        if (tests.length === 0) {
          expect(ports).toEqual([]);
          expect(files.size).toBe(0);
          return;
        }
        const c = tests[0].config;
        expect(c.metadataTest?.user).toBe(nonRoot.size === 1 ? [...nonRoot][0] : undefined);
        expect(c.metadataTest?.exposedPorts ?? []).toEqual(ports);
        expect(new Set((c.fileExistenceTests ?? []).map((f) => f.path))).toEqual(files);
        expect(structureTestConfigProblems(tests[0].path, tests[0].content)).toEqual([]);
      }),
    );
  });
});

describe('the credential scan of a structure test reads its config, not the parsed file', () => {
  // Paths and users from workloads: hostile strings, credentials and YAML specials, so both scans find things.
  const hostile = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.constantFrom(
      'on',
      '1_000',
      '12:30:00',
      '~',
      'a\u2028b',
      'x\n\ty',
      ' \nz',
      '# c',
      '---',
      '"q"',
      "'s'",
      'a: b',
      `ghp_${'A1b2C3d4E5'.repeat(3)}abcdef`,
      'password=hunter2',
      'redis://:pw@h',
      '--token abc',
    ),
  );
  const path = fc.tuple(fc.constantFrom('/', '/app/', '/bin/'), hostile).map(([a, b]) => a + b);

  it('finds exactly what scanning the written file finds (property)', () => {
    let withFindings = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            usedBy: hostile,
            image: fc.constantFrom('x:1', 'ghcr.io/acme/app:1.0.0'),
            commands: fc.array(path, { minLength: 1, maxLength: 3 }),
            user: fc.option(hostile, { nil: undefined }),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        (raw) => {
          const { tests } = imageStructureTests(
            raw.map((u) =>
              use({ image: u.image, usedBy: u.usedBy, executables: u.commands.map((command) => ({ command, purpose: 'livenessProbe' })), ...(u.user !== undefined ? { user: { user: u.user } } : {}) }),
            ),
          );
          for (const t of tests) {
            const expected = scanFile(t.path, t.content);
            expect(scanYamlDocuments([t.config])).toEqual(expected);
            if (expected.length > 0) withFindings++;
          }
        },
      ),
      { numRuns: 300 },
    );
    expect(withFindings).toBeGreaterThan(10);
  });
});

describe('image structure tests through synth', () => {
  it("reads a Deployment's containers: writable paths hide probe executables, init containers count, users merge", () => {
    const result = synthStack((stack) => {
      new AntiAffinityDeployment(stack, 'api', {
        name: 'api',
        image: 'ghcr.io/acme/api:2.0.0',
        ports: [{ name: 'http', port: 8080 }],
        liveness: kplus.Probe.fromCommand(['/tmp/check']),
        readiness: kplus.Probe.fromCommand(['/usr/local/bin/ready']),
        writablePaths: ['/tmp'],
        initContainers: [{ name: 'migrate', image: 'ghcr.io/acme/api:2.0.0', command: ['/usr/local/bin/migrate'], securityContext: { user: 10001, group: 10001, ensureNonRoot: true } }],
      });
    });
    const t = result.imageTests.find((x) => x.image === 'ghcr.io/acme/api:2.0.0')!;
    expect(t.config).toEqual({
      schemaVersion: '2.0.0',
      metadataTest: { user: '10001:10001', exposedPorts: ['8080'] },
      fileExistenceTests: [
        expect.objectContaining({ path: '/usr/local/bin/migrate', name: '/usr/local/bin/migrate is an executable (command of Deployment test/api, init container migrate)' }),
        expect.objectContaining({ path: '/usr/local/bin/ready' }),
      ],
    });
    expect(t.content).toContain('"/tmp/check" (livenessProbe of Deployment test/api, container api) lies under the mount at "/tmp", which provides it instead of the image');
  });

  it('fails synth when two workloads run one image as different users', () => {
    const result = synthStack((stack) => {
      for (const [name, user] of [
        ['a', 1000],
        ['b', 2000],
      ] as const) {
        new AntiAffinityDeployment(stack, name, {
          name,
          image: 'ghcr.io/acme/api:2.0.0',
          liveness: kplus.Probe.fromCommand(['/app/check']),
          readiness: kplus.Probe.fromCommand(['/app/check']),
          initContainers: [{ name: 'init', image: 'ghcr.io/acme/tool:1.0.0', command: ['/bin/true'], securityContext: { user, ensureNonRoot: true } }],
        });
      }
    });
    expect(result.problems.filter((p) => p.includes('ghcr.io/acme/tool:1.0.0'))).toEqual([
      expect.stringMatching(
        /^test\/a\/deployment: the workloads running image ghcr\.io\/acme\/tool:1\.0\.0 state different users \(Deployment test\/a, init container init runs it as "1000", Deployment test\/b, init container init runs it as "2000"\)/,
      ),
    ]);
  });

  it("reads a Swarm service's user, ports, entrypoint and CMD healthcheck; secrets, configs and mounts provide their paths", () => {
    const result = synthHost((stack) => {
      const swarm = new SwarmProject(stack, 'swarm');
      new SwarmService(swarm, 'app', {
        name: 'app',
        image: 'ghcr.io/acme/app:1.0.0',
        user: '65532',
        entrypoint: ['/bin/httpd', '-f', '-p', '8080'],
        ports: [
          { target: 8080, published: 18080 },
          { target: 8125, published: 8125, protocol: 'udp' },
        ],
        healthcheck: { test: ['CMD', '/bin/wget', '-q', '--spider', 'http://127.0.0.1:8080/'] },
        secrets: [{ name: 'token' }],
        mounts: [{ type: 'volume', source: 'data', target: '/data' }],
      });
      new SwarmService(swarm, 'probe', {
        name: 'probe',
        image: 'ghcr.io/acme/probe:1.0.0',
        entrypoint: ['/run/secrets/token'],
        healthcheck: { test: ['CMD-SHELL', '/data/check || exit 1'] },
        secrets: [{ name: 'token' }],
      });
    }, swarmEnvironment());
    expect(result.problems).toEqual([]);
    expect(result.imageTests.map((t) => t.image)).toEqual(['ghcr.io/acme/app:1.0.0']);
    expect(result.imageTests[0].config).toEqual({
      schemaVersion: '2.0.0',
      metadataTest: { user: '65532', exposedPorts: ['8080', '8125'] },
      fileExistenceTests: [expect.objectContaining({ path: '/bin/httpd' }), expect.objectContaining({ path: '/bin/wget' })],
    });
  });

  it("refuses an output file that takes a structure test's path", () => {
    const result = synthHost((stack) => {
      const swarm = new SwarmProject(stack, 'swarm');
      new SwarmService(swarm, 'app', { name: 'app', image: 'ghcr.io/acme/app:1.0.0', ports: [{ target: 8080 }] });
      new OutputFile(stack, 'clash', { path: 'images/ghcr.io-acme-app-1.0.0.cst.yaml', content: 'x' });
    }, swarmEnvironment());
    expect(result.problems).toEqual([
      expect.stringMatching(
        /the structure test of image ghcr\.io\/acme\/app:1\.0\.0 would be written to images\/ghcr\.io-acme-app-1\.0\.0\.cst\.yaml, which images\/ghcr\.io-acme-app-1\.0\.0\.cst\.yaml already uses/,
      ),
    ]);
  });

  it('refuses a credential copied from a probe command into the structure test, and keeps each comment on one line', () => {
    const token = `ghp_${'A1b2C3d4E5'.repeat(3)}abcdef`;
    const uses = imageStructureTests([
      use({
        ports: [{ port: 80, protocol: 'tcp' }],
        executables: [
          { command: token, purpose: 'livenessProbe' },
          { command: 'a\nschemaVersion: 9', purpose: 'command' },
        ],
      }),
    ]);
    expect(uses.tests[0].content.split('\n').filter((l) => !l.startsWith('#') && l.includes('schemaVersion'))).toEqual(['schemaVersion: 2.0.0']);
    const withToken = environmentImageTests(
      [
        {
          manifest: {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'p' },
            spec: { containers: [{ name: 'c', image: 'x:1', ports: [{ containerPort: 80 }], livenessProbe: { exec: { command: [token] } } }] },
          },
          constructPath: 'test/p',
        },
      ],
      [],
    );
    expect(withToken.problems).toEqual([
      expect.stringMatching(/^test\/p: the structure test of image x:1 \(images\/x-1\.cst\.yaml\) would hold a credential in plain text .*Fix: keep credentials out of commands/),
    ]);
  });
});

describe('the container-structure-test stand-in refuses what the tool refuses', () => {
  const good = 'schemaVersion: 2.0.0\nmetadataTest:\n  user: "65532"\n  exposedPorts: ["8080"]\n';
  it.each([
    ['an unknown top-level field', 'config.yaml', `${good}extra: 1\n`, /field extra not found/],
    ['an unknown metadataTest field', 'config.yaml', `${good}  users: ["1"]\n`, /field users not found in type v2.MetadataTest/],
    ['a numeric schema version', 'config.yaml', 'schemaVersion: 2.0\n', /schemaVersion must be the string "2.0.0"/],
    ['an unknown isExecutableBy', 'config.yaml', 'schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: x\n    path: /x\n    isExecutableBy: everyone\n', /not recognised as a valid option/],
    ['a test without a name', 'config.yaml', 'schemaVersion: 2.0.0\nfileExistenceTests:\n  - path: /x\n', /valid name/],
    ['a duplicate key', 'config.yaml', `${good}schemaVersion: 2.0.0\n`, /not YAML/],
    ['a file name the tool does not read', 'config.cst', good, /only \.yaml, \.yml and \.json/],
  ])('%s', (_what, file, text, problem) => {
    expect(structureTestConfigProblems('config.yaml', good)).toEqual([]);
    expect(structureTestConfigProblems(file, text).join('\n')).toMatch(problem);
  });
});
