import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { IConstruct } from 'constructs';
import { Manifest, containersOf, describe, podTemplateOf } from './manifest';
import { byCodePoint } from './ordering';
import { scanText, scanYamlDocuments } from './policy/credentials';
import { toYaml } from './yaml';

// Image structure tests: what the workloads of an environment state about the images they run, written as
// container-structure-test configs (schemaVersion 2.0.0) under `dist/<env>/images/`, so an image is checked
// against its deployment before it ships. Only what a workload implies exactly is asserted:
//  - metadataTest.user: the non-root user the workloads run the image as (runAsUser[:runAsGroup], SwarmService
//    user). The image is expected to declare it itself, so it runs as that user under `docker run` too. Root uses
//    (declared exemptions) assert nothing; non-root uses that disagree are refused (an image has one USER). A
//    workload that runs the image as a user of its own choosing whatever USER it declares (IOverridesImageUser:
//    an AntiAffinityDeployment given runAsUser) asserts nothing either.
//  - metadataTest.exposedPorts: every containerPort / Swarm target port, merged over the uses. The tool compares
//    port numbers only (it drops the protocol when it reads the image), so the protocol is not written.
//  - fileExistenceTests: absolute executables the runtime starts inside the container: exec probes, lifecycle
//    hooks, a Kubernetes `command`, a Swarm entrypoint or `CMD` healthcheck, merged over the uses.
// User and ports are not asserted for the images the platform's own constructs run as their publishers build them
// (Elasticsearch, Kibana, the exporters, Fluentd, the autoscaler; see runsPublishedImages): their USER and EXPOSE
// are the publisher's, which the pods override (runAsUser) or do not need (Kubernetes uses a containerPort whether
// or not the image exposes it), and asserting them would fail on the very images the constructs pin.
// Not asserted, because the workload does not determine it: entrypoint and cmd (a workload that sets them
// overrides the image's, one that does not relies on values it never states), executables looked up on the
// image's PATH, and paths under the container's mounts (emptyDir, tmpfs, volumes, configs, secrets): the mount,
// not the image, provides those, and the runtime creates the mount points.

/** The container-structure-test schema version the configs use. */
export const CONTAINER_STRUCTURE_TEST_SCHEMA = '2.0.0';
/** Directory, under the environment's output directory, the configs are written to. */
export const IMAGE_TESTS_DIRECTORY = 'images';
/** Suffix of a config file; container-structure-test reads `.yaml` files as YAML. */
export const IMAGE_TEST_SUFFIX = '.cst.yaml';
// File names stay well below the 255 bytes file systems allow; longer references are cut and hashed.
const FILE_NAME_MAX = 200;
const HASH_LENGTH = 10;

/** A `metadataTest` of container-structure-test (only the fields shipshape writes). */
export interface StructureMetadataTest {
  readonly user?: string;
  readonly exposedPorts?: readonly string[];
}

/** A `fileExistenceTests` entry of container-structure-test (only the fields shipshape writes). */
export interface StructureFileExistenceTest {
  readonly name: string;
  readonly path: string;
  readonly shouldExist: boolean;
  readonly isExecutableBy?: 'any' | 'owner' | 'group' | 'other';
}

/** A container-structure-test config as shipshape writes it. */
export interface StructureTestConfig {
  readonly schemaVersion: string;
  readonly metadataTest?: StructureMetadataTest;
  readonly fileExistenceTests?: readonly StructureFileExistenceTest[];
}

/** An executable a use of an image runs. */
export interface ImageExecutable {
  /** As the workload writes it: absolute, relative, or a bare name looked up on PATH. */
  readonly command: string;
  /** What runs it, e.g. `livenessProbe`, `preStop hook`, `healthcheck`, `entrypoint`. */
  readonly purpose: string;
}

