import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Environment, ShipshapeError, SynthesizedStack } from '../../lib';
import { evaluatePolicy } from '../../lib/core/policy/engine';
import { renderManifest } from '../../lib/core/synth';
import { renderFiles } from '../../lib/core/writer';
import {
  CREDENTIALS_REVISION_ANNOTATION,
  DAEMONSET_EVICTION_ANNOTATION,
  ELASTICSEARCH_CREDENTIAL_KEYS,
  ELASTICSEARCH_MIN_MEMORY,
  ELASTICSEARCH_READINESS_PORT,
  EfkLogging,
  EfkLoggingProps,
  EfkStack,
  Elasticsearch,
  ElasticsearchExporter,
  FLUENTD_IMAGES,
  FLUENTD_SHUTDOWN_FLUSH_SECONDS,
  FluentdDaemonSet,
  Kibana,
} from '../../lib/logging';
import { validateManifest } from '../support/schema';
import { findObject, objectsOfKind, synthStack, testEnvironment } from '../support/synth';
import { shipshapeError } from '../support/errors';

const devEnv = () => new Environment({ name: 'dev', kubernetesVersion: '1.29', replicas: 1 });
const prodEnv = (props: { containerRuntime?: 'containerd' | 'docker' | 'cri-o' } = {}) => new Environment({ name: 'prod', kubernetesVersion: '1.29', zones: ['a', 'b', 'c'], replicas: 3, ...props });
const ARCHIVE = { bucket: 'acme-logs', region: 'eu-west-1', retentionDays: 365 };
const CUSTOM_IMAGE = 'ghcr.io/acme/fluentd-efk:v1.17.1-1.0';

function efk(environment: Environment, props: EfkLoggingProps = {}): { result: SynthesizedStack; stack: EfkLogging } {
  let stack!: EfkLogging;
  const result = synthStack((s) => {
    stack = new EfkLogging(s, 'logging', props);
  }, environment);
  return { result, stack };
}

function prodWithArchive() {
  return efk(prodEnv(), { archive: ARCHIVE, fluentd: { image: CUSTOM_IMAGE } });
}

