import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as analyzer from '@pulumi/pulumi/proto/analyzer_pb';
import * as analyzerRpc from '@pulumi/pulumi/proto/analyzer_grpc_pb';
import { unknownValue } from '@pulumi/pulumi/runtime/rpc';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb';
import { Struct } from 'google-protobuf/google/protobuf/struct_pb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Manifest } from '../../lib';
import { RULES } from '../../lib/core/policy/rules';
import { kubernetesTypeToken } from '../../lib/pulumi/kubernetes';
import { stopPid } from '../support/engine';
import { POLICY_CASES, container, deployment, pdb } from '../core/policy/cases';

// The ready pack `shipshape/pulumi/policy` served as the Pulumi engine runs a policy pack: a process whose first
// line of output is the port of its analyzer, asked over gRPC with the engine's own messages (AnalyzeRequest per
// resource, AnalyzeStackRequest for the stack).

const root = path.resolve(__dirname, '../..');
const LEVEL: Record<number, string> = { [analyzer.EnforcementLevel.ADVISORY]: 'advisory', [analyzer.EnforcementLevel.MANDATORY]: 'mandatory' };

let pack: ChildProcess | undefined;
let client: analyzerRpc.AnalyzerClient;
let workDir: string;

function call<Req, Res>(method: (req: Req, callback: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => method.call(client, req, (err, res) => (err ? reject(err) : resolve(res))));
}

function options(): analyzer.AnalyzerResourceOptions {
  return new analyzer.AnalyzerResourceOptions();
}

interface EngineObject {
  readonly type: string;
  readonly urn: string;
  readonly name: string;
  readonly props: Record<string, unknown>;
}

function engineObjects(manifests: readonly Manifest[]): EngineObject[] {
  return manifests.map((m, i) => {
    const type = kubernetesTypeToken(m);
    const name = `${m.kind.toLowerCase()}-${m.metadata.name}-${i}`;
    return { type, name, urn: `urn:pulumi:test::shop::${type}::${name}`, props: JSON.parse(JSON.stringify(m)) };
  });
}

interface Diagnostic {
  readonly policy: string;
  readonly level: string;
  readonly urn: string;
  readonly message: string;
}

function diagnostics(res: analyzer.AnalyzeResponse): Diagnostic[] {
  return res.getDiagnosticsList().map((d) => ({ policy: d.getPolicyname(), level: LEVEL[d.getEnforcementlevel()] ?? String(d.getEnforcementlevel()), urn: d.getUrn(), message: d.getMessage() }));
}

/** What the engine asks of the analyzer for one update: each resource, then the stack. */
async function analyze(objects: readonly EngineObject[]): Promise<Diagnostic[]> {
  const found: Diagnostic[] = [];
  for (const o of objects) {
    const req = new analyzer.AnalyzeRequest();
    req.setType(o.type);
    req.setUrn(o.urn);
    req.setName(o.name);
    req.setProperties(Struct.fromJavaScript(o.props as any));
    req.setOptions(options());
    // Per-resource diagnostics carry no urn of their own: the engine knows which resource it asked about.
    found.push(...diagnostics(await call(client.analyze, req)).map((d) => ({ ...d, urn: d.urn || o.urn })));
  }
  const stack = new analyzer.AnalyzeStackRequest();
  stack.setResourcesList(
    objects.map((o) => {
      const r = new analyzer.AnalyzerResource();
      r.setType(o.type);
      r.setUrn(o.urn);
      r.setName(o.name);
      r.setProperties(Struct.fromJavaScript(o.props as any));
      r.setOptions(options());
      return r;
    }),
  );
  found.push(...diagnostics(await call(client.analyzeStack, stack)));
  return found;
}

beforeAll(async () => {
  // A policy pack project: PolicyPack reads the pack version from package.json in its working directory.
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-policy-'));
  fs.writeFileSync(path.join(workDir, 'package.json'), JSON.stringify({ name: 'shipshape-policy', version: '1.2.3' }));
  pack = spawn('timeout', ['120', process.execPath, '--require', require.resolve('tsx/cjs'), path.join(root, 'lib/pulumi/policy/index.ts')], { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  pack.stderr!.on('data', (d) => (stderr += d));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the policy pack printed no port in 60 s: ${stderr}`)), 60_000);
    pack!.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n') && /^\d+$/.test(line.trim())) {
        clearTimeout(timer);
        resolve(Number(line));
      }
    });
    pack!.on('exit', (code) => reject(new Error(`the policy pack exited with ${code}: ${stderr}`)));
  });
  client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 90_000);

afterAll(async () => {
  client?.close();
  if (pack?.pid) await stopPid(pack.pid);
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe('the policy pack served to the Pulumi engine', () => {
  it('announces every rule as a policy, mandatory where synth fails and advisory where it warns', async () => {
    const info = await call<Empty, analyzer.AnalyzerInfo>(client.getAnalyzerInfo, new Empty());
    expect(info.getName()).toBe('shipshape');
    expect(info.getVersion()).toBe('1.2.3');
    const served = new Map(info.getPoliciesList().map((p) => [p.getName(), LEVEL[p.getEnforcementlevel()]]));
    for (const rule of RULES) expect(served.get(rule.id), rule.id).toBe(rule.severity === 'error' ? 'mandatory' : 'advisory');
    expect(served.get('unknown-exemption')).toBe('mandatory');
    expect(served.size).toBe(RULES.length + 2);
  });

  it("refuses each rule's failing case on the offending resource and passes its passing case", async () => {
    for (const rule of RULES) {
      const cases = POLICY_CASES[rule.id]();
      const failing = engineObjects(cases.failing);
      const found = await analyze(failing);
      const ofRule = found.filter((d) => d.policy === rule.id);
      expect(ofRule.length, `${rule.id}: ${JSON.stringify(found)}`).toBeGreaterThan(0);
      expect(new Set(ofRule.map((d) => d.urn)), rule.id).toEqual(new Set([failing[cases.offender].urn]));
      expect(new Set(ofRule.map((d) => d.level)), rule.id).toEqual(new Set([rule.severity === 'error' ? 'mandatory' : 'advisory']));
      const passing = await analyze(engineObjects(cases.passing));
      expect(
        passing.filter((d) => d.policy === rule.id || d.level === 'mandatory'),
        rule.id,
      ).toEqual([]);
    }
  }, 60_000);

  it('during preview reports a policy that would read an unknown value as not run, and runs the others', async () => {
    const found = await analyze(engineObjects([deployment({ replicas: 3, containers: [container({ image: unknownValue })] }), pdb({ maxUnavailable: 1 })]));
    const notRun = found.filter((d) => d.message.includes("can't run policy"));
    expect(notRun.map((d) => [d.policy, d.level])).toContainEqual(['image-tag-pinned', 'advisory']);
    expect(notRun.some((d) => d.policy === 'container-resources' || d.policy === 'pod-security')).toBe(false);
    // The stack policies read only what they judge: selectors, replicas, budgets.
    for (const policy of ['container-resources', 'pod-security', 'disruption-budget', 'replicas-spread', 'unused-exemption']) expect(notRun.map((d) => d.policy)).not.toContain(policy);
    expect(found.filter((d) => d.level === 'mandatory')).toEqual([]);
  });
});
