import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Environment, Manifest, ShipshapeError } from '../../lib';
import { assertPinnedImage, imageTag, parseImageReference, pinnedImageProblem } from '../../lib/core/images';
import { ManifestIndex } from '../../lib/core/manifest';
import { RULES } from '../../lib/core/policy/rules';
import { durationSeconds } from '../../lib/core/quantities';
import { resources } from '../../lib/core/resources';
import { HOSTNAME_TOPOLOGY_KEY, hostnameAntiAffinity, zoneSpread } from '../../lib/core/scheduling';
import { hardenedContainerSecurityContext, restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../../lib/core/security';
import { assertAwsRegion, isAwsRegion, isDns1123Label } from '../../lib/core/validate';
import { IMAGE_CASES, NAME_CASES } from './value-cases';

const SHA = 'b'.repeat(64);
const IMAGE_RULE = RULES.find((r) => r.id === 'image-tag-pinned')!;

function podWithImage(image: string): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'test' },
    spec: { containers: [{ name: 'c', image }] },
  };
}

/** What the policy rule says about one image. */
function policyFindings(image: string): string[] {
  const m = podWithImage(image);
  const pod: Manifest = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: m.metadata, spec: { replicas: 1, template: { metadata: {}, spec: m.spec } } };
  return IMAGE_RULE.check(pod, new ManifestIndex([pod])).map((f) => f.message);
}

function constructorAccepts(image: string): boolean {
  try {
    assertPinnedImage('test/construct', 'image', image);
    return true;
  } catch (e) {
    expect(e).toBeInstanceOf(ShipshapeError);
    return false;
  }
}

// Parts of image references: lower-case repositories, tags (latest among them), digests.
const imageArbitrary = fc
  .tuple(
    fc.constantFrom('', 'ghcr.io/', 'localhost:5000/', 'Registry.Example.com/', 'bad host/'),
    fc.constantFrom('nginx', 'acme/web', 'a__b/c-d.e', 'Nginx', 'a//b', ''),
    fc.constantFrom(undefined, 'latest', '1.27.2', 'v1', 'LATEST', '-1', '', 'x'.repeat(129)),
    fc.constantFrom(undefined, `sha256:${SHA}`, 'sha256:abc', `md5:${SHA.slice(0, 32)}`),
  )
  .map(([host, repo, tag, digest]) => `${host}${repo}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`);

describe('core/images: one pinned-image rule for constructors and the policy engine', () => {
  it('the constructor check and the image-tag-pinned rule agree on every image (property)', () => {
    let pinned = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 4, arbitrary: imageArbitrary }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) }), (image) => {
        const problem = pinnedImageProblem(image);
        expect(constructorAccepts(image)).toBe(problem === undefined);
        expect(policyFindings(image).length === 0).toBe(problem === undefined);
        if (problem) refused++;
        else pinned++;
      }),
      { numRuns: 400 },
    );
    // Both outcomes occur, so the agreement is not vacuous.
    expect(pinned).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
  });

  it.each([
    ['nginx', 'unpinned', 'without a tag or digest'],
    ['nginx:latest', 'unpinned', 'tagged latest'],
    ['registry:5000/team/app', 'unpinned', 'without a tag or digest'],
    ['NGINX:1.0', 'invalid', 'the repository name must be lower case'],
    [`nginx@sha256:${'a'.repeat(40)}`, 'invalid', 'a sha256 digest is 64 lower-case hexadecimal digits'],
  ])('%s is %s: %s', (image, kind, reason) => {
    expect(pinnedImageProblem(image)).toMatchObject({ kind, reason: expect.stringContaining(reason) });
    expect(policyFindings(image)).toEqual([expect.stringContaining(reason)]);
  });

  it('accepts version tags and digests, latest with a digest included', () => {
    for (const image of ['nginx:1.27.2', `nginx@sha256:${SHA}`, `nginx:latest@sha256:${SHA}`, '[::1]:5000/app:1']) {
      expect(pinnedImageProblem(image), image).toBeUndefined();
      expect(policyFindings(image), image).toEqual([]);
    }
    for (const image of IMAGE_CASES.invalid) expect(pinnedImageProblem(image)?.kind, image).toBe('invalid');
  });

  it('names the field, the value and a fix with the given example', () => {
    expect(() => assertPinnedImage('prod/web', 'sidecars[0].image', 'envoy:latest', 'envoyproxy/envoy:v1.31.2')).toThrow(
      /prod\/web: sidecars\[0\]\.image must be pinned to a version tag or a digest, not tagged latest.*"envoy:latest".*Fix: pin the image to a version tag or a digest, e\.g\. "envoyproxy\/envoy:v1\.31\.2"/,
    );
  });

  it('splits references into name, tag and digest', () => {
    expect(parseImageReference(`ghcr.io/acme/web:1.4.2@sha256:${SHA}`)).toEqual({ name: 'ghcr.io/acme/web', tag: '1.4.2', digest: `sha256:${SHA}` });
    expect(imageTag('localhost:5000/app')).toBeUndefined();
    expect(imageTag('localhost:5000/app:2.0')).toBe('2.0');
  });
});

describe('core/security: the restricted profile', () => {
  it('hardens every container the same way and adds the user and seccomp profile when asked', () => {
    const hardened = { allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
    expect(hardenedContainerSecurityContext()).toEqual(hardened);
    expect(restrictedContainerSecurityContext(1000)).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, ...hardened, seccompProfile: { type: 'RuntimeDefault' } });
    expect(restrictedContainerSecurityContext(1000, { readOnlyRootFilesystem: false, seccomp: false })).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      ...hardened,
      readOnlyRootFilesystem: false,
    });
    expect(restrictedPodSecurityContext()).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
    expect(restrictedPodSecurityContext({ runAsUser: 1000, fsGroup: 1000 })).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      fsGroup: 1000,
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it("hands out a fresh object each time, so one construct cannot change another one's context", () => {
    const a = hardenedContainerSecurityContext();
    (a.capabilities!.drop as string[]).push('NET_RAW');
    expect(hardenedContainerSecurityContext().capabilities).toEqual({ drop: ['ALL'] });
  });
});

