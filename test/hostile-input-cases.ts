import { App, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import fc from 'fast-check';
import {
  AntiAffinityDeployment,
  ArgoCdApplication,
  ClusterAutoscaler,
  DockerDaemonConfig,
  DockerHostRegistryMirror,
  EfkLogging,
  Elasticsearch,
  Environment,
  EnvironmentProps,
  EtcdBackup,
  FluentdDaemonSet,
  Kibana,
  MetricsServer,
  PlatformPriorityClasses,
  RegistryMirror,
  Stack,
  StackProps,
  SwarmService,
  SwarmProject,
  TeamAccess,
} from '../lib';
import { CREDENTIAL_ARGS, TOKENS } from './core/policy/credential-cases';
import { CONFIG_MAP_KEY_CASES, CRON_CASES, IMAGE_CASES, YAML_SPECIAL_WORDS } from './core/value-cases';

/*
 * Hostile inputs for every public construct, as a table (each row one hostile value in one field) and as
 * fast-check arbitraries (several fields at once). A case builds its own App: an Environment, a Stack and the
 * construct under test with otherwise valid props.
 */

// Generated props hold deliberately ill-typed values (strings where a Size goes, NaN ports).
type Loose = Record<string, any>;

export const CONSTRUCTS = [
  'Environment',
  'Stack',
  'AntiAffinityDeployment',
  'EfkLogging',
  'Elasticsearch',
  'Kibana',
  'FluentdDaemonSet',
  'ClusterAutoscaler',
  'MetricsServer',
  'PlatformPriorityClasses',
  'EtcdBackup',
  'TeamAccess',
  'ArgoCdApplication',
  'RegistryMirror',
  'DockerHostRegistryMirror',
  'SwarmService',
  'SwarmStack',
  'DockerDaemonConfig',
  // Not a shipshape construct: user data in a cdk8s-plus ConfigMap, which only the policy judges.
  'ConfigMap',
] as const;
export type ConstructName = (typeof CONSTRUCTS)[number];

/** One hostile input: which construct it is fed to, what is hostile, and how to build it. */
export interface HostileCase {
  readonly construct: ConstructName;
  readonly label: string;
  /** Builds the environment, stack and construct into `app`; throws what the constructors throw. */
  readonly build: (app: App, ids: CaseIds) => void;
}

/** The stack's construct id (construct paths start with it) and the environment name, unique per case. */
export interface CaseIds {
  readonly stack: string;
  readonly env: string;
}

// ---------------------------------------------------------------------------------------------
// Hostile values

/** Credentials planted in the inputs; none may reach any written file. */
export const PLANTED: Readonly<Record<string, string>> = {
  github: TOKENS.github,
  aws: TOKENS.awsAccessKeyId,
  jwt: TOKENS.jwt,
  slack: TOKENS.slack,
  stripe: TOKENS.stripe,
  redis: 'redis://:pw@h',
  password: 'hunter2',
};

/** Free text holding a credential: a token, a password in a URL, a `password=` assignment. */
export const SECRET_TEXTS: readonly string[] = [
  PLANTED.github,
  PLANTED.aws,
  PLANTED.jwt,
  PLANTED.slack,
  PLANTED.stripe,
  PLANTED.redis,
  `key=${PLANTED.github}`,
  `Bearer ${PLANTED.jwt}`,
  'postgres://admin:hunter2@db:5432/app',
  '--db-password=hunter2',
  'export PASSWORD=hunter2',
  'spring.datasource.password=hunter2',
  'jdbc:postgresql://db/app?user=app&password=hunter2',
  `https://x-access-token:${PLANTED.github}@github.com/acme/x.git`,
];

/** Variables of the deploying machine for `docker stack config`; a value showing up in its output is a leak. */
export const SENTINELS: Readonly<Record<string, string>> = {
  AWS_SECRET_ACCESS_KEY: 'SENTINEL_AWS',
  HOME: 'SENTINEL_HOME',
  HOSTNAME: 'SENTINEL_HOSTNAME',
  X: 'SENTINEL_X',
  TAG: 'SENTINEL_TAG',
};

const DOLLARS = ['$HOME', '${AWS_SECRET_ACCESS_KEY}', '$$HOME', 'a$HOME', '${HOME:-x}', '${X:?boom}', '$', '$TAG.{{.Name}}', 'price: $5'];
const TEXTS = [
  'a\nb',
  '\tindented',
  'x\n\ty',
  'line\r\nbreak',
  'trailing\n',
  '"double"',
  "'single'",
  'ü-日本-😀',
  'x'.repeat(300),
  ' lead',
  'trail ',
  '#c',
  'a #b',
  'a: b',
  '- x',
  '{a}',
  '[a]',
  '*a',
  '&a',
  '!t',
  '%x',
  '@x',
  '`x`',
  '|',
  '>',
  '? x',
  '---',
  '...',
  'null\u0000byte',
  '\\',
];
/** Strings YAML 1.1 or 1.2 readers, Go's yaml parsers or `docker stack` would read as something else if written bare. */
export const YAML_STRINGS: readonly string[] = [...YAML_SPECIAL_WORDS, '2001-01-01', '12:30:00', '1_000', ...DOLLARS, ...TEXTS];

/** Object names: valid DNS labels among them, YAML words, and what no name may be. */
export const NAMES: readonly string[] = [
  'on',
  'yes',
  'no',
  'y',
  'null',
  'true',
  '1_000',
  '2001-01-01',
  '0x1f',
  '1e3',
  '~',
  '',
  'UPPER',
  'has space',
  'tab\there',
  'nl\nx',
  '9svc',
  '-x',
  'x-',
  'a.b',
  'a_b',
  'ü',
  '$home',
  '${x}',
  '"q"',
  'a'.repeat(52),
  'a'.repeat(63),
  'a'.repeat(64),
  'a'.repeat(300),
  'web--api',
];
/** Valid names at and over the lengths where names derived from them (name-suffix, CronJob, label values) overflow. */
export const LONG_NAMES: readonly string[] = ['n'.repeat(47), 'n'.repeat(52), 'n'.repeat(53), 'n'.repeat(58), 'n'.repeat(63)];
export const LABEL_KEYS: readonly string[] = [
  'on',
  'yes',
  '1_000',
  'example.com/on',
  'Example.com/x',
  'a/b/c',
  '/x',
  'x/',
  'has space',
  'k'.repeat(64),
  'a..b/x',
  `${'p'.repeat(254)}/x`,
  '$HOME',
  'ü',
  'ok.example.com/Team_1',
];
export const LABEL_VALUES: readonly string[] = [
  'on',
  'off',
  'yes',
  'no',
  'y',
  'N',
  'true',
  'null',
  '1_000',
  '0x1F',
  '1e3',
  '2001-01-01',
  '12:30:00',
  '~',
  '',
  'a b',
  'a\nb',
  'v'.repeat(63),
  'v'.repeat(64),
  '$HOME',
  'ü',
  '-a',
  'a-',
  '.a',
];
/** A valid image reference whose repository reads as a GitHub token. */
export const TOKEN_IMAGE = `ghcr.io/acme/${PLANTED.github.toLowerCase()}:1`;
export const IMAGES: readonly string[] = [
  ...IMAGE_CASES.valid,
  ...IMAGE_CASES.invalid,
  'nginx:on',
  'nginx:1_000',
  'nginx:2001-01-01',
  'localhost:5000/on:yes',
  'nginx:12.30',
  'nginx:latest',
  'nginx:$HOME',
  TOKEN_IMAGE,
];
export const SCHEDULES: readonly string[] = [...CRON_CASES.valid, ...CRON_CASES.invalid, 'on', '12:30:00', '${X}', '0 3 * * MON\n', '0 3 * * * *', 'x'.repeat(300)];
export const URLS: readonly string[] = [
  'https://user:pw@host.example.com',
  PLANTED.redis,
  `https://x-access-token:${PLANTED.github}@github.com/acme/x.git`,
  `https://example.com/?token=${PLANTED.jwt}`,
  `https://${PLANTED.aws}:s3cr3t@s3.example.com`,
  'http://x',
  'https://a b',
  'ftp://x',
  'https://on',
  'https://example.com/$HOME',
  'https://example.com:99999',
  'https://exa\nmple.com',
  '',
  'https://ok.example.com/a?b=c',
];
export const PORTS: readonly unknown[] = [0, -1, 65536, 1.5, NaN, Infinity, '80', 80, 443, 65535];
export const SIZES: readonly unknown[] = [
  Size.mebibytes(NaN),
  Size.mebibytes(Infinity),
  Size.mebibytes(0),
  Size.kibibytes(1536),
  Size.mebibytes(0.5),
  '512Mi',
  512,
  Size.gibibytes(1e6),
  Size.mebibytes(768),
];
export const CPUS: readonly unknown[] = [
  kplus.Cpu.units(NaN),
  kplus.Cpu.units(Infinity),
  kplus.Cpu.millis(0),
  kplus.Cpu.millis(-5),
  kplus.Cpu.millis(0.5),
  kplus.Cpu.units(1e9),
  '250m',
  0.5,
  kplus.Cpu.millis(250),
];
export const COUNTS: readonly unknown[] = [NaN, Infinity, -1, 0, 1.5, '3', 2 ** 31, 1e21, 3];
/** Strings for fields that hold a duration, size or address as text. */
export const TEXT_QUANTITIES: readonly string[] = ['on', '1_000', '12:30:00', '10s', '0s', '-1s', '1.5h', '10 s', '512M', '512Mi', 'NaN', 'Infinity', '', '$HOME'];

// ---------------------------------------------------------------------------------------------
// Environments and baselines

const NODE_GROUPS = [
  { name: 'webapi', minSize: 3, maxSize: 6 },
  { name: 'batch', minSize: 0, maxSize: 2, taints: [{ key: 'instancegroup', value: 'batch', effect: 'NoSchedule' as const }] },
];

function kubernetesEnvironment(name: string, props: Loose = {}): Environment {
  return new Environment({
    name,
    kubernetesVersion: '1.29',
    zones: ['zone-a', 'zone-b', 'zone-c'],
    replicas: 2,
    nodeGroups: NODE_GROUPS,
    controlPlane: { kind: 'kubeadm', nodes: 1 },
    ...props,
  } as EnvironmentProps);
}

function dockerEnvironment(name: string, props: Loose = {}): Environment {
  return new Environment({ name, replicas: 2, nodeGroups: [{ name: 'edge', minSize: 1, maxSize: 3 }], ...props } as EnvironmentProps);
}

function kubernetesStack(app: App, ids: CaseIds, stackProps: Loose = {}, envProps: Loose = {}): Stack {
  return new Stack(app, ids.stack, { environment: kubernetesEnvironment(envProps.name ?? ids.env, envProps), ...stackProps } as StackProps);
}

function dockerStack(app: App, ids: CaseIds): Stack {
  return new Stack(app, ids.stack, { environment: dockerEnvironment(ids.env) });
}

const WEB = { name: 'web', image: 'ghcr.io/acme/web:1.4.2', ports: [{ port: 8080 }] };
const ES_IMAGE = 'docker.elastic.co/elasticsearch/elasticsearch:8.15.3';
const KIBANA_IMAGE = 'docker.elastic.co/kibana/kibana:8.15.3';
const FLUENTD_IMAGE = 'registry.example.com/fluentd-efk:v1.17.1-1.0';
const ARCHIVE = { bucket: 'acme-logs', region: 'eu-west-1', retentionDays: 30 };
const UPLOAD = { destination: 's3://acme-etcd-backups/prod', endpointUrl: 'https://minio.example.com', credentialsSecret: 'etcd-backup-s3' };
const SWARM_WEB = { name: 'web', image: 'nginx:1.27.2', ports: [{ target: 80, published: 8080 }], healthcheck: { test: ['CMD', 'wget', '-q', '--spider', 'http://127.0.0.1/'] } };

/** Builders: the construct under test with `p` spread over valid props. */
export const BUILD: Record<ConstructName, (app: App, ids: CaseIds, p: Loose) => void> = {
  Environment: (app, ids, p) => {
    const stack = kubernetesStack(app, ids, {}, p);
    new AntiAffinityDeployment(stack, 'web', { ...WEB, nodeGroup: 'webapi' });
  },
  Stack: (app, ids, p) => {
    const stack = kubernetesStack(app, ids, p);
    new AntiAffinityDeployment(stack, 'web', WEB);
  },
  AntiAffinityDeployment: (app, ids, p) => new AntiAffinityDeployment(kubernetesStack(app, ids), 'web', { ...WEB, ...p } as never),
  EfkLogging: (app, ids, p) => new EfkLogging(kubernetesStack(app, ids), 'logging', { fluentd: { image: FLUENTD_IMAGE }, ...p }),
  Elasticsearch: (app, ids, p) => new Elasticsearch(kubernetesStack(app, ids), 'elasticsearch', { image: ES_IMAGE, replicas: 1, ...p }),
  Kibana: (app, ids, p) => {
    const stack = kubernetesStack(app, ids);
    const elasticsearch = new Elasticsearch(stack, 'elasticsearch', { image: ES_IMAGE, replicas: 1 });
    new Kibana(stack, 'kibana', { image: KIBANA_IMAGE, elasticsearch, ...p });
  },
  FluentdDaemonSet: (app, ids, p) => new FluentdDaemonSet(kubernetesStack(app, ids), 'fluentd', { image: FLUENTD_IMAGE, archive: { ...ARCHIVE, credentialsSecret: false }, ...p }),
  ClusterAutoscaler: (app, ids, p) => new ClusterAutoscaler(kubernetesStack(app, ids), 'cluster-autoscaler', { cloud: { provider: 'aws', region: 'eu-west-1' }, ...p }),
  MetricsServer: (app, ids, p) => new MetricsServer(kubernetesStack(app, ids), 'metrics-server', p),
  PlatformPriorityClasses: (app, ids, p) => new PlatformPriorityClasses(kubernetesStack(app, ids), 'priority-classes', p),
  EtcdBackup: (app, ids, p) => new EtcdBackup(kubernetesStack(app, ids), 'etcd-backup', { upload: UPLOAD, ...p }),
  TeamAccess: (app, ids, p) => new TeamAccess(kubernetesStack(app, ids), 'team-access', { namespace: 'team1', serviceAccounts: ['developer1'], preset: 'deployer', ...p }),
  ArgoCdApplication: (app, ids, p) => new ArgoCdApplication(kubernetesStack(app, ids), 'argocd-application', { repoURL: 'https://github.com/acme/platform-deploy.git', ...p }),
  RegistryMirror: (app, ids, p) => new RegistryMirror(kubernetesStack(app, ids), 'registry-mirror', { htpasswdSecret: 'mirror-users', ...p }),
  DockerHostRegistryMirror: (app, ids, p) => {
    const stack = dockerStack(app, ids);
    const project = new SwarmProject(stack, 'swarm', { name: 'edge' });
    new DockerHostRegistryMirror(project, 'registry-mirror', { access: 'host-local', ...p });
  },
  SwarmService: (app, ids, p) => {
    const stack = dockerStack(app, ids);
    const project = new SwarmProject(stack, 'swarm', { name: 'shop' });
    new SwarmService(project, 'web', { ...SWARM_WEB, ...p } as never);
  },
  SwarmStack: (app, ids, p) => {
    const stack = dockerStack(app, ids);
    const project = new SwarmProject(stack, 'swarm', p);
    new SwarmService(project, 'web', SWARM_WEB);
  },
  DockerDaemonConfig: (app, ids, p) => new DockerDaemonConfig(dockerStack(app, ids), 'daemon', { logging: { driver: 'json-file', maxSize: '10m', maxFile: 5 }, ...p }),
  ConfigMap: (app, ids, p) => new kplus.ConfigMap(kubernetesStack(app, ids), 'settings', { metadata: { name: 'settings' }, ...p }),
};

// ---------------------------------------------------------------------------------------------
// The table

/** `n` values of `list`, starting at `offset` and wrapping, so that fields sharing a list meet different values. */
function some<T>(list: readonly T[], n: number, offset: number): T[] {
  return Array.from({ length: Math.min(n, list.length) }, (_, i) => list[(offset * n + i) % list.length]);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}…(${v.length})` : v);
  if (typeof v === 'number' || v === undefined) return String(v);
  if (v instanceof Size) return `Size(${String((v as unknown as { amount: unknown }).amount)} ${(v as unknown as { unit: { abbr: string } }).unit.abbr})`;
  if (v instanceof kplus.Cpu) return `Cpu(${v.amount})`;
  return JSON.stringify(v)?.slice(0, 60) ?? String(v);
}

/** Rows `field = value` for each value: the props are `props(value)`. */
function rows(construct: ConstructName, field: string, values: readonly unknown[], props: (v: any) => Loose): HostileCase[] {
  return values.map((v) => ({ construct, label: `${field} = ${show(v)}`, build: (app, ids) => BUILD[construct](app, ids, props(v)) }));
}

/** One row with many values at once (strings that are expected to be written, quoted, rather than refused). */
function together(construct: ConstructName, field: string, values: readonly string[], props: (vs: string[]) => Loose): HostileCase {
  return { construct, label: `${field} = ${values.length} YAML-special strings at once`, build: (app, ids) => BUILD[construct](app, ids, props([...values])) };
}

const asEnv = (values: readonly string[]) => Object.fromEntries(values.map((v, i) => [`V${i}`, v]));

/** Every table row; `offset` rotates which values of the long lists each field meets. */
export function hostileTable(): HostileCase[] {
  let field = 0;
  const pick = <T>(list: readonly T[], n: number) => some(list, n, field++);
  const imaged = (n: number) => [...new Set([...pick(IMAGES, n), TOKEN_IMAGE, 'nginx:on'])];
  const named = (n: number) => [...new Set([...pick(NAMES, n), ...LONG_NAMES])];
  const cases: HostileCase[] = [
    // Environment and Stack
    ...rows('Environment', 'name', named(8), (name) => ({ name })),
    ...rows('Environment', 'namespace', [...named(6), 'kube-system', 'default', 'argocd'], (namespace) => ({ namespace })),
    ...rows('Environment', 'zones', [['on', 'off'], ['a', 'a'], [''], ['2001-01-01', '12:30:00', '$HOME']], (zones) => ({ zones })),
    ...rows('Environment', 'nodeGroups[0].labels key', pick(LABEL_KEYS, 5), (k) => ({ nodeGroups: [{ ...NODE_GROUPS[0], labels: { [k]: 'webapi' } }, NODE_GROUPS[1]] })),
    ...rows('Environment', 'nodeGroups[0].labels value', pick(LABEL_VALUES, 8), (v) => ({ nodeGroups: [{ ...NODE_GROUPS[0], labels: { instancegroup: v } }, NODE_GROUPS[1]] })),
    ...rows(
      'Environment',
      'nodeGroups[1].taints[0]',
      [
        { key: '', effect: 'NoSchedule' },
        { key: 'on', value: 'yes', effect: 'NoSchedule' },
        { key: 'x', effect: 'Sometimes' },
        { key: 'x', value: 'a b', effect: 'NoExecute' },
      ],
      (t) => ({ nodeGroups: [NODE_GROUPS[0], { ...NODE_GROUPS[1], taints: [t] }] }),
    ),
    ...rows('Environment', 'replicas', COUNTS, (replicas) => ({ replicas })),
    ...rows(
      'Environment',
      'cluster',
      [{ server: 'https://user:pw@k8s.example.com' }, { server: `https://k8s.example.com/?t=${PLANTED.jwt}` }, { server: 'http://k8s.example.com' }, { name: 'on' }, { name: 'prod eu' }],
      (cluster) => ({ cluster }),
    ),
    ...rows('Stack', 'labels key', pick(LABEL_KEYS, 5), (k) => ({ labels: { [k]: 'shop' } })),
    ...rows('Stack', 'labels value', pick(LABEL_VALUES, 8), (v) => ({ labels: { 'app.kubernetes.io/part-of': v } })),
    ...rows('Stack', 'podSecurity', ['baseline', 'privileged', 'on', ''], (podSecurity) => ({ podSecurity })),
    ...rows('Stack', 'labels with a planted token', [PLANTED.github, PLANTED.aws], (v) => ({ labels: { team: v } })),

    // AntiAffinityDeployment
    ...rows('AntiAffinityDeployment', 'name', named(8), (name) => ({ name })),
    ...rows('AntiAffinityDeployment', 'image', imaged(12), (image) => ({ image })),
    ...rows('AntiAffinityDeployment', 'component', pick(LABEL_VALUES, 8), (component) => ({ component })),
    ...rows('AntiAffinityDeployment', 'ports[0].port', PORTS, (port) => ({ ports: [{ port }] })),
    ...rows(
      'AntiAffinityDeployment',
      'ports',
      [[{ port: 80 }, { port: 80 }], [{ port: 80, name: 'on' }], [{ port: 80, name: 'UPPER' }], [{ port: 80, name: 'a--b' }], [{ port: 80, name: '8080' }]],
      (ports) => ({ ports }),
    ),
    ...rows('AntiAffinityDeployment', 'service.port', PORTS, (port) => ({ ports: [{ port: 8080 }, { port: 9090 }], service: { port } })),
    together('AntiAffinityDeployment', 'env values', YAML_STRINGS, (vs) => ({ env: asEnv(vs) })),
    together('AntiAffinityDeployment', 'args', YAML_STRINGS, (args) => ({ args })),
    together('AntiAffinityDeployment', 'command', YAML_STRINGS, (command) => ({ command })),
    ...rows('AntiAffinityDeployment', 'env value', SECRET_TEXTS, (v) => ({ env: { GREETING: v } })),
    ...rows('AntiAffinityDeployment', 'env name', ['on', '1_000', 'a b', '$HOME', '', 'ü', 'DB_PASSWORD'], (k) => ({ env: { [k]: 'x7' } })),
    ...rows(
      'AntiAffinityDeployment',
      'args',
      CREDENTIAL_ARGS.map((c) => c.args),
      (args) => ({ args }),
    ),
    ...rows('AntiAffinityDeployment', 'liveness command', [[PLANTED.github], ['sh', '-c', `curl -H "Authorization: Bearer ${PLANTED.jwt}" http://127.0.0.1/`]], (command) => ({
      liveness: kplus.Probe.fromCommand(command),
      readiness: kplus.Probe.fromCommand(['true']),
    })),
    ...rows('AntiAffinityDeployment', 'resources.cpu.request', CPUS, (request) => ({ resources: { cpu: { request }, memory: { request: Size.mebibytes(128), limit: Size.mebibytes(256) } } })),
    ...rows('AntiAffinityDeployment', 'resources.memory.limit', SIZES, (limit) => ({ resources: { cpu: { request: kplus.Cpu.millis(100) }, memory: { request: Size.mebibytes(128), limit } } })),
    ...rows('AntiAffinityDeployment', 'writablePaths', [['tmp'], ['/a/../b'], ['/tmp', '/tmp'], ['/on'], ['/12:30:00'], ['/x y'], ['/'], ['/tmp/']], (writablePaths) => ({ writablePaths })),
    ...rows('AntiAffinityDeployment', 'priorityClassName', named(4), (priorityClassName) => ({ priorityClassName })),
    ...rows('AntiAffinityDeployment', 'nodeGroup', ['on', 'batch', ''], (nodeGroup) => ({ nodeGroup })),
    ...rows('AntiAffinityDeployment', 'replicas', COUNTS, (replicas) => ({ replicas })),
    ...rows('AntiAffinityDeployment', 'env from a ConfigMap key', [...CONFIG_MAP_KEY_CASES.invalid.slice(0, 6), 'on'], (key) => ({ env: { SETTING: { configMap: 'settings', key } } })),

    // Logging
    ...rows('EfkLogging', 'namespace', named(6), (namespace) => ({ namespace })),
    ...rows('EfkLogging', 'indexPrefix', ['on', '1_000', 'Logs', '_x', 'a*b', 'has space', '2001-01-01'], (indexPrefix) => ({ indexPrefix })),
    ...rows('EfkLogging', 'archive.bucket', ['on', 'UPPER', 'ab', 'acme-logs', PLANTED.aws.toLowerCase()], (bucket) => ({ archive: { ...ARCHIVE, bucket } })),
    ...rows('EfkLogging', 'archive.path', ['on/', '/abs', 'a#b', '$HOME/', 'logs/%Y/'], (path) => ({ archive: { ...ARCHIVE, path } })),
    ...rows('EfkLogging', 'alerts.prometheusLabels value', pick(LABEL_VALUES, 6), (v) => ({ alerts: { prometheusLabels: { release: v } } })),
    ...rows('EfkLogging', 'alerts.prometheusLabels key', pick(LABEL_KEYS, 4), (k) => ({ alerts: { prometheusLabels: { [k]: 'x' } } })),
    ...rows('EfkLogging', 'kibana.publicBaseUrl', pick(URLS, 6), (publicBaseUrl) => ({ kibana: { publicBaseUrl } })),
    ...rows('EfkLogging', 'fluentd.image', imaged(4), (image) => ({ fluentd: { image } })),
    ...rows('EfkLogging', 'credentialsRevision', ['on', '1_000', PLANTED.github, 'a\nb'], (credentialsRevision) => ({ credentialsRevision })),
    ...rows('Elasticsearch', 'name', named(6), (name) => ({ name })),
    ...rows('Elasticsearch', 'heap', ['on', '1_000', '256m', '1.5g', '0m', '31g', { initial: '128m', max: 'yes' }], (heap) => ({ heap })),
    ...rows('Elasticsearch', 'memory', SIZES, (memory) => ({ memory })),
    ...rows('Elasticsearch', 'cpu', COUNTS, (v) => ({ cpu: typeof v === 'number' ? kplus.Cpu.millis(v) : v })),
    ...rows('Elasticsearch', 'storage', [{ size: Size.gibibytes(NaN) }, { size: '10Gi' }, { storageClassName: 'on' }, { storageClassName: 'Fast SSD' }, { size: Size.mebibytes(1) }], (storage) => ({
      storage,
    })),
    ...rows('Elasticsearch', 'credentialsSecret', ['$HOME', 'on', 'UPPER', PLANTED.github.toLowerCase()], (credentialsSecret) => ({ credentialsSecret })),
    ...rows('Elasticsearch', 'image', imaged(4), (image) => ({ image })),
    ...rows('Kibana', 'publicBaseUrl', URLS, (publicBaseUrl) => ({ publicBaseUrl })),
    ...rows('Kibana', 'name', named(6), (name) => ({ name })),
    ...rows('Kibana', 'memory', pick(SIZES, 4), (memory) => ({ memory })),
    ...rows('Kibana', 'image', ['docker.elastic.co/kibana/kibana:8.14.1', 'kibana:8.15.3', 'KIBANA:8.15.3', 'kibana'], (image) => ({ image })),
    ...rows('FluentdDaemonSet', 'name', named(6), (name) => ({ name })),
    ...rows('FluentdDaemonSet', 'image', imaged(6), (image) => ({ image })),
    ...rows('FluentdDaemonSet', 'archive.region', ['on', 'EU-WEST-1', 'mars-1', 'eu-west-1'], (region) => ({ archive: { ...ARCHIVE, credentialsSecret: false, region } })),
    ...rows('FluentdDaemonSet', 'tail.path', ['relative/*.log', '/a/../b', '/has space', '/var/log/$HOME/*.log', '/var/log/on/*.log', '/a#b'], (path) => ({ tail: { path } })),
    ...rows('FluentdDaemonSet', 'tail.excludePaths', [['/var/log/containers/fluentd-*.log', '/x y'], ['on']], (excludePaths) => ({ tail: { excludePaths } })),
    ...rows('FluentdDaemonSet', 'archive.path', [`logs/${PLANTED.github}/`, `logs/${PLANTED.aws}/`, 'logs/$HOME/', 'logs/on/'], (path) => ({
      archive: { ...ARCHIVE, credentialsSecret: false, path },
    })),
    ...rows('FluentdDaemonSet', 'memory', pick(SIZES, 4), (memory) => ({ memory })),
    ...rows('FluentdDaemonSet', 'archive buffer chunkLimitSize', SIZES, (chunkLimitSize) => ({ archive: { ...ARCHIVE, credentialsSecret: false, buffer: { chunkLimitSize } } })),
    ...rows('FluentdDaemonSet', 'priorityClassName', named(4), (priorityClassName) => ({ priorityClassName })),

    // Cluster operations
    ...rows(
      'ClusterAutoscaler',
      'cloud',
      [
        { provider: 'aws', region: 'on' },
        { provider: 'aws', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/ca' },
        { provider: 'aws', region: 'eu-west-1', roleArn: `arn:aws:iam::123456789012:role/${PLANTED.aws}` },
        { provider: 'aws', region: 'eu-west-1', autoDiscovery: { clusterName: 'prod', tags: [`k8s.io/cluster-autoscaler/${PLANTED.github}`] } },
        { provider: 'aws', region: 'eu-west-1', autoDiscovery: { clusterName: '$HOME' } },
        { provider: 'gce', serviceAccount: 'ca@on.iam.gserviceaccount.com' },
        { provider: 'azure', subscriptionId: 'not-a-guid', resourceGroup: 'rg', identity: { credentialsSecret: 'azure' } },
      ],
      (cloud) => ({ cloud }),
    ),
    together('ClusterAutoscaler', 'serviceAccountAnnotations', YAML_STRINGS, (vs) => ({ serviceAccountAnnotations: Object.fromEntries(vs.map((v, i) => [`example.com/a${i}`, v])) })),
    ...rows(
      'ClusterAutoscaler',
      'serviceAccountAnnotations',
      [{ 'eks.amazonaws.com/role-arn': PLANTED.aws }, { 'example.com/token': 'x7Kq9' }, { 'example.com/note': PLANTED.jwt }, { 'has space': 'x' }, { on: 'yes' }],
      (serviceAccountAnnotations) => ({ serviceAccountAnnotations }),
    ),
    ...rows(
      'ClusterAutoscaler',
      'balancingIgnoreLabels',
      pick(LABEL_KEYS, 5).map((k) => [k]),
      (balancingIgnoreLabels) => ({ balancingIgnoreLabels }),
    ),
    ...rows('ClusterAutoscaler', 'image', imaged(4), (image) => ({ image })),
    ...rows('ClusterAutoscaler', 'nodeGroups', [['on'], ['webapi', 'webapi'], [{ name: 'webapi', minSize: NaN, maxSize: 3 }], [{ name: 'webapi', minSize: 5, maxSize: 2 }]], (nodeGroups) => ({
      nodeGroups,
    })),
    ...rows(
      'ClusterAutoscaler',
      'scaleDown',
      [{ delayAfterAdd: Duration.seconds(NaN) }, { unneededTime: Duration.seconds(0) }, { utilizationThreshold: 1.5 }, { utilizationThreshold: NaN }],
      (scaleDown) => ({ scaleDown }),
    ),
    ...rows('MetricsServer', 'image', imaged(6), (image) => ({ image })),
    ...rows('MetricsServer', 'replicas', COUNTS, (replicas) => ({ replicas })),
    ...rows('MetricsServer', 'metricResolution', [...COUNTS, 5, 15], (v) => ({ metricResolution: typeof v === 'number' && v >= 0 ? Duration.seconds(v) : v })),
    ...rows('PlatformPriorityClasses', 'prefix', named(8), (prefix) => ({ prefix })),
    together('PlatformPriorityClasses', 'tiers.*.description', YAML_STRINGS.slice(0, 4), ([a, b, c, d]) => ({
      tiers: { critical: { value: 1000, description: a }, high: { value: 100, description: b }, standard: { value: 10, description: c }, batch: { value: 1, description: d } },
    })),
    ...rows('PlatformPriorityClasses', 'tiers.critical.description', [...pick(YAML_STRINGS, 8), PLANTED.github, `call ${PLANTED.redis}`], (description) => ({
      tiers: { critical: { value: 1_000_000, description } },
    })),
    ...rows('PlatformPriorityClasses', 'tiers.critical.value', [NaN, -1, 1.5, 2_000_000_000, 1e21], (value) => ({ tiers: { critical: { value, description: 'x' } } })),
    ...rows('PlatformPriorityClasses', 'globalDefault', ['standard', 'on', ''], (globalDefault) => ({ globalDefault })),
    ...rows('EtcdBackup', 'schedule', SCHEDULES, (schedule) => ({ schedule })),
    ...rows('EtcdBackup', 'name', named(6), (name) => ({ name })),
    ...rows('EtcdBackup', 'upload.destination', ['s3://UP/x', 's3://ab', `s3://${PLANTED.aws}:x@bucket/x`, 's3://on/yes', 'https://b/x', 's3://acme/$HOME'], (destination) => ({
      upload: { ...UPLOAD, destination },
    })),
    ...rows('EtcdBackup', 'upload.endpointUrl', pick(URLS, 6), (endpointUrl) => ({ upload: { ...UPLOAD, endpointUrl } })),
    ...rows('EtcdBackup', 'snapshotDirectory', ['relative', '/a/../b', '/', '/trailing/', '/has space', '/on', '/a:b', '/$HOME'], (snapshotDirectory) => ({ snapshotDirectory })),
    ...rows('EtcdBackup', 'toolsImage', imaged(4), (toolsImage) => ({ toolsImage })),
    ...rows('EtcdBackup', 'keep', COUNTS, (keep) => ({ keep })),
    ...rows('EtcdBackup', 'endpoint', ['https://127.0.0.1:99999', 'http://localhost:2379', 'https://user:pw@127.0.0.1:2379', 'on'], (endpoint) => ({ endpoint })),
    ...rows('TeamAccess', 'namespace', named(6), (namespace) => ({ namespace })),
    ...rows(
      'TeamAccess',
      'serviceAccounts',
      named(6).map((n) => [n]),
      (serviceAccounts) => ({ serviceAccounts }),
    ),
    ...rows('TeamAccess', 'subjects[0].name', ['alice@example.com', 'on', 'oidc:group=dev', PLANTED.github, 'a\nb', '$HOME', ''], (name) => ({ subjects: [{ kind: 'User', name }] })),
    ...rows('TeamAccess', 'roleName', named(4), (roleName) => ({ roleName })),
    ...rows('TeamAccess', 'clusterAdmin.reason', ['on', PLANTED.jwt, 'break-glass for the 2024 incident', ''], (reason) => ({ clusterAdmin: { reason } })),
    ...rows('ArgoCdApplication', 'repoURL', [...URLS, 'git@github.com:acme/deploy.git', 'ssh://git@example.com/a/b.git'], (repoURL) => ({ repoURL })),
    ...rows('ArgoCdApplication', 'targetRevision', ['on', 'yes', '2001-01-01', '1_000', '12:30:00', 'v1.2.3', 'release/2024-01', '$HOME', 'a b', PLANTED.github], (targetRevision) => ({
      targetRevision,
    })),
    ...rows('ArgoCdApplication', 'path', ['on', '1_000', '/abs', '../up', 'a b', 'dist/on/kubernetes'], (path) => ({ path })),
    ...rows('ArgoCdApplication', 'name', named(5), (name) => ({ name })),
    ...rows('ArgoCdApplication', 'argocdNamespace', named(4), (argocdNamespace) => ({ argocdNamespace })),

    // Registries
    ...rows('RegistryMirror', 'remoteUrl', URLS, (remoteUrl) => ({ remoteUrl })),
    ...rows('RegistryMirror', 'name', named(6), (name) => ({ name })),
    ...rows('RegistryMirror', 'ttl', TEXT_QUANTITIES.slice(0, 6), (ttl) => ({ image: 'registry:3.0.0', ttl })),
    ...rows('RegistryMirror', 'image', imaged(5), (image) => ({ image })),
    ...rows('RegistryMirror', 'credentialsSecret', ['dockerhub', 'on', '$HOME', PLANTED.github.toLowerCase()], (credentialsSecret) => ({ credentialsSecret })),
    ...rows(
      'RegistryMirror',
      'storage',
      [
        { type: 'persistent', size: Size.gibibytes(NaN) },
        { type: 'persistent', size: '50Gi' },
        { type: 'ephemeral', sizeLimit: Size.gibibytes(0) },
        { type: 'persistent', size: Size.gibibytes(50), storageClassName: 'on' },
      ],
      (storage) => ({ storage }),
    ),
    ...rows('DockerHostRegistryMirror', 'remoteUrl', URLS, (remoteUrl) => ({ remoteUrl })),
    ...rows('DockerHostRegistryMirror', 'name', named(6), (name) => ({ name })),
    ...rows('DockerHostRegistryMirror', 'advertisedHost', ['10.0.0.5', 'on', 'a b', '$HOME', 'mirror.example.com:5000', ''], (advertisedHost) => ({
      access: 'published',
      htpasswdSecret: 'mirror-users',
      advertisedHost,
    })),
    ...rows('DockerHostRegistryMirror', 'constraints', [['node.labels.zone == $HOME'], ['node.role == manager'], ['on'], [`node.labels.t == ${PLANTED.github}`]], (constraints) => ({ constraints })),
    ...rows('DockerHostRegistryMirror', 'port', PORTS, (port) => ({ port })),
    ...rows('DockerHostRegistryMirror', 'image', imaged(4), (image) => ({ image })),
    ...rows('DockerHostRegistryMirror', 'ttl', TEXT_QUANTITIES.slice(6), (ttl) => ({ image: 'registry:3.0.0', ttl })),
    ...rows(
      'DockerHostRegistryMirror',
      'credentials',
      [
        { usernameSecret: 'hub-user', passwordSecret: 'hub-token' },
        { usernameSecret: 'on', passwordSecret: '$HOME' },
        { usernameSecret: 'hub', passwordSecret: PLANTED.github },
      ],
      (credentials) => ({ credentials }),
    ),

    // Swarm and Docker hosts
    ...rows('SwarmService', 'name', named(8), (name) => ({ name })),
    ...rows('SwarmService', 'image', imaged(8), (image) => ({ image })),
    together('SwarmService', 'environment values', YAML_STRINGS, (vs) => ({ environment: asEnv(vs) })),
    together('SwarmService', 'command', YAML_STRINGS, (command) => ({ command })),
    together('SwarmService', 'labels', YAML_STRINGS, (vs) => ({ labels: Object.fromEntries(vs.map((v, i) => [`com.example.l${i}`, v])) })),
    ...rows('SwarmService', 'environment value', SECRET_TEXTS, (v) => ({ environment: { GREETING: v } })),
    ...rows('SwarmService', 'labels value', [PLANTED.github, PLANTED.redis, 'password=hunter2'], (v) => ({ labels: { 'com.example.note': v } })),
    ...rows(
      'SwarmService',
      'command',
      CREDENTIAL_ARGS.map((c) => c.args),
      (command) => ({ command }),
    ),
    ...rows('SwarmService', 'healthcheck.test', [['CMD-SHELL', 'test -n "$HOSTNAME"'], ['CMD-SHELL', `curl -u elastic:hunter2 http://127.0.0.1/`], ['CMD', 'on'], ['NONE'], ['CMD']], (test) => ({
      healthcheck: { test },
    })),
    ...rows('SwarmService', 'environment name', ['on', '1_000', 'a b', '$HOME', 'DB_PASSWORD'], (k) => ({ environment: { [k]: 'x7Kq' } })),
    ...rows('SwarmService', 'user', ['root', '0', '0:0', '1000:1000', '$HOME', 'on'], (user) => ({ user })),
    ...rows(
      'SwarmService',
      'mounts',
      [[{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }], [{ type: 'bind', source: 'rel', target: '/x' }], [{ type: 'volume', source: 'on', target: '/data/$HOME' }]],
      (mounts) => ({ mounts }),
    ),
    ...rows('SwarmService', 'ports[0].target', PORTS, (target) => ({ ports: [{ target }] })),
    ...rows('SwarmService', 'resources.memoryLimit', TEXT_QUANTITIES, (memoryLimit) => ({ resources: { memoryLimit } })),
    ...rows('SwarmService', 'resources.cpuLimit', COUNTS, (cpuLimit) => ({ resources: { cpuLimit } })),
    ...rows('SwarmService', 'placement.constraints', [['node.labels.zone == $ZONE'], ['node.role == manager'], ['on']], (constraints) => ({ placement: { constraints } })),
    ...rows('SwarmService', 'configs[0].content', [`token: ${PLANTED.github}\n`, 'price: $5\nwhen: on\n', 'spring.datasource.password=hunter2\n'], (content) => ({
      configs: [{ name: 'settings', content, target: '/etc/app/settings.yml' }],
    })),
    ...rows('SwarmService', 'logging.tag', ['web.$TAG.{{.Name}}', 'on', 'a b'], (tag) => ({ logging: { driver: 'fluentd', fluentd: '127.0.0.1:24224', tag } })),
    ...rows('SwarmService', 'stopGracePeriod', TEXT_QUANTITIES.slice(0, 6), (stopGracePeriod) => ({ stopGracePeriod })),
    ...rows('SwarmStack', 'name', named(8), (name) => ({ name })),
    ...rows('SwarmStack', 'path', ['swarm/on.yml', 'swarm/../x.yml', 'stack.yml', 'swarm/a b.yml', 'swarm/$HOME.yml'], (path) => ({ path })),
    ...rows('SwarmStack', 'attachableNetworks', [['on'], ['a b'], ['backend'], ['$HOME']], (attachableNetworks) => ({ attachableNetworks })),
    ...rows(
      'DockerDaemonConfig',
      'registryMirrors',
      URLS.map((u) => [u]),
      (registryMirrors) => ({ registryMirrors }),
    ),
    ...rows('DockerDaemonConfig', 'insecureRegistries', [['on'], ['10.0.0.5:5000'], ['a b'], [`${PLANTED.aws}.example.com:5000`]], (insecureRegistries) => ({ insecureRegistries })),
    ...rows(
      'DockerDaemonConfig',
      'extra',
      [
        { hosts: ['tcp://0.0.0.0:2375'] },
        { icc: true },
        { 'no-new-privileges': false },
        { labels: [`ci=${PLANTED.github}`] },
        { labels: ['on=yes', 'when=2001-01-01'] },
        { on: true },
        { proxies: { 'http-proxy': 'http://user:hunter2@proxy:3128' } },
      ],
      (extra) => ({ extra }),
    ),
    ...rows('DockerDaemonConfig', 'logging.maxSize', TEXT_QUANTITIES, (maxSize) => ({ logging: { driver: 'json-file', maxSize, maxFile: 5 } })),
    ...rows('DockerDaemonConfig', 'dns', [['on'], ['10.0.0.2'], ['8.8.8.8', '$HOME']], (dns) => ({ dns })),
    ...rows('DockerDaemonConfig', 'dataRoot', ['relative', '/var/lib/docker', '/a/../b', '/$HOME'], (dataRoot) => ({ dataRoot })),
    ...rows('DockerDaemonConfig', 'metricsAddress', ['0.0.0.0:9323', '127.0.0.1:9323', 'on', '127.0.0.1:99999'], (metricsAddress) => ({ metricsAddress })),

    // ConfigMap data from users, judged by the policy at synth
    ...rows('ConfigMap', 'data key', [...CONFIG_MAP_KEY_CASES.valid.slice(0, 6), ...CONFIG_MAP_KEY_CASES.invalid], (k) => ({ data: { [k]: 'x' } })),
    together('ConfigMap', 'data values', YAML_STRINGS, (vs) => ({ data: Object.fromEntries(vs.map((v, i) => [`k${i}`, v])) })),
    ...rows('ConfigMap', 'data value', SECRET_TEXTS.slice(0, 8), (v) => ({ data: { 'app.properties': v } })),
  ];
  return cases;
}

