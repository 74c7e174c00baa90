import { execFile } from 'node:child_process';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Environment } from '../../lib';
import { EfkLogging } from '../../lib/logging';
import { objectsOfKind, synthStack } from '../support/synth';
import { conformanceSuite } from '../support/conformance';

// Real-tool test: the Job's script runs under bash with curl against a stand-in for Elasticsearch's
// REST API on 127.0.0.1, which records every request.
interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly auth: string;
  readonly body: string;
}

const requests: Recorded[] = [];
let server: http.Server | undefined;
let url = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, auth: req.headers.authorization ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"acknowledged":true}');
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  if (server) await new Promise((resolve) => server!.close(resolve));
});

function runScript(script: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('timeout', ['60', 'bash', '-c', script], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

conformanceSuite('ElasticsearchBootstrap script under bash and curl', ['shell'], () => {
  const prod = new Environment({ name: 'prod', kubernetesVersion: '1.29', zones: ['a', 'b', 'c'], replicas: 3 });
  const result = synthStack((s) => new EfkLogging(s, 'logging', { retentionDays: 14 }), prod);
  const job = objectsOfKind(result, 'Job')[0];
  const container = job.spec.template.spec.containers[0];

  it('takes every password from the credentials Secret and carries none in the script', () => {
    expect(container.env.map((e: any) => [e.name, e.valueFrom.secretKeyRef.key])).toEqual([
      ['ELASTIC_PASSWORD', 'elastic-password'],
      ['FLUENTD_PASSWORD', 'fluentd-password'],
      ['KIBANA_SYSTEM_PASSWORD', 'kibana-system-password'],
    ]);
  });

  it('runs under bash and curl: ILM policy, index template, writer role and user, kibana_system password, with passwords JSON-escaped', async () => {
    const script: string = container.command[2];
    expect(script.split('\n')[1]).toBe('ES=http://elasticsearch.logging.svc:9200');
    const local = script.replace('ES=http://elasticsearch.logging.svc:9200', `ES=${url}`);
    const secrets = { ELASTIC_PASSWORD: 'el@stic pw', FLUENTD_PASSWORD: 'fl"u\\ent$d`x`', KIBANA_SYSTEM_PASSWORD: 'k\'ib"ana' };
    const stdout = await runScript(local, secrets);
    expect(stdout).toContain('PUT /_ilm/policy/logs-prod-hot-window: ok');

    expect(requests.map((r) => `${r.method} ${r.url.split('?')[0]}`)).toEqual([
      'GET /_cluster/health',
      'PUT /_ilm/policy/logs-prod-hot-window',
      'PUT /_index_template/logs-prod',
      'PUT /_security/role/fluentd_writer',
      'PUT /_security/user/fluentd',
      'POST /_security/user/kibana_system/_password',
    ]);
    const basic = `Basic ${Buffer.from(`elastic:${secrets.ELASTIC_PASSWORD}`).toString('base64')}`;
    for (const r of requests) expect(r.auth).toBe(basic);
    const body = (path: string) => JSON.parse(requests.find((r) => r.url === path)!.body);
    expect(body('/_ilm/policy/logs-prod-hot-window').policy.phases.delete).toEqual({ min_age: '14d', actions: { delete: {} } });
    expect(body('/_index_template/logs-prod').template.settings).toEqual({ 'index.lifecycle.name': 'logs-prod-hot-window', 'index.number_of_replicas': 1, 'index.mapping.total_fields.limit': 2000 });
    expect(body('/_security/role/fluentd_writer')).toEqual({ cluster: ['monitor'], indices: [{ names: ['logs-prod-*'], privileges: ['create_index', 'index'] }] });
    expect(body('/_security/user/fluentd')).toEqual({ password: secrets.FLUENTD_PASSWORD, roles: ['fluentd_writer'] });
    expect(body('/_security/user/kibana_system/_password')).toEqual({ password: secrets.KIBANA_SYSTEM_PASSWORD });
  });
});
