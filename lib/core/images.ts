import { checkWhenResolved, isDeferred } from './deferred';
import { ErrorScope, ShipshapeError } from './errors';

// Image references and the pinned-image rule: one definition shared by every constructor that takes an image and
// by the `image-tag-pinned` policy rule, so a construct never accepts what the policy engine then refuses.

// github.com/distribution/reference (the grammar Docker, containerd and CRI-O parse image references with).
const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_ADDRESS = '\\[[a-fA-F0-9:]+\\]';
const DOMAIN = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const NAME_TOTAL_MAX = 255;
// go-digest: the algorithms the runtimes verify, with their hex lengths (lower case).
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/** An image reference split into its parts. */
export interface ImageReference {
  /** Registry host and repository path, e.g. `ghcr.io/acme/web`. */
  readonly name: string;
  /**
   * Tag, e.g. `1.4.2`.
   * @default - none
   */
  readonly tag?: string;
  /**
   * Digest, e.g. `sha256:<64 hex digits>`.
   * @default - none
   */
  readonly digest?: string;
}

/** Why `image` is not a valid image reference, or undefined. */
export function imageReferenceProblem(image: unknown): string | undefined {
  if (typeof image !== 'string' || image === '') return 'an image must be a non-empty string';
  if (image !== image.trim() || /\s/.test(image)) return 'an image reference holds no spaces, tabs or line breaks';
  const m = REFERENCE.exec(image);
  if (!m) {
    if (REFERENCE.test(image.toLowerCase())) return 'the repository name must be lower case (only the registry host may hold capitals)';
    return 'not an image reference ([registry[:port]/]repository[:tag][@algorithm:hex]); a tag is at most 128 letters, digits, "_", "." or "-" and starts with a letter, digit or "_"';
  }
  if (m[1].length > NAME_TOTAL_MAX) return `the repository name is longer than ${NAME_TOTAL_MAX} characters`;
  if (m[3] !== undefined) {
    const [algorithm, hex] = m[3].split(':');
    const length = DIGEST_HEX_LENGTH[algorithm];
    if (length === undefined) return `unknown digest algorithm "${algorithm}" (use sha256, sha384 or sha512)`;
    if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) return `a ${algorithm} digest is ${length} lower-case hexadecimal digits`;
  }
  return undefined;
}

/** Splits a valid image reference into name, tag and digest; undefined when it is not one. */
export function parseImageReference(image: string): ImageReference | undefined {
  if (imageReferenceProblem(image) !== undefined) return undefined;
  const m = REFERENCE.exec(image)!;
  return { name: m[1], ...(m[2] !== undefined ? { tag: m[2] } : {}), ...(m[3] !== undefined ? { digest: m[3] } : {}) };
}

/** The tag of an image (`8.15.3`), or undefined for a digest-only or invalid reference. */
export function imageTag(image: string): string | undefined {
  return parseImageReference(image)?.tag;
}

/** Why an image is not pinned: `invalid` when it is no image reference at all, `unpinned` when it names no version. */
export interface ImagePinProblem {
  readonly kind: 'invalid' | 'unpinned';
  /** A phrase that follows the image: `tagged latest`, `without a tag or digest`, or why the reference is invalid. */
  readonly reason: string;
}

/**
 * Why `image` is not pinned, or undefined when it is a valid reference with a digest or a version tag (any tag
 * but `latest`). A digest pins the content even next to `latest`; without one, `latest` or no tag lets every node
 * run whatever it pulled last, so a rollout is not reproducible and a rollback means nothing.
 */
export function pinnedImageProblem(image: unknown): ImagePinProblem | undefined {
  const problem = imageReferenceProblem(image);
  if (problem) return { kind: 'invalid', reason: problem };
  const ref = parseImageReference(image as string)!;
  if (ref.digest !== undefined) return undefined;
  if (ref.tag === undefined) return { kind: 'unpinned', reason: 'without a tag or digest' };
  if (ref.tag === 'latest') return { kind: 'unpinned', reason: 'tagged latest' };
  return undefined;
}

/** The fix for an unpinned image, with `example` as the version to name. */
export function pinnedImageFix(example = 'ghcr.io/acme/web:1.4.2'): string {
  return `pin the image to a version tag or a digest, e.g. "${example}" or "<repository>@sha256:<digest>"`;
}

/**
 * Throws unless `image` is a valid image reference pinned to a version tag (not `latest`) or a digest (the
 * rule of {@link pinnedImageProblem}); returns it. `example` goes into the fix. An image holding a deferred value
 * (see deferred.ts) is checked when the deploying back end resolves it.
 */
export function assertPinnedImage(scope: ErrorScope, field: string, image: unknown, example = 'ghcr.io/acme/web:1.4.2'): string {
  // Known only at deploy time: the same check runs on the resolved value before the resource is registered.
  if (isDeferred(image)) {
    checkWhenResolved(image as string, (resolved) => assertPinnedImage(scope, field, resolved, example));
    return image as string;
  }
  const problem = pinnedImageProblem(image);
  if (problem?.kind === 'invalid')
    throw new ShipshapeError(scope, { problem: `${field} is not a valid image reference: ${problem.reason}`, value: image, fix: `write a reference such as "${example}"` });
  if (problem) throw new ShipshapeError(scope, { problem: `${field} must be pinned to a version tag or a digest, not ${problem.reason}`, value: image, fix: pinnedImageFix(example) });
  return image as string;
}