// ---------------------------------------------------------------------------------------------
// The property: several fields of one construct at once, each valid most of the time.

/** Mostly a value from `valid`, sometimes from `hostile`. */
function mostly<T>(valid: fc.Arbitrary<T>, hostile: readonly unknown[], weight = 3): fc.Arbitrary<unknown> {
  return fc.oneof({ weight, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.constantFrom(...hostile) });
}

// Optional props present half the time; absent ones shrink away.
const ABSENT = Symbol('absent');
function props(model: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Loose> {
  const entries = Object.entries(model).map(([k, arb]) => [k, fc.oneof(fc.constant(ABSENT), arb)] as const);
  return fc.record(Object.fromEntries(entries), { noNullPrototype: true }).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== ABSENT)));
}

const dnsLabel = fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/);
const name = mostly(dnsLabel, NAMES);
const anyText = fc.oneof(fc.constantFrom(...YAML_STRINGS), fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }));
const text = fc.oneof({ weight: 3, arbitrary: anyText }, { weight: 1, arbitrary: fc.constantFrom(...SECRET_TEXTS) });
const labelValue = mostly(fc.constantFrom('on', 'yes', '1_000', '2001-01-01', 'a.b_c-d', 'v1'), LABEL_VALUES);
const labelKey = mostly(fc.constantFrom('team', 'example.com/on', 'a.b/c_d'), LABEL_KEYS);
const image = (valid: string, hostile: readonly string[] = IMAGES) => mostly(fc.constant(valid), hostile, 4);
const count = (min: number, max: number, hostile: readonly unknown[] = COUNTS) => mostly(fc.integer({ min, max }), hostile, 5);
const size = (min: number, max: number) =>
  mostly(
    fc.integer({ min, max }).map((m) => Size.mebibytes(m)),
    SIZES,
    5,
  );
