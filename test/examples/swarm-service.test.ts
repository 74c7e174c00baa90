import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readYaml, runExample } from '../support/examples';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/swarm-service', () => {
  it('writes the stack and its config files', () => {
    const log = runExample('swarm-service', out);
    expect(log).toContain('api: 4 tasks; deploy with: docker stack deploy --with-registry-auth --prune -c docker-stack.yml shop');
    const dir = path.join(out, 'swarm-prod', 'swarm');
    const resolved = readYaml(dir, 'docker-stack.yml');
    expect(resolved.services.api.deploy.update_config).toMatchObject({ parallelism: 2, delay: '10s', failure_action: 'rollback', order: 'start-first' });
    expect(resolved.services['log-agent'].deploy.mode).toBe('global');
    expect(fs.readFileSync(path.join(dir, 'configs', 'api-settings'), 'utf8')).toBe('cache_ttl: 60\n');
  });
});
