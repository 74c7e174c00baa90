import { ApiObject, ApiObjectMetadataDefinition } from 'cdk8s';
import { Construct } from 'constructs';
import { checkWhenResolved, isDeferred } from '../core/deferred';
import { ShipshapeError } from '../core/errors';
import { assertInteger } from '../core/names';
import { INT32_MAX, assertAnnotations, isDns1123Subdomain } from '../core/validate';
import { WORKLOAD_IDENTITY_ANNOTATIONS, WorkloadIdentityCloud, identityClouds, identityProblem } from '../core/workload-identity';

// What a workload's objects say about themselves beyond labels: annotations for other tools, the cloud identity
// of its ServiceAccount, the Secrets its images are pulled with and the user its containers run as.

// Annotation keys under shipshape's own domain carry its exemptions and markers; they are set through exempt().
// Case-insensitive, as the API server checks annotation keys lower-cased.
const RESERVED_DOMAIN = /^([a-z0-9-]+\.)*shipshape\.io\//i;

/** Throws unless `annotations` are valid annotations outside shipshape's own keys; returns them. */
export function checkAnnotations(scope: Construct, field: string, annotations: Record<string, string>): Record<string, string> {
  assertAnnotations(scope, field, annotations);
  const reserved = Object.keys(annotations).find((k) => RESERVED_DOMAIN.test(k));
  if (reserved !== undefined) {
    throw new ShipshapeError(scope, {
      problem: `${field}["${reserved}"] is under shipshape.io, whose keys shipshape sets itself (policy exemptions are read from them)`,
      value: reserved,
      fix: 'declare an exemption with exempt(object, rule, reason), or use a key of your own domain, e.g. "example.com/owner"',
    });
  }
  return annotations;
}

/**
 * Throws unless each workload identity annotation has its cloud's form; a value known only at deploy time (a
 * Pulumi output) is checked once resolved. Returns the clouds named.
 */
export function checkIdentity(scope: Construct, field: string, annotations: Record<string, string>): WorkloadIdentityCloud[] {
  const clouds = identityClouds(annotations);
  for (const cloud of clouds) {
    const key = WORKLOAD_IDENTITY_ANNOTATIONS[cloud];
    const check = (value: string) => {
      const problem = identityProblem(cloud, value);
      if (problem) throw new ShipshapeError(scope, { problem: `${field}["${key}"] is not ${problem.form}, so the pods get no cloud identity`, value, fix: `write it as "${problem.example}"` });
    };
    if (isDeferred(annotations[key])) checkWhenResolved(annotations[key], check);
    else check(annotations[key]);
  }
  return clouds;
}

/** `a` and `b` merged; throws when a key has two different values. */
export function mergeAnnotations(scope: Construct, fields: [string, string], a: Record<string, string>, b: Record<string, string>): Record<string, string> {
  // Own keys only: an annotation may be called "constructor" or "valueOf".
  const clash = Object.keys(b).find((k) => Object.hasOwn(a, k) && a[k] !== b[k]);
  if (clash !== undefined) {
    throw new ShipshapeError(scope, {
      problem: `${fields[0]} and ${fields[1]} both set "${clash}", to different values`,
      value: { [fields[0]]: a[clash], [fields[1]]: b[clash] },
      fix: `set "${clash}" in one of them`,
    });
  }
  return { ...a, ...b };
}

/** Adds `annotations` to `metadata`; throws when one would replace a value shipshape set on it. */
export function annotate(scope: Construct, field: string, what: string, metadata: ApiObjectMetadataDefinition, annotations: Record<string, string>): void {
  const existing: Record<string, string> = metadata.toJson().annotations ?? {};
  for (const [key, value] of Object.entries(annotations)) {
    if (Object.hasOwn(existing, key) && existing[key] !== value) {
      throw new ShipshapeError(scope, {
        problem: `${field}["${key}"] would replace the value shipshape sets on the ${what} (${JSON.stringify(existing[key])})`,
        value,
        fix: `leave "${key}" out of ${field}; the construct's props set it`,
      });
    }
    metadata.addAnnotation(key, value);
  }
}

/** Adds `annotations` to every object under `scope` (the workload's Deployment, Service, PDB, HPA, ServiceAccount ...). */
export function annotateObjects(scope: Construct, field: string, annotations: Record<string, string>): void {
  if (Object.keys(annotations).length === 0) return;
  for (const obj of scope.node.findAll().filter(ApiObject.isApiObject)) annotate(scope, field, `${obj.kind} ${obj.name}`, obj.metadata, annotations);
}

/** Throws unless every entry names a Secret (a DNS subdomain), each once; returns the names. */
export function checkImagePullSecrets(scope: Construct, names: readonly string[]): string[] {
  if (!Array.isArray(names)) throw new ShipshapeError(scope, { problem: 'imagePullSecrets must be a list of Secret names', value: names, fix: "write imagePullSecrets as ['registry-login']" });
  const seen = new Set<string>();
  for (const [i, name] of names.entries()) {
    if (!isDns1123Subdomain(name)) {
      throw new ShipshapeError(scope, {
        problem: `imagePullSecrets[${i}] must be the name of a Secret of type kubernetes.io/dockerconfigjson in the workload's namespace (a lower-case DNS subdomain), never the registry credential itself`,
        // A credential pasted here must not reach the error output either.
        value: typeof name === 'string' && name.length > 20 ? `${name.slice(0, 4)}…(${name.length} characters)` : name,
        fix: 'create the Secret outside Git (kubectl create secret docker-registry, External Secrets) and give its name, e.g. "registry-login"',
      });
    }
    if (seen.has(name)) throw new ShipshapeError(scope, { problem: `imagePullSecrets lists "${name}" twice`, value: names, fix: 'list each Secret once' });
    seen.add(name);
  }
  return [...names];
}

/** The pod spec's `imagePullSecrets` for checked Secret names; undefined for none, so the field is left out. */
export function imagePullSecretRefs(names: readonly string[]): { name: string }[] | undefined {
  return names.length > 0 ? names.map((name) => ({ name })) : undefined;
}

/** The user, group and fsGroup of the pod, checked against the restricted Pod Security Standard. */
export interface PodUser {
  readonly runAsUser?: number;
  readonly runAsGroup?: number;
  readonly fsGroup?: number;
}

/** Throws unless the ids are what the API server takes (0 to 2^31-1) and the user is not root; returns them. */
export function checkPodUser(scope: Construct, user: PodUser): PodUser {
  if (user.runAsUser === 0) {
    throw new ShipshapeError(scope, {
      problem: 'runAsUser 0 is root, which the pods refuse (runAsNonRoot) and the restricted Pod Security Standard forbids',
      value: 0,
      fix: "set a non-zero user id (e.g. 10001, or the image's numeric user)",
    });
  }
  // The restricted standard forbids user 0 only: group 0 and fsGroup 0 are allowed (images built for arbitrary uids use group 0).
  if (user.runAsUser !== undefined) assertInteger(scope, 'runAsUser', user.runAsUser, 1, INT32_MAX);
  if (user.runAsGroup !== undefined) assertInteger(scope, 'runAsGroup', user.runAsGroup, 0, INT32_MAX);
  if (user.fsGroup !== undefined) assertInteger(scope, 'fsGroup', user.fsGroup, 0, INT32_MAX);
  return user;
}