/** One container (or Swarm service) running an image, with the facts it states about it. */
export interface ImageUse {
  readonly image: string;
  /** `Deployment prod/web-api, container web-api`, `SwarmService web`. */
  readonly usedBy: string;
  /** Construct path, for problems. */
  readonly constructPath: string;
  /** User id and group as stated (`runAsUser`/`runAsGroup`, Swarm `user`); undefined when not stated. */
  readonly user?: { readonly user: string; readonly group?: string };
  /** Whether the workload requires a non-root user without naming one (Kubernetes runAsNonRoot alone). */
  readonly requiresNonRoot: boolean;
  /**
   * The user the workload sets over whatever USER the image declares, which the image therefore need not declare.
   * @default - the stated user is the image's own
   */
  readonly overriddenUser?: { readonly user: string; readonly group?: string };
  /**
   * Whether a platform construct runs the image as its publisher builds it: the image's USER and EXPOSE are the
   * publisher's, so the use asserts neither (only the files it runs).
   * @default false
   */
  readonly published?: boolean;
  readonly ports: readonly { readonly port: number; readonly protocol: string }[];
  readonly executables: readonly ImageExecutable[];
  /** Working directory the workload sets, which relative executables resolve against. */
  readonly workingDir?: string;
  /** Mount points: whatever lies under them comes from the mount, not from the image. */
  readonly mounts: readonly string[];
}

/** One generated config. */
export interface ImageStructureTest {
  readonly image: string;
  /** Path relative to the environment directory, e.g. `images/ghcr.io-acme-web-api-1.14.2.cst.yaml`. */
  readonly path: string;
  readonly config: StructureTestConfig;
  /** The file: a comment header (uses, facts the tool cannot check) and the config. */
  readonly content: string;
  /** Construct path of the first use, for problems. */
  readonly constructPath: string;
}

const isRoot = (user: string) => /^(root|0+)$/.test(user.trim());
/** `uid` or `uid:gid`, as a USER instruction and the tool write it. */
const userText = (u: { readonly user: string; readonly group?: string }) => (u.group !== undefined ? `${u.user}:${u.group}` : u.user);

function numberOrUndefined(v: unknown): string | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? String(v) : undefined;
}

/** The image uses of every container of every Kubernetes workload. */
export function kubernetesImageUses(objects: readonly { readonly manifest: Manifest; readonly constructPath: string }[]): ImageUse[] {
  const uses: ImageUse[] = [];
  for (const { manifest, constructPath } of objects) {
    const template = podTemplateOf(manifest);
    const pod = template?.spec;
    if (!pod || typeof pod !== 'object') continue;
    const podContext = pod.securityContext ?? {};
    for (const { container: c, init } of containersOf(pod)) {
      if (!c || typeof c.image !== 'string' || c.image === '') continue;
      const context = c.securityContext ?? {};
      // Container fields win over the pod's, field by field (Kubernetes merges them so).
      const uid = numberOrUndefined(context.runAsUser) ?? numberOrUndefined(podContext.runAsUser);
      const gid = numberOrUndefined(context.runAsGroup) ?? numberOrUndefined(podContext.runAsGroup);
      const nonRoot = (context.runAsNonRoot ?? podContext.runAsNonRoot) === true;
      const executables: ImageExecutable[] = [];
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        const first = c[probe]?.exec?.command?.[0];
        if (typeof first === 'string') executables.push({ command: first, purpose: probe });
      }
      for (const hook of ['postStart', 'preStop']) {
        const first = c.lifecycle?.[hook]?.exec?.command?.[0];
        if (typeof first === 'string') executables.push({ command: first, purpose: `${hook} hook` });
      }
      if (typeof c.command?.[0] === 'string') executables.push({ command: c.command[0], purpose: 'command' });
      uses.push({
        image: c.image,
        usedBy: `${describe(manifest)}, ${init ? 'init container' : 'container'} ${c.name}`,
        constructPath,
        ...(uid !== undefined ? { user: { user: uid, ...(gid !== undefined ? { group: gid } : {}) } } : {}),
        requiresNonRoot: nonRoot && uid === undefined,
        ports: (Array.isArray(c.ports) ? c.ports : [])
          .filter((p: any) => typeof p?.containerPort === 'number')
          .map((p: any) => ({ port: p.containerPort, protocol: String(p.protocol ?? 'TCP').toLowerCase() })),
        executables,
        ...(typeof c.workingDir === 'string' && c.workingDir.startsWith('/') ? { workingDir: c.workingDir } : {}),
        mounts: (Array.isArray(c.volumeMounts) ? c.volumeMounts : []).map((m: any) => m?.mountPath).filter((p: unknown): p is string => typeof p === 'string'),
      });
    }
  }
  return uses;
}

