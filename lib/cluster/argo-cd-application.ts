import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { ClusterDestination, IN_CLUSTER_SERVER, describeCluster } from '../core/environment';
import { ShipshapeError } from '../core/errors';
import { LABELS, MANAGED_BY } from '../core/labels';
import { assertDnsLabel } from '../core/names';
import { CLUSTER_SCOPED_KINDS } from '../core/ordering';
import { OutputFile } from '../core/output-file';
import { scanText } from '../core/policy/credentials';
import { Manifest } from '../core/manifest';
import { Stack } from '../core/stack';

/** Properties of an {@link ArgoCdApplication}. */
export interface ArgoCdApplicationProps {
  /** Git repository holding the synthesized `dist/` (HTTPS or SSH URL). */
  readonly repoURL: string;
  /**
   * Branch (or tag) Argo CD follows.
   * @default 'main'
   */
  readonly targetRevision?: string;
  /**
   * Directory of the environment's manifests in the repository.
   * @default 'dist/<env>/kubernetes'
   */
  readonly path?: string;
  /**
   * Namespace Argo CD runs in (where Applications and AppProjects live).
   * @default 'argocd'
   */
  readonly argocdNamespace?: string;
  /**
   * Name of the Application and AppProject.
   * @default - the environment name
   */
  readonly name?: string;
}

// What the project's allow-lists need of each ApiObject, read without rendering the objects (synth does that once).
function manifestsOf(stack: Stack): Pick<Manifest, 'apiVersion' | 'kind' | 'metadata'>[] {
  return stack.node
    .findAll()
    .filter(ApiObject.isApiObject)
    .map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.name, namespace: o.metadata.namespace } }));
}

/**
 * Argo CD's cascading-delete finalizer, domain-qualified: the API server warns about the bare
 * `resources-finalizer.argocd.argoproj.io`. `foreground` deletes the deployed objects before the Application.
 */
export const ARGO_CD_RESOURCES_FINALIZER = 'resources-finalizer.argocd.argoproj.io/foreground';

/**
 * The Argo CD Application and AppProject of one environment, written to `dist/argocd/<name>.yaml` (not into the
 * environment's own manifests: Argo CD must not manage its own Application). The destination is the
 * environment's `cluster` and the sync mode its `delivery.sync`; the project allows exactly the repository,
 * that cluster, the namespaces and the cluster-scoped kinds the environment's manifests use.
 *
 * When several environments are delivered through Argo CD, each must state its cluster: otherwise all of them
 * land in the cluster Argo CD runs in and overwrite each other's shared objects.
 */
export class ArgoCdApplication extends Construct {
  /** The Application, as written. */
  public readonly application: () => Manifest;
  /** The AppProject, as written. */
  public readonly project: () => Manifest;
  /** Path of the written file relative to the output root. */
  public readonly filePath: string;
  /** Whether sync is automatic (the environment's `delivery.sync`). */
  public readonly automated: boolean;
  /** Where the Application deploys to. */
  public readonly destination: ClusterDestination;

