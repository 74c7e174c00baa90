import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct, IConstruct } from 'constructs';
import { Environment } from './environment';
import { ShipshapeError } from './errors';
import { LABELS, MANAGED_BY } from './labels';
import { outputState, outputStateAfterCdk8sRender } from './output-state';
import { assertLabels } from './validate';

// The Pod Security Standards (k8s.io/pod-security-admission/api Level).
const POD_SECURITY_LEVELS: readonly string[] = ['privileged', 'baseline', 'restricted'];

/** Properties of a {@link Stack}. */
export interface StackProps {
  /** The environment every construct in this stack is built for. */
  readonly environment: Environment;
  /**
   * Extra labels for every object of the stack (e.g. `app.kubernetes.io/part-of`).
   * @default {}
   */
  readonly labels?: Record<string, string>;
  /**
   * Whether the stack creates the environment's Namespace object.
   * @default - true when the environment has a Kubernetes cluster
   */
  readonly createNamespace?: boolean;
  /**
   * Pod Security Standard the API server enforces in the namespace (pod-security.kubernetes.io/enforce).
   * @default 'restricted' (what every shipshape workload already satisfies; a stray privileged pod is refused at admission)
   */
  readonly podSecurity?: 'restricted' | 'baseline' | 'privileged';
}

/**
 * All constructs of one environment. Every object in it lands in the
 * environment's namespace and carries the managed-by and environment labels;
 * object names are explicit, never construct-path hashes.
 */
export class Stack extends Chart {
  /** The stack a construct belongs to; throws when it is not inside one. */
  public static of(construct: IConstruct): Stack {
    for (let c: IConstruct | undefined = construct; c; c = c.node.scope) {
      if (c instanceof Stack) return c as Stack;
    }
    throw new ShipshapeError(construct, {
      problem: 'this construct must be created inside a shipshape Stack',
      fix: 'create it with a Stack (or a construct inside one) as its scope',
    });
  }

  public readonly environment: Environment;
  /** The environment's Namespace object, when the stack creates it. */
  public readonly namespaceObject?: kplus.Namespace;

  constructor(scope: Construct, id: string, props: StackProps) {
    const environment = props.environment;
    const path = [scope.node.path, id].filter(Boolean).join('/');
    // Checked before the chart exists: every object of the stack would carry a bad label.
    if (props.labels !== undefined) assertLabels(path, 'labels', props.labels);
    // The API server refuses any other value of the pod-security.kubernetes.io/* labels, and the whole Namespace with it.
    if (props.podSecurity !== undefined && !POD_SECURITY_LEVELS.includes(props.podSecurity)) {
      throw new ShipshapeError(path, {
        problem: `podSecurity must be one of ${POD_SECURITY_LEVELS.join(', ')} (a Pod Security Standard)`,
        value: props.podSecurity,
        fix: "use 'restricted', or 'baseline' / 'privileged' for namespaces whose pods need more, or omit it",
      });
    }
    super(scope, id, {
      namespace: environment.namespace,
      disableResourceNameHashes: true,
      labels: {
        ...props.labels,
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.environment]: environment.name,
      },
    });
    this.environment = environment;
    if (props.createNamespace ?? environment.hasKubernetes) {
      const level = props.podSecurity ?? 'restricted';
      this.namespaceObject = new kplus.Namespace(this, 'namespace', {
        metadata: {
          name: environment.namespace,
          labels: {
            'pod-security.kubernetes.io/enforce': level,
            'pod-security.kubernetes.io/enforce-version': `v1.${environment.kubernetesMinorFor(this)}`,
            'pod-security.kubernetes.io/warn': level,
          },
        },
      });
    }
    refuseCdk8sSynth(this);
  }

  /**
   * cdk8s's rendering of this chart, which its `App.synth()` and `synthYaml()` call: refused under an App subclass
   * (other than ShipshapeApp) whose synth calls `super.synth()`, since that bypasses shipshape's construct checks,
   * policy and writer. Under a plain App (whose synth is refused before it starts) and a ShipshapeApp it renders.
   */
  public override toJson(): any[] {
    const app = this.node.root;
    if (app instanceof App && Object.getPrototypeOf(app) !== App.prototype && !shipshapeApps.has(app)) {
      const stacks = app.node.findAll().filter((c): c is Stack => c instanceof Stack);
      throw new ShipshapeError(stacks.map((s) => s.node.path).join(', '), {
        problem: `${app.constructor.name} renders these stacks with cdk8s's App.synth() or synthYaml() (super.synth()), which bypasses shipshape's checks, policy and writer, so it was refused before any of their manifests was written; ${outputStateAfterCdk8sRender(app.outdir)}`,
        fix: "extend `ShipshapeApp` from 'shipshape' instead of App, or call `synth(app)` from 'shipshape' instead of super.synth()",
      });
    }
    return super.toJson();
  }
}

// Apps whose synth() and synthYaml() render through shipshape, never through Stack.toJson().
const shipshapeApps = new WeakSet<App>();

/** Records that `app` (a ShipshapeApp) synthesizes through shipshape, so its stacks' toJson() stays available. */
export function synthesizesThroughShipshape(app: App): void {
  shipshapeApps.add(app);
}

/**
 * cdk8s's own `App.synth()` and `synthYaml()` render charts without shipshape's construct checks, policy and
 * atomic writer (and put `namespace:` even on the Namespace object). On an app that still has them (a plain
 * cdk8s App) both are replaced by a refusal that says what to call instead; it throws before cdk8s creates
 * the output directory. ShipshapeApp, and any App subclass with its own synth, are left alone: such a synth that
 * calls cdk8s's is refused in {@link Stack.toJson}.
 */
function refuseCdk8sSynth(stack: Stack): void {
  const app = stack.node.root;
  if (!(app instanceof App)) return;
  for (const method of ['synth', 'synthYaml'] as const) {
    if (app[method] !== App.prototype[method]) continue;
    const refusal = (): never => {
      const stacks = app.node.findAll().filter((c): c is Stack => c instanceof Stack);
      const outcome = method === 'synth' ? outputState(app.outdir) : 'nothing was rendered';
      throw new ShipshapeError(stacks.map((s) => s.node.path).join(', '), {
        problem: `app.${method}() of a plain cdk8s App bypasses shipshape's checks, policy and writer for these stacks, so it was refused; ${outcome}`,
        fix: "create the app with `new ShipshapeApp()` from 'shipshape', whose synth() goes through shipshape, or call `synth(app)` from 'shipshape' instead",
      });
    };
    Object.defineProperty(app, method, { value: refusal, configurable: true, writable: true });
  }
}
