import * as pulumi from '@pulumi/pulumi';
import { DerivedValue, deferValue, deferredIds, deferredValue, isDeferred, runDeferredChecks, runEmbeddedDeferredChecks, substituteDeferred } from '../core/deferred';
import { ErrorScope, ShipshapeError } from '../core/errors';

/**
 * A Pulumi `Input<string>` as a string a shipshape construct takes: the image a `docker.Image` built
 * (`image.repoDigest`), a role ARN for a ServiceAccount annotation, a database endpoint for `env`, a config value.
 * A literal string comes back as it is; anything else comes back as a token (which may be embedded in a longer
 * string, e.g. `` `jdbc:postgresql://${fromInput(db.address)}:5432/app` ``) that `StackComponent` replaces
 * with the resolved value in every resource it registers, so the resource depends on the Output's resources.
 *
 * Only a StackComponent can deploy such a value: `synth` refuses it, naming the construct and the field. A secret
 * Output is refused by `pulumi preview` and `up` (its secrecy is known before its value), since it would land in
 * plain text: create the Kubernetes Secret with Pulumi and reference it by name
 * (`env: { DB_PASSWORD: { secret: 'db', key: 'password' } }`). Checks a constructor
 * applies to a literal (an image pinned to a version tag or a digest) run on the resolved value, with the same
 * message.
 */
export function fromInput(value: pulumi.Input<string>): string {
  if (typeof value === 'string') return value;
  return deferValue(pulumi.output(value));
}

/** The value registered under a token index, as an Output; a derived value is computed from its resolved template. */
function registered(id: number, scope: ErrorScope, field: string): pulumi.Output<string> {
  const value = deferredValue(id);
  if (value instanceof DerivedValue) return resolveString(value.template, scope, field).apply(value.derive);
  return pulumi.output(value as pulumi.Input<string>);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const SECRET_FIX =
  'create the value as a Kubernetes Secret (k8s.core.v1.Secret) or a Swarm secret with Pulumi and reference it by name, e.g. env: { NAME: { secret: "<secret name>", key: "<key>" } }; never pass a secret Output to fromInput';

/**
 * One string holding deferred tokens, as an Output of the resolved string. A secret value is refused (the field is
 * plain text), and the checks the constructor registered for the string run on the result.
 */
function resolveString(template: string, scope: ErrorScope, field: string): pulumi.Output<string> {
  const ids = deferredIds(template);
  const outputs = ids.map((id) => registered(id, scope, field));
  // Whether an Output is secret is known before its value (a preview knows it for a value computed at deploy time),
  // so a secret is refused at preview, not halfway through `up`.
  const plainText = Promise.all(outputs.map((o) => pulumi.isSecret(o))).then((secret) => {
    if (secret.some(Boolean)) {
      throw new ShipshapeError(scope, { problem: `${field} would hold a secret Output in plain text, readable by anyone who can read the object`, fix: SECRET_FIX });
    }
  });
  return pulumi.all([pulumi.output(plainText), pulumi.all(outputs.map((o) => pulumi.unsecret(o)))]).apply(([, resolved]) => {
    const missing = resolved.findIndex((value) => typeof value !== 'string');
    if (missing >= 0) {
      throw new ShipshapeError(scope, {
        problem: `${field} resolved to ${resolved[missing] === undefined ? 'nothing' : `a ${typeof resolved[missing]}`}, not a string`,
        value: resolved[missing],
        fix: 'pass fromInput an Output that holds a string (an output property the provider sets, or pulumi.interpolate)',
      });
    }
    const byId = new Map(ids.map((id, i) => [id, resolved[i]]));
    const result = substituteDeferred(template, (id) => byId.get(id)!);
    runDeferredChecks(template, result);
    runEmbeddedDeferredChecks(template, (id) => byId.get(id)!);
    return result;
  });
}

/**
 * `args` (a manifest, a Docker resource's arguments) with every string that holds a deferred token replaced by an
 * Output of its resolved value, so the resource waits for (and depends on) the resources behind it. Descends into
 * arrays and plain objects only; Outputs and resources inside are left as they are. A token in an object key is
 * refused: keys name fields and variables, which must be known when the program runs. `subject` names the
 * object in messages (`Deployment prod/web`).
 */
export function resolveDeferredInputs<T>(args: T, scope: ErrorScope, subject: string): T {
  const walk = (node: unknown, path: string): unknown => {
    if (typeof node === 'string') return isDeferred(node) ? resolveString(node, scope, `${subject} field ${path}`) : node;
    if (Array.isArray(node)) return node.map((item, i) => walk(item, `${path}[${i}]`));
    if (!isPlainObject(node)) return node;
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(node)) {
      const child = path === '' ? key : `${path}.${key}`;
      if (isDeferred(key)) {
        throw new ShipshapeError(scope, {
          problem: `${subject}: the key of ${child} is a value known only at deploy time`,
          value: key,
          fix: 'use a literal name; pass deploy-time values as values, not keys',
        });
      }
      copy[key] = walk(item, child);
    }
    return copy;
  };
  return walk(args, '') as T;
}