  constructor(scope: Construct, id: string, props: ArgoCdApplicationProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const env = stack.environment;
    if (!/^(https:\/\/[^\s@]+|ssh:\/\/[^\s]+|git@[^\s:]+:[^\s]+)$/.test(props.repoURL ?? '') || /:\/\/[^/@\s]+:[^/@\s]+@/.test(props.repoURL)) {
      throw new ShipshapeError(this, {
        problem: 'repoURL must be an https://, ssh:// or git@ URL without credentials in it',
        value: props.repoURL,
        fix: 'use e.g. "https://github.com/acme/platform-deploy.git" and give Argo CD the credentials as a repository Secret',
      });
    }
    const targetRevision = props.targetRevision ?? 'main';
    if (!/^[A-Za-z0-9._\-/]+$/.test(targetRevision) || targetRevision.includes('..')) {
      throw new ShipshapeError(this, { problem: 'targetRevision must be a branch, tag or commit', value: targetRevision, fix: 'use e.g. "main"' });
    }
    const path = props.path ?? `dist/${env.name}/kubernetes`;
    if (!/^[A-Za-z0-9._\-/]+$/.test(path) || path.startsWith('/') || path.split('/').includes('..')) {
      throw new ShipshapeError(this, { problem: 'path must be a relative directory in the repository', value: path, fix: `use e.g. "dist/${env.name}/kubernetes"` });
    }
    // The file is committed to Git and read by anyone who can read the argocd namespace: no token in a query string
    // (?token=), a revision or a path.
    for (const [field, value] of [
      ['repoURL', props.repoURL],
      ['targetRevision', targetRevision],
      ['path', path],
    ] as const) {
      const leaked = scanText(value)[0];
      if (leaked) {
        throw new ShipshapeError(this, {
          problem: `${field} holds a credential (${leaked.kind}), which would be written in plain text to argocd/<name>.yaml`,
          value: leaked.excerpt,
          fix:
            field === 'repoURL'
              ? 'use the plain repository URL and give Argo CD the credentials as a repository Secret'
              : `use a ${field === 'path' ? 'directory' : 'branch, tag or commit'} that is not a secret`,
        });
      }
    }
    const argocdNamespace = assertDnsLabel(this, 'argocdNamespace', props.argocdNamespace ?? 'argocd');
    const name = assertDnsLabel(this, 'name', props.name ?? env.name);
    this.requireClusterWhenShared(env.name);
    this.destination = env.cluster ?? { server: IN_CLUSTER_SERVER };
    this.automated = env.delivery.sync === 'automated';
    const labels = { [LABELS.name]: name, [LABELS.managedBy]: MANAGED_BY, [LABELS.environment]: env.name };

    this.project = () => {
      const manifests = manifestsOf(stack);
      const namespaces = [...new Set([env.namespace, ...manifests.filter((m) => !CLUSTER_SCOPED_KINDS.has(m.kind)).map((m) => m.metadata.namespace ?? env.namespace)])].sort();
      const clusterKinds = new Map<string, { group: string; kind: string }>();
      for (const m of manifests.filter((x) => CLUSTER_SCOPED_KINDS.has(x.kind))) {
        const group = m.apiVersion.includes('/') ? m.apiVersion.split('/')[0] : '';
        clusterKinds.set(`${group}/${m.kind}`, { group, kind: m.kind });
      }
      return {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'AppProject',
        metadata: { name, namespace: argocdNamespace, labels },
        spec: {
          description: `shipshape environment ${env.name}`,
          sourceRepos: [props.repoURL],
          destinations: namespaces.map((namespace) => ({ ...this.destination, namespace })),
          clusterResourceWhitelist: [...clusterKinds.keys()].sort().map((k) => clusterKinds.get(k)!),
        },
      };
    };
    this.application = () => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {
        name,
        namespace: argocdNamespace,
        labels,
        // Deleting an automated Application also deletes what it deployed; a manually synced one can be
        // removed without touching the cluster.
        ...(this.automated ? { finalizers: [ARGO_CD_RESOURCES_FINALIZER] } : {}),
      },
      spec: {
        project: name,
        source: { repoURL: props.repoURL, targetRevision, path },
        destination: { ...this.destination, namespace: env.namespace },
        syncPolicy: {
          ...(this.automated ? { automated: { prune: true, selfHeal: true } } : {}),
          // The manifests create their namespaces themselves; prune deletions go last so dependants leave first.
          syncOptions: ['CreateNamespace=false', 'PruneLast=true', 'ServerSideApply=true'],
          retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '3m' } },
        },
        revisionHistoryLimit: 10,
      },
    });
    this.filePath = `argocd/${name}.yaml`;
    new OutputFile(this, 'file', {
      path: this.filePath,
      shared: true,
      content: () => ({ documents: [this.project(), this.application()] }),
    });
  }

  /** Refuses a second Argo CD environment while any of them leaves its cluster unstated. */
  private requireClusterWhenShared(envName: string): void {
    const others = this.node.root.node.findAll().filter((c): c is ArgoCdApplication => c instanceof ArgoCdApplication && c !== this);
    const environments = new Map<string, Stack>([[envName, Stack.of(this)]]);
    for (const o of others) environments.set(Stack.of(o).environment.name, Stack.of(o));
    if (environments.size < 2) return;
    const unstated = [...environments.values()]
      .filter((s) => s.environment.cluster === undefined)
      .map((s) => s.environment.name)
      .sort();
    if (unstated.length === 0) return;
    const stated = [...environments.values()].filter((s) => s.environment.cluster !== undefined).map((s) => `${s.environment.name} → ${describeCluster(s.environment.cluster!)}`);
    throw new ShipshapeError(this, {
      problem: `${environments.size} environments are delivered through Argo CD (${[...environments.keys()].sort().join(', ')}), but ${unstated.map((n) => `"${n}"`).join(' and ')} state${unstated.length === 1 ? 's' : ''} no cluster, so ${unstated.length === 1 ? 'it' : 'they'} would deploy into the cluster Argo CD runs in${stated.length > 0 ? ` (stated: ${stated.join(', ')})` : ''}`,
      value: unstated,
      fix: `set cluster on ${unstated.map((n) => `environment "${n}"`).join(' and ')}, e.g. cluster: { server: 'https://<API server>' } or { name: '<Argo CD cluster name>' }`,
    });
  }
}