/** A workload construct whose pods may run their images as a user of its own choosing (a `runAsUser` prop). */
export interface IOverridesImageUser extends IConstruct {
  /** Whether the pods run as a user the construct sets, whatever USER the image declares. */
  readonly overridesImageUser: boolean;
}

function overridesImageUser(c: IConstruct): c is IOverridesImageUser {
  return (c as { overridesImageUser?: unknown }).overridesImageUser === true;
}

const PUBLISHED_IMAGE_RUNNERS = new WeakSet<IConstruct>();

/**
 * Marks a platform construct whose pods run images as their publishers build them (Elasticsearch, Kibana, …) and
 * set their own user: the images' structure tests assert only the files the pods run, not USER or EXPOSE.
 */
export function runsPublishedImages(scope: IConstruct): void {
  PUBLISHED_IMAGE_RUNNERS.add(scope);
}

/**
 * `uses` with the facts of the constructs that run them: under an {@link IOverridesImageUser} construct the user
 * moves to `overriddenUser`; under a construct given to {@link runsPublishedImages} the use is `published` too.
 */
export function withOverriddenUsers(uses: readonly ImageUse[], constructs: readonly IConstruct[]): ImageUse[] {
  const owners = constructs.filter(overridesImageUser).map((c) => `${c.node.path}/`);
  const publishers = constructs.filter((c) => PUBLISHED_IMAGE_RUNNERS.has(c)).map((c) => `${c.node.path}/`);
  return uses.map((u) => {
    const published = publishers.some((p) => u.constructPath.startsWith(p));
    if (!published && (u.user === undefined || !owners.some((o) => u.constructPath.startsWith(o)))) return u;
    const { user, ...rest } = u;
    return { ...rest, ...(user !== undefined ? { overriddenUser: user } : {}), ...(published ? { published } : {}) };
  });
}

/** A construct that runs images outside Kubernetes objects (a Swarm service) and states what it relies on in them. */
export interface IDeclaresImageUses extends IConstruct {
  imageUses(): readonly ImageUse[];
}

function declaresImageUses(c: IConstruct): c is IDeclaresImageUses {
  return typeof (c as { imageUses?: unknown }).imageUses === 'function';
}

/** The image uses declared by constructs that write no Kubernetes object (Swarm services). */
export function constructImageUses(constructs: readonly IConstruct[]): ImageUse[] {
  return constructs.filter(declaresImageUses).flatMap((c) => c.imageUses());
}

function under(path: string, mount: string): boolean {
  const m = posix.normalize(mount).replace(/\/+$/, '');
  return m === '' || path === m || path.startsWith(`${m}/`);
}

/** A file name for an image reference: characters a path cannot hold become `-`; very long ones are cut and hashed. */
export function imageTestFileName(image: string, hashed = false): string {
  const hash = createHash('sha256').update(image).digest('hex').slice(0, HASH_LENGTH);
  let base = image.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[.-]+/, '');
  if (base.length > FILE_NAME_MAX) base = `${base.slice(0, FILE_NAME_MAX - HASH_LENGTH - 1)}-${hash}`;
  else if (hashed) base = `${base}-${hash}`;
  return `${base}${IMAGE_TEST_SUFFIX}`;
}

// Comments hold workload-chosen strings: JSON quoting keeps each on one line.
const quote = (s: string) => JSON.stringify(s).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

interface Merged {
  readonly config: StructureTestConfig;
  readonly notes: string[];
  readonly problems: string[];
}

