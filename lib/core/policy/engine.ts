import { IConstruct } from 'constructs';
import { declaresExemptions, exemptionsOf } from './exemptions';
import { Manifest, ManifestIndex, describe } from '../manifest';
import { PolicyRule, RULES } from './rules';

/** A synthesized object and the construct that produced it. */
export interface PolicySubject {
  readonly manifest: Manifest;
  /** Construct path of the producing ApiObject, or `undefined` when unknown (e.g. files read back from disk). */
  readonly constructPath?: string;
}

/** One finding of the policy engine. */
export interface PolicyFinding {
  readonly ruleId: string;
  readonly severity: 'error' | 'warning';
  /** `Kind namespace/name`. */
  readonly object: string;
  readonly constructPath?: string;
  readonly message: string;
  readonly fix: string;
}

/** An exemption an object declares. */
export interface PolicyExemption {
  readonly ruleId: string;
  /** The one variable exempted (an environment variable, a key, a flag), or undefined for the whole object. */
  readonly variable?: string;
  readonly object: string;
  readonly constructPath?: string;
  readonly reason: string;
}

/** The result of a policy run. */
export interface PolicyReport {
  /** Findings that fail synth. */
  readonly violations: PolicyFinding[];
  /** Findings that are reported only. */
  readonly warnings: PolicyFinding[];
  /** Every exemption declared by the objects, used or not. */
  readonly exemptions: PolicyExemption[];
}

/** Renders a finding as one line: rule, object, construct path, problem and fix. */
export function formatFinding(f: PolicyFinding): string {
  const at = f.constructPath ? ` (construct ${f.constructPath})` : '';
  return `[${f.ruleId}] ${f.object}${at}: ${f.message}. Fix: ${f.fix}.`;
}

/** Runs every rule over every object; exempted findings are dropped, exemptions recorded. */
export function evaluatePolicy(subjects: readonly PolicySubject[], rules: readonly PolicyRule[] = RULES): PolicyReport {
  const index = new ManifestIndex(subjects.map((s) => s.manifest));
  const known = new Set(rules.map((r) => r.id));
  const report: PolicyReport = { violations: [], warnings: [], exemptions: [] };
  for (const { manifest, constructPath } of subjects) {
    const object = describe(manifest);
    const wholeObject = new Set<string>();
    const variables = new Map<string, Set<string>>();
    for (const { ruleId, variable, reason } of exemptionsOf(manifest)) {
      if (!known.has(ruleId)) {
        report.violations.push({
          ruleId: 'unknown-exemption',
          severity: 'error',
          object,
          constructPath,
          message: `declares an exemption from unknown rule "${ruleId}"`,
          fix: `use one of: ${[...known].join(', ')}`,
        });
        continue;
      }
      report.exemptions.push({ ruleId, ...(variable !== undefined ? { variable } : {}), object, constructPath, reason });
      if (variable === undefined) wholeObject.add(ruleId);
      else variables.set(ruleId, (variables.get(ruleId) ?? new Set()).add(variable));
    }
    for (const rule of rules) {
      if (wholeObject.has(rule.id)) continue;
      const findings = rule.check(manifest, index);
      const exempted = variables.get(rule.id);
      // Most rules find nothing in most objects and no object exempts a variable: nothing to record.
      if (findings.length === 0 && exempted === undefined) continue;
      const used = new Set<string>();
      for (const finding of findings) {
        if (finding.subject !== undefined && exempted?.has(finding.subject)) {
          used.add(finding.subject);
          continue;
        }
        const entry: PolicyFinding = { ruleId: rule.id, severity: rule.severity, object, constructPath, message: finding.message, fix: finding.fix };
        (rule.severity === 'error' ? report.violations : report.warnings).push(entry);
      }
      // A variable exemption that matches nothing is a typo or outlived its reason.
      for (const v of exempted ?? []) {
        if (used.has(v)) continue;
        report.warnings.push({
          ruleId: 'unused-exemption',
          severity: 'warning',
          object,
          constructPath,
          message: `exempts variable ${v} from "${rule.id}", which finds nothing in ${v}`,
          fix: `remove the exemption, or name the variable exactly as the finding does`,
        });
      }
    }
  }
  return report;
}

/** The exemptions declared by constructs that write no Kubernetes object (Swarm services, Docker daemon config). */
export function constructExemptions(constructs: readonly IConstruct[]): PolicyExemption[] {
  return constructs
    .filter(declaresExemptions)
    .flatMap((c) =>
      c.policyExemptions.map((e) => ({ ruleId: e.ruleId, ...(e.variable !== undefined ? { variable: e.variable } : {}), object: c.policyObject, constructPath: c.node.path, reason: e.reason })),
    );
}

/** A finding a construct reports in the synth summary without failing it. */
export interface ConstructWarning {
  readonly ruleId: string;
  readonly message: string;
  readonly fix: string;
}

/** A construct that writes no Kubernetes object but reports warnings of its own (a prune that deletes volumes). */
interface ReportsWarnings extends IConstruct {
  readonly policyObject: string;
  readonly policyWarnings: readonly ConstructWarning[];
}

/** A construct that states facts the synth summary should show (how many manager failures a swarm survives). */
interface ReportsNotes extends IConstruct {
  readonly policyObject: string;
  readonly summaryNotes: readonly string[];
}

/** The notes constructs report for the synth summary, as `<object>: <note>`. */
export function constructNotes(constructs: readonly IConstruct[]): string[] {
  return constructs.filter((c): c is ReportsNotes => Array.isArray((c as { summaryNotes?: unknown }).summaryNotes)).flatMap((c) => c.summaryNotes.map((n) => `${c.policyObject}: ${n}`));
}

/** The warnings reported by constructs that write no Kubernetes object; synth lists them in the summary. */
export function constructWarnings(constructs: readonly IConstruct[]): PolicyFinding[] {
  return constructs
    .filter((c): c is ReportsWarnings => Array.isArray((c as { policyWarnings?: unknown }).policyWarnings))
    .flatMap((c) => c.policyWarnings.map((w) => ({ ruleId: w.ruleId, severity: 'warning' as const, object: c.policyObject, constructPath: c.node.path, message: w.message, fix: w.fix })));
}
