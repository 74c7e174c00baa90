import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { App, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  AntiAffinityDeploymentProps,
  AntiAffinityDeployment,
  ArgoCdApplication,
  ArgoCdApplicationProps,
  AutoscalerCloud,
  ClusterAutoscaler,
  EfkLogging,
  Elasticsearch,
  Environment,
  EnvironmentProps,
  EtcdBackup,
  EtcdBackupProps,
  FluentdDaemonSet,
  Kibana,
  MetricsServer,
  MetricsServerProps,
  PlatformPriorityClasses,
  PlatformPriorityClassesProps,
  RegistryMirror,
  ShipshapeAggregateError,
  ShipshapeError,
  Stack,
  TeamAccess,
  TeamAccessProps,
  synthesizeStack,
} from '../lib';
import { renderFiles } from '../lib/core/writer';
import { conformanceSuite } from './support/conformance';
import { ApiServer, KubectlResult, startApiServer } from './support/envtest';

// Every generated case either is refused cleanly (a ShipshapeError naming the construct path and the fix, or
// synth problems that do) or synthesizes objects the real kube-apiserver accepts under strict validation.
// Anything else is a bug: a crash, a refusal without a path or fix, an object the server refuses, or one it
// stores with other values than synth wrote. Known open bugs are kept out of the generators by constraints
// marked "open:"; removing a constraint reaches its bug again.

const RUNS_PER_FAMILY = 100;
// Bounds one family, shrinking included (each shrink step may cost a kubectl call).
const FAMILY_TIME_LIMIT_MS = 150_000;
const FAMILY_TEST_TIMEOUT_MS = 180_000;
// Construct id of the stack every case builds; construct paths start with it.
const STACK_ID = 'case';

// Optional props are present half the time (fc.record's optional keys are present five times in six, which
// makes too many fields meet a hostile value at once); absent ones shrink away.
const ABSENT = Symbol('absent');
type ValueOf<A> = A extends fc.Arbitrary<infer U> ? U : never;
/** fc.record with plain objects, so counterexamples print as ordinary object literals. */
function rec<T extends Record<string, fc.Arbitrary<unknown>>>(model: T): fc.Arbitrary<{ [K in keyof T]: ValueOf<T[K]> }> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<{ [K in keyof T]: ValueOf<T[K]> }>;
}
type PropsOf<T, R extends keyof T> = { [K in R]: ValueOf<T[K]> } & { [K in Exclude<keyof T, R>]?: ValueOf<T[K]> };
function props<T extends Record<string, fc.Arbitrary<unknown>>, R extends keyof T = never>(model: T, required: readonly R[] = []): fc.Arbitrary<PropsOf<T, R>> {
  const entries = Object.entries(model).map(([k, arb]) => [k, (required as readonly string[]).includes(k) ? arb : fc.oneof(fc.constant(ABSENT), arb)] as const);
  return fc.record(Object.fromEntries(entries), { noNullPrototype: true }).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== ABSENT)) as PropsOf<T, R>);
}

// ---------------------------------------------------------------------------------------------
// Strings. Valid values dominate so that cases reach the server; hostile ones come often enough
// that every field meets them across a run.

// Words a YAML 1.1 reader (kubectl's sigs.k8s.io/yaml, Argo CD's go-yaml v2, PyYAML) takes for booleans,
// numbers, dates, null or a merge key, while a YAML 1.2 writer may leave them unquoted.
const YAML_WORDS = ['on', 'off', 'yes', 'no', 'y', 'n', 'Y', 'ON', 'Yes', 'True', 'null', '~', '1_000', '2001-01-01', '1:20', '0x1F', '012', '1e3', '.inf', '<<', '='];
const HOSTILE = [
  'has space',
  'UPPER',
  'Mixed-Case',
  '$HOME',
  '${VAR}',
  'a$b',
  'line\nbreak',
  'tab\there',
  ' lead',
  'trail ',
  '#comment',
  'a: b',
  '- item',
  '*alias',
  '&anchor',
  '!tag',
  '|',
  '>-',
  '%x',
  '@at',
  '`tick`',
  '"quoted"',
  "'single'",
  '{}',
  '[]',
  'ü-umlaut',
  '日本',
  'a/b',
  'a.b',
  'a_b',
  '-a',
  'a-',
  '.',
  '',
  'a,b',
  'a:b',
  'a--b',
  'nul\u0000',
  'cr\rlf',
  'nel\u0085x',
  'ls\u2028x',
  '\uFEFFbom',
  'nb\u00a0sp',
  'a #b',
  'a: ',
  '? x',
  '%TAG',
  '---',
  '...',
  "'",
  '"',
  '\\',
  'trailing\n',
];
const LONG = ['a'.repeat(52), 'a'.repeat(53), 'a'.repeat(63), 'a'.repeat(64), 'b1'.repeat(64), 'c'.repeat(253), 'd'.repeat(254), 'e'.repeat(1000)];

const yamlWord = fc.constantFrom(...YAML_WORDS);
const hostile = fc.oneof(yamlWord, fc.constantFrom(...HOSTILE), fc.constantFrom(...LONG), fc.string({ maxLength: 16 }), fc.string({ unit: 'grapheme', maxLength: 8 }));

// One field in ODDS is hostile: a case sets some 20 to 40 fields, so about a third of the cases reach the
// server with every field valid, and over a run every field meets hostile values.
const ODDS = 24;

/** Mostly `valid`, sometimes a hostile string. */
function mostly<T>(valid: fc.Arbitrary<T>, bad: fc.Arbitrary<T | string> = hostile): fc.Arbitrary<T | string> {
  return fc.oneof({ weight: ODDS - 1, arbitrary: valid }, { weight: 1, arbitrary: bad });
}

// RFC 1123 labels; a leading digit is valid here but not for an RFC 1035 label (Service names).
const dnsLabel = fc.oneof(
  { weight: ODDS - 2, arbitrary: fc.stringMatching(/^[a-z]([-a-z0-9]{0,12}[a-z0-9])?$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9][-a-z0-9]{0,5}[a-z0-9]$/) },
  { weight: 1, arbitrary: fc.constantFrom('on', 'off', 'yes', 'no', 'y', 'n', 'null', 'true', '2001-01-01', '0x1f', '012', '1e3', 'a'.repeat(52), 'a'.repeat(53), 'a'.repeat(63)) },
);
const name = mostly(dnsLabel);

const labelKey = mostly(
  fc.constantFrom('instancegroup', 'node.kubernetes.io/instance-type', 'example.com/pool', 'kubernetes.io/arch', 'team', 'a.b/c_d', 'on', 'yes'),
  fc.oneof(hostile, fc.constantFrom('/x', 'x/', 'a/b/c', 'Example.com/x', `${'a'.repeat(254)}/x`)),
);
const labelValue = mostly(fc.oneof(fc.constantFrom('webapi', 'batch', '', 'a.b_c-d', 'A1'), dnsLabel, yamlWord), hostile);
const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3, noNullPrototype: true });
const annotationKey = mostly(fc.constantFrom('example.com/owner', 'note', 'a.b/c', 'on'), fc.oneof(hostile, fc.constantFrom('/x', 'a/b/c')));
const freeText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('plain text', 'Platform services', 'https://example.com/x?a=b', '100%') },
  { weight: 2, arbitrary: hostile },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

// Images: registries with ports, nested paths, tags and digests; sometimes not a reference at all.
const hexString = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const validImage = fc
  .tuple(
    fc.constantFrom('', 'docker.io/', 'ghcr.io/', 'registry.k8s.io/', 'registry.example.com:5000/', 'localhost:5000/', '127.0.0.1:5000/', '[::1]:5000/', 'Registry.Example.COM/'),
    fc.oneof(fc.constantFrom('nginx', 'library/nginx', 'acme/web-api', 'a/b/c/d', 'on', 'yes', 'a__b', 'a---b'), fc.stringMatching(/^[a-z0-9]+([._-][a-z0-9]+){0,2}(\/[a-z0-9]+){0,2}$/)),
    fc.oneof(
      {
        weight: 9,
        arbitrary: fc
          .oneof(fc.constantFrom('1.2.3', 'v1.29.5', 'on', 'yes', '1_000', '2001-01-01', '1e3', 'UPPER', '_x', 'a'.repeat(128)), fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}$/))
          .map((t) => `:${t}`),
      },
      { weight: 1, arbitrary: fc.constant('') },
    ),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant('') },
      {
        weight: 1,
        arbitrary: fc.oneof(
          hexString(64).map((h) => `@sha256:${h}`),
          hexString(96).map((h) => `@sha384:${h}`),
          hexString(128).map((h) => `@sha512:${h}`),
        ),
      },
    ),
  )
  .map((parts) => parts.join(''));
