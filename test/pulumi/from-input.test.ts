import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { App } from 'cdk8s';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { beforeEach, describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, Stack, SwarmProject, SwarmService, synth } from '../../lib';
import { evaluatePolicy } from '../../lib/core/policy/engine';
import { renderManifest, synthesizeStackWith } from '../../lib/core/synth';
import { isDeferred } from '../../lib/core/deferred';
import { StackComponent, fromInput } from '../../lib/pulumi';
import { resolveDeferredInputs } from '../../lib/pulumi/from-input';
import { RegisteredResource, recordResources, settled } from '../support/pulumi-mocks';
import { testEnvironment } from '../support/synth';

let registered: RegisteredResource[] = [];

const DIGEST = `sha256:${'ab12'.repeat(16)}`;
const ROLE_ARN = 'arn:aws:iam::123456789012:role/shop';
const BASE: AntiAffinityDeploymentProps = { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] };

beforeEach(async () => {
  pulumi.runtime.setAllConfig({});
  registered = await recordResources('dev', {
    // What the Docker provider reports for a pushed image: the repository and the registry's digest.
    state: (args) => (args.type === 'docker:index/image:Image' ? { repoDigest: `${args.inputs.imageName.split(':')[0]}@${DIGEST}` } : {}),
  });
});

/** A stack of the test environment holding one AntiAffinityDeployment `web`. */
function webStack(props: Partial<AntiAffinityDeploymentProps>): Stack {
  const stack = new Stack(new App(), 'test', { environment: testEnvironment() });
  new AntiAffinityDeployment(stack, 'web', { ...BASE, ...props });
  return stack;
}

// The Output's internal promises (the API @pulumi/pulumi's own tests use): the value, whether it is known and
// secret, its resources. A refused value rejects all of them, as a deployment sees it.
type OutputInternals<T> = { promise(): Promise<T>; isKnown: Promise<boolean>; isSecret: Promise<boolean>; allResources(): Promise<Set<pulumi.Resource>> };

/** The value an Output resolves to; rejects with the error it fails with. */
async function valueOf<T>(output: pulumi.Input<T>): Promise<T> {
  const o = pulumi.output(output) as unknown as OutputInternals<T>;
  await Promise.allSettled([o.isKnown, o.isSecret, o.allResources()]);
  return o.promise();
}

/** The resources an Output carries, which Pulumi turns into the registering resource's dependencies. */
async function resourcesOf(output: pulumi.Input<unknown>): Promise<Set<pulumi.Resource>> {
  return (pulumi.output(output) as unknown as OutputInternals<unknown>).allResources();
}