describe('core/scheduling', () => {
  const selector = { 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/instance': 'prod' };
  it("writes preferred and required hostname anti-affinity on the pods' own labels", () => {
    expect(hostnameAntiAffinity(selector, 'preferred')).toEqual({
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: HOSTNAME_TOPOLOGY_KEY, labelSelector: { matchLabels: selector } } }] },
    });
    expect(hostnameAntiAffinity(selector, 'required')).toEqual({
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: HOSTNAME_TOPOLOGY_KEY, labelSelector: { matchLabels: selector } }] },
    });
  });

  it('spreads over zones only when there are two or more', () => {
    const one = new Environment({ name: 'dev', kubernetesVersion: '1.29', zones: ['a'] });
    const three = new Environment({ name: 'prod', kubernetesVersion: '1.29', zones: ['a', 'b', 'c'] });
    expect(zoneSpread(one, selector)).toBeUndefined();
    expect(zoneSpread(three, selector, { matchLabelKeys: ['pod-template-hash'] })).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: selector },
        matchLabelKeys: ['pod-template-hash'],
      },
    ]);
  });
});

describe('core/resources', () => {
  it('writes a CPU request, a memory request and a memory limit from Cpu and Size', () => {
    const r = resources({ cpu: kplus.Cpu.millis(250), memory: Size.mebibytes(128), memoryLimit: Size.gibibytes(1) });
    expect(JSON.parse(JSON.stringify({ requests: { cpu: r.requests!.cpu.value, memory: r.requests!.memory.value }, limits: { memory: r.limits!.memory.value } }))).toEqual({
      requests: { cpu: '250m', memory: '128Mi' },
      limits: { memory: '1024Mi' },
    });
    const same = resources({ cpu: kplus.Cpu.units(2), memory: Size.mebibytes(512) });
    expect([same.requests!.cpu.value, same.limits!.memory.value, same.limits!.cpu]).toEqual(['2', '512Mi', undefined]);
  });
});

describe('core/validate: DNS labels and AWS regions', () => {
  it('has one DNS-label rule', () => {
    for (const v of NAME_CASES.dns1123Label.valid) expect(isDns1123Label(v), v).toBe(true);
    for (const v of NAME_CASES.dns1123Label.invalid) expect(isDns1123Label(v), v).toBe(false);
  });

  it('takes the region names of every AWS partition and nothing else', () => {
    for (const r of ['eu-west-1', 'us-east-1', 'us-gov-west-1', 'cn-north-1', 'us-iso-east-1', 'us-isob-east-1', 'ap-southeast-4', 'il-central-1', 'eusc-de-east-1'])
      expect(isAwsRegion(r), r).toBe(true);
    for (const r of ['Europe', 'eu-west', 'EU-WEST-1', 'eu_west_1', 'eu-west-1 ', '', 'west-1', 'e-west-1']) expect(isAwsRegion(r), r).toBe(false);
    expect(() => assertAwsRegion('prod/backup', 'upload.region', 'Europe')).toThrow(/prod\/backup: upload\.region must be an AWS region name.*"Europe".*Fix: use a region such as "eu-west-1"/);
  });
});

describe('core/quantities: durations', () => {
  it('takes whole seconds in range and names the field otherwise', () => {
    expect(durationSeconds('x', 'grace', Duration.minutes(2), 0)).toBe(120);
    expect(() => durationSeconds('x', 'grace', Duration.millis(1500), 0)).toThrow(/grace must be a Duration of whole seconds from 0 to 2147483647 s.*"1\.5 s"/);
    expect(() => durationSeconds('x', 'grace', 30, 0)).toThrow(/\(a Duration object, not the number 30\).*Fix: set grace to e\.g\. Duration\.seconds\(30\)/);
    expect(() => durationSeconds('x', 'delay', Duration.seconds(121), 1, 120)).toThrow(/delay must be a Duration of whole seconds from 1 to 120 s/);
  });
});

describe('one home per rule', () => {
  // The rule bodies that used to be copied: each pattern may appear in lib/ in its one home only.
  const lib = path.join(__dirname, '../../lib');
  const files = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  const sources = files(lib).map((f) => ({ file: path.relative(lib, f), text: fs.readFileSync(f, 'utf8') }));
  it.each<[string, RegExp, string[]]>([
    ['the seccomp profile literal', /type: 'RuntimeDefault'/, ['core/security.ts']],
    ['the capability drop', /drop: \['ALL'/, ['core/security.ts']],
    ['the pod anti-affinity literal', /podAntiAffinity:/, ['core/scheduling.ts']],
    ['the zone topology key', /'topology\.kubernetes\.io\/zone'/, ['core/scheduling.ts']],
    ['the DNS-1123 label pattern', /\^\[a-z0-9\]\(\[-a-z0-9\]\*\[a-z0-9\]\)\?\$/, ['core/validate.ts']],
    ['the AWS region pattern', /\(-\[a-z\]\+\)\+-\\d/, ['core/validate.ts']],
    ['a latest-tag comparison', /=== 'latest'/, ['core/images.ts']],
  ])('%s lives in one module', (_, pattern, homes) => {
    expect(
      sources
        .filter((s) => pattern.test(s.text))
        .map((s) => s.file)
        .sort(),
    ).toEqual(homes);
  });
});
