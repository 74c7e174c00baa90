import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTool, run } from '../support/tools';

const root = path.resolve(__dirname, '../..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-efk-example-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('examples/efk-stack', () => {
  it('runs, writes dev and prod logging to the directory given, and kubectl kustomize builds both', () => {
    requireTool('kubectl', 'install the Debian package "kubernetes-client"');
    const log = run('npx', ['tsx', 'examples/efk-stack/main.ts'], { cwd: root, env: { ...process.env, EFK_EXAMPLE_OUTDIR: out } });
    expect(log).toMatch(/^dev: 18 objects, 2 warnings, 3 exemptions/m);
    expect(log).toMatch(/^prod: 19 objects, 0 warnings, 3 exemptions/m);
    expect(log).toContain('prod: Fluentd (cri parser) → http://elasticsearch.logging.svc:9200 and S3; Kibana at http://kibana.logging.svc:5601');

    const dev = parse(fs.readFileSync(path.join(out, 'dev/kubernetes/statefulset-elasticsearch.yaml'), 'utf8'));
    expect(dev.spec.template.spec.containers[0].env).toContainEqual({ name: 'ES_JAVA_OPTS', value: '-Xms128m -Xmx256m' });
    const conf = parse(fs.readFileSync(path.join(out, 'prod/kubernetes/configmap-fluentd-config.yaml'), 'utf8')).data['fluent.conf'];
    expect(conf).toContain('@type copy');
    expect(fs.readFileSync(path.join(out, 'prod/images/fluentd/Dockerfile'), 'utf8')).toContain('fluent-plugin-s3');
    expect(fs.existsSync(path.join(out, 'prod/monitoring/fluentd-alerts.rules.yml'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'prod/logging/example-logs-archive-lifecycle.json'))).toBe(true);

    for (const env of ['dev', 'prod']) {
      const built = run('timeout', ['60', 'kubectl', 'kustomize', path.join(out, env, 'kubernetes')]);
      const kinds = parseAllDocuments(built).map((d) => d.toJS().kind);
      expect(kinds).toEqual(expect.arrayContaining(['Namespace', 'StatefulSet', 'DaemonSet', 'Deployment', 'Job', 'PrometheusRule']));
    }
  });

  it('also takes the output directory as its first argument', () => {
    const second = path.join(out, 'argv');
    run('npx', ['tsx', 'examples/efk-stack/main.ts', second], { cwd: root });
    expect(fs.readdirSync(second).sort()).toEqual(['.shipshape-output', 'dev', 'prod']);
  });
});
