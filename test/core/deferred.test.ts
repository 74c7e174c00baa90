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
});