const invalidImage = fc.oneof(
  hostile,
  fc.constantFrom(
    'UPPER/case:1',
    'with space:1',
    'a//b:1',
    '-lead:1',
    `x:${'a'.repeat(129)}`,
    'x:1.0\n',
    ' x:1',
    'x:-lead',
    `x@sha256:${'A'.repeat(64)}`,
    `x@sha256:${'a'.repeat(63)}`,
    'x@md5:abc',
    'reg_istry:99999/x:1',
    'x:latest',
    'x',
  ),
);
const image = fc.oneof({ weight: ODDS - 1, arbitrary: validImage }, { weight: 1, arbitrary: invalidImage });

// Quantities and counts: mostly ordinary, sometimes zero, negative, fractional, NaN, infinite or huge.
const oddNumber = fc.constantFrom(-1, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 31 - 1, 2 ** 31, 1e21, Number.MAX_SAFE_INTEGER + 2);
const count = (min: number, max: number) => fc.oneof({ weight: ODDS - 1, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: oddNumber });
// cdk8s refuses a negative Duration itself; a negative number then stands for a value that is no Duration at all.
const wholeSeconds = (min: number, max: number) => count(min, max).map((n) => (n >= 0 ? Duration.seconds(n) : (n as unknown as Duration)));
const millicores = (min: number, max: number) => count(min, max).map((n) => kplus.Cpu.millis(n));
// Amounts of a unit (MiB, GiB) for cdk8s Sizes; cdk8s refuses negative ones itself, before any construct sees them.
const nonNegativeOdd = fc.constantFrom(0, 0.25, 0.5, 1.5, NaN, Infinity, 1e21);
const amount = (min: number, max: number) => fc.oneof({ weight: ODDS - 1, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: nonNegativeOdd });
const seconds = (min: number, max: number) => fc.oneof({ weight: ODDS - 1, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: fc.constantFrom(0, 0.25, 0.5, 1.5, NaN, Infinity, 1e21) });

// ---------------------------------------------------------------------------------------------
// Environments. Most have the node groups the constructs refer to (webapi, batch), so references resolve.

const GROUP_NAMES = ['webapi', 'batch'];
const groupRef = mostly(fc.constantFrom(...GROUP_NAMES), fc.oneof(fc.constantFrom('spot', 'gpu-a100', 'on', '1st'), hostile));
const nodeLabels = fc.dictionary(labelKey, labelValue, { minKeys: 1, maxKeys: 2, noNullPrototype: true });
const taint = props({ key: labelKey, value: labelValue, effect: fc.constantFrom('NoSchedule' as const, 'PreferNoSchedule' as const, 'NoExecute' as const) }, ['key', 'effect']);
const groupExtras = { labels: nodeLabels, cloudGroupName: mostly(fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/)), instanceType: fc.constantFrom('m5.large', 'n2-standard-4') };
const webapiGroup = props({ name: fc.constant('webapi'), minSize: count(1, 3), maxSize: count(6, 12), ...groupExtras }, ['name', 'minSize', 'maxSize']);
const batchGroup = props({ name: fc.constant('batch'), minSize: count(0, 1), maxSize: count(2, 4), taints: fc.array(taint, { minLength: 1, maxLength: 2 }), ...groupExtras }, [
  'name',
  'minSize',
  'maxSize',
]);
const otherGroup = props({ name: mostly(fc.constantFrom('spot', 'gpu-a100', 'on', '1st')), minSize: count(0, 4), maxSize: count(1, 12), taints: fc.array(taint, { maxLength: 2 }), ...groupExtras }, [
  'name',
  'minSize',
  'maxSize',
]);
const nodeGroups = fc.oneof(
  { weight: ODDS - 1, arbitrary: fc.tuple(webapiGroup, batchGroup, fc.array(otherGroup, { maxLength: 1 })).map(([w, b, o]) => [w, b, ...o]) },
  { weight: 1, arbitrary: fc.array(otherGroup, { maxLength: 3 }) },
);
// Often none at all here: Kubernetes constructs in a Docker/Swarm-only environment must be refused by path too.
const kubernetesVersion = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('1.29', '1.29.1', '1.27', '1.28', '1.30', '1.31', '1.32') },
  { weight: 1, arbitrary: fc.constantFrom('1.26', '1.33', 'v1.29', '1.29.x', '1.100', '2.0', '', undefined, undefined) },
);
const hostileEnvironment: fc.Arbitrary<EnvironmentProps> = props(
  {
    name,
    namespace: name,
    kubernetesVersion,
    zones: fc.uniqueArray(mostly(fc.constantFrom('eu-west-1a', 'eu-west-1b', 'eu-west-1c', 'us-central1-f')), { maxLength: 4 }),
    nodeGroups,
    containerRuntime: fc.constantFrom('containerd' as const, 'cri-o' as const, 'docker' as const),
    replicas: count(1, 6),
    autoscaling: fc
      .integer({ min: 1, max: 4 })
      .chain((min) => rec({ minReplicas: fc.oneof({ weight: ODDS - 1, arbitrary: fc.constant(min) }, { weight: 1, arbitrary: oddNumber }), maxReplicas: count(min, 12) })),
    cluster: fc.oneof(
      rec({
        server: mostly(
          fc.constantFrom('https://kubernetes.default.svc', 'https://10.0.0.1:6443', 'https://api.on.example.com/k8s'),
          fc.constantFrom('http://x', 'https://a b', 'https://10.0.0.1:65536', 'https://x:0'),
        ),
      }),
      rec({ name: mostly(fc.constantFrom('in-cluster', 'prod-eu', 'on', 'A.b_c')) }),
    ),
    delivery: rec({ sync: fc.constantFrom('automated' as const, 'manual' as const) }),
    controlPlane: fc.oneof(
      props({ kind: fc.constantFrom('kubeadm', 'cluster-api', 'self-managed'), nodes: count(1, 5) }, ['kind']),
      rec({ kind: fc.constantFrom('eks', 'gke', 'aks') }),
      rec({ kind: fc.constantFrom('openshift', ''), nodes: oddNumber }),
    ),
  },
  ['name', 'kubernetesVersion', 'nodeGroups'],
) as fc.Arbitrary<EnvironmentProps>;

// Every field valid, so that the construct under test decides the outcome in most cases.
const validTaint = rec({
  key: fc.constantFrom('instancegroup', 'example.com/dedicated'),
  value: fc.constantFrom('batch', 'on', '1_000'),
  effect: fc.constantFrom('NoSchedule' as const, 'NoExecute' as const),
});
const validEnvironment: fc.Arbitrary<EnvironmentProps> = props(
  {
    name: dnsLabel,
    namespace: dnsLabel,
    kubernetesVersion: fc.constantFrom('1.29', '1.29.1', '1.27', '1.28', '1.30', '1.31', '1.32'),
    zones: fc.uniqueArray(fc.constantFrom('eu-west-1a', 'eu-west-1b', 'eu-west-1c'), { maxLength: 3 }),
    nodeGroups: fc.tuple(
      props(
        {
          name: fc.constant('webapi'),
          minSize: fc.integer({ min: 1, max: 3 }),
          maxSize: fc.integer({ min: 6, max: 12 }),
          labels: fc.constantFrom({ instancegroup: 'webapi' }, { 'node.kubernetes.io/pool': 'web', team: 'on' }),
        },
        ['name', 'minSize', 'maxSize'],
      ),
      props({ name: fc.constant('batch'), minSize: fc.integer({ min: 0, max: 1 }), maxSize: fc.integer({ min: 2, max: 4 }), taints: fc.array(validTaint, { maxLength: 2 }) }, [
        'name',
        'minSize',
        'maxSize',
      ]),
    ),
    containerRuntime: fc.constantFrom('containerd' as const, 'cri-o' as const, 'docker' as const),
    replicas: fc.integer({ min: 1, max: 6 }),
    autoscaling: fc.integer({ min: 1, max: 4 }).chain((min) => rec({ minReplicas: fc.constant(min), maxReplicas: fc.integer({ min, max: 12 }) })),
    cluster: fc.oneof(rec({ server: fc.constantFrom('https://kubernetes.default.svc', 'https://10.0.0.1:6443') }), rec({ name: fc.constantFrom('in-cluster', 'prod-eu') })),
    delivery: rec({ sync: fc.constantFrom('automated' as const, 'manual' as const) }),
    controlPlane: fc.oneof(
      props({ kind: fc.constantFrom('kubeadm', 'cluster-api', 'self-managed'), nodes: fc.integer({ min: 1, max: 5 }) }, ['kind']),
      rec({ kind: fc.constantFrom('eks', 'gke', 'aks') }),
    ),
  },
  ['name', 'kubernetesVersion', 'nodeGroups'],
) as fc.Arbitrary<EnvironmentProps>;
const environment = fc.oneof({ weight: 3, arbitrary: validEnvironment }, { weight: 1, arbitrary: hostileEnvironment });

