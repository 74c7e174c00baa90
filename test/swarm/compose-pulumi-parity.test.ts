import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import { parse } from 'yaml';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Stack } from '../../lib';
import { stacksOf } from '../../lib/core/synth';
import { registerDockerResources } from '../../lib/pulumi/docker';
import { secretConfigKey } from '../../lib/pulumi/config';
import { buildApp } from '../../stacks/platform';
import { RegisteredResource, recordResources, settled } from '../support/pulumi-mocks';

// Both back ends must deploy the same thing. Each side comes from its real renderer: docker-stack.yml as synth
// writes it (parsed back), docker.Service inputs as Pulumi's engine receives them (mocks). Both are mapped onto
// the Docker service model; compose's implicit values are read as `docker stack deploy` reads them.

const examples = vi.hoisted(() => ({ apps: [] as unknown[], outdir: '' }));
// The example synthesizes when imported: let it, into a directory of this test, and keep its App.
vi.mock('../../lib/core/writer', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../lib/core/writer')>();
  return { ...original, synth: (app: App, options?: { outdir?: string }) => (examples.apps.push(app), original.synth(app, { outdir: examples.outdir || options?.outdir })) };
});

const SECRET_VALUE = 'parity-secret-value';

/** Milliseconds of a Go duration (`1m30s`, `500ms`, `10000ms`). */
function ms(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g)];
  expect(parts.map((p) => p[0]).join('')).toBe(value);
  return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]], 0);
}

/** Bytes of a compose size (`128M`, `1g`, `512mb`): binary multiples, as Docker parses them. */
function bytes(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)(?:i?b)?$/i.exec(value);
  expect(m, value).not.toBeNull();
  const multiple: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  return Math.round(Number(m![1]) * multiple[m![2].toLowerCase()]);
}

const nano = (cpus: string | undefined) => (cpus === undefined ? undefined : Math.round(Number(cpus) * 1e9));
// docker stack deploy reads `$$` as a literal `$`.
const literal = (v: any): any =>
  typeof v === 'string' ? v.replace(/\$\$/g, '$') : Array.isArray(v) ? v.map(literal) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, literal(x)])) : v;

/** A service of a compose file, as `docker stack deploy -c file <project>` creates it. */
function fromCompose(doc: any, project: string, key: string) {
  const s = doc.services[key];
  const d = s.deploy ?? {};
  const policy = (p: any) => ({
    parallelism: p.parallelism,
    delay: ms(p.delay),
    failureAction: p.failure_action,
    monitor: ms(p.monitor),
    maxFailureRatio: Number(p.max_failure_ratio),
    order: p.order,
  });
  const hc = s.healthcheck;
  const networks = s.networks ?? ['default'];
  return {
    name: `${project}_${key}`,
    image: literal(s.image),
    mode: d.mode === 'global' ? { global: true } : { replicas: d.replicas ?? 1 },
    endpoint: { mode: d.endpoint_mode ?? 'vip', ports: (s.ports ?? []).map((p: any) => ({ target: p.target, published: p.published, protocol: p.protocol ?? 'tcp', mode: p.mode ?? 'ingress' })) },
    entrypoint: literal(s.entrypoint),
    command: literal(s.command),
    user: literal(s.user),
    env: literal(s.environment ?? {}),
    secrets: (s.secrets ?? []).map((x: any) => ({ name: x.source, file: String(x.target).startsWith('/') ? x.target : `/run/secrets/${x.target ?? x.source}`, mode: x.mode })),
    configs: (s.configs ?? []).map((x: any) => ({ name: doc.configs[x.source].name, file: x.target, mode: x.mode })),
    mounts: (s.volumes ?? []).map((v: any) => ({ type: v.type, source: v.type === 'volume' ? `${project}_${v.source}` : v.source, target: v.target, readOnly: v.read_only ?? false })),
    resources: {
      limits: { memory: bytes(d.resources?.limits?.memory), cpus: nano(d.resources?.limits?.cpus) },
      reservations: { memory: bytes(d.resources?.reservations?.memory), cpus: nano(d.resources?.reservations?.cpus) },
    },
    update: policy(d.update_config),
    rollback: policy(d.rollback_config),
    restart: { condition: d.restart_policy.condition, delay: ms(d.restart_policy.delay), maxAttempts: d.restart_policy.max_attempts, window: ms(d.restart_policy.window) },
    placement: { constraints: literal(d.placement?.constraints ?? []), spread: (d.placement?.preferences ?? []).map((p: any) => p.spread), maxReplicas: d.placement?.max_replicas_per_node },
    healthcheck:
      hc === undefined
        ? undefined
        : hc.disable
          ? { test: ['NONE'] }
          : { test: literal(hc.test), interval: ms(hc.interval), timeout: ms(hc.timeout), retries: hc.retries, startPeriod: ms(hc.start_period) },
    logging: { driver: s.logging?.driver, options: s.logging?.options ?? {} },
    // docker stack deploy labels everything it creates with the project name.
    labels: { 'com.docker.stack.namespace': project, ...literal(d.labels ?? {}) },
    networks: networks.map((n: string) => (doc.networks?.[n]?.external ? doc.networks[n].name : `${project}_${n}`)).sort(),
    stopGracePeriod: ms(s.stop_grace_period ?? '10s'),
  };
}

