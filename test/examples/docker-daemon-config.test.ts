import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/docker-daemon-config', () => {
  it('writes daemon.json', () => {
    const log = runExample('docker-daemon-config', out);
    expect(log).toContain('docker-hosts: 0 objects, 0 warnings, 0 exemptions');
    const json = JSON.parse(fs.readFileSync(path.join(out, 'docker-hosts', 'hosts', 'daemon.json'), 'utf8'));
    expect(json).toMatchObject({
      'log-opts': { 'max-size': '10m', 'max-file': '5' },
      'live-restore': true,
      'max-concurrent-downloads': 5,
      'max-concurrent-uploads': 8,
      'registry-mirrors': ['http://mirror.internal:5000'],
    });
  });
});