describe('EfkLogging', () => {
  it.each([
    ['dev', devEnv],
    ['prod', prodEnv],
  ])('synthesizes %s with every object valid against its schema and no policy problem', (_, env) => {
    const { result } = efk(env(), env === prodEnv ? { archive: ARCHIVE, fluentd: { image: CUSTOM_IMAGE } } : {});
    expect(result.problems).toEqual([]);
    for (const o of result.objects) validateManifest(o.manifest);
    const logging = result.objects.filter((o) => o.manifest.metadata.namespace === 'logging').map((o) => `${o.manifest.kind}/${o.manifest.metadata.name}`);
    expect(logging).toEqual(
      expect.arrayContaining([
        'StatefulSet/elasticsearch',
        'Service/elasticsearch',
        'Service/elasticsearch-headless',
        'PodDisruptionBudget/elasticsearch',
        'NetworkPolicy/elasticsearch',
        'Deployment/kibana',
        'Service/kibana',
        'DaemonSet/fluentd',
        'ConfigMap/fluentd-config',
        'ServiceAccount/fluentd',
        'Service/fluentd-metrics',
      ]),
    );
    // No Prometheus Operator said to be installed: no custom resources whose CRDs may be missing, only the plain rules file.
    expect(logging.filter((o) => /^(PrometheusRule|ServiceMonitor)\//.test(o))).toEqual([]);
    expect(result.files.map((f) => f.path)).toContain('monitoring/fluentd-alerts.rules.yml');
  });

  it('puts every logging object in the logging namespace, apart from the application namespace', () => {
    const { result } = prodWithArchive();
    const ns = findObject(result, 'Namespace', 'logging');
    expect(ns.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'shipshape', 'shipshape.io/environment': 'prod', 'pod-security.kubernetes.io/enforce': 'privileged' });
    // The application namespace keeps the restricted standard.
    expect(findObject(result, 'Namespace', 'prod').metadata.labels!['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const namespaced = result.objects.filter((o) => o.constructPath.includes('/logging/') && !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.manifest.kind));
    expect(namespaced.length).toBeGreaterThan(10);
    for (const o of namespaced) expect(o.manifest.metadata.namespace, `${o.manifest.kind}/${o.manifest.metadata.name}`).toBe('logging');
    expect(findObject(result, 'ClusterRole', 'fluentd').metadata.namespace).toBeUndefined();
  });

  it('renders a containerd prod fluent.conf that parses CRI lines, copies to Elasticsearch and S3 with file buffers, and exposes 24220 and 24231', () => {
    const { result } = prodWithArchive();
    const conf: string = findObject(result, 'ConfigMap', 'fluentd-config').data['fluent.conf'];
    expect(conf).toContain('  <parse>\n    @type cri\n');
    expect(conf).toContain('@type copy');
    expect(conf).toContain('<label @ELASTICSEARCH>');
    expect(conf).toContain('<label @S3>');
    expect(conf.match(/flush_at_shutdown true/g)).toHaveLength(2);
    expect(conf).toContain('verify_es_version_at_startup false');
    expect(conf).toContain('@type elasticsearch');
    expect(conf).toContain('    host elasticsearch.logging.svc\n    port 9200\n    scheme http\n');
    expect(conf).toContain('@type s3');
    expect(conf).toContain('path logs/prod/%Y/%m/%d/');
    expect(conf.match(/<buffer[^>]*>\n\s+@type file\n/g)).toHaveLength(2);
    expect(conf).toContain('<buffer time>');
    expect(conf).toContain('  port 24220\n');
    expect(conf).toContain('  port 24231\n');
    expect(conf).toContain('exclude_path ["/var/log/containers/fluentd-*_logging_*.log"]');
    expect(conf).toContain('logstash_prefix logs-prod');
  });

  it('writes no password, no "changeme" and no inline Secret into any synthesized file', () => {
    for (const { result } of [prodWithArchive(), efk(devEnv())]) {
      const files = renderFiles([result]);
      const all = [...files.values()].join('\n');
      expect(all).not.toMatch(/changeme/i);
      expect(objectsOfKind(result, 'Secret')).toEqual([]);
      for (const o of result.objects) {
        const text = renderManifest(o.manifest);
        // Any variable that looks like a credential comes from a secretKeyRef.
        const doc = parse(text);
        const containers = [...(doc.spec?.template?.spec?.containers ?? []), ...(doc.spec?.template?.spec?.initContainers ?? [])];
        for (const c of containers) {
          for (const e of c.env ?? []) {
            if (/PASSWORD|SECRET|KEY/.test(e.name)) expect(e.valueFrom?.secretKeyRef, `${o.fileName} ${e.name}`).toBeDefined();
          }
        }
      }
      expect(all).toMatch(/secretKeyRef/);
    }
  });

  it('wires Fluentd and Kibana from the Elasticsearch fields and its credentials Secret', () => {
    const { result, stack } = prodWithArchive();
    expect(stack.elasticsearch.url).toBe('http://elasticsearch.logging.svc:9200');
    const kibana = findObject(result, 'Deployment', 'kibana').spec.template.spec.containers[0];
    expect(kibana.env).toEqual(
      expect.arrayContaining([
        { name: 'ELASTICSEARCH_HOSTS', value: JSON.stringify([stack.elasticsearch.url]) },
        { name: 'ELASTICSEARCH_USERNAME', value: 'kibana_system' },
        { name: 'ELASTICSEARCH_PASSWORD', valueFrom: { secretKeyRef: { name: 'elasticsearch-credentials', key: 'kibana-system-password' } } },
      ]),
    );
    const fluentd = findObject(result, 'DaemonSet', 'fluentd').spec.template.spec.containers[0];
    expect(fluentd.env).toEqual(
      expect.arrayContaining([
        { name: 'FLUENT_ELASTICSEARCH_PASSWORD', valueFrom: { secretKeyRef: { name: 'elasticsearch-credentials', key: 'fluentd-password' } } },
        { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'fluentd-s3-credentials', key: 'access-key-id' } } },
      ]),
    );
  });

  it('opens 9200 only to Fluentd, Kibana and the bootstrap Job, and 9300 only between Elasticsearch nodes', () => {
    const { result } = prodWithArchive();
    const policy = findObject(result, 'NetworkPolicy', 'elasticsearch');
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const [peers, clients] = policy.spec.ingress;
    expect(peers.from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'elasticsearch', 'app.kubernetes.io/instance': 'prod' } } }]);
    expect(clients.ports).toEqual([{ protocol: 'TCP', port: 9200 }]);
    const names = clients.from.map((f: any) => f.podSelector.matchLabels['app.kubernetes.io/name']).sort();
    expect(names).toEqual(['elasticsearch-bootstrap', 'fluentd', 'kibana']);
    // Each selector matches the pods it means.
    for (const kind of ['DaemonSet', 'Deployment', 'Job']) {
      const workload = objectsOfKind(result, kind).find((m) => m.metadata.namespace === 'logging')!;
      const labels = workload.spec.template.metadata.labels;
      expect(
        clients.from.some((f: any) => Object.entries(f.podSelector.matchLabels).every(([k, v]) => labels[k] === v)),
        kind,
      ).toBe(true);
    }
  });

  it('sizes prod highly available: 3 Elasticsearch nodes with quorum discovery, transport TLS, anti-affinity and a PDB', () => {
    const { result } = prodWithArchive();
    const sts = findObject(result, 'StatefulSet', 'elasticsearch');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    const env = Object.fromEntries(sts.spec.template.spec.containers[0].env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
    expect(env['discovery.seed_hosts']).toBe('elasticsearch-headless');
    expect(env['cluster.initial_master_nodes']).toBe('elasticsearch-0,elasticsearch-1,elasticsearch-2');
    expect(env['xpack.security.enabled']).toBe('true');
    expect(env['xpack.security.transport.ssl.enabled']).toBe('true');
    expect(env.ES_JAVA_OPTS).toBe('-Xms1024m -Xmx1024m');
    expect(sts.spec.template.spec.containers[0].resources.limits.memory).toBe('2048Mi');
    // Elastic's chart default: two master-eligible nodes never share a Kubernetes node, so one node loss keeps the quorum.
    expect(sts.spec.template.spec.affinity.podAntiAffinity).toEqual({
      requiredDuringSchedulingIgnoredDuringExecution: [
        { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'elasticsearch', 'app.kubernetes.io/instance': 'prod' } } },
      ],
    });
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('51200Mi');
    expect(findObject(result, 'PodDisruptionBudget', 'elasticsearch').spec.maxUnavailable).toBe(1);
    expect(findObject(result, 'Service', 'elasticsearch-headless').spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(findObject(result, 'Deployment', 'kibana').spec.replicas).toBe(2);
  });

  it('lets master-eligible nodes share a Kubernetes node only when asked (soft anti-affinity)', () => {
    const sts = findObject(efk(prodEnv(), { elasticsearch: { antiAffinity: 'soft' } }).result, 'StatefulSet', 'elasticsearch');
    expect(sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(sts.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
  });

  it("reports ready on Elasticsearch's TCP readiness port, with no credential, so rotating a password never empties the Service", () => {
    const sts = findObject(prodWithArchive().result, 'StatefulSet', 'elasticsearch');
    const c = sts.spec.template.spec.containers[0];
    expect(c.readinessProbe).toMatchObject({ tcpSocket: { port: 'readiness' } });
    expect(c.readinessProbe.exec).toBeUndefined();
    expect(c.ports).toContainEqual({ name: 'readiness', containerPort: ELASTICSEARCH_READINESS_PORT });
    expect(c.env).toContainEqual({ name: 'readiness.port', value: String(ELASTICSEARCH_READINESS_PORT) });
    // Neither probe reads the elastic password.
    expect(JSON.stringify([c.readinessProbe, c.livenessProbe])).not.toMatch(/ELASTIC_PASSWORD|elastic:/);
  });

  it('chowns the data volume only when its root does not match (fsGroupChangePolicy OnRootMismatch)', () => {
    const { result } = prodWithArchive();
    expect(findObject(result, 'StatefulSet', 'elasticsearch').spec.template.spec.securityContext).toMatchObject({ fsGroup: 1000, fsGroupChangePolicy: 'OnRootMismatch' });
    expect(findObject(result, 'Deployment', 'kibana').spec.template.spec.securityContext).toMatchObject({ fsGroupChangePolicy: 'OnRootMismatch' });
  });

  it('runs Elasticsearch and Kibana at the PriorityClass given, and the collector at system-node-critical', () => {
    const { result } = efk(prodEnv(), { priorityClassName: 'platform-critical' });
    expect(result.problems).toEqual([]);
    expect(findObject(result, 'StatefulSet', 'elasticsearch').spec.template.spec.priorityClassName).toBe('platform-critical');
    expect(findObject(result, 'Deployment', 'kibana').spec.template.spec.priorityClassName).toBe('platform-critical');
    expect(findObject(result, 'DaemonSet', 'fluentd').spec.template.spec.priorityClassName).toBe('system-node-critical');
    // A construct's own setting wins over the stack's.
    const own = efk(prodEnv(), { priorityClassName: 'platform-critical', kibana: { priorityClassName: 'platform-standard' } }).result;
    expect(findObject(own, 'Deployment', 'kibana').spec.template.spec.priorityClassName).toBe('platform-standard');
    // None by default.
    expect(findObject(efk(prodEnv()).result, 'StatefulSet', 'elasticsearch').spec.template.spec.priorityClassName).toBeUndefined();
  });

  it('gives every Kibana replica the same three encryption keys from the credentials Secret', () => {
    const env = findObject(prodWithArchive().result, 'Deployment', 'kibana').spec.template.spec.containers[0].env;
    const keys = Object.fromEntries(env.filter((e: any) => /ENCRYPTIONKEY$/.test(e.name)).map((e: any) => [e.name, e.valueFrom.secretKeyRef]));
    expect(keys).toEqual({
      XPACK_SECURITY_ENCRYPTIONKEY: { name: 'elasticsearch-credentials', key: ELASTICSEARCH_CREDENTIAL_KEYS.kibanaEncryptionKey },
      XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY: { name: 'elasticsearch-credentials', key: ELASTICSEARCH_CREDENTIAL_KEYS.kibanaSavedObjectsEncryptionKey },
      XPACK_REPORTING_ENCRYPTIONKEY: { name: 'elasticsearch-credentials', key: ELASTICSEARCH_CREDENTIAL_KEYS.kibanaReportingEncryptionKey },
    });
    expect(new Set(Object.values(keys).map((k: any) => k.key)).size).toBe(3);
  });

  it("sizes dev as one node at Elasticsearch 8's floor: single-node discovery, Elastic's 1g heap in 2 GiB", () => {
    const { result, stack } = efk(devEnv());
    expect(result.problems).toEqual([]);
    const sts = findObject(result, 'StatefulSet', 'elasticsearch');
    expect(sts.spec.replicas).toBe(1);
    const env = Object.fromEntries(sts.spec.template.spec.containers[0].env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
    expect(env['discovery.type']).toBe('single-node');
    expect(env.ES_JAVA_OPTS).toBe('-Xms1024m -Xmx1024m');
    expect(sts.spec.template.spec.containers[0].resources).toMatchObject({ requests: { memory: '2048Mi' }, limits: { memory: '2048Mi' } });
    expect(sts.spec.template.spec.volumes).toBeUndefined();
    expect(stack.bootstrap.script).toContain('"index.number_of_replicas":0');
  });

  it('refuses less than 1 GiB for Elasticsearch 8 (a 256m heap in 512 MiB is OOM-killed), and takes a smaller heap in 1 GiB', () => {
    const error = shipshapeError(() => efk(devEnv(), { elasticsearch: { heap: '256m' } }));
    expect(error.path).toBe('dev/logging/elasticsearch');
    expect(error.message).toMatch(/512 MiB of memory is below Elasticsearch 8's floor of 1024 MiB/);
    expect(ELASTICSEARCH_MIN_MEMORY.toMebibytes()).toBe(1024);
    const { result, stack } = efk(devEnv(), { elasticsearch: { heap: { initial: '256m', max: '512m' }, memory: Size.gibibytes(1) } });
    expect(result.problems).toEqual([]);
    expect(stack.elasticsearch.heapMiB).toEqual({ initial: 256, max: 512 });
    expect(findObject(result, 'StatefulSet', 'elasticsearch').spec.template.spec.containers[0].env).toContainEqual({ name: 'ES_JAVA_OPTS', value: '-Xms256m -Xmx512m' });
  });

  it.each<[string, EfkLoggingProps, RegExp]>([
    ['a heap above half the memory', { elasticsearch: { heap: '1g', memory: Size.mebibytes(1536) } }, /more than half/],
    ['a single node in 512 MiB', { elasticsearch: { heap: { initial: '128m', max: '256m' } } }, /floor of 1024 MiB/],
    ['an unknown anti-affinity', { elasticsearch: { antiAffinity: 'strict' as never } }, /antiAffinity/],
    ['a PriorityClass that is no DNS name', { priorityClassName: 'Platform Critical' }, /priorityClassName/],
    ['a credentials revision with spaces', { credentialsRevision: 'new one' }, /credentialsRevision/],
    ['a grace period too short to flush', { fluentd: { terminationGracePeriod: Duration.seconds(30) } }, /terminationGracePeriod 30 s is shorter than the 45 s a SIGTERM may need/],
    ['a fractional grace period', { fluentd: { terminationGracePeriod: Duration.millis(60500) } }, /fluentd.*terminationGracePeriod must be a Duration of whole seconds from 10 to 3600 s/],
    ['a CPU request of zero', { elasticsearch: { cpu: kplus.Cpu.millis(0) } }, /cpu must be a finite, positive CPU amount/],
    ['operator labels without the operator', { alerts: { prometheusOperator: false, prometheusLabels: { release: 'x' } } }, /prometheusOperator is false/],
    ['a heap at 31 GiB', { elasticsearch: { heap: '31g', memory: Size.gibibytes(64) } }, /compressed object pointers/],
    ['Xms above Xmx', { elasticsearch: { heap: { initial: '512m', max: '256m' } } }, /larger than heap.max/],
    ['Xms below Xmx in a 3-node cluster', { elasticsearch: { replicas: 3, heap: { initial: '512m', max: '1g' } } }, /multi-node cluster/],
    ['an unparsable heap', { elasticsearch: { heap: '2GB' } }, /JVM size/],
    ['2 Elasticsearch nodes', { elasticsearch: { replicas: 2 } }, /quorum/],
    ['a Kibana of another release', { kibana: { image: 'docker.elastic.co/kibana/kibana:7.17.0' } }, /same release/],
    ['an unpinned Elasticsearch image', { elasticsearch: { image: 'docker.elastic.co/elasticsearch/elasticsearch:latest' } }, /pinned/],
    ['an archive shorter than the hot window', { retentionDays: 30, archive: { ...ARCHIVE, retentionDays: 7 } }, /less than Elasticsearch/],
    ['the application namespace', { namespace: 'dev' }, /application namespace/],
    ['Elasticsearch and S3 without an image that has both plugins', { archive: ARCHIVE }, /no fluentd-kubernetes-daemonset variant/],
    ['an upstream image without the S3 plugin', { archive: ARCHIVE, fluentd: { image: FLUENTD_IMAGES[0].image } }, /lacks the plugins fluent-plugin-s3/],
  ])('throws a ShipshapeError naming the construct for %s', (_, props, message) => {
    const error = shipshapeError(() => efk(devEnv(), props));
    expect(error.message).toMatch(message);
    expect(error.path).toMatch(/^dev\/logging/);
  });

  it('builds valid objects or throws a ShipshapeError naming the path, for any sizing (property)', () => {
    const heap = fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 40000 }), fc.constantFrom('m', 'g', 'x')).map(([n, u]) => `${n}${u}`),
      fc.record({ initial: fc.constantFrom('128m', '256m', '1g', 'zz'), max: fc.constantFrom('256m', '512m', '1g', '4g') }),
    );
    const props = fc.record(
      {
        replicas: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
        heap: fc.option(heap, { nil: undefined }),
        memory: fc.option(
          fc.integer({ min: 64, max: 70000 }).map((n) => Size.mebibytes(n)),
          { nil: undefined },
        ),
      },
      { requiredKeys: [] },
    );
    let built = 0;
    let rejected = 0;
    fc.assert(
      fc.property(props, fc.constantFrom('containerd', 'docker', 'cri-o') as fc.Arbitrary<'containerd'>, (es, runtime) => {
        const environment = new Environment({ name: 'prop', kubernetesVersion: '1.29', replicas: 3, zones: ['a', 'b'], containerRuntime: runtime });
        let result: SynthesizedStack;
        try {
          result = efk(environment, { elasticsearch: es }).result;
        } catch (e) {
          expect(e).toBeInstanceOf(ShipshapeError);
          expect((e as ShipshapeError).path).toMatch(/^prop\/logging/);
          rejected++;
          return;
        }
        built++;
        expect(result.problems).toEqual([]);
        const sts = findObject(result, 'StatefulSet', 'elasticsearch');
        validateManifest(sts);
        const container = sts.spec.template.spec.containers[0];
        const opts = container.env.find((e: any) => e.name === 'ES_JAVA_OPTS').value as string;
        const max = Number(/-Xmx(\d+)m/.exec(opts)![1]);
        expect(max * 2).toBeLessThanOrEqual(Number(container.resources.limits.memory.replace('Mi', '')));
        expect(Number(container.resources.limits.memory.replace('Mi', ''))).toBeGreaterThanOrEqual(1024);
        expect(max).toBeLessThan(31 * 1024);
        expect([1, 3, 5]).toContain(sts.spec.replicas);
      }),
      { numRuns: 60 },
    );
    // Both branches must be exercised, or the property proves nothing.
    expect(built).toBeGreaterThan(5);
    expect(rejected).toBeGreaterThan(5);
  });
});