// ---------------------------------------------------------------------------------------------
// Plain-data props: cdk8s values (Size, Duration, Cpu, Probe) are made from them when a case is built, so a
// counterexample prints as data.

interface PlainResources {
  cpuRequest?: number;
  cpuLimit?: number;
  memoryRequest?: number;
  memoryLimit?: number;
}
type PlainProbe = { type: 'tcp'; port: number } | { type: 'http'; path: string; port: number } | { type: 'command'; command: string[] };
interface PlainContainer {
  name: string;
  image: string;
  resources?: PlainResources;
  liveness?: PlainProbe;
  readiness?: PlainProbe;
}

// Requests at or below limits, all three values the policy wants; sometimes partial or odd.
const resources: fc.Arbitrary<PlainResources> = fc.oneof(
  {
    weight: ODDS - 1,
    arbitrary: rec({
      cpu: fc.integer({ min: 1, max: 2000 }),
      cpuHeadroom: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }),
      memory: fc.integer({ min: 16, max: 4096 }),
      memoryHeadroom: fc.integer({ min: 0, max: 4096 }),
    }).map((r) => ({ cpuRequest: r.cpu, cpuLimit: r.cpuHeadroom === undefined ? undefined : r.cpu + r.cpuHeadroom, memoryRequest: r.memory, memoryLimit: r.memory + r.memoryHeadroom })),
  },
  { weight: 1, arbitrary: props({ cpuRequest: count(1, 4000), cpuLimit: count(1, 4000), memoryRequest: amount(16, 4096), memoryLimit: amount(16, 8192) }) },
);
const probe: fc.Arbitrary<PlainProbe> = fc.oneof(
  rec({ type: fc.constant('tcp' as const), port: fc.integer({ min: 1, max: 65535 }) }),
  rec({ type: fc.constant('http' as const), path: mostly(fc.constantFrom('/healthz', '/', '/ready?x=1')), port: fc.integer({ min: 1, max: 65535 }) }),
  rec({ type: fc.constant('command' as const), command: fc.array(freeText, { minLength: 1, maxLength: 3 }) }),
);
const containerName = name;
const container: fc.Arbitrary<PlainContainer> = props({ name: containerName, image, resources, liveness: probe, readiness: probe }, ['name', 'image', 'liveness', 'readiness']);

function toResources(r: PlainResources | undefined): kplus.ContainerResources | undefined {
  if (!r) return undefined;
  const cpu = (m: number | undefined) => (m === undefined ? undefined : kplus.Cpu.millis(m));
  const memory = (m: number | undefined) => (m === undefined ? undefined : Size.mebibytes(m));
  return {
    ...(r.cpuRequest !== undefined || r.cpuLimit !== undefined ? { cpu: { request: cpu(r.cpuRequest), limit: cpu(r.cpuLimit) } } : {}),
    ...(r.memoryRequest !== undefined || r.memoryLimit !== undefined ? { memory: { request: memory(r.memoryRequest), limit: memory(r.memoryLimit) } } : {}),
  };
}

function toProbe(p: PlainProbe | undefined): kplus.Probe | undefined {
  if (!p) return undefined;
  if (p.type === 'tcp') return kplus.Probe.fromTcpSocket({ port: p.port });
  if (p.type === 'http') return kplus.Probe.fromHttpGet(p.path, { port: p.port });
  return kplus.Probe.fromCommand(p.command);
}

function toContainer(c: PlainContainer): kplus.ContainerProps {
  return { name: c.name, image: c.image, resources: toResources(c.resources), liveness: toProbe(c.liveness), readiness: toProbe(c.readiness) };
}

const size = (mib: number | undefined) => (mib === undefined ? undefined : Size.mebibytes(mib));
const gib = (g: number | undefined) => (g === undefined ? undefined : Size.gibibytes(g));
const duration = (s: number | undefined) => (s === undefined ? undefined : Duration.seconds(s));

// Generated props hold deliberately ill-typed values (NaN sizes become cdk8s Sizes only when built).
type Loose = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// Family: AntiAffinityDeployment

type PlainWorkload = Omit<AntiAffinityDeploymentProps, 'resources' | 'liveness' | 'readiness' | 'startup' | 'sidecars' | 'initContainers'> & {
  resources?: PlainResources;
  liveness?: PlainProbe;
  readiness?: PlainProbe;
  sidecars?: PlainContainer[];
  initContainers?: PlainContainer[];
};

