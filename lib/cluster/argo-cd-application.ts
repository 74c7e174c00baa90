import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import { ShipshapeError } from '../core/errors';
import { LABELS, MANAGED_BY } from '../core/labels';
import { assertDnsLabel } from '../core/names';
import { CLUSTER_SCOPED_KINDS } from '../core/ordering';
import { OutputFile } from '../core/output-file';
import { Manifest } from '../core/policy/manifest';
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
   * Sync automatically (with prune and self-heal), or wait for someone to press Sync.
   * @default - automatic everywhere except an environment named 'prod' (the notes: manual approval for prod)
   */
  readonly automated?: boolean;
  /**
   * Namespace Argo CD runs in (where Applications and AppProjects live).
   * @default 'argocd'
   */
  readonly argocdNamespace?: string;
  /**
   * Cluster API server the environment deploys to.
   * @default 'https://kubernetes.default.svc' (the cluster Argo CD runs in)
   */
  readonly destinationServer?: string;
  /**
   * Name of the Application and AppProject.
   * @default - the environment name
   */
  readonly name?: string;
}

// What the project's allow-lists need of each ApiObject, read without rendering the objects (synth does that once).
function manifestsOf(stack: Stack): Pick<Manifest, 'apiVersion' | 'kind' | 'metadata'>[] {
  return stack.node.findAll().filter(ApiObject.isApiObject).map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.name, namespace: o.metadata.namespace } }));
}

/**
 * The Argo CD Application and AppProject of one environment, written to `dist/argocd/<name>.yaml` (not into the
 * environment's own manifests: Argo CD must not manage its own Application). The project allows exactly the
 * repository, the namespaces and the cluster-scoped kinds the environment's manifests use.
 */
export class ArgoCdApplication extends Construct {
  /** The Application, as written. */
  public readonly application: () => Manifest;
  /** The AppProject, as written. */
  public readonly project: () => Manifest;
  /** Path of the written file relative to the output root. */
  public readonly filePath: string;
  /** Whether sync is automatic. */
  public readonly automated: boolean;

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
    const argocdNamespace = assertDnsLabel(this, 'argocdNamespace', props.argocdNamespace ?? 'argocd');
    const server = props.destinationServer ?? 'https://kubernetes.default.svc';
    if (!/^https:\/\/[A-Za-z0-9.-]+(:\d+)?(\/[^\s]*)?$/.test(server)) {
      throw new ShipshapeError(this, { problem: 'destinationServer must be an https URL of a Kubernetes API server', value: server, fix: 'use e.g. "https://kubernetes.default.svc"' });
    }
    const name = assertDnsLabel(this, 'name', props.name ?? env.name);
    this.automated = props.automated ?? env.name !== 'prod';
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
          destinations: namespaces.map((namespace) => ({ server, namespace })),
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
        // Deleting a non-prod Application also deletes what it deployed; a prod Application can be removed without touching prod.
        ...(this.automated ? { finalizers: ['resources-finalizer.argocd.argoproj.io'] } : {}),
      },
      spec: {
        project: name,
        source: { repoURL: props.repoURL, targetRevision, path },
        destination: { server, namespace: env.namespace },
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
      content: () => [this.project(), this.application()].map((m) => stringify(m, { lineWidth: 0 })).join('---\n'),
    });
  }
}
