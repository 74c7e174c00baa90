import { ApiObject } from 'cdk8s';
import { IConstruct } from 'constructs';
import { ErrorScope, ShipshapeError } from '../errors';
import { credentialShapes } from './credentials';
import { Manifest } from '../manifest';

/**
 * Annotation prefix of a declared policy exemption. The exemption travels in the
 * object itself so that reviewers, Argo CD and any later policy run all see it.
 */
export const EXEMPTION_ANNOTATION_PREFIX = 'exemptions.shipshape.io/';

// The name part of a qualified annotation key (`<rule>` or `<rule>.<variable>`): what the API server accepts.
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const MAX_NAME_LENGTH = 63;
const MIN_REASON_LENGTH = 10;

/** Options of {@link exempt}. */
export interface ExemptOptions {
  /**
   * Exempt only these variables (environment variable names, ConfigMap keys, annotation keys, flags) from the
   * rule, each written as its own annotation `exemptions.shipshape.io/<rule>.<variable>`; every other finding of
   * the rule still fails synth.
   * @default - the whole object is exempt from the rule
   */
  readonly variables?: readonly string[];
}

/** An exemption as declared: the rule, optionally one variable, and the reason. */
export interface DeclaredExemption {
  readonly ruleId: string;
  /** The one variable exempted, or undefined for the whole object. */
  readonly variable?: string;
  readonly reason: string;
}

/**
 * Checks an exemption's reason and names; returns the annotation (or label) keys it is written under.
 * Shared by Kubernetes objects, Swarm services and the Docker daemon configuration.
 */
export function exemptionKeys(scope: ErrorScope, ruleId: string, reason: string, variables?: readonly string[]): string[] {
  if (typeof reason !== 'string' || reason.trim().length < MIN_REASON_LENGTH) {
    throw new ShipshapeError(scope, {
      problem: `an exemption from "${ruleId}" needs a reason a reviewer can judge`,
      value: reason,
      fix: 'say in a sentence why this object must break the rule',
    });
  }
  // Reasons are written in plain text (annotations, labels, the synth summary) and no rule reads them again. Only
  // the value-shape rule applies: prose about a credential ("DB_PASSWORD: holds a path") is what a reason is for.
  const leaked = credentialShapes(reason)[0];
  if (leaked) {
    throw new ShipshapeError(scope, {
      problem: `the reason of the exemption from "${ruleId}" holds a credential (${leaked.kind}), which would be written in plain text`,
      value: leaked.excerpt,
      fix: 'say why the rule does not apply without quoting the secret; rotate it if it was ever committed',
    });
  }
  if (variables !== undefined && variables.length === 0) {
    throw new ShipshapeError(scope, { problem: `an exemption from "${ruleId}" lists no variables`, value: variables, fix: 'name the variables, or leave variables out to exempt the whole object' });
  }
  const names = variables === undefined ? [ruleId] : variables.map((v) => `${ruleId}.${v}`);
  for (const name of names) {
    if (name.length > MAX_NAME_LENGTH || !QUALIFIED_NAME.test(name)) {
      throw new ShipshapeError(scope, {
        problem: `the exemption "${name}" is not a valid annotation name (letters, digits, "-", "_", "." between alphanumerics, at most ${MAX_NAME_LENGTH} characters with the rule id)`,
        value: name,
        fix: 'exempt a variable whose name fits, or exempt the whole object',
      });
    }
  }
  return names.map((n) => `${EXEMPTION_ANNOTATION_PREFIX}${n}`);
}

/**
 * Declares that `target` breaks policy rule `ruleId` on purpose. The reason is
 * written to the object as an annotation and listed in the synth summary.
 * With `variables`, only those variables are exempt (one annotation each):
 * `exempt(deployment, 'secret-env-plaintext', 'a column name, not a key', { variables: ['SORT_KEY'] })`.
 */
export function exempt(target: ApiObject, ruleId: string, reason: string, options: ExemptOptions = {}): void {
  for (const key of exemptionKeys(target, ruleId, reason, options.variables)) target.metadata.addAnnotation(key, reason);
}

/** Splits `<rule>` or `<rule>.<variable>` (rule ids hold no dot). */
export function parseExemptionKey(key: string): { ruleId: string; variable?: string } | undefined {
  if (!key.startsWith(EXEMPTION_ANNOTATION_PREFIX)) return undefined;
  const name = key.slice(EXEMPTION_ANNOTATION_PREFIX.length);
  const dot = name.indexOf('.');
  return dot < 0 ? { ruleId: name } : { ruleId: name.slice(0, dot), variable: name.slice(dot + 1) };
}

/** The exemptions an object declares. */
export function exemptionsOf(m: Manifest): DeclaredExemption[] {
  const found: DeclaredExemption[] = [];
  for (const [key, reason] of Object.entries(m.metadata.annotations ?? {})) {
    const parsed = parseExemptionKey(key);
    if (parsed) found.push({ ...parsed, reason });
  }
  return found;
}

/** A construct that writes no Kubernetes object but declares exemptions (Swarm services, Docker daemon config). */
export interface IDeclaresExemptions extends IConstruct {
  /** How reports name what the construct writes, e.g. `SwarmService edge/web`. */
  readonly policyObject: string;
  /** The exemptions, each checked when declared. */
  readonly policyExemptions: readonly DeclaredExemption[];
}

/** Whether a construct declares exemptions of its own. */
export function declaresExemptions(x: IConstruct): x is IDeclaresExemptions {
  return Array.isArray((x as { policyExemptions?: unknown }).policyExemptions);
}