function registeredObject(kind: string, name: string): RegisteredResource {
  const found = registered.find((r) => r.type.endsWith(`:${kind}`) && r.inputs.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name} registered; have ${registered.map((r) => r.name).join(', ')}`);
  return found;
}

describe('fromInput', () => {
  it('returns a literal string as it is, so the constructor checks it at once', () => {
    expect(fromInput('ghcr.io/acme/web:1.0.0')).toBe('ghcr.io/acme/web:1.0.0');
    expect(isDeferred(fromInput(pulumi.output('x')))).toBe(true);
    expect(() => webStack({ image: fromInput('ghcr.io/acme/web:latest') })).toThrow(/image must be pinned/);
  });

  it('deploys the digest of a docker.Image and a role ARN Output, resolved, on the registered Deployment and ServiceAccount', async () => {
    const image = new docker.Image('web-image', { imageName: 'ghcr.io/acme/web:build', build: { context: '.' } });
    const role = pulumi.output(new Promise<string>((resolve) => setTimeout(() => resolve(ROLE_ARN), 10)));
    const endpoint = pulumi.output('db.internal.example.com');
    const stack = webStack({
      image: fromInput(image.repoDigest),
      serviceAccountAnnotations: { 'eks.amazonaws.com/role-arn': fromInput(role) },
      annotations: { 'example.com/build': fromInput(image.repoDigest) },
      podAnnotations: { 'example.com/role': `role=${fromInput(role)}` },
      env: { DATABASE_URL: `jdbc:postgresql://${fromInput(endpoint)}:5432/shop`, MODE: 'production' },
    });
    const component = new StackComponent('dev', { stack });
    await settled([...component.resources.values()].map((r) => r.urn));

    const deployment = registeredObject('Deployment', 'web');
    const container = deployment.inputs.spec.template.spec.containers[0];
    expect(container.image).toBe(`ghcr.io/acme/web@${DIGEST}`);
    expect(container.env).toEqual(
      expect.arrayContaining([
        { name: 'DATABASE_URL', value: 'jdbc:postgresql://db.internal.example.com:5432/shop' },
        { name: 'MODE', value: 'production' },
      ]),
    );
    expect(deployment.inputs.metadata.annotations['example.com/build']).toBe(`ghcr.io/acme/web@${DIGEST}`);
    expect(deployment.inputs.spec.template.metadata.annotations['example.com/role']).toBe(`role=${ROLE_ARN}`);
    // Object annotations go on every object of the workload.
    expect(registeredObject('Service', 'web').inputs.metadata.annotations['example.com/build']).toBe(`ghcr.io/acme/web@${DIGEST}`);
    expect(registeredObject('ServiceAccount', 'web').inputs.metadata.annotations['eks.amazonaws.com/role-arn']).toBe(ROLE_ARN);
    // No token is left anywhere in what the engine received.
    expect(JSON.stringify(registered.map((r) => r.inputs))).not.toMatch(/shipshape:deferred/);
  });

  it('makes the resource depend on the resources behind the Output', async () => {
    const image = new docker.Image('web-image', { imageName: 'ghcr.io/acme/web:build', build: { context: '.' } });
    const stack = webStack({ image: fromInput(image.repoDigest) });
    const manifest = synthesizeStackWith(stack, { allowDeferred: true }).objects.find((o) => o.manifest.kind === 'Deployment')!.manifest;
    const args = resolveDeferredInputs(manifest, 'test/web', 'Deployment test/web') as any;
    expect(await resourcesOf(args.spec.template.spec.containers[0].image)).toContain(image);
    expect(await valueOf(args.spec.template.spec.containers[0].image)).toBe(`ghcr.io/acme/web@${DIGEST}`);
  });

  it('refuses a secret Output in a plain field at deploy time, naming the construct and the field', async () => {
    const stack = webStack({ env: { DB_PASSWORD: fromInput(pulumi.secret('hunter2')) } });
    const manifest = synthesizeStackWith(stack, { allowDeferred: true }).objects.find((o) => o.manifest.kind === 'Deployment')!.manifest;
    const args = resolveDeferredInputs(manifest, 'test/web', 'Deployment test/web') as any;
    const env = args.spec.template.spec.containers[0].env.find((e: any) => e.name === 'DB_PASSWORD');
    const error = await valueOf(env.value).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.name).toBe('ShipshapeError');
    expect(error?.message).toMatch(/^test\/web: Deployment test\/web field spec\.template\.spec\.containers\[0\]\.env\[\d\]\.value would hold a secret Output in plain text/);
    expect(error?.message).toContain('env: { NAME: { secret:');
    expect(error?.message).not.toContain('hunter2');
  });

  it('refuses a secret Output whose value is unknown (a preview), as soon as its secrecy is known', async () => {
    // An Output as a preview sees a value computed at deploy time: not known yet, but known to be secret.
    const OutputClass = pulumi.Output as unknown as new (...args: unknown[]) => pulumi.Output<string>;
    const unknownSecret = new OutputClass(new Set(), Promise.resolve(undefined), Promise.resolve(false), Promise.resolve(true), Promise.resolve(new Set()));
    const stack = webStack({ env: { DB_PASSWORD: fromInput(unknownSecret) } });
    const deployment = synthesizeStackWith(stack, { allowDeferred: true }).objects.find((o) => o.manifest.kind === 'Deployment')!;
    const args = resolveDeferredInputs(deployment.manifest, deployment.constructPath, 'Deployment test/web') as any;
    const env = args.spec.template.spec.containers[0].env.find((e: any) => e.name === 'DB_PASSWORD');
    await expect(valueOf(env.value)).rejects.toThrow(/Deployment test\/web field spec\.template\.spec\.containers\[0\]\.env\[\d\]\.value would hold a secret Output in plain text/);
    // An unknown value that is not secret stays unknown, as a preview shows it.
    const OutputUnknown = new OutputClass(new Set(), Promise.resolve(undefined), Promise.resolve(false), Promise.resolve(false), Promise.resolve(new Set()));
    const plain = webStack({ env: { DB_HOST: fromInput(OutputUnknown) } });
    const host = resolveDeferredInputs(synthesizeStackWith(plain, { allowDeferred: true }).objects.find((o) => o.manifest.kind === 'Deployment')!.manifest, 'p', 'p') as any;
    const hostValue = pulumi.output(host.spec.template.spec.containers[0].env.find((e: any) => e.name === 'DB_HOST').value) as unknown as OutputInternals<string>;
    expect(await hostValue.isKnown).toBe(false);
    await expect(hostValue.promise()).resolves.toBeUndefined();
  });

  it('fails the deployment of an unpinned resolved image with the message the constructor gives a literal', async () => {
    let literal = '';
    try {
      webStack({ image: 'ghcr.io/acme/web:latest' });
    } catch (e) {
      literal = (e as Error).message;
    }
    expect(literal).toMatch(/^test\/web: image must be pinned/);
    const stack = webStack({ image: fromInput(pulumi.output('ghcr.io/acme/web:latest')) });
    const manifest = synthesizeStackWith(stack, { allowDeferred: true }).objects.find((o) => o.manifest.kind === 'Deployment')!.manifest;
    const args = resolveDeferredInputs(manifest, 'test/web', 'Deployment test/web') as any;
    await expect(valueOf(args.spec.template.spec.containers[0].image)).rejects.toThrow(literal);
    // A pinned one passes the same check.
    const pinned = webStack({ image: fromInput(pulumi.output('ghcr.io/acme/web:1.4.2')) });
    const ok = resolveDeferredInputs(synthesizeStackWith(pinned, { allowDeferred: true }).objects.find((o) => o.manifest.kind === 'Deployment')!.manifest, 'p', 'p') as any;
    expect(await valueOf(ok.spec.template.spec.containers[0].image)).toBe('ghcr.io/acme/web:1.4.2');
  });

  it('checks a resolved role ARN as the constructor checks a literal one', async () => {
    let literal = '';
    try {
      webStack({ serviceAccountAnnotations: { 'eks.amazonaws.com/role-arn': 'shop-role' } });
    } catch (e) {
      literal = (e as Error).message;
    }
    expect(literal).toMatch(/^test\/web: serviceAccountAnnotations\["eks\.amazonaws\.com\/role-arn"\] is not an IAM role ARN/);
    const stack = webStack({ serviceAccountAnnotations: { 'eks.amazonaws.com/role-arn': fromInput(pulumi.output('shop-role')) } });
    const account = synthesizeStackWith(stack, { allowDeferred: true }).objects.find((o) => o.manifest.kind === 'ServiceAccount')!;
    const args = resolveDeferredInputs(account.manifest, account.constructPath, 'ServiceAccount test/web') as any;
    await expect(valueOf(args.metadata.annotations['eks.amazonaws.com/role-arn'])).rejects.toThrow(literal);
  });

  it('refuses an Output that resolves to no string', async () => {
    const stack = webStack({ podAnnotations: { 'example.com/build': fromInput(pulumi.output(undefined as unknown as string)) } });
    const deployment = synthesizeStackWith(stack, { allowDeferred: true }).objects.find((o) => o.manifest.kind === 'Deployment')!;
    const args = resolveDeferredInputs(deployment.manifest, deployment.constructPath, 'Deployment test/web') as any;
    await expect(valueOf(args.spec.template.metadata.annotations['example.com/build'])).rejects.toThrow(
      /test\/web\/deployment: Deployment test\/web field spec\.template\.metadata\.annotations\.example\.com\/build resolved to nothing, not a string/,
    );
  });

  it('leaves a deferred image to the deploy-time check in the policy engine, and still judges a literal one', () => {
    const stack = webStack({ image: fromInput(pulumi.output('ghcr.io/acme/web:latest')) });
    const result = synthesizeStackWith(stack, { allowDeferred: true });
    expect(result.policy.violations.filter((v) => v.ruleId === 'image-tag-pinned')).toEqual([]);
    const deployment = result.objects.find((o) => o.manifest.kind === 'Deployment')!;
    const literal = structuredClone(deployment.manifest);
    literal.spec.template.spec.containers[0].image = 'ghcr.io/acme/web:latest';
    expect(evaluatePolicy([{ manifest: literal, constructPath: 'test/web' }]).violations.map((v) => v.ruleId)).toContain('image-tag-pinned');
  });

  it('cannot be written by synth: the problem names the construct path and the field, and nothing is written', () => {
    const app = new App();
    const stack = new Stack(app, 'test', { environment: testEnvironment() });
    new AntiAffinityDeployment(stack, 'web', { ...BASE, image: fromInput(pulumi.output('ghcr.io/acme/web:1.0.0')), env: { DB_HOST: fromInput(pulumi.output('db')) } });
    const outdir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-deferred-')), 'dist');
    try {
      expect(() => synth(app, { outdir })).toThrow(
        /test\/web\/deployment: Deployment test\/web field spec\.template\.spec\.containers\[0\]\.image holds a value known only at deploy time \("\$\{shipshape:deferred:\d+\}"\)\. Fix: deploy this environment with StackComponent \(shipshape\/pulumi\), which resolves it, or give a literal value/,
      );
      expect(() => synth(app, { outdir })).toThrow(/field spec\.template\.spec\.containers\[0\]\.env\[\d\]\.value holds a value known only at deploy time/);
      expect(fs.existsSync(outdir)).toBe(false);
    } finally {
      fs.rmSync(path.dirname(outdir), { recursive: true, force: true });
    }
  });

  it('cannot be written to a Swarm stack file either: the problem names the file and the line', () => {
    const app = new App();
    const stack = new Stack(app, 'edge', { environment: testEnvironment({ name: 'edge', kubernetesVersion: undefined }) });
    const project = new SwarmProject(stack, 'swarm');
    new SwarmService(project, 'web', { name: 'web', image: 'nginx:1.27.2', environment: { API_URL: `https://${fromInput(pulumi.output('api.example.com'))}/v1` } });
    // Written anywhere but dist/: the message names the file relative to the output directory, not a dist/ that is not there.
    const outdir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-deferred-')), 'release');
    try {
      let message = '';
      try {
        synth(app, { outdir });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(
        /edge\/swarm: the file edge\/swarm\/docker-stack\.yml of the output directory, line \d+, holds a value known only at deploy time \("API_URL: https:\/\/\$\$\{shipshape:deferred:\d+\}\/v1"\)\. Fix: deploy this environment with StackComponent/,
      );
      expect(message).not.toContain('dist/');
      expect(fs.existsSync(outdir)).toBe(false);
    } finally {
      fs.rmSync(path.dirname(outdir), { recursive: true, force: true });
    }
  });

  it('passes any string through exactly: YAML words, $, quotes, line breaks, embedded in a longer string (property)', async () => {
    const special = fc.constantFrom(
      'yes',
      'no',
      'null',
      '~',
      'on',
      '0x1F',
      '1e3',
      '- a',
      ': b',
      '#c',
      '"',
      "'",
      '$',
      '${HOME}',
      '$(X)',
      '\n',
      '\r\n',
      '\t',
      ' ',
      '\\',
      '{}',
      '[]',
      '&a',
      '*a',
      '!tag',
      '|',
      '>',
    );
    const text = fc.array(fc.oneof(fc.string({ unit: 'binary' }), special), { maxLength: 6 }).map((parts) => parts.join(''));
    await fc.assert(
      fc.asyncProperty(text, text, text, async (value, before, after) => {
        const template = `${before}${fromInput(pulumi.output(value))}${after}`;
        const manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', annotations: { 'example.com/v': template } }, data: { value: template } };
        // What a renderer does to the object on its way: YAML, then JSON.
        const carried = JSON.parse(JSON.stringify(parse(renderManifest(manifest))));
        const args = resolveDeferredInputs(carried, 'test/settings', 'ConfigMap test/settings');
        expect(await valueOf(args.data.value)).toBe(`${before}${value}${after}`);
        expect(await valueOf(args.metadata.annotations['example.com/v'])).toBe(`${before}${value}${after}`);
      }),
      { numRuns: 200 },
    );
  });

  it('delivers any string to the registered resource exactly, through the whole component (property)', async () => {
    const special = fc.constantFrom('yes', 'null', '~', '0x1F', '- a', ': b', '#c', '"', "'", '$', '${HOME}', '$(X)', '\n', '\t', ' ', '\\', '{}', '&a', '!tag', '|');
    const text = fc.array(fc.oneof(fc.string({ unit: 'grapheme' }), special), { maxLength: 5 }).map((parts) => parts.join(''));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(text, text, async (value, after) => {
        const name = `p${run++}`;
        // An environment per run, so that every run registers under names of its own.
        const stack = new Stack(new App(), name, { environment: testEnvironment({ name }) });
        new AntiAffinityDeployment(stack, 'web', { ...BASE, podAnnotations: { 'example.com/value': `${fromInput(pulumi.output(value))}${after}` } });
        const component = new StackComponent(name, { stack });
        await settled([...component.resources.values()].map((r) => r.urn));
        const deployment = registered.find((r) => r.name === `${name}-deployment-${name}-web`)!;
        expect(deployment.inputs.spec.template.metadata.annotations['example.com/value']).toBe(`${value}${after}`);
      }),
      { numRuns: 25 },
    );
  });

  it('reaches a SwarmService image and environment on the registered docker.Service, and picks the login by the resolved registry', async () => {
    pulumi.runtime.setAllConfig({ 'shipshape:dockerHost': 'ssh://ops@edge-1', 'shipshape:registryAuth': JSON.stringify({ 'ghcr.io': { username: 'ci-bot', password: 'not-a-token' } }) }, [
      'shipshape:registryAuth',
    ]);
    const stack = new Stack(new App(), 'edge', { environment: testEnvironment({ name: 'edge', kubernetesVersion: undefined }) });
    const project = new SwarmProject(stack, 'swarm', { withRegistryAuth: true });
    new SwarmService(project, 'web', {
      name: 'web',
      image: fromInput(pulumi.output(`ghcr.io/acme/web@${DIGEST}`)),
      environment: { API_URL: `https://${fromInput(pulumi.output('api.example.com'))}/v1` },
    });
    const component = new StackComponent('edge', { stack });
    await settled(Object.values(component.docker.services).map((s) => s.urn));
    const service = registered.find((r) => r.type === 'docker:index/service:Service')!;
    expect(service.inputs.taskSpec.containerSpec.image).toBe(`ghcr.io/acme/web@${DIGEST}`);
    expect(service.inputs.taskSpec.containerSpec.env).toEqual({ API_URL: 'https://api.example.com/v1' });
    expect(JSON.stringify(service.inputs.auth)).toContain('ci-bot');
  });
});