/** A docker.Service as the Pulumi engine received it. */
function fromPulumi(inputs: any, registered: readonly RegisteredResource[]) {
  const t = inputs.taskSpec;
  const c = t.containerSpec;
  const policy = (p: any) => ({ parallelism: p.parallelism, delay: ms(p.delay), failureAction: p.failureAction, monitor: ms(p.monitor), maxFailureRatio: Number(p.maxFailureRatio), order: p.order });
  const hc = c.healthcheck;
  // Networks are referenced by resource id (`<resource name>-id` under the mocks), or by name for Docker's own.
  const network = (ref: string) => registered.find((r) => r.type === 'docker:index/network:Network' && `${r.name}-id` === ref)?.inputs.name ?? ref;
  return {
    name: inputs.name,
    image: c.image,
    mode: inputs.mode.global ? { global: true } : { replicas: inputs.mode.replicated.replicas },
    endpoint: {
      mode: inputs.endpointSpec.mode,
      ports: (inputs.endpointSpec.ports ?? []).map((p: any) => ({ target: p.targetPort, published: p.publishedPort, protocol: p.protocol, mode: p.publishMode })),
    },
    entrypoint: c.commands,
    command: c.args,
    user: c.user,
    env: c.env ?? {},
    secrets: (c.secrets ?? []).map((x: any) => ({ name: x.secretName, file: x.fileName, mode: x.fileMode })),
    configs: (c.configs ?? []).map((x: any) => ({ name: x.configName, file: x.fileName, mode: x.fileMode })),
    mounts: (c.mounts ?? []).map((m: any) => ({ type: m.type, source: m.source, target: m.target, readOnly: m.readOnly })),
    resources: {
      limits: { memory: t.resources?.limits?.memoryBytes, cpus: t.resources?.limits?.nanoCpus },
      reservations: { memory: t.resources?.reservation?.memoryBytes, cpus: t.resources?.reservation?.nanoCpus },
    },
    update: policy(inputs.updateConfig),
    rollback: policy(inputs.rollbackConfig),
    restart: { condition: t.restartPolicy.condition, delay: ms(t.restartPolicy.delay), maxAttempts: t.restartPolicy.maxAttempts, window: ms(t.restartPolicy.window) },
    placement: { constraints: t.placement?.constraints ?? [], spread: (t.placement?.prefs ?? []).map((p: string) => p.replace(/^spread=/, '')), maxReplicas: t.placement?.maxReplicas },
    healthcheck:
      hc === undefined
        ? undefined
        : hc.tests[0] === 'NONE'
          ? { test: ['NONE'] }
          : { test: hc.tests, interval: ms(hc.interval), timeout: ms(hc.timeout), retries: hc.retries, startPeriod: ms(hc.startPeriod) },
    logging: { driver: t.logDriver?.name, options: t.logDriver?.options ?? {} },
    labels: Object.fromEntries((inputs.labels ?? []).map((l: any) => [l.label, l.value])),
    networks: (t.networksAdvanceds ?? []).map((n: any) => network(n.name)).sort(),
    stopGracePeriod: ms(c.stopGracePeriod),
  };
}

