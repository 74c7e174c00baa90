import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deferValue, deferredFields, deferredIds, deferredValue, isDeferred, substituteDeferred } from '../../lib/core/deferred';

describe('deferred values', () => {
  it('registers a value and finds its token alone or inside a longer string', () => {
    const value = { opaque: true };
    const token = deferValue(value);
    expect(isDeferred(token)).toBe(true);
    expect(isDeferred(`jdbc:postgresql://${token}:5432/db`)).toBe(true);
    const [id] = deferredIds(`jdbc:postgresql://${token}:5432/db`);
    expect(deferredValue(id)).toBe(value);
    expect(substituteDeferred(`jdbc:postgresql://${token}:5432/db`, () => 'db.internal')).toBe('jdbc:postgresql://db.internal:5432/db');
  });

  it('recognises no literal as a token, nor a number no value was registered under', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(isDeferred(s)).toBe(false);
      }),
    );
    for (const s of ['${shipshape:deferred}', '${shipshape:deferred:}', '${shipshape:deferred:x}', '$shipshape:deferred:1', '${HOME}', undefined, 42]) expect(isDeferred(s)).toBe(false);
    expect(() => deferredValue(1e9)).toThrow(/is no deferred value of this program/);
  });

  it('substitutes in one pass: a resolved value that looks like a token is kept as it is', () => {
    const a = deferValue('a');
    const b = deferValue('b');
    const resolved = substituteDeferred(`${a}-${b}-${a}`, (id) => (id === deferredIds(a)[0] ? b : 'B'));
    expect(resolved).toBe(`${b}-B-${b}`);
    expect(deferredIds(`${a}${b}${a}`)).toEqual([...deferredIds(a), ...deferredIds(b)]);
  });

  it('lists the fields of an object that hold tokens, keys included, by path', () => {
    const token = deferValue('x');
    const manifest = { metadata: { name: 'web', annotations: { 'example.com/a': `v=${token}` } }, spec: { containers: [{ image: 'nginx:1.27.2' }, { image: token }] }, data: { [token]: 'k' } };
    expect(deferredFields(manifest)).toEqual([
      { field: 'metadata.annotations.example.com/a', value: `v=${token}` },
      { field: 'spec.containers[1].image', value: token },
      { field: `data.${token}`, value: token },
    ]);
  });

  it('names every field holding a token, nested in arrays and objects, as a path walked string by string would (property)', () => {
    const token = deferValue('y');
    // The reference: every string and key checked, its path written out as the walk goes.
    const reference = (root: unknown): { field: string; value: string }[] => {
      const found: { field: string; value: string }[] = [];
      const walk = (node: unknown, at: string): void => {
        if (typeof node === 'string') {
          if (isDeferred(node)) found.push({ field: at, value: node });
        } else if (Array.isArray(node)) {
          node.forEach((item, i) => walk(item, `${at}[${i}]`));
        } else if (node !== null && typeof node === 'object') {
          for (const [key, value] of Object.entries(node)) {
            const child = at === '' ? key : `${at}.${key}`;
            if (isDeferred(key)) found.push({ field: child, value: key });
            walk(value, child);
          }
        }
      };
      walk(root, '');
      return found;
    };
    const text = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.constant(token),
      fc.string({ maxLength: 4 }).map((s) => `${s}${token}`),
      fc.constant('${shipshape:deferred:'),
    );
    const tree = fc.letrec<{ node: unknown }>((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.constant(null), fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(text, tie('node'), { maxKeys: 3 })),
    })).node;
    fc.assert(
      fc.property(tree, (root) => {
        expect(deferredFields(root)).toEqual(reference(root));
      }),
    );
  });
});
