import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { LABELS } from '../labels';
import { SHARED_OUTPUT_FOLDERS } from '../output-file';
import { evaluatePolicy } from './engine';
import { Manifest, describe } from '../manifest';

/** The part of cdk8s-cli's ValidationContext this plugin uses (kept local: the CLI is not a runtime dependency). */
export interface Cdk8sValidationContext {
  readonly manifests: readonly string[];
  readonly report: {
    /** Records one violation, with the objects and files it was found in. */
    addViolation(violation: { ruleName: string; recommendation: string; fix: string; violatingResources: { resourceName: string; locations: string[]; manifestPath: string }[] }): void;
    /** Ends the report: `failure` fails `cdk8s synth`. */
    submit(status: 'success' | 'failure', metadata?: Record<string, string>): void;
  };
}

function isManifest(doc: unknown): doc is Manifest {
  const m = doc as Manifest | null;
  // kustomization.yaml is not a Kubernetes object.
  return !!m && typeof m.apiVersion === 'string' && typeof m.kind === 'string' && !!m.metadata?.name && !m.apiVersion.startsWith('kustomize.config.k8s.io');
}

/**
 * The shipshape policy as a cdk8s-cli validation plugin (`validations:` in cdk8s.yaml), so
 * `cdk8s synth` reports the same rules for any manifests in the output directory.
 */
export class ShipshapePolicyValidation {
  /** Runs the policy over the manifests cdk8s wrote, one environment at a time, and reports every violation. */
  public async validate(context: Cdk8sValidationContext): Promise<void> {
    // Environments are checked apart: the same namespace (e.g. logging) exists in each of them.
    const byEnvironment = new Map<string, { manifest: Manifest; file: string }[]>();
    let shared = 0;
    for (const file of context.manifests) {
      for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
        const manifest = doc.toJS();
        if (!isManifest(manifest)) continue;
        // Synth counts the objects of an environment; those in the folders environments share (Argo CD's) apart.
        if (SHARED_OUTPUT_FOLDERS.includes(path.basename(path.dirname(file)) as (typeof SHARED_OUTPUT_FOLDERS)[number])) shared++;
        const env = manifest.metadata.labels?.[LABELS.environment] ?? '';
        byEnvironment.set(env, [...(byEnvironment.get(env) ?? []), { manifest, file }]);
      }
    }
    const totals = { objects: 0, warnings: 0, exemptions: 0, violations: 0 };
    for (const subjects of byEnvironment.values()) {
      const report = evaluatePolicy(subjects);
      const fileOf = new Map(subjects.map((s) => [describe(s.manifest), s.file]));
      for (const v of report.violations) {
        context.report.addViolation({
          ruleName: v.ruleId,
          recommendation: v.message,
          fix: v.fix,
          violatingResources: [{ resourceName: v.object, locations: [], manifestPath: fileOf.get(v.object) ?? '' }],
        });
      }
      totals.objects += subjects.length;
      totals.warnings += report.warnings.length;
      totals.exemptions += report.exemptions.length;
      totals.violations += report.violations.length;
    }
    context.report.submit(totals.violations === 0 ? 'success' : 'failure', {
      objects: String(totals.objects - shared),
      [`objects in ${SHARED_OUTPUT_FOLDERS.join(', ')}`]: String(shared),
      warnings: String(totals.warnings),
      exemptions: String(totals.exemptions),
      // Synth's summary also counts what no manifest shows: exemptions declared on Swarm services and host files.
      checked: 'Kubernetes manifests in the output directory; Swarm stacks and host files are checked by synth',
    });
  }
}
