import { ApiObject } from 'cdk8s';
import { ShipshapeError } from '../errors';
import { Manifest } from './manifest';

/**
 * Annotation prefix of a declared policy exemption. The exemption travels in the
 * object itself so that reviewers, Argo CD and any later policy run all see it.
 */
export const EXEMPTION_ANNOTATION_PREFIX = 'exemptions.shipshape.io/';

/**
 * Declares that `target` breaks policy rule `ruleId` on purpose. The reason is
 * written to the object as an annotation and listed in the synth summary.
 */
export function exempt(target: ApiObject, ruleId: string, reason: string): void {
  if (!reason || reason.trim().length < 10) {
    throw new ShipshapeError(target, {
      problem: `an exemption from "${ruleId}" needs a reason a reviewer can judge`,
      value: reason,
      fix: 'say in a sentence why this object must break the rule',
    });
  }
  target.metadata.addAnnotation(`${EXEMPTION_ANNOTATION_PREFIX}${ruleId}`, reason);
}

/** The exemptions an object declares, rule id → reason. */
export function exemptionsOf(m: Manifest): Map<string, string> {
  const found = new Map<string, string>();
  for (const [key, value] of Object.entries(m.metadata.annotations ?? {})) {
    if (key.startsWith(EXEMPTION_ANNOTATION_PREFIX)) found.set(key.slice(EXEMPTION_ANNOTATION_PREFIX.length), value);
  }
  return found;
}