describe('FluentdDaemonSet', () => {
  it('runs on every node with tolerations, system-node-critical priority and a grace period to flush', () => {
    const { result } = prodWithArchive();
    const spec = findObject(result, 'DaemonSet', 'fluentd').spec.template.spec;
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(60);
    expect(spec.serviceAccountName).toBe('fluentd');
    const c = spec.containers[0];
    expect(c.livenessProbe.httpGet).toEqual({ path: '/api/plugins.json', port: 'monitor' });
    // Fluentd is started directly: the image's entrypoint would sed -i the read-only ConfigMap mount.
    expect(c.command).toEqual(['tini', '--', 'fluentd', '-c', '/fluentd/etc/fluent.conf', '-p', '/fluentd/plugins']);
    expect(c.securityContext).toMatchObject({ runAsUser: 0, allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.ports).toEqual([
      { name: 'monitor', containerPort: 24220 },
      { name: 'metrics', containerPort: 24231 },
    ]);
    expect(c.resources.limits.memory).toBe('512Mi');
  });

  it('mounts /var/log read-only and keeps pos files and buffers on a writable hostPath (containerd)', () => {
    const { result } = prodWithArchive();
    const spec = findObject(result, 'DaemonSet', 'fluentd').spec.template.spec;
    expect(spec.volumes.filter((v: any) => v.hostPath)).toEqual([
      { name: 'varlog', hostPath: { path: '/var/log', type: 'Directory' } },
      { name: 'state', hostPath: { path: '/var/lib/fluentd', type: 'DirectoryOrCreate' } },
    ]);
    const mounts = spec.containers[0].volumeMounts;
    expect(mounts).toContainEqual({ name: 'varlog', mountPath: '/var/log', readOnly: true });
    expect(mounts).toContainEqual({ name: 'state', mountPath: '/var/lib/fluentd', readOnly: false });
    expect(mounts).toContainEqual({ name: 'config', mountPath: '/fluentd/etc', readOnly: true });
  });

  it('mounts /var/lib/docker/containers read-only and parses json on Docker nodes', () => {
    const { result } = efk(prodEnv({ containerRuntime: 'docker' }));
    expect(result.problems).toEqual([]);
    const spec = findObject(result, 'DaemonSet', 'fluentd').spec.template.spec;
    expect(spec.volumes).toContainEqual({ name: 'dockercontainers', hostPath: { path: '/var/lib/docker/containers', type: 'Directory' } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'dockercontainers', mountPath: '/var/lib/docker/containers', readOnly: true });
    expect(findObject(result, 'ConfigMap', 'fluentd-config').data['fluent.conf']).toContain('  <parse>\n    @type json\n');
  });

  it('declares root and hostPath as exemptions with reasons, visible in the policy report', () => {
    const { result } = prodWithArchive();
    const ds = findObject(result, 'DaemonSet', 'fluentd');
    expect(ds.metadata.annotations!['exemptions.shipshape.io/pod-security']).toMatch(/root/);
    expect(ds.metadata.annotations!['exemptions.shipshape.io/host-path-volume']).toMatch(/\/var\/log/);
    const exempted = result.policy.exemptions.map((e) => `${e.ruleId} ${e.object}`).sort();
    expect(exempted).toEqual(['host-path-volume DaemonSet logging/fluentd', 'pod-security DaemonSet logging/fluentd', 'pod-security StatefulSet logging/elasticsearch']);
    // The Elasticsearch exemption is for the sysctl init container only: the main container stays non-root.
    const es = findObject(result, 'StatefulSet', 'elasticsearch').spec.template.spec;
    expect(es.containers[0].securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, privileged: false });
    expect(es.initContainers[0].securityContext.privileged).toBe(true);
  });

  it('needs no Elasticsearch exemption when vm.max_map_count is a node prerequisite', () => {
    const { result } = efk(prodEnv(), { elasticsearch: { maxMapCount: 'node-prerequisite' } });
    expect(result.problems).toEqual([]);
    const sts = findObject(result, 'StatefulSet', 'elasticsearch');
    expect(sts.spec.template.spec.initContainers).toBeUndefined();
    expect(sts.metadata.annotations?.['exemptions.shipshape.io/pod-security']).toBeUndefined();
  });

  it('grants read-only access to pods and namespaces and nothing else', () => {
    const { result } = prodWithArchive();
    expect(findObject(result, 'ClusterRole', 'fluentd').rules).toEqual([{ apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['get', 'list', 'watch'] }]);
    expect(findObject(result, 'ClusterRoleBinding', 'fluentd').subjects).toEqual([{ kind: 'ServiceAccount', name: 'fluentd', namespace: 'logging' }]);
  });

  it('asks cluster-autoscaler to evict its pods before removing a node, so the buffers on that node are flushed', () => {
    const template = findObject(prodWithArchive().result, 'DaemonSet', 'fluentd').spec.template;
    expect(template.metadata.annotations).toMatchObject({ [DAEMONSET_EVICTION_ANNOTATION]: 'true' });
    expect(DAEMONSET_EVICTION_ANNOTATION).toBe('cluster-autoscaler.kubernetes.io/enable-ds-eviction');
    expect(template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(FLUENTD_SHUTDOWN_FLUSH_SECONDS);
  });

  it('rolls the pods when the configuration changes, through a checksum annotation', () => {
    const checksum = (props: EfkLoggingProps) => findObject(efk(prodEnv(), props).result, 'DaemonSet', 'fluentd').spec.template.metadata.annotations['checksum/config'];
    expect(checksum({})).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum({})).toBe(checksum({}));
    expect(checksum({ indexPrefix: 'logs-other' })).not.toBe(checksum({}));
  });

  it('uses the upstream variant with the plugins it needs, and writes the Dockerfile of a custom image when none has them', () => {
    const esOnly = efk(prodEnv());
    expect(findObject(esOnly.result, 'DaemonSet', 'fluentd').spec.template.spec.containers[0].image).toBe('fluent/fluentd-kubernetes-daemonset:v1.17.1-debian-elasticsearch8-1.0');
    expect(esOnly.result.files.map((f) => f.path)).not.toContain('images/fluentd/Dockerfile');
    const both = prodWithArchive();
    const dockerfile = both.result.files.find((f) => f.path === 'images/fluentd/Dockerfile')!.content;
    expect(dockerfile).toContain('FROM fluent/fluentd-kubernetes-daemonset:v1.17.1-debian-elasticsearch8-1.0\n');
    expect(dockerfile).toContain('RUN gem install fluent-plugin-s3 -v 1.7.2 --no-document\n');
    expect(findObject(both.result, 'DaemonSet', 'fluentd').spec.template.spec.containers[0].image).toBe(CUSTOM_IMAGE);
    // An S3-only collector runs the upstream S3 variant.
    const s3Only = synthStack((s) => new FluentdDaemonSet(s, 'fluentd', { archive: { bucket: 'acme-logs', region: 'eu-west-1', credentialsSecret: false } }), prodEnv());
    expect(s3Only.problems).toEqual([]);
    expect(findObject(s3Only, 'DaemonSet', 'fluentd').spec.template.spec.containers[0].image).toBe('fluent/fluentd-kubernetes-daemonset:v1.17.1-debian-s3-1.0');
  });

  it('refuses a collector in another namespace than its Elasticsearch', () => {
    const error = shipshapeError(() =>
      synthStack((s) => {
        const es = new Elasticsearch(s, 'es', { namespace: 'search' });
        new Kibana(s, 'kibana', { elasticsearch: es });
        new FluentdDaemonSet(s, 'fluentd', { elasticsearch: es, namespace: 'collectors' });
      }, testEnvironment()),
    );
    expect(error.path).toBe('test/fluentd');
    expect(error.message).toMatch(/NetworkPolicy/);
  });
});

