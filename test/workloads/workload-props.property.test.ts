import fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { AntiAffinityDeployment, AntiAffinityDeploymentProps, ShipshapeError, WorkloadVolume } from '../../lib';
import { renderManifest } from '../../lib/core/synth';
import { findObject, newStack, synthStack } from '../support/synth';

const base: AntiAffinityDeploymentProps = { name: 'web', image: 'ghcr.io/acme/web:1.0.0', ports: [{ port: 8080 }] };

function attempt(props: Partial<AntiAffinityDeploymentProps>): ShipshapeError | undefined {
  try {
    new AntiAffinityDeployment(newStack(), 'web', { ...base, ...props });
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(ShipshapeError);
    return e as ShipshapeError;
  }
}

// Kubernetes' qualified name, written out from its definition (apimachinery IsQualifiedName) rather than taken
// from the library: an optional DNS-subdomain prefix of at most 253 characters and "/", then a name of 1-63
// alphanumerics, "-", "_" and "." that starts and ends with an alphanumeric.
function isQualifiedName(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix.length === 0 || prefix.length > 253) return false;
    if (!prefix.split('.').every((l) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(l) && l.length <= 63)) return false;
  }
  return name.length >= 1 && name.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name);
}

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$/);
const annotationKey = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.option(
          fc.array(dnsLabel, { minLength: 1, maxLength: 4 }).map((l) => l.join('.')),
          { nil: undefined },
        ),
        fc.stringMatching(/^[A-Za-z0-9][-A-Za-z0-9_.]{0,20}[A-Za-z0-9]$/),
      )
      .map(([p, n]) => (p === undefined ? n : `${p}/${n}`)),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom('a/b/c', '/name', 'prefix/', 'Example.com/x', `${'a'.repeat(64)}`, `${'a'.repeat(250)}.com/x`, 'x_', '-x', 'example.com/-x', 'a..b/x') },
);

describe('AntiAffinityDeployment annotations, for any key and value', () => {
  it('accepts exactly the qualified-name keys, outside shipshape.io', () => {
    fc.assert(
      fc.property(annotationKey, (key) => {
        const e = attempt({ annotations: { [key]: 'v' } });
        // cdk8s cannot serialize an object with the key "constructor", so it is refused with the other invalid keys.
        // The API server checks annotation keys lower-cased (`Example.com/x` is accepted), so shipshape does too.
        const expected = isQualifiedName(key.toLowerCase()) && key !== 'constructor' && !/^([a-z0-9-]+\.)*shipshape\.io\//i.test(key);
        expect(e === undefined, `${JSON.stringify(key)}: ${e?.message}`).toBe(expected);
        if (e) expect(e.message).toContain(JSON.stringify(key));
      }),
    );
  });

  it('writes every value so that a YAML 1.1 reader reads it back unchanged, on the objects and the pods', () => {
    const value = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ unit: fc.constantFrom('a', ' ', '\n', '\t', ':', '#', '-', '"', "'", '$', '{', '\\', 'é', '0', '.'), maxLength: 20 }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^example\.com\/[a-z][a-z0-9]{0,6}$/), value, { maxKeys: 4 }), (annotations) => {
        const result = synthStack((stack) => new AntiAffinityDeployment(stack, 'web', { ...base, annotations, podAnnotations: annotations }));
        for (const kind of ['Deployment', 'Service', 'ServiceAccount']) {
          const read = parse(renderManifest(findObject(result, kind, 'web')), { version: '1.1' });
          expect(read.metadata.annotations ?? {}).toEqual(annotations);
          if (kind === 'Deployment') expect(read.spec.template.metadata.annotations ?? {}).toEqual(annotations);
        }
      }),
      { numRuns: 60 },
    );
  });
});

const segment = fc.oneof({ weight: 6, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_-]{0,5}$/) }, { weight: 1, arbitrary: fc.constantFrom('', '.', '..', 'a b', 'c:d', 'e\\f') });
const mountPath = fc.oneof(
  { weight: 8, arbitrary: fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`) },
  { weight: 1, arbitrary: fc.constantFrom('/', 'relative/path', '/trailing/', '/tmp') },
);

// Independent statement of what a mount path set must be: absolute directories without ".", "..", empty
// segments, whitespace, ":" or "\", each once, none inside another (the emptyDir at /tmp included).
function validMounts(paths: readonly string[]): boolean {
  const all = ['/tmp', ...paths];
  const wellFormed = all.every(
    (p) =>
      p.startsWith('/') &&
      p !== '/' &&
      p
        .slice(1)
        .split('/')
        .every((s) => s !== '' && s !== '.' && s !== '..') &&
      !/[\s:\\]/.test(p),
  );
  const distinct = new Set(all).size === all.length;
  const nested = all.some((a) => all.some((b) => a !== b && b.startsWith(`${a}/`)));
  return wellFormed && distinct && !nested;
}

describe('AntiAffinityDeployment volume paths, for any set of paths', () => {
  it('accepts exactly the well-formed, distinct, non-nested paths and mounts each where it says', () => {
    const kinds = fc.constantFrom<(p: string) => WorkloadVolume>(
      (p) => ({ mountPath: p, configMap: 'web-config' }),
      (p) => ({ mountPath: p, secret: 'web-db' }),
      (p) => ({ mountPath: p, persistentVolumeClaim: 'web-data', accessMode: 'ReadWriteMany' }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(mountPath, kinds), { maxLength: 4 }), (entries) => {
        const volumes = entries.map(([p, make]) => make(p));
        const paths = volumes.map((v) => v.mountPath);
        let deployment: AntiAffinityDeployment | undefined;
        let error: unknown;
        try {
          deployment = new AntiAffinityDeployment(newStack(), 'web', { ...base, fsGroup: 2000, volumes });
        } catch (e) {
          error = e;
        }
        expect(error === undefined, `${JSON.stringify(paths)}: ${(error as Error | undefined)?.message}`).toBe(validMounts(paths));
        if (error) {
          expect(error).toBeInstanceOf(ShipshapeError);
          return;
        }
        const main = deployment!.deployment.containers[0];
        expect(main.mounts.map((m) => m.path)).toEqual(['/tmp', ...paths]);
        const names = main.mounts.map((m) => m.volume.name);
        expect(new Set(names).size).toBe(names.length);
        for (const n of names) expect(n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      }),
    );
  });
});