const envName = mostly(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,10}$/), fc.constantFrom('1BAD', 'has space', 'a=b', '', 'dot.ted', 'dash-ed', 'on', '_x'));
const configKey = mostly(fc.constantFrom('config.json', 'LOG_LEVEL', 'a-b_c.d'), fc.constantFrom('has space', 'a/b', '', '..', 'on', 'ü', 'x'.repeat(254)));
const envSource = fc.oneof(
  { weight: 6, arbitrary: freeText },
  { weight: 1, arbitrary: props({ configMap: name, key: configKey, optional: fc.boolean() }, ['configMap', 'key']) },
  { weight: 1, arbitrary: props({ secret: name, key: configKey, optional: fc.boolean() }, ['secret', 'key']) },
);
const portName = mostly(fc.constantFrom('http', 'metrics', 'grpc-web', 'admin', 'on', 'p8080'), fc.constantFrom('8080', 'a--b', 'UPPER', 'toolongportname1', '-x', ''));
// Counts and percentages as IntOrString fields take them; sometimes negative, above 100% or fractional.
const countOrPercent = fc.oneof(
  {
    weight: ODDS - 1,
    arbitrary: fc.oneof(
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`),
    ),
  },
  { weight: 1, arbitrary: fc.oneof(oddNumber, fc.constantFrom('150%', '-1%', '1.5%', '%')) },
);
const rollingUpdate = props({ type: fc.constant('RollingUpdate' as const), maxSurge: countOrPercent, maxUnavailable: countOrPercent }, ['type']);
const disruptionBudget = fc.oneof(
  { weight: ODDS - 1, arbitrary: fc.oneof(rec({ maxUnavailable: countOrPercent }), rec({ minAvailable: fc.oneof(fc.constant(1), fc.constant('50%')) })) },
  { weight: 1, arbitrary: fc.oneof(fc.constant(false as const), props({ maxUnavailable: countOrPercent, minAvailable: countOrPercent })) },
);

const workloadProps: fc.Arbitrary<PlainWorkload> = props(
  {
    name,
    image,
    component: labelValue,
    command: fc.array(freeText, { maxLength: 3 }),
    args: fc.array(freeText, { maxLength: 3 }),
    replicas: count(1, 8),
    // Without a TCP port the probes must be given (below).
    ports: fc.uniqueArray(
      props({ port: count(1, 65535), name: portName, protocol: fc.oneof({ weight: 3, arbitrary: fc.constant('TCP' as const) }, { weight: 1, arbitrary: fc.constant('UDP' as const) }) }, ['port']),
      { maxLength: 3, selector: (p) => p.port },
    ),
    service: fc.oneof(
      fc.constant(false as const),
      props({
        type: fc.constantFrom('ClusterIP' as const, 'NodePort' as const, 'LoadBalancer' as const),
        port: count(1, 65535),
        externalTrafficPolicy: fc.constantFrom('Local' as const, 'Cluster' as const),
      }),
    ),
    resources,
    antiAffinity: fc.constantFrom('preferred' as const, 'required' as const),
    antiAffinityWeight: count(1, 100),
    zoneSpread: fc.boolean(),
    nodeGroup: groupRef,
    disruptionBudget,
    autoscaling: fc.oneof(
      fc.constant(false as const),
      fc
        .integer({ min: 2, max: 4 })
        .chain((min) =>
          props({ minReplicas: fc.constant(min), maxReplicas: count(min, 12), cpuUtilization: count(1, 100), scaleDownStabilization: wholeSeconds(0, 3600), scaleDownPercentPerMinute: count(1, 100) }),
        ),
    ),
    strategy: fc.oneof(fc.constant({ type: 'Recreate' as const }), rollingUpdate),
    revisionHistoryLimit: count(0, 20),
    env: fc.dictionary(envName, envSource, { maxKeys: 3, noNullPrototype: true }),
    envFrom: fc.array(fc.oneof(rec({ configMap: name }), rec({ secret: name })), { maxLength: 2 }),
    // Init containers take no probes: mostly without, sometimes with (refused).
    initContainers: fc.array(fc.oneof({ weight: ODDS - 1, arbitrary: container.map(({ liveness: _l, readiness: _r, ...c }) => c) }, { weight: 1, arbitrary: container }), { maxLength: 1 }),
    sidecars: fc.array(container, { maxLength: 1 }),
    priorityClassName: mostly(fc.constantFrom('platform-high', 'system-cluster-critical')),
    terminationGracePeriod: wholeSeconds(0, 600),
    writablePaths: fc.array(mostly(fc.constantFrom('/tmp', '/var/cache/app', '/run')), { maxLength: 2 }),
  },
  ['name', 'image', 'ports'],
)
  // Both probes or neither: one alone is always refused when there is no TCP port to fall back on.
  .chain((w) => fc.oneof({ weight: 1, arbitrary: fc.constant(w) }, { weight: 2, arbitrary: rec({ liveness: probe, readiness: probe }).map((p) => ({ ...w, ...p })) })) as fc.Arbitrary<PlainWorkload>;

interface WorkloadCase {
  environment: EnvironmentProps;
  metricsServer: boolean;
  workload: PlainWorkload;
}
// An HPA needs the resource metrics API in the same output (policy), so most cases carry a MetricsServer.
const workloadCase: fc.Arbitrary<WorkloadCase> = rec({
  environment,
  metricsServer: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  workload: workloadProps,
});

function buildWorkload(stack: Stack, c: WorkloadCase): void {
  if (c.metricsServer) new MetricsServer(stack, 'metrics-server');
  const w = c.workload;
  new AntiAffinityDeployment(stack, 'workload', {
    ...w,
    resources: toResources(w.resources),
    liveness: toProbe(w.liveness),
    readiness: toProbe(w.readiness),
    initContainers: w.initContainers?.map(toContainer),
    sidecars: w.sidecars?.map(toContainer),
  });
}

// ---------------------------------------------------------------------------------------------
// Family: logging (EfkLogging, or Elasticsearch / Kibana / FluentdDaemonSet on their own)

const jvmSize = mostly(fc.constantFrom('256m', '512m', '1g', '2g', '1024k', '128M', '1G'), fc.constantFrom('0m', '1.5g', '100', '', 'on', '256 m', '1t', '31g', '30g'));
// A multi-node cluster takes one heap size; a single node may have -Xms below -Xmx.
const elasticsearchShape = fc.oneof(
  { weight: 2, arbitrary: props({ replicas: fc.constant(1), heap: fc.oneof(jvmSize, rec({ initial: fc.constantFrom('128m', '256m'), max: jvmSize })) }, ['replicas']) },
  { weight: 2, arbitrary: props({ replicas: fc.constantFrom(3, 5), heap: jvmSize }, ['replicas']) },
  { weight: 1, arbitrary: props({ replicas: count(1, 6), heap: fc.oneof(jvmSize, rec({ initial: jvmSize, max: jvmSize })) }) },
);
const esProps = fc
  .tuple(
    elasticsearchShape,
    props({
      name,
      // Kibana must be Elasticsearch's release: a custom image here is mostly refused for that reason.
      image: fc.oneof(
        { weight: ODDS - 1, arbitrary: fc.constantFrom('docker.elastic.co/elasticsearch/elasticsearch:8.15.3', `docker.elastic.co/elasticsearch/elasticsearch@sha256:${'ab'.repeat(32)}`) },
        { weight: 1, arbitrary: image },
      ),
      memory: amount(8192, 65536),
      cpu: millicores(1, 4000),
      storage: props({ size: amount(1, 200), storageClassName: name }),
      credentialsSecret: name,
      transportTlsSecret: name,
      maxMapCount: fc.constantFrom('init-container' as const, 'node-prerequisite' as const),
    }),
  )
  .map(([shape, rest]) => ({ ...rest, ...shape }));
const kibanaProps = props({
  name,
  image: fc.oneof(
    { weight: ODDS - 1, arbitrary: fc.constantFrom('docker.elastic.co/kibana/kibana:8.15.3', 'kibana:8.15.0') },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom('docker.elastic.co/kibana/kibana:8.14.1'), image) },
  ),
  replicas: count(1, 4),
  memory: amount(512, 4096),
  cpu: millicores(1, 4000),
  publicBaseUrl: mostly(
    fc.constantFrom('https://kibana.example.com', 'http://kibana.on:5601/base', 'https://x.example.com/a/b'),
    fc.constantFrom('https://a b', 'ftp://x', 'https://x/', 'kibana.example.com', 'https://on\n'),
  ),
});
const hostPath = mostly(fc.constantFrom('/var/log/containers/*.log', '/var/log/pods/*/*/*.log', '/var/lib/fluentd'), fc.constantFrom('relative/*.log', '/a/../b', '/has space', '/a#b', ''));
const bufferProps = props({
  type: fc.oneof({ weight: ODDS - 1, arbitrary: fc.constant('file' as const) }, { weight: 1, arbitrary: fc.constant('memory' as const) }),
  chunkLimitSize: amount(1, 32),
  totalLimitSize: amount(32, 2048),
  flushInterval: wholeSeconds(1, 600),
  flushThreadCount: count(1, 8),
  // block is refused next to an S3 archive.
  overflowAction: fc.oneof({ weight: ODDS - 1, arbitrary: fc.constantFrom('drop_oldest_chunk' as const, 'throw_exception' as const) }, { weight: 1, arbitrary: fc.constant('block' as const) }),
  retryMaxInterval: wholeSeconds(1, 600),
  retryTimeout: count(1, 72).map((n) => (n >= 0 ? Duration.hours(n) : (n as unknown as Duration))),
});
const fluentdProps = props(
  {
    name,
    tail: props({ path: hostPath, excludePaths: fc.array(hostPath, { maxLength: 2 }), rotateWait: wholeSeconds(1, 60), refreshInterval: wholeSeconds(1, 60) }),
    elasticsearchBuffer: bufferProps,
    // A custom image may carry any plugin set; the upstream variants only theirs.
    image: fc.oneof(
      { weight: ODDS - 1, arbitrary: fc.constantFrom('registry.example.com/fluentd:1.17.1-es-s3', `ghcr.io/acme/fluentd@sha256:${'cd'.repeat(32)}`) },
      { weight: 1, arbitrary: fc.oneof(fc.constantFrom('fluent/fluentd-kubernetes-daemonset:v1.17.1-debian-s3-1.0'), image) },
    ),
    memory: amount(256, 2048),
    cpu: millicores(1, 4000),
    terminationGracePeriod: wholeSeconds(10, 3600),
    priorityClassName: mostly(fc.constantFrom('system-node-critical', 'platform-critical')),
  },
  ['image'],
);
const bucket = mostly(fc.stringMatching(/^[a-z0-9][a-z0-9.-]{2,20}[a-z0-9]$/), fc.constantFrom('UPPER', 'ab', 'has space', 'on'));
const region = mostly(fc.constantFrom('eu-west-1', 'us-east-2', 'ap-southeast-1'), fc.constantFrom('EU-WEST-1', 'eu-west', 'mars-1', 'on'));
const archive = props(
  {
    bucket,
    region,
    retentionDays: count(30, 3650),
    path: mostly(fc.constantFrom('logs/%Y/%m/%d/', 'archive/', 'a_b.c-d/%H/'), fc.constantFrom('/abs', 'has space/', 'a#b', 'on')),
    credentialsSecret: fc.oneof(name, fc.constant(false as const)),
  },
  ['bucket', 'region', 'retentionDays'],
);
const alerts = fc.oneof(
  fc.constant(false as const),
  props({
    prometheusLabels: labels,
    queueLengthThreshold: count(1, 64),
    availableSpaceThresholdPercent: count(1, 99),
    silentMinutes: count(5, 1440),
    rulesFile: mostly(fc.constantFrom('monitoring/fluentd.rules.yml', 'monitoring/a/b.yml'), fc.constantFrom('rules.yml', '../monitoring/x.yml')),
  }),
);
interface LoggingCase {
  environment: EnvironmentProps;
  efk?: Loose;
  standalone?: { elasticsearch: Loose; kibana?: Loose; fluentd?: Loose & { useElasticsearch: boolean } };
}
const indexPrefix = mostly(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,15}$/), fc.constantFrom('Logs', '_x', 'has space', 'a*b', 'on'));
const loggingCase: fc.Arbitrary<LoggingCase> = fc.oneof(
  {
    weight: 3,
    arbitrary: rec({
      environment,
      efk: props({ namespace: name, createNamespace: fc.boolean(), indexPrefix, retentionDays: count(1, 30), archive, elasticsearch: esProps, kibana: kibanaProps, fluentd: fluentdProps, alerts }, [
        'fluentd',
      ]),
    }),
  },
  {
    weight: 2,
    arbitrary: rec({
      environment,
      standalone: props(
        {
          elasticsearch: props({ es: esProps, namespace: name }, ['es']).map(({ es, namespace }) => ({ ...es, ...(namespace === undefined ? {} : { namespace }) })),
          kibana: kibanaProps,
          // Without Elasticsearch the collector needs the archive, or it has no output.
          fluentd: props({ f: fluentdProps, useElasticsearch: fc.boolean(), indexPrefix, archive }, ['f', 'useElasticsearch']).map(({ f, ...rest }) => ({ ...f, ...rest })),
        },
        ['elasticsearch'],
      ),
    }),
  },
) as fc.Arbitrary<LoggingCase>;

function esFrom(p: Loose): any {
  return { ...p, memory: size(p.memory), storage: p.storage && { ...p.storage, size: gib(p.storage.size) } };
}
function fluentdFrom(p: Loose): any {
  const buffer = p.elasticsearchBuffer && { ...p.elasticsearchBuffer, chunkLimitSize: size(p.elasticsearchBuffer.chunkLimitSize), totalLimitSize: size(p.elasticsearchBuffer.totalLimitSize) };
  return { ...p, memory: size(p.memory), elasticsearchBuffer: buffer };
}

function buildLogging(stack: Stack, c: LoggingCase): void {
  if (c.efk) {
    const e = c.efk;
    new EfkLogging(stack, 'efk', {
      ...e,
      elasticsearch: e.elasticsearch && esFrom(e.elasticsearch),
      kibana: e.kibana && { ...e.kibana, memory: size(e.kibana.memory) },
      fluentd: e.fluentd && fluentdFrom(e.fluentd),
    });
    return;
  }
  const s = c.standalone!;
  const es = new Elasticsearch(stack, 'elasticsearch', esFrom(s.elasticsearch));
  if (s.kibana) new Kibana(stack, 'kibana', { ...s.kibana, memory: size(s.kibana.memory), elasticsearch: es });
  if (s.fluentd) {
    const { useElasticsearch, ...f } = s.fluentd;
    new FluentdDaemonSet(stack, 'fluentd', { ...fluentdFrom(f), elasticsearch: useElasticsearch ? es : undefined });
  }
}

// ---------------------------------------------------------------------------------------------
// Family: cluster operations

const uuid = mostly(fc.uuid(), fc.constantFrom('not-a-guid', 'UPPER', ''));
const arn = mostly(
  fc.constantFrom('arn:aws:iam::123456789012:role/cluster-autoscaler', 'arn:aws-us-gov:iam::123456789012:role/a/b'),
  fc.constantFrom('arn:aws:iam::1:role/x', 'role/x', 'arn:aws:iam::123456789012:role/has space'),
);
const flagSafe = mostly(fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/));
const regexPattern = mostly(fc.constantFrom('.*spot.*', '^gpu-.*$', 'on'), fc.constantFrom('(', 'a: b', '*', '[z-a]'));
const cloud: fc.Arbitrary<AutoscalerCloud> = fc.oneof(
  props({ provider: fc.constant('aws' as const), region, autoDiscovery: props({ clusterName: flagSafe, tags: fc.array(flagSafe, { minLength: 1, maxLength: 2 }) }, ['clusterName']), roleArn: arn }, [
    'provider',
    'region',
  ]),
  props(
    {
      provider: fc.constant('gce' as const),
      serviceAccount: mostly(fc.constantFrom('cluster-autoscaler@my-project.iam.gserviceaccount.com'), fc.constantFrom('ca@x.com', 'UPPER@p.iam.gserviceaccount.com')),
    },
    ['provider'],
  ),
  props(
    {
      provider: fc.constant('azure' as const),
      subscriptionId: uuid,
      resourceGroup: mostly(fc.constantFrom('MC_rg_aks_westeurope', 'rg-(prod).1')),
      identity: fc.oneof(rec({ workloadIdentityClientId: uuid }), rec({ credentialsSecret: name })),
      autoDiscovery: rec({ clusterName: flagSafe }),
    },
    ['provider', 'subscriptionId', 'resourceGroup', 'identity'],
  ),
  props({ provider: fc.constant('clusterapi' as const), clusterName: flagSafe, namespace: name }, ['provider', 'clusterName']),
) as fc.Arbitrary<AutoscalerCloud>;
// The priority expander needs its tiers; any other expander must have none.
const expanderChoice = fc.oneof(
  {
    weight: ODDS - 1,
    arbitrary: fc.oneof(
      props({ expander: fc.constantFrom('least-waste' as const, 'most-pods' as const, 'random' as const, ['least-waste' as const]) }),
      rec({
        expander: fc.constantFrom('priority' as const, ['priority' as const, 'least-waste' as const]),
        priorities: fc.uniqueArray(
          props({ priority: fc.integer({ min: 0, max: 1_000_000 }), nodeGroups: fc.subarray(GROUP_NAMES, { minLength: 1 }), patterns: fc.array(regexPattern, { maxLength: 2 }) }, [
            'priority',
            'nodeGroups',
          ]),
          { minLength: 1, maxLength: 3, selector: (t) => t.priority },
        ),
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: props({
      expander: fc.oneof(fc.constantFrom('price' as const), fc.subarray(['priority' as const, 'least-waste' as const, 'price' as const, 'random' as const])),
      priorities: fc.array(props({ priority: count(0, 10), nodeGroups: fc.array(groupRef, { maxLength: 2 }), patterns: fc.array(regexPattern, { maxLength: 1 }) }, ['priority']), { maxLength: 2 }),
    }),
  },
);
const autoscalerProps = fc
  .tuple(
    expanderChoice,
    props(
      {
        cloud,
        nodeGroups: fc.oneof(
          { weight: ODDS - 1, arbitrary: fc.subarray(GROUP_NAMES, { minLength: 1 }) },
          { weight: 1, arbitrary: fc.array(fc.oneof(groupRef, props({ name: groupRef, minSize: count(0, 4), maxSize: count(1, 12) }, ['name'])), { maxLength: 3 }) },
        ),
        balanceSimilarNodeGroups: fc.boolean(),
        balancingIgnoreLabels: fc.array(labelKey, { maxLength: 2 }),
        scaleDown: props({
          enabled: fc.boolean(),
          delayAfterAdd: seconds(1, 3600),
          unneededTime: seconds(1, 3600),
          utilizationThreshold: fc.oneof({ weight: ODDS - 1, arbitrary: fc.double({ min: 0.01, max: 1, noNaN: true }) }, { weight: 1, arbitrary: oddNumber }),
        }),
        skipNodesWithLocalStorage: fc.boolean(),
        skipNodesWithSystemPods: fc.boolean(),
        maxNodeProvisionTime: seconds(1, 3600),
        replicas: count(1, 5),
        image: fc.oneof(
          { weight: ODDS - 1, arbitrary: fc.constantFrom('example.com/cluster-autoscaler:custom-1', `registry.k8s.io/autoscaling/cluster-autoscaler@sha256:${'ef'.repeat(32)}`) },
          { weight: 1, arbitrary: fc.oneof(fc.constantFrom('registry.k8s.io/autoscaling/cluster-autoscaler:v1.27.3'), image) },
        ),
        serviceAccountAnnotations: fc.dictionary(annotationKey, freeText, { maxKeys: 2, noNullPrototype: true }),
        verbosity: count(0, 10),
      },
      ['cloud'],
    ),
  )
  .map(([e, rest]) => ({ ...rest, ...e }));
const metricsServerProps: fc.Arbitrary<MetricsServerProps> = props({
  image: fc.oneof({ weight: ODDS - 1, arbitrary: fc.constant('registry.k8s.io/metrics-server/metrics-server:v0.7.2') }, { weight: 1, arbitrary: image }),
  replicas: count(1, 10),
  metricResolution: wholeSeconds(10, 300),
  kubeletInsecureTls: fc.boolean(),
});
const tierSettings = (value: fc.Arbitrary<number>) => props({ value, description: freeText, preempts: fc.boolean() }, ['value', 'description']);
// Tier values descend from critical to batch; sometimes out of order, reserved or not integers.
const tiers = fc.oneof(
  {
    weight: ODDS - 1,
    arbitrary: fc
      .uniqueArray(fc.integer({ min: 0, max: 999_999_999 }), { minLength: 4, maxLength: 4 })
      .map((v) => [...v].sort((a, b) => b - a))
      .chain(([critical, high, standard, batch]) =>
        rec({ critical: tierSettings(fc.constant(critical)), high: tierSettings(fc.constant(high)), standard: tierSettings(fc.constant(standard)), batch: tierSettings(fc.constant(batch)) }),
      ),
  },
  { weight: 1, arbitrary: props({ critical: tierSettings(fc.oneof(fc.integer({ min: 0, max: 2_000_000_000 }), oddNumber)), batch: tierSettings(fc.integer({ min: 0, max: 2_000_000 })) }) },
);
const priorityClassesProps = props({
  prefix: name,
  tiers,
  globalDefault: fc.constantFrom('critical' as const, 'high' as const, 'standard' as const, 'batch' as const),
}) as fc.Arbitrary<PlatformPriorityClassesProps>;
// Cron fields within their ranges (minute, hour, day of month, month, day of week), or out of them.
const cronField = (max: number, min = 0) =>
  fc.oneof(
    { weight: ODDS - 1, arbitrary: fc.oneof(fc.constantFrom('*', `${min}`, `${max}`, `*/${max}`, `${min}-${max}`), fc.integer({ min, max }).map(String)) },
    { weight: 1, arbitrary: fc.constantFrom(`${max + 1}`, `${min}-${max + 1}`, '*/0', '99', ...(min > 0 ? [`${min - 1}`] : [])) },
  );
const schedule = fc.oneof(
  { weight: ODDS - 1, arbitrary: fc.tuple(cronField(59), cronField(23), cronField(31, 1), cronField(12, 1), cronField(6)).map((f) => f.join(' ')) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('@daily', '0 */6 * * * *', ' 0 1 * * * ', '0\t1 * * *', 'on'), hostile) },
);
const absolutePath = mostly(
  fc.constantFrom('/var/backups/etcd', '/etc/kubernetes/pki/etcd', '/data/etcd-snapshots'),
  fc.constantFrom('relative', '/a/../b', '/a/./b', '/', '/trailing/', '/has space', '/a:b'),
);
const etcdBackupProps = props({
  name,
  schedule,
  keep: count(1, 1000),
  snapshotDirectory: absolutePath,
  endpoint: mostly(fc.constantFrom('https://127.0.0.1:2379', 'http://localhost:2379', 'https://10.0.0.1:99999')),
  certificates: props({
    directory: absolutePath,
    ca: mostly(fc.constantFrom('ca.crt')),
    cert: mostly(fc.constantFrom('server.crt', 'healthcheck-client.crt')),
    key: mostly(fc.constantFrom('server.key')),
  }),
  upload: props(
    {
      destination: mostly(fc.constantFrom('s3://acme-etcd-backups/prod', 's3://bucket.with.dots', 's3://on-bucket/on/'), fc.constantFrom('s3://UP/x', 'https://b/x', 's3://ab')),
      endpointUrl: mostly(fc.constantFrom('https://minio.storage.svc:9000', 'http://10.0.0.5')),
      credentialsSecret: name,
      roleArn: arn,
      image: fc.oneof({ weight: ODDS - 1, arbitrary: fc.constant('amazon/aws-cli:2.15.0') }, { weight: 1, arbitrary: image }),
    },
    ['destination'],
  ),
  etcdImage: fc.oneof({ weight: ODDS - 1, arbitrary: fc.constant('registry.k8s.io/etcd:3.5.15-0') }, { weight: 1, arbitrary: image }),
  toolsImage: fc.oneof({ weight: ODDS - 1, arbitrary: fc.constant('busybox:1.36.1') }, { weight: 1, arbitrary: image }),
  priorityClassName: mostly(fc.constantFrom('system-cluster-critical', 'platform-critical')),
}) as fc.Arbitrary<EtcdBackupProps>;
const RESOURCES = ['pods', 'pods/log', 'secrets', 'deployments', 'deployments/scale', 'jobs', 'ingresses', 'events.k8s.io/events'];
const VERBS = ['get', 'list', 'watch', 'create', 'delete', 'deletecollection'];
const accessRule = fc.oneof(
  { weight: ODDS - 1, arbitrary: rec({ resources: fc.subarray(RESOURCES, { minLength: 1 }), verbs: fc.subarray(VERBS, { minLength: 1 }) }) },
  { weight: 1, arbitrary: rec({ resources: fc.subarray([...RESOURCES, 'nodes', '*']), verbs: fc.subarray([...VERBS, 'escalate', '*']) }) },
);
const teamAccessProps = props(
  {
    namespace: name,
    serviceAccounts: fc.uniqueArray(name, { minLength: 1, maxLength: 3 }),
    subjects: fc.array(rec({ kind: fc.constantFrom('User' as const, 'Group' as const), name: mostly(fc.constantFrom('alice@example.com', 'team1-developers', 'oidc:group=dev', 'on')) }), {
      maxLength: 2,
    }),
    preset: fc.constantFrom('read-only' as const, 'deployer' as const),
    rules: fc.array(accessRule, { minLength: 1, maxLength: 2 }),
    roleName: name,
    clusterAdmin: rec({ reason: freeText }),
  },
  ['namespace', 'serviceAccounts', 'rules'],
) as fc.Arbitrary<TeamAccessProps>;
const argoProps = props(
  {
    repoURL: mostly(
      fc.constantFrom('https://github.com/acme/platform-deploy.git', 'ssh://git@example.com/a/b.git', 'git@github.com:acme/deploy.git', 'https://on.example.com/yes.git'),
      fc.constantFrom('https://user:pw@github.com/x.git', 'http://x/y.git', 'file:///tmp/x'),
    ),
    targetRevision: mostly(fc.constantFrom('main', 'v1.2.3', 'release/2024-01', 'on', 'yes', '2001-01-01', '1_000', 'HEAD')),
    path: mostly(fc.constantFrom('dist/prod/kubernetes', 'on', 'a/b_c.d-e')),
    argocdNamespace: name,
    name,
  },
  ['repoURL'],
) as fc.Arbitrary<ArgoCdApplicationProps>;

interface ClusterCase {
  environment: EnvironmentProps;
  autoscaler?: Loose;
  metricsServer?: MetricsServerProps;
  priorityClasses?: PlatformPriorityClassesProps;
  etcdBackup?: EtcdBackupProps;
  teamAccess?: TeamAccessProps;
  argo?: ArgoCdApplicationProps;
}
const CLUSTER_CONSTRUCTS = ['autoscaler', 'metricsServer', 'priorityClasses', 'etcdBackup', 'teamAccess', 'argo'] as const;
// One or two of the six per case: each has enough fields that six together would almost always meet a refusal.
const clusterCase: fc.Arbitrary<ClusterCase> = fc
  .tuple(
    fc.subarray([...CLUSTER_CONSTRUCTS], { minLength: 1, maxLength: 2 }),
    rec({
      environment,
      autoscaler: autoscalerProps,
      metricsServer: metricsServerProps,
      priorityClasses: priorityClassesProps,
      etcdBackup: etcdBackupProps,
      teamAccess: teamAccessProps,
      argo: argoProps,
    }),
  )
  .map(([chosen, all]) => Object.fromEntries(Object.entries(all).filter(([k]) => k === 'environment' || (chosen as string[]).includes(k))) as unknown as ClusterCase);

function buildCluster(stack: Stack, c: ClusterCase): void {
  if (c.autoscaler) {
    const a = c.autoscaler;
    const scaleDown = a.scaleDown && { ...a.scaleDown, delayAfterAdd: duration(a.scaleDown.delayAfterAdd), unneededTime: duration(a.scaleDown.unneededTime) };
    new ClusterAutoscaler(stack, 'cluster-autoscaler', { ...(a as { cloud: AutoscalerCloud }), scaleDown, maxNodeProvisionTime: duration(a.maxNodeProvisionTime) });
  }
  if (c.metricsServer) new MetricsServer(stack, 'metrics-server', c.metricsServer);
  if (c.priorityClasses) new PlatformPriorityClasses(stack, 'priority-classes', c.priorityClasses);
  if (c.etcdBackup) new EtcdBackup(stack, 'etcd-backup', c.etcdBackup);
  if (c.teamAccess) new TeamAccess(stack, 'team-access', c.teamAccess);
  if (c.argo) new ArgoCdApplication(stack, 'argo-cd', c.argo);
}

// ---------------------------------------------------------------------------------------------
// Family: RegistryMirror (Kubernetes)

// One replica on its own volume, or several sharing S3 and an http secret; sometimes neither.
const mirrorShape = fc.oneof(
  {
    weight: 3,
    arbitrary: props(
      {
        replicas: fc.constant(1),
        storage: fc.oneof(
          props({ type: fc.constant('persistent' as const), size: amount(1, 200), storageClassName: mostly(fc.oneof(dnsLabel, fc.constantFrom('ebs.csi.gp3', ''))) }, ['type']),
          props({ type: fc.constant('ephemeral' as const), sizeLimit: amount(1, 200) }, ['type']),
        ),
      },
      ['replicas'],
    ),
  },
  {
    weight: 2,
    arbitrary: rec({
      replicas: count(2, 4),
      httpSecret: name,
      storage: props(
        {
          type: fc.constant('s3' as const),
          region: freeText,
          bucket: freeText,
          regionEndpoint: mostly(fc.constantFrom('https://minio.example.com:9000', 'http://10.0.0.5:9000')),
          rootDirectory: freeText,
        },
        ['type', 'region', 'bucket'],
      ),
    }),
  },
  { weight: 1, arbitrary: props({ replicas: count(1, 4), httpSecret: name }) },
);
// distribution 3 honours proxy.ttl, 2.x refuses it; upstream credentials need a login in front.
const mirrorImage = fc.oneof(
  {
    weight: ODDS - 1,
    arbitrary: fc.oneof(
      rec({ image: fc.constantFrom('registry:2.8.3', 'docker.io/library/registry:2.8.2') }),
      props(
        {
          image: fc.constantFrom('registry:3.0.0', 'ghcr.io/distribution/distribution:3.0.0'),
          ttl: mostly(fc.constantFrom('168h', '24h', '1h30m', '500ms'), fc.constantFrom('0s', '7d', '1 h', 'on', '-1h')),
        },
        ['image'],
      ),
    ),
  },
  { weight: 1, arbitrary: props({ image, ttl: fc.constantFrom('168h', 'on') }) },
);
const mirrorLogin = fc.oneof(
  { weight: ODDS - 1, arbitrary: fc.oneof(props({ htpasswdSecret: name }), rec({ credentialsSecret: name, htpasswdSecret: name })) },
  { weight: 1, arbitrary: rec({ credentialsSecret: name }) },
);
const mirrorProps = fc
  .tuple(
    mirrorShape,
    mirrorImage,
    mirrorLogin,
    props({
      name,
      remoteUrl: mostly(
        fc.constantFrom('https://registry-1.docker.io', 'https://ghcr.io', 'https://quay.io:443', 'http://10.0.0.9:5000'),
        fc.constantFrom('registry-1.docker.io', 'https://on', 'ftp://x', 'https://a b'),
      ),
      s3CredentialsSecret: name,
      tlsSecret: name,
      resources,
      nodeGroup: groupRef,
    }),
  )
  .map(([shape, img, login, rest]) => ({ ...rest, ...login, ...img, ...shape }));
interface MirrorCase {
  environment: EnvironmentProps;
  mirror: Loose;
}
const mirrorCase: fc.Arbitrary<MirrorCase> = rec({ environment, mirror: mirrorProps });

function buildMirror(stack: Stack, c: MirrorCase): void {
  const m = c.mirror;
  const storage = m.storage?.type === 'persistent' ? { ...m.storage, size: gib(m.storage.size) } : m.storage?.type === 'ephemeral' ? { ...m.storage, sizeLimit: gib(m.storage.sizeLimit) } : m.storage;
  new RegistryMirror(stack, 'registry-mirror', { ...m, storage, resources: toResources(m.resources) });
}

// ---------------------------------------------------------------------------------------------
// The oracle

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}
type Synthesized = { refusal: string } | { input: string; objects: K8sObject[] };

/** Returns the message of a clean refusal; throws (failing the property) for anything else. */
function cleanRefusal(e: unknown, allowEnvironmentPath: boolean): string {
  if (e instanceof ShipshapeAggregateError) {
    for (const p of e.problems) if (!p.includes(`${STACK_ID}/`) || !/Fix: \S/.test(p)) throw new Error(`synth problem without a construct path or a fix: ${p}`);
    return e.message;
  }
  if (!(e instanceof ShipshapeError)) {
    const err = e as Error;
    throw new Error(`threw ${err?.name ?? typeof e} instead of a ShipshapeError: ${err?.message ?? String(e)}\n${(err?.stack ?? '').split('\n').slice(1, 6).join('\n')}`);
  }
  const onConstruct = e.path.startsWith(`${STACK_ID}/`);
  const onEnvironment = allowEnvironmentPath && e.path.startsWith('environment:');
  if (!(onConstruct || onEnvironment) || !e.message.startsWith(`${e.path}: `) || !/ Fix: \S/.test(e.message)) {
    throw new Error(`ShipshapeError does not name the construct path and the fix: ${JSON.stringify(e.message)} (path ${JSON.stringify(e.path)})`);
  }
  return e.message;
}

/** Builds and synthesizes one case; the documents are the files synth writes, byte for byte. */
function synthesizeCase<C extends { environment: EnvironmentProps }>(c: C, build: (stack: Stack, c: C) => void): Synthesized {
  let env: Environment;
  try {
    env = new Environment(c.environment);
  } catch (e) {
    return { refusal: cleanRefusal(e, true) };
  }
  const stack = new Stack(new App(), STACK_ID, { environment: env });
  let files: Map<string, string>;
  try {
    build(stack, c);
    const result = synthesizeStack(stack);
    if (result.problems.length > 0) {
      for (const p of result.problems) if (!p.includes(`${STACK_ID}/`) || !/Fix: \S/.test(p)) throw new Error(`synth problem without a construct path or a fix: ${p}`);
      return { refusal: result.problems.join('\n') };
    }
    files = renderFiles([result]);
  } catch (e) {
    return { refusal: cleanRefusal(e, false) };
  }
  const documents = [...files].filter(([p]) => (p.startsWith(`${env.name}/kubernetes/`) && !p.endsWith('/kustomization.yaml')) || p.startsWith('argocd/')).map(([, content]) => content);
  const input = documents.join('---\n');
  const parsed = parseAllDocuments(input);
  const objects = (Array.isArray(parsed) ? parsed : [parsed]).map((d) => {
    if (d.errors.length > 0) throw new Error(`synth wrote YAML its own parser rejects: ${d.errors[0].message}`);
    return d.toJS() as K8sObject;
  });
  return { input, objects };
}

// Resource quantities come back in canonical form (1024Mi → 1Gi), so they are compared by the server's acceptance only.
const QUANTITY_PARENTS = new Set(['requests', 'limits']);
const QUANTITY_KEYS = new Set(['sizeLimit', 'storage']);

// A zero value of an optional field means "unset" to the API: the server drops it (`readOnly: false`,
// `minReadySeconds: 0`, `[]`, `{}`) or fills in its default (an HTTP probe's `path: ""` becomes "/").
function isZero(v: unknown): boolean {
  return v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0) || (v !== null && typeof v === 'object' && Object.keys(v).length === 0);
}

/** Where `got` differs from `sent` (extra fields in `got`, the server's defaults, are fine). */
function differences(sent: unknown, got: unknown, path: string, out: string[]): void {
  if (out.length >= 5 || isZero(sent)) return;
  if (Array.isArray(sent)) {
    if (!Array.isArray(got) || got.length !== sent.length) {
      out.push(`${path}: wrote ${JSON.stringify(sent)}, server has ${JSON.stringify(got)}`);
      return;
    }
    sent.forEach((v, i) => differences(v, got[i], `${path}[${i}]`, out));
  } else if (sent !== null && typeof sent === 'object') {
    if (got === null || typeof got !== 'object') {
      out.push(`${path}: wrote ${JSON.stringify(sent)}, server has ${JSON.stringify(got)}`);
      return;
    }
    const parent = path.slice(path.lastIndexOf('.') + 1);
    for (const [k, v] of Object.entries(sent)) {
      if (QUANTITY_PARENTS.has(parent) || QUANTITY_KEYS.has(k)) continue;
      differences(v, (got as Record<string, unknown>)[k], `${path}.${k}`, out);
    }
  } else if (sent !== got) {
    out.push(`${path}: wrote ${JSON.stringify(sent)}, server has ${JSON.stringify(got)}`);
  }
}

function describeObject(o: K8sObject): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

class Oracle {
  private readonly namespaces = new Set<string>(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
  private readonly cacheDir: string;
  private readonly config: { server: string; ca: Buffer; token: string };
  constructor(private readonly api: ApiServer) {
    this.cacheDir = path.join(api.dir, 'properties-kube-cache');
    const kubeconfig = parse(fs.readFileSync(api.kubeconfig, 'utf8'));
    this.config = {
      server: kubeconfig.clusters[0].cluster.server,
      ca: Buffer.from(kubeconfig.clusters[0].cluster['certificate-authority-data'], 'base64'),
      token: kubeconfig.users[0].user.token,
    };
  }

  /** kubectl against the test's API server, asynchronously so the worker's event loop keeps running; bounded by `timeout`. */
  private kubectl(args: string[], input: string, timeoutSeconds: number): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('timeout', ['--kill-after=5', String(timeoutSeconds), 'kubectl', '--kubeconfig', this.api.kubeconfig, '--cache-dir', this.cacheDir, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr: code === 124 ? `${stderr}\nkubectl timed out after ${timeoutSeconds}s` : stderr }));
      child.stdin.end(input);
    });
  }

  /** Creates a namespace for real (dry-run of a namespaced object needs its namespace), over HTTPS: a kubectl process per namespace would double the run time. */
  private createNamespace(namespace: string): Promise<void> {
    const config = this.config;
    return new Promise((resolve, reject) => {
      const body = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
      const req = https.request(
        `${config.server}/api/v1/namespaces`,
        { method: 'POST', ca: config.ca, headers: { Authorization: `Bearer ${config.token}`, 'Content-Type': 'application/json' }, timeout: 30_000 },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () =>
            res.statusCode === 201 || res.statusCode === 409 ? resolve() : reject(new Error(`kube-apiserver refused namespace ${JSON.stringify(namespace)} (HTTP ${res.statusCode}): ${text}`)),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error('namespace creation timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Creates the namespaces the objects live in, then dry-runs the objects with kubectl. */
  async check(input: string, objects: readonly K8sObject[]): Promise<void> {
    const missing = [...new Set(objects.map((o) => o.metadata?.namespace).filter((n): n is string => typeof n === 'string'))].filter((n) => !this.namespaces.has(n));
    for (const n of missing) {
      await this.createNamespace(n);
      this.namespaces.add(n);
    }
    const r = await this.kubectl(['apply', '--server-side', '--dry-run=server', '--validate=strict', '-o', 'json', '-f', '-'], input, 90);
    if (r.status !== 0) throw new Error(`kube-apiserver refused synthesized objects (kubectl exit ${r.status}):\n${r.stderr.trim()}`);
    const out = JSON.parse(r.stdout) as K8sObject & { items?: K8sObject[] };
    const returned = out.kind === 'List' ? (out.items ?? []) : [out];
    if (returned.length !== objects.length) throw new Error(`kubectl applied ${returned.length} objects but synth wrote ${objects.length}`);
    for (const sent of objects) {
      const got = returned.find((o) => o.kind === sent.kind && o.metadata.name === sent.metadata.name && (o.metadata.namespace ?? '') === (sent.metadata.namespace ?? ''));
      if (!got) throw new Error(`the server returned no ${describeObject(sent)}`);
      const diff: string[] = [];
      differences(sent, got, describeObject(sent), diff);
      if (diff.length > 0) throw new Error(`the server accepted ${describeObject(sent)} with other values than synth wrote:\n${diff.join('\n')}`);
    }
  }
}

interface Tally {
  family: string;
  refused: number;
  accepted: number;
  objects: number;
  yaml11: number;
  ms: number;
  reasons: Map<string, number>;
}

// A YAML 1.1 word as a whole scalar value, which synth must have quoted for kubectl to read it back as a string.
const YAML_11_WORD = /: "(on|off|yes|no|y|n|Y|ON|Yes|True|1_000|2001-01-01|1:20|<<|=)"$/m;

async function checkFamily<C extends { environment: EnvironmentProps }>(oracle: Oracle, family: string, arb: fc.Arbitrary<C>, build: (stack: Stack, c: C) => void): Promise<Tally> {
  const tally: Tally = { family, refused: 0, accepted: 0, objects: 0, yaml11: 0, ms: 0, reasons: new Map() };
  const start = Date.now();
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (c) => {
      // A refused case is pure computation; yield so the worker's messages still get through.
      await new Promise((resolve) => setImmediate(resolve));
      runs++;
      const s = synthesizeCase(c, build);
      if ('refusal' in s) {
        tally.refused++;
        // The problem without path and value, control characters escaped, so that equal refusals count together.
        const reason = JSON.stringify(
          s.refusal
            .split('\n')[0]
            .replace(/ \(got .*/, '')
            .replace(/^[^:]*: /, '')
            .slice(0, 90),
        ).slice(1, -1);
        tally.reasons.set(reason, (tally.reasons.get(reason) ?? 0) + 1);
        return;
      }
      await oracle.check(s.input, s.objects);
      tally.accepted++;
      if (YAML_11_WORD.test(s.input)) tally.yaml11++;
      tally.objects += s.objects.length;
    }),
    { numRuns: RUNS_PER_FAMILY, plugins: [fc.interruptAfterTimeLimit(FAMILY_TIME_LIMIT_MS, { failOnInterrupt: true })] },
  );
  tally.ms = Date.now() - start;
  console.log(
    `${family}: ${runs} cases, ${tally.accepted} accepted by kube-apiserver (${tally.objects} objects; ${tally.yaml11} with YAML 1.1 words), ${tally.refused} refused, ${(tally.ms / 1000).toFixed(1)} s`,
  );
  const top = [...tally.reasons].sort((a, b) => b[1] - a[1]).slice(0, 10);
  console.log(top.map(([r, n]) => `  ${n} × ${r}`).join('\n'));
  return tally;
}

function expectBothOutcomes(t: Tally): void {
  expect(t.accepted + t.refused).toBeGreaterThanOrEqual(RUNS_PER_FAMILY);
  // Both branches must be exercised, or the property says nothing about one of them.
  expect(t.accepted).toBeGreaterThanOrEqual(10);
  expect(t.refused).toBeGreaterThanOrEqual(10);
}

conformanceSuite('generated construct props against kube-apiserver (strict server-side dry-run)', ['kube-apiserver', 'kubectl'], () => {
  let api: ApiServer | undefined;
  let oracle: Oracle;
  beforeAll(async () => {
    api = await startApiServer({ crds: true });
    oracle = new Oracle(api);
  });
  afterAll(async () => {
    await api?.stop();
  });

  it(
    'AntiAffinityDeployment: refused with path and fix, or accepted',
    async () => {
      expectBothOutcomes(await checkFamily(oracle, 'AntiAffinityDeployment', workloadCase, buildWorkload));
    },
    FAMILY_TEST_TIMEOUT_MS,
  );

  it(
    'logging (EfkLogging, Elasticsearch, Kibana, FluentdDaemonSet): refused with path and fix, or accepted',
    async () => {
      expectBothOutcomes(await checkFamily(oracle, 'logging', loggingCase, buildLogging));
    },
    FAMILY_TEST_TIMEOUT_MS,
  );

  it(
    'cluster operations (ClusterAutoscaler, MetricsServer, PlatformPriorityClasses, EtcdBackup, TeamAccess, ArgoCdApplication): refused with path and fix, or accepted',
    async () => {
      expectBothOutcomes(await checkFamily(oracle, 'cluster operations', clusterCase, buildCluster));
    },
    FAMILY_TEST_TIMEOUT_MS,
  );

  it(
    'RegistryMirror: refused with path and fix, or accepted',
    async () => {
      expectBothOutcomes(await checkFamily(oracle, 'RegistryMirror', mirrorCase, buildMirror));
    },
    FAMILY_TEST_TIMEOUT_MS,
  );
});