function mergeUses(image: string, uses: readonly ImageUse[]): Merged {
  const problems: string[] = [];
  const notes: string[] = [];

  // One USER per image: the non-root uses must agree on the user, and on the group where they state one.
  const stated = uses.filter((u) => u.user !== undefined && !isRoot(u.user.user));
  let user: string | undefined;
  const users = [...new Set(stated.map((u) => u.user!.user))];
  const groups = [...new Set(stated.flatMap((u) => (u.user!.group !== undefined ? [u.user!.group] : [])))];
  if (users.length > 1 || groups.length > 1) {
    const listed = stated.map((u) => `${u.usedBy} runs it as ${quote(userText(u.user!))}`).join(', ');
    problems.push(
      `${stated[0].constructPath}: the workloads running image ${image} state different users (${listed}), but an image declares one USER, which its structure test checks. ` +
        'Fix: run every workload of this image as the same user and group, or build one image per user (a distinct tag)',
    );
  } else if (users.length === 1) {
    user = groups.length === 1 ? `${users[0]}:${groups[0]}` : users[0];
  }
  for (const u of uses.filter((x) => x.user !== undefined && isRoot(x.user.user))) notes.push(`${u.usedBy} runs it as root (its declared exemption), which asserts no user`);
  for (const u of uses.filter((x) => x.overriddenUser !== undefined && x.published !== true)) {
    notes.push(`${u.usedBy} runs it as ${quote(userText(u.overriddenUser!))} (runAsUser) whatever USER the image declares, which asserts no user`);
  }
  for (const u of uses.filter((x) => x.published === true)) {
    const own = [
      ...(u.overriddenUser === undefined ? [] : [`user ${quote(userText(u.overriddenUser))}`]),
      ...(u.ports.length === 0 ? [] : [`port${u.ports.length > 1 ? 's' : ''} ${u.ports.map((p) => p.port).join(', ')}`]),
    ];
    notes.push(`${u.usedBy} runs the publisher's image${own.length > 0 ? ` with ${own.join(' and ')} of its own` : ''}, whatever USER and EXPOSE it declares, which asserts neither`);
  }
  if (user === undefined) {
    for (const u of uses.filter((x) => x.requiresNonRoot)) {
      notes.push(`USER must be a numeric, non-zero uid: ${u.usedBy} sets runAsNonRoot without runAsUser, and the kubelet refuses to start it otherwise`);
    }
  }

  const ports = new Map<number, Set<string>>();
  for (const u of uses.filter((x) => x.published !== true)) for (const p of u.ports) ports.set(p.port, (ports.get(p.port) ?? new Set()).add(p.protocol));

  const files = new Map<string, string[]>();
  for (const u of uses) {
    for (const e of u.executables) {
      const where = `${e.purpose} of ${u.usedBy}`;
      let path: string | undefined;
      if (e.command.startsWith('/')) path = posix.normalize(e.command);
      else if (e.command.includes('/') && u.workingDir !== undefined) path = posix.join(u.workingDir, e.command);
      if (path === undefined) {
        notes.push(
          e.command.includes('/')
            ? `${quote(e.command)} (${where}) resolves against the image's WORKDIR, which the workload does not state`
            : `${quote(e.command)} (${where}) is looked up on the image's PATH`,
        );
        continue;
      }
      const mount = u.mounts.find((m) => under(path!, m));
      if (mount !== undefined) {
        notes.push(`${quote(path)} (${where}) lies under the mount at ${quote(mount)}, which provides it instead of the image`);
        continue;
      }
      files.set(path, [...(files.get(path) ?? []), where]);
    }
  }

  const metadataTest: StructureMetadataTest = {
    ...(user !== undefined ? { user } : {}),
    ...(ports.size > 0 ? { exposedPorts: [...ports.keys()].sort((a, b) => a - b).map(String) } : {}),
  };
  const fileExistenceTests = [...files.entries()]
    .sort(([a], [b]) => byCodePoint(a, b))
    .map(([path, purposes]): StructureFileExistenceTest => ({ name: `${path} is an executable (${purposes.join('; ')})`, path, shouldExist: true, isExecutableBy: 'any' }));
  const config: StructureTestConfig = {
    schemaVersion: CONTAINER_STRUCTURE_TEST_SCHEMA,
    ...(Object.keys(metadataTest).length > 0 ? { metadataTest } : {}),
    ...(fileExistenceTests.length > 0 ? { fileExistenceTests } : {}),
  };
  const multiProtocol = [...ports.entries()].filter(([, p]) => p.size > 1 || !p.has('tcp'));
  for (const [port, protocols] of multiProtocol) notes.push(`port ${port} is used as ${[...protocols].sort().join(' and ')}; the tool compares port numbers only`);
  return { config, notes: [...new Set(notes)], problems };
}

