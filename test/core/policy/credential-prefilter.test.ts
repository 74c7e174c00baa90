import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCredentialName, scanText, scanTextFully } from '../../../lib/core/policy/credentials';
import { CREDENTIAL_ARGS, CREDENTIAL_VARIABLES, PLAIN_ARGS, PLAIN_VARIABLES, TOKENS } from './credential-cases';

// One token of each format the detector knows besides TOKENS, built from parts so that this file holds none.
const ALNUM = 'aB3dE6gH9jK2mN5pQ8sT1vW4yZ7cF0hL0123456789';
const MORE_TOKENS = [
  `AI${'za'}${ALNUM.slice(0, 35)}`,
  `np${'m_'}${ALNUM.slice(0, 36)}`,
  `dckr${'_pat_'}${ALNUM.slice(0, 24)}`,
  `gl${'pat'}-${ALNUM.slice(0, 20)}`,
  `S${'G.'}${ALNUM.slice(0, 16)}.${ALNUM.slice(2, 20)}`,
  `https://hooks.sl${'ack'}.com/services/T0${ALNUM.slice(0, 8)}/B0${ALNUM.slice(0, 8)}/${ALNUM.slice(0, 24)}`,
  `rk${'_test_'}${ALNUM.slice(0, 24)}`,
  `xo${'xp'}-${ALNUM.slice(0, 24)}`,
];

// Pieces of every pattern scanText runs: token prefixes, URL and assignment punctuation, blanks, credential names.
const PIECES = [
  ...Object.values(TOKENS),
  ...MORE_TOKENS,
  ...['ghp_', 'gho_', 'github_pat_', 'AKIA', 'ASIA', 'eyJ', 'eyJhbGciOi', '.', 'xoxb-', 'hooks.slack.com/services/T', '/B', 'sk_live_', 'rk_test_', 'glpat-', 'npm_'],
  ...['dckr_pat_', 'AIza', 'SG.', '-----BEGIN ', 'RSA ', 'PRIVATE KEY-----', '://', 'redis', '@', ':', '=', ' ', '\t', '\n', '-', '--', '-D', '"', "'", '${', '$(', ')', '}'],
  ...['password', 'PASSWORD', 'db_password', 'token', 'apiKey', 'user', '-u', 'requirepass', 'A1b2C3d4E5F6G7H8I9J0', 'abcdefghijklmnopqrstuvwxyz0123456789', 'hunter2', '0'],
];
const built = fc.array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 4 })), { maxLength: 8 }).map((p) => p.join(''));
// The same without any blank, `=` or `:`: only the token prefixes let such a text through.
const unbroken = built.map((s) => s.replace(/[=: \t\n]/g, ''));

describe('scanText skips only texts no pattern can match', () => {
  it('finds exactly what running every pattern finds, on built, unbroken and arbitrary texts (property)', () => {
    let found = 0;
    let skipped = 0;
    fc.assert(
      fc.property(fc.oneof(built, unbroken, fc.string(), fc.string({ unit: 'binary' })), fc.boolean(), (text, lines) => {
        const full = scanTextFully(text, { lines });
        expect(scanText(text, { lines })).toEqual(full);
        if (full.length > 0) found++;
        if (!/[=: \t]/.test(text)) skipped++;
      }),
      { numRuns: 4000 },
    );
    expect(found).toBeGreaterThan(150);
    expect(skipped).toBeGreaterThan(300);
  });

  it('finds exactly what running every pattern finds on the shared credential cases', () => {
    const texts = [
      ...Object.values(TOKENS),
      ...MORE_TOKENS,
      ...[...CREDENTIAL_VARIABLES, ...PLAIN_VARIABLES].flatMap((c) => [c.value, `${c.name}=${c.value}`]),
      ...[...CREDENTIAL_ARGS, ...PLAIN_ARGS].flatMap((c) => [...c.args, c.args.join(' ')]),
    ];
    let found = 0;
    for (const text of texts) {
      const full = scanTextFully(text, { lines: true });
      expect(scanText(text, { lines: true }), text).toEqual(full);
      if (full.length > 0) found++;
    }
    expect(found).toBeGreaterThan(20);
    // Every token is found without any blank, `=` or `:` around it.
    for (const token of [...Object.values(TOKENS), ...MORE_TOKENS].filter((t) => !/[=: \t]/.test(t))) expect(scanText(token), token).not.toEqual([]);
  });
});

describe('isCredentialName remembers its answers', () => {
  it('answers the same the first time, again, and after more names than it keeps', () => {
    const names = [...CREDENTIAL_VARIABLES, ...PLAIN_VARIABLES].map((c) => c.name);
    const first = names.map(isCredentialName);
    expect(first.filter(Boolean).length).toBeGreaterThan(5);
    expect(first.filter((x) => !x).length).toBeGreaterThan(5);
    expect(names.map(isCredentialName)).toEqual(first);
    for (let i = 0; i < 12_000; i++) isCredentialName(`name_${i}_password`);
    expect(names.map(isCredentialName)).toEqual(first);
    expect(isCredentialName('name_11999_password')).toBe(true);
    expect(isCredentialName('name_11999_password_file')).toBe(false);
  });
});