describe('host-path-volume policy rule', () => {
  it('reports a hostPath mount that is not declared, and nothing once it is exempted', () => {
    const manifest = (annotations: Record<string, string>) => ({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'ops', annotations },
      spec: { template: { spec: { volumes: [{ name: 'logs', hostPath: { path: '/var/log' } }], containers: [] } } },
    });
    const undeclared = evaluatePolicy([{ manifest: manifest({}) }]);
    expect(undeclared.warnings.map((w) => `${w.ruleId}: ${w.message}`)).toEqual(['host-path-volume: mounts host paths /var/log']);
    const declared = evaluatePolicy([{ manifest: manifest({ 'exemptions.shipshape.io/host-path-volume': 'reads node logs as a collector' }) }]);
    expect(declared.warnings).toEqual([]);
    expect(declared.exemptions.map((e) => e.ruleId)).toEqual(['host-path-volume']);
  });
});

describe('retention and archive', () => {
  it('re-runs the bootstrap Job and restarts Fluentd, Kibana and the exporter when the credentials revision is bumped', () => {
    const build = (credentialsRevision?: string) =>
      synthStack((s) => {
        const logging = new EfkLogging(s, 'logging', credentialsRevision === undefined ? {} : { credentialsRevision });
        new ElasticsearchExporter(s, 'exporter', { elasticsearch: logging.elasticsearch });
      }, prodEnv());
    const jobName = (r: SynthesizedStack) => objectsOfKind(r, 'Job')[0].metadata.name;
    const revisionOf = (r: SynthesizedStack, kind: string, name: string) => findObject(r, kind, name).spec.template.metadata.annotations?.[CREDENTIALS_REVISION_ANNOTATION];
    const first = build();
    const same = build('1');
    const bumped = build('2');
    // '1' is the default; the same revision is the same Job, a new one a new Job (Jobs are immutable and run once).
    expect(jobName(same)).toBe(jobName(first));
    expect(jobName(bumped)).not.toBe(jobName(first));
    expect(jobName(bumped)).toMatch(/^elasticsearch-bootstrap-[0-9a-f]{8}$/);
    for (const [kind, name] of [
      ['DaemonSet', 'fluentd'],
      ['Deployment', 'kibana'],
      ['Deployment', 'elasticsearch-exporter'],
    ]) {
      expect(revisionOf(first, kind, name)).toBe('1');
      expect(revisionOf(bumped, kind, name)).toBe('2');
    }
    // The script itself is unchanged: only the name moves.
    expect(objectsOfKind(bumped, 'Job')[0].spec.template.spec.containers[0].command).toEqual(objectsOfKind(first, 'Job')[0].spec.template.spec.containers[0].command);
  });

  it('names the bootstrap Job after its whole pod template: a new Elasticsearch image is a new Job, which the API server would refuse as a change', () => {
    const jobOf = (image?: string) => objectsOfKind(efk(prodEnv(), image === undefined ? {} : { elasticsearch: { image } }).result, 'Job')[0];
    const current = jobOf();
    const upgraded = jobOf('docker.elastic.co/elasticsearch/elasticsearch:8.15.4');
    expect(upgraded.spec.template.spec.containers[0].image).toBe('docker.elastic.co/elasticsearch/elasticsearch:8.15.4');
    expect(upgraded.metadata.name).not.toBe(current.metadata.name);
    expect(jobOf().metadata.name).toBe(current.metadata.name);
    const pulled = objectsOfKind(efk(prodEnv(), { imagePullSecrets: ['mirror-pull'] }).result, 'Job')[0];
    expect(pulled.metadata.name).not.toBe(current.metadata.name);
  });

  it('applies the hot-window ILM policy and index template with an idempotent, content-named Job', () => {
    const { result, stack } = efk(prodEnv(), { retentionDays: 14 });
    const job = objectsOfKind(result, 'Job')[0];
    expect(job.metadata.name).toMatch(/^elasticsearch-bootstrap-[0-9a-f]{8}$/);
    const script: string = job.spec.template.spec.containers[0].command[2];
    expect(script).toContain(`call PUT /_ilm/policy/logs-prod-hot-window '{"policy":{"phases":{"hot":{"min_age":"0ms","actions":{}},"delete":{"min_age":"14d","actions":{"delete":{}}}}}}'`);
    expect(script).toContain('"index_patterns":["logs-prod-*"]');
    expect(script).toContain('"index.lifecycle.name":"logs-prod-hot-window"');
    expect(stack.bootstrap.retentionDays).toBe(14);
    // A different window is a different Job; the same window is the same Job.
    expect(objectsOfKind(efk(prodEnv(), { retentionDays: 7 }).result, 'Job')[0].metadata.name).not.toBe(job.metadata.name);
    expect(objectsOfKind(efk(prodEnv(), { retentionDays: 14 }).result, 'Job')[0].metadata.name).toBe(job.metadata.name);
  });

  it('writes the archive bucket lifecycle rule next to the manifests', () => {
    const { result } = prodWithArchive();
    const file = result.files.find((f) => f.path === 'logging/acme-logs-lifecycle.json')!;
    expect(JSON.parse(file.content)).toEqual({ Rules: [{ ID: 'logs-prod-archive-retention', Status: 'Enabled', Filter: { Prefix: 'logs/prod/' }, Expiration: { Days: 365 } }] });
  });
});