class Parent extends pulumi.ComponentResource {
  constructor(name: string) {
    super('shipshape:index:Stack', name, {});
  }
}

interface Compared {
  readonly environment: string;
  readonly services: string[];
}

/** Compares every service of every environment of `app`, whose synth output is in `outdir`. */
async function compare(app: App, outdir: string, label: string): Promise<Compared[]> {
  const stacks: Stack[] = stacksOf(app);
  expect(stacks.length).toBeGreaterThan(0);
  const compared: Compared[] = [];
  for (const stack of stacks) {
    const env = stack.environment.name;
    const swarmDir = path.join(outdir, env, 'swarm');
    const files = fs.existsSync(swarmDir) ? fs.readdirSync(swarmDir).filter((f) => /\.ya?ml$/.test(f)) : [];
    const docs = files.map((f) => {
      const text = fs.readFileSync(path.join(swarmDir, f), 'utf8');
      return { project: /^# Swarm stack "([^"]+)"/.exec(text)![1], doc: parse(text) };
    });
    // Every Swarm secret the services mount gets a value from Pulumi secret config.
    const secrets = docs.flatMap((d) => Object.keys(d.doc.secrets ?? {}));
    const config = Object.fromEntries(secrets.map((s) => [`shipshape:${secretConfigKey(s)}`, SECRET_VALUE]));
    pulumi.runtime.setAllConfig(config, Object.keys(config));
    const registered = await recordResources(env);
    const parent = new Parent(`${label}-${env}`);
    const resources = registerDockerResources(stack, { parent });
    await settled([parent.urn, ...Object.values(resources.services).map((s) => s.urn), ...Object.values(resources.networks).map((n) => n.urn), ...Object.values(resources.configs).map((c) => c.urn)]);
    const services = registered.filter((r) => r.type === 'docker:index/service:Service');

    const fromFile = docs.flatMap(({ project, doc }) => Object.keys(doc.services ?? {}).map((key) => fromCompose(doc, project, key)));
    const fromEngine = services.map((r) => fromPulumi(r.inputs, registered));
    expect(fromEngine.map((s) => s.name).sort(), `${label} ${env}: the same services`).toEqual(fromFile.map((s) => s.name).sort());
    for (const expected of fromFile) {
      const actual = fromEngine.find((s) => s.name === expected.name)!;
      for (const field of Object.keys(expected) as (keyof typeof expected)[]) {
        expect(actual[field], `${label} ${env} ${expected.name}: ${field}`).toEqual(expected[field]);
      }
    }
    compared.push({ environment: env, services: fromFile.map((s) => s.name) });
  }
  return compared;
}

describe('compose and Pulumi deploy the same services', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-parity-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('agrees field for field on every service of every environment of the reference platform', async () => {
    const { synth } = await import('../../lib/core/writer');
    const app = buildApp();
    const outdir = path.join(tmp, 'platform');
    synth(app, { outdir });
    const compared = await compare(app, outdir, 'platform');
    // dev, stage and prod deploy no Swarm service on either side; swarm-edge deploys the same three on both.
    expect(compared.map((c) => c.environment)).toEqual(expect.arrayContaining(['dev', 'stage', 'prod', 'swarm-edge']));
    expect(compared.find((c) => c.environment === 'swarm-edge')!.services.sort()).toEqual(['edge_cadvisor', 'edge_registry-mirror', 'edge_web']);
    expect(compared.filter((c) => c.environment !== 'swarm-edge').flatMap((c) => c.services)).toEqual([]);
  });

  it('agrees field for field on every service of the swarm-service example', async () => {
    examples.apps.length = 0;
    examples.outdir = path.join(tmp, 'example');
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    await import('../../examples/swarm-service/main');
    expect(examples.apps).toHaveLength(1);
    const compared = await compare(examples.apps[0] as App, examples.outdir, 'example');
    expect(compared.flatMap((c) => c.services).sort()).toEqual(['shop_api', 'shop_log-agent']);
  });
});