const textMap = (key: fc.Arbitrary<string>) => fc.dictionary(key, text, { maxKeys: 4, noNullPrototype: true });
const envName = mostly(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/), ['on', '1_000', 'a b', '$HOME', 'DB_PASSWORD', 'API_KEY'], 6) as fc.Arbitrary<string>;

// Hostile values per field. Known open bugs (the OPEN list of the conformance test) are kept out of the generators
// by a restriction marked `// open:`; remove the restriction to reach its bug again.
const podSecurity = mostly(fc.constantFrom('restricted', 'baseline', 'privileged'), ['on', '', 'Restricted']);
const etcdName = mostly(dnsLabel, [...NAMES, ...LONG_NAMES]);
const priorityPrefix = mostly(dnsLabel, [...NAMES, ...LONG_NAMES]);

/** Per construct: props with several fields hostile at once. */
export const ARBITRARY: Record<ConstructName, fc.Arbitrary<Loose>> = {
  Environment: props({ name, namespace: name, zones: fc.uniqueArray(mostly(fc.constantFrom('eu-west-1a', 'eu-west-1b'), ['on', '', '$HOME']), { maxLength: 3 }), replicas: count(1, 4) }),
  Stack: props({ labels: fc.dictionary(labelKey as fc.Arbitrary<string>, labelValue, { maxKeys: 3, noNullPrototype: true }), podSecurity }),
  AntiAffinityDeployment: props({
    name,
    image: image('ghcr.io/acme/web:1.4.2'),
    component: labelValue,
    env: textMap(envName),
    args: fc.array(text, { maxLength: 4 }),
    command: fc.array(text, { maxLength: 3 }),
    replicas: count(1, 6),
    ports: fc.array(fc.record({ port: mostly(fc.integer({ min: 1, max: 65535 }), PORTS) }), { minLength: 1, maxLength: 2 }),
    resources: fc.record({
      cpu: fc.record({
        request: mostly(
          fc.integer({ min: 1, max: 2000 }).map((m) => kplus.Cpu.millis(m)),
          CPUS,
          5,
        ),
      }),
      memory: fc.record({ request: fc.constant(Size.mebibytes(64)), limit: size(64, 1024) }),
    }),
    writablePaths: fc.array(mostly(fc.constantFrom('/tmp', '/var/cache/app'), ['tmp', '/a/../b', '/on']), { maxLength: 2 }),
  }),
  EfkLogging: props({
    namespace: name,
    indexPrefix: mostly(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/), ['on', 'Logs', '_x', 'a b']),
    archive: fc.record({ bucket: mostly(fc.constantFrom('acme-logs', 'on-logs'), ['UPPER', 'ab']), region: mostly(fc.constant('eu-west-1'), ['on', 'mars-1']), retentionDays: count(30, 365) }),
    alerts: fc.record({ prometheusLabels: fc.dictionary(labelKey as fc.Arbitrary<string>, labelValue, { minKeys: 1, maxKeys: 2, noNullPrototype: true }) }),
    kibana: fc.record({ publicBaseUrl: mostly(fc.constantFrom('https://kibana.example.com', 'https://on.example.com/yes'), URLS) }),
  }),
  Elasticsearch: props({
    name,
    heap: mostly(fc.constantFrom('256m', '512m', '1g'), ['on', '1_000', '0m', '1.5g']),
    memory: size(2048, 8192),
    cpu: count(100, 2000).map((v) => (typeof v === 'number' ? kplus.Cpu.millis(v) : v)),
    credentialsSecret: name,
  }),
  Kibana: props({ name, publicBaseUrl: mostly(fc.constantFrom('https://kibana.example.com', 'https://on.example.com/2001-01-01'), URLS), memory: size(512, 2048), replicas: count(1, 3) }),
  FluentdDaemonSet: props({
    name,
    image: image(FLUENTD_IMAGE),
    tail: fc.record({ path: mostly(fc.constantFrom('/var/log/containers/*.log', '/var/log/pods/*/*/*.log'), ['relative/*.log', '/a/../b', '/$HOME/*.log']) }),
    memory: size(256, 1024),
    priorityClassName: name,
  }),
  ClusterAutoscaler: props({
    serviceAccountAnnotations: textMap(mostly(fc.constantFrom('eks.amazonaws.com/role-arn', 'example.com/note', 'example.com/on'), ['has space', 'on', 'a/b/c'], 6) as fc.Arbitrary<string>),
    balancingIgnoreLabels: fc.array(labelKey, { maxLength: 2 }),
    image: image('example.com/cluster-autoscaler:custom-1'),
    replicas: count(1, 3),
    verbosity: count(0, 8),
  }),
  MetricsServer: props({
    image: image('registry.k8s.io/metrics-server/metrics-server:v0.7.2'),
    replicas: count(1, 4),
    metricResolution: count(10, 60).map((v) => (typeof v === 'number' && v >= 0 ? Duration.seconds(v) : v)),
  }),
  PlatformPriorityClasses: props({
    prefix: priorityPrefix,
    tiers: fc.record({ critical: fc.record({ value: count(1000, 1_000_000), description: text }), batch: fc.record({ value: fc.integer({ min: 0, max: 999 }), description: text }) }),
  }),
  EtcdBackup: props({
    name: etcdName,
    schedule: mostly(fc.constantFrom('0 */6 * * *', '@daily', '30 2 * * MON-FRI'), SCHEDULES),
    keep: count(1, 100),
    upload: fc.record({
      destination: mostly(fc.constantFrom('s3://acme-etcd/prod', 's3://on-bucket/yes/'), ['s3://UP/x', 's3://ab', `s3://${PLANTED.aws}:x@b/x`]),
      endpointUrl: mostly(fc.constantFrom('https://minio.example.com', 'http://10.0.0.5:9000'), URLS),
      credentialsSecret: name,
    }),
  }),
  TeamAccess: props({
    namespace: name,
    serviceAccounts: fc.uniqueArray(name, { minLength: 1, maxLength: 2 }),
    subjects: fc.array(fc.record({ kind: fc.constantFrom('User', 'Group'), name: mostly(fc.constantFrom('alice@example.com', 'team1-developers', 'on'), [PLANTED.github, 'a\nb', '', '$HOME']) }), {
      maxLength: 2,
    }),
    roleName: name,
  }),
  ArgoCdApplication: props({
    repoURL: mostly(fc.constantFrom('https://github.com/acme/deploy.git', 'git@github.com:acme/deploy.git'), URLS),
    targetRevision: mostly(fc.constantFrom('main', 'on', 'yes', '2001-01-01', '1_000', 'v1.2.3'), ['$HOME', 'a b', '12:30:00', '']),
    path: mostly(fc.constantFrom('dist/prod/kubernetes', 'on', 'a/b_c.d-e'), ['/abs', '../up', 'a b']),
    name,
  }),
  RegistryMirror: props({
    name,
    remoteUrl: mostly(fc.constantFrom('https://registry-1.docker.io', 'https://ghcr.io', 'https://quay.io:443'), URLS),
    credentialsSecret: name,
    image: image('registry:2.8.3'),
  }),
  DockerHostRegistryMirror: props({
    name,
    remoteUrl: mostly(fc.constantFrom('https://registry-1.docker.io', 'https://ghcr.io'), URLS),
    port: mostly(fc.integer({ min: 1024, max: 65535 }), PORTS),
    constraints: fc.array(mostly(fc.constantFrom('node.role == manager', 'node.labels.zone == on'), ['node.labels.zone == $HOME', 'on']), { maxLength: 2 }),
  }),
  SwarmService: props({
    name: mostly(fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}[a-z0-9]$/), NAMES),
    image: image('nginx:1.27.2'),
    environment: textMap(envName),
    command: fc.array(text, { maxLength: 4 }),
    labels: textMap(fc.constantFrom('com.example.a', 'com.example.on', 'com.example.b')),
    healthcheck: fc.record({ test: fc.tuple(fc.constantFrom('CMD-SHELL', 'CMD'), text) }).map((h) => ({ test: [...h.test] })),
    user: mostly(fc.constantFrom('1000', '1000:1000', 'app'), ['root', '0', '$HOME']),
    resources: fc.record({ memoryLimit: mostly(fc.constantFrom('512M', '1G'), TEXT_QUANTITIES), cpuLimit: mostly(fc.constantFrom(0.5, 1, 2), COUNTS) }),
  }),
  SwarmStack: props({ name, attachableNetworks: fc.array(mostly(fc.constantFrom('backend', 'on'), ['a b', '$HOME']), { maxLength: 2 }) }),
  DockerDaemonConfig: props({
    registryMirrors: fc.array(mostly(fc.constantFrom('http://mirror.internal:5000', 'https://mirror.example.com'), URLS), { maxLength: 2 }),
    insecureRegistries: fc.array(mostly(fc.constantFrom('10.0.0.5:5000', 'mirror.internal:5000'), ['on', 'a b']), { maxLength: 2 }),
    extra: fc.dictionary(fc.constantFrom('labels', 'on', 'debug', 'hosts'), fc.oneof(fc.array(text, { maxLength: 2 }), fc.boolean(), text), { maxKeys: 2, noNullPrototype: true }),
    logging: fc.record({ driver: fc.constant('json-file'), maxSize: mostly(fc.constantFrom('10m', '100k', '1g'), TEXT_QUANTITIES), maxFile: count(1, 10) }),
  }),
  ConfigMap: props({
    // cdk8s-plus' own ConfigMap throws a plain Error ("already used") for a key that names an Object.prototype
    // member (`__proto__`, `toString`, `constructor`…): it tests keys with `in` on a plain object. Not shipshape's.
    data: fc.dictionary(
      mostly(
        fc.stringMatching(/^[-._a-zA-Z0-9]{1,12}$/).filter((k) => !(k in Object.prototype)),
        CONFIG_MAP_KEY_CASES.invalid,
        4,
      ) as fc.Arbitrary<string>,
      text,
      { maxKeys: 4, noNullPrototype: true },
    ),
  }),
};

/** A property case: generated props fed to one construct. */
export function propertyCase(construct: ConstructName, p: Loose): HostileCase {
  return {
    construct,
    label: JSON.stringify(p, (_k, v) => (v instanceof Size || v instanceof kplus.Cpu ? show(v) : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)).slice(0, 300),
    build: (app, ids) => BUILD[construct](app, ids, p),
  };
}