describe('stack helpers', () => {
  it('creates no Namespace when asked not to', () => {
    const { result } = efk(devEnv(), { createNamespace: false });
    expect(objectsOfKind(result, 'Namespace').map((n) => n.metadata.name)).toEqual(['dev']);
  });

  it('gives every logging object an explicit, readable name', () => {
    const { result } = prodWithArchive();
    for (const o of result.objects) expect(o.manifest.metadata.name).toMatch(/^[a-z0-9-]+$/);
    expect(new Set(result.objects.map((o) => o.fileName)).size).toBe(result.objects.length);
  });
});

describe('EfkStack (deprecated alias)', () => {
  it('builds the same objects as EfkLogging, for one release', () => {
    const build = (ctor: typeof EfkLogging) => synthStack((s) => new ctor(s, 'logging', { archive: ARCHIVE, fluentd: { image: 'registry.example.com/fluentd-efk:v1.17.1-1.0' } }), prodEnv());
    const viaAlias = build(EfkStack);
    expect(viaAlias.problems).toEqual([]);
    expect(viaAlias.objects.map((o) => renderManifest(o.manifest))).toEqual(build(EfkLogging).objects.map((o) => renderManifest(o.manifest)));
    expect(viaAlias.objects.length).toBeGreaterThan(10);
  });
});