function render(image: string, path: string, uses: readonly ImageUse[], merged: Merged): string {
  const usedBy = [...new Set(uses.map((u) => u.usedBy))];
  const header = [
    `# container-structure-test config for ${quote(image)}, synthesized by shipshape from the workloads that run it.`,
    `# Check the image before it ships: container-structure-test test --image ${/^[A-Za-z0-9._/:@-]+$/.test(image) ? image : quote(image)} --config ${path.split('/').pop()}`,
    '# Used by:',
    ...usedBy.map((u) => `#   - ${u}`),
    ...(merged.notes.length > 0 ? ['# Not checked here (the workloads do not fix it, or the tool cannot express it):', ...merged.notes.map((n) => `#   - ${n}`)] : []),
  ];
  // Every line stays one comment line, whatever a workload name holds.
  const lines = header.map((l) => l.replace(/[\r\n\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  return `${lines.join('\n')}\n${toYaml(merged.config)}`;
}

/** The configs of an environment, one per image with at least one checkable fact, and the problems found. */
export function imageStructureTests(uses: readonly ImageUse[]): { tests: ImageStructureTest[]; problems: string[] } {
  const byImage = new Map<string, ImageUse[]>();
  for (const u of uses) byImage.set(u.image, [...(byImage.get(u.image) ?? []), u]);
  const images = [...byImage.keys()].sort(byCodePoint);
  // Distinct references that map to one file name (`a/b:1`, `a-b:1`) each get a hash of the full reference.
  const names = new Map<string, number>();
  for (const image of images) names.set(imageTestFileName(image), (names.get(imageTestFileName(image)) ?? 0) + 1);
  const tests: ImageStructureTest[] = [];
  const problems: string[] = [];
  for (const image of images) {
    const imageUses = byImage.get(image)!;
    const merged = mergeUses(image, imageUses);
    problems.push(...merged.problems);
    // A config without a single test fails the tool ("0 tests"): nothing checkable, no file.
    if (merged.config.metadataTest === undefined && merged.config.fileExistenceTests === undefined) continue;
    const path = `${IMAGE_TESTS_DIRECTORY}/${imageTestFileName(image, (names.get(imageTestFileName(image)) ?? 0) > 1)}`;
    tests.push({ image, path, config: merged.config, content: render(image, path, imageUses, merged), constructPath: imageUses[0].constructPath });
  }
  return { tests, problems };
}

/**
 * The image structure tests of one environment: Kubernetes workloads (`objects`) and SwarmServices (among
 * `constructs`). Problems name the construct, the values and the fix; `taken` are paths other files already use.
 */
export function environmentImageTests(
  objects: readonly { readonly manifest: Manifest; readonly constructPath: string }[],
  constructs: readonly IConstruct[],
  taken: readonly string[] = [],
): { tests: ImageStructureTest[]; problems: string[] } {
  const result = imageStructureTests([...withOverriddenUsers(kubernetesImageUses(objects), constructs), ...constructImageUses(constructs)]);
  for (const t of result.tests) {
    // Paths and commands come from workload fields: scan the file as every written file is scanned, comments included.
    // The file is comment lines and toYaml(config), so the config is scanned as the parsed file would be.
    const comments = t.content
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .join('\n');
    const found = [...scanYamlDocuments([t.config]).map((c) => `${c.kind} at ${c.path}: ${c.excerpt}`), ...scanText(comments).map((c) => `${c.kind}: ${c.excerpt}`)];
    if (found.length > 0) {
      result.problems.push(
        `${t.constructPath}: the structure test of image ${t.image} (${t.path}) would hold a credential in plain text (${found.join('; ')}), copied from a command or path of a workload running it. Fix: keep credentials out of commands and probe executables; reference a secret instead`,
      );
    }
    const clash = taken.find((p) => p === t.path || p.startsWith(`${t.path}/`));
    if (clash !== undefined)
      result.problems.push(`${t.constructPath}: the structure test of image ${t.image} would be written to ${t.path}, which ${clash} already uses. Fix: move that file elsewhere`);
  }
  return result;
}
