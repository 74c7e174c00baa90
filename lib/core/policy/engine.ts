import { exemptionsOf } from './exemptions';
import { Manifest, ManifestIndex, describe } from './manifest';
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
    const exemptions = exemptionsOf(manifest);
    for (const [ruleId, reason] of exemptions) {
      if (!known.has(ruleId)) {
        report.violations.push({ ruleId: 'unknown-exemption', severity: 'error', object, constructPath, message: `declares an exemption from unknown rule "${ruleId}"`, fix: `use one of: ${[...known].join(', ')}` });
      } else {
        report.exemptions.push({ ruleId, object, constructPath, reason });
      }
    }
    for (const rule of rules) {
      if (exemptions.has(rule.id)) continue;
      for (const finding of rule.check(manifest, index)) {
        const entry: PolicyFinding = { ruleId: rule.id, severity: rule.severity, object, constructPath, ...finding };
        (rule.severity === 'error' ? report.violations : report.warnings).push(entry);
      }
    }
  }
  return report;
}
