import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ResolvedNodeGroup, validateAutoscaling } from '../core/environment';
import { ShipshapeError } from '../core/errors';
import { selectorLabels, workloadLabels } from '../core/labels';
import { assertDnsLabel, assertInteger } from '../core/names';
import { exempt } from '../core/policy/exemptions';
import { budgetAllowsEviction } from '../core/policy/rules';
import { CountOrPercent, assertContainerResources, isCountOrPercent, resolveCountOrPercent } from '../core/quantities';
import { Stack } from '../core/stack';
import { INT32_MAX, assertDns1035Label, assertLabelValue, assertMountPaths, assertPinnedImage, assertPortName, configMapKeyProblem, isDns1123Label } from '../core/validate';

/** A port the main container listens on. */
export interface WorkloadPort {
  /** Container port number. */
  readonly port: number;
  /**
   * Port name, referenced by probes and Services.
   * @default 'http' for the first port, `port-<number>` for the others
   */
  readonly name?: string;
  /**
   * Protocol.
   * @default 'TCP'
   */
  readonly protocol?: 'TCP' | 'UDP';
}

/** How the workload is exposed inside (or outside) the cluster. */
export interface ServiceExposure {
  /**
   * Service type. LoadBalancer is allowed only because it is asked for here; the
   * object carries a policy exemption saying so.
   * @default 'ClusterIP'
   */
  readonly type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  /**
   * Service port of the first container port.
   * @default - the container port
   */
  readonly port?: number;
  /**
   * externalTrafficPolicy for NodePort and LoadBalancer Services.
   * @default 'Local' (keeps the client address and avoids the extra node hop of `Cluster`, see docs/practice.md#services)
   */
  readonly externalTrafficPolicy?: 'Local' | 'Cluster';
}

/** Update strategy of the Deployment. */
export type UpdateStrategy =
  | {
      /** Replace pods gradually. */
      readonly type: 'RollingUpdate';
      /**
       * Pods created above the desired count during an update.
       * @default '25%'
       */
      readonly maxSurge?: CountOrPercent;
      /**
       * Pods that may be unavailable during an update.
       * @default 0
       */
      readonly maxUnavailable?: CountOrPercent;
    }
  | {
      /** Stop every pod, then start the new ones (for workloads that must never run two versions at once). */
      readonly type: 'Recreate';
    };

/** Horizontal pod autoscaling (autoscaling/v2). */
export interface AutoscalingProps {
  /**
   * Fewest replicas.
   * @default - the environment's autoscaling.minReplicas, else 2
   */
  readonly minReplicas?: number;
  /**
   * Most replicas.
   * @default - the environment's autoscaling.maxReplicas, else 10
   */
  readonly maxReplicas?: number;
  /**
   * Target average CPU utilization, in percent of the CPU request.
   * @default 40 (HPA CPU target, see docs/practice.md#autoscaling)
   */
  readonly cpuUtilization?: number;
  /**
   * Seconds of lower recommendations the HPA waits for before scaling down.
   * @default 300
   */
  readonly scaleDownStabilizationSeconds?: number;
  /**
   * Most replicas removed per minute, in percent of the current count.
   * @default 50
   */
  readonly scaleDownPercentPerMinute?: number;
}

/** The PodDisruptionBudget of the workload: set one of the two fields. */
export interface DisruptionBudgetProps {
  /**
   * Pods that may be evicted at once.
   * @default 1 (when minAvailable is not set)
   */
  readonly maxUnavailable?: CountOrPercent;
  /**
   * Pods that must stay available.
   * @default - not set
   */
  readonly minAvailable?: CountOrPercent;
}

/** One key of a ConfigMap or a Secret. */
interface KeyReference {
  /** The key. */
  readonly key: string;
  /**
   * Whether the pod starts when the key (or the object) is missing.
   * @default false
   */
  readonly optional?: boolean;
}

/** A key of a ConfigMap, as an environment variable. */
export interface ConfigMapKeySource extends KeyReference {
  /** The ConfigMap, by name or as a construct. */
  readonly configMap: string | kplus.IConfigMap;
}

/** A key of a Secret, as an environment variable. */
export interface SecretKeySource extends KeyReference {
  /** The Secret, by name or as a construct. */
  readonly secret: string | kplus.ISecret;
}

/** An environment variable: a plain value, or a key of a ConfigMap or Secret. */
export type EnvSource = string | ConfigMapKeySource | SecretKeySource;

/** Every key of a ConfigMap (`{ configMap }`) or Secret (`{ secret }`) as environment variables. */
export type EnvFromSource = Pick<ConfigMapKeySource, 'configMap'> | Pick<SecretKeySource, 'secret'>;

/** Properties of an {@link AntiAffinityDeployment}. */
export interface AntiAffinityDeploymentProps {
  /** Name of every object (Deployment, Service, PDB, HPA, ServiceAccount) and of the main container. */
  readonly name: string;
  /** Container image with a pinned tag or digest (`registry/app:1.4.2`, `app@sha256:...`). */
  readonly image: string;
  /**
   * Value of the `app.kubernetes.io/component` label.
   * @default - no component label
   */
  readonly component?: string;
  /**
   * Entrypoint override.
   * @default - the image's entrypoint
   */
  readonly command?: string[];
  /**
   * Arguments.
   * @default - the image's command
   */
  readonly args?: string[];
  /**
   * Replicas when not autoscaled.
   * @default - the environment's `replicas`
   */
  readonly replicas?: number;
  /**
   * Ports of the main container.
   * @default []
   */
  readonly ports?: WorkloadPort[];
  /**
   * Service in front of the pods; `false` for none.
   * @default - a ClusterIP Service when there are ports
   */
  readonly service?: ServiceExposure | false;
  /**
   * Resources of the main container.
   * @default DEFAULT_RESOURCES: 100m CPU and 128Mi requested, 256Mi memory limit, no CPU limit
   */
  readonly resources?: kplus.ContainerResources;
  /**
   * Liveness probe (`kplus.Probe.fromHttpGet`, `fromTcpSocket`, `fromCommand`).
   * @default - a TCP check of the first port; required when there are no ports
   */
  readonly liveness?: kplus.Probe;
  /**
   * Readiness probe.
   * @default - a TCP check of the first port; required when there are no ports
   */
  readonly readiness?: kplus.Probe;
  /**
   * Startup probe for slow starters.
   * @default - none
   */
  readonly startup?: kplus.Probe;
  /**
   * Pod anti-affinity on the node hostname: `preferred` lets the scheduler pack
   * pods together when it must, `required` never does.
   * @default 'preferred'
   */
  readonly antiAffinity?: 'preferred' | 'required';
  /**
   * Weight of the preferred anti-affinity term (1-100).
   * @default 100
   */
  readonly antiAffinityWeight?: number;
  /**
   * Spread pods evenly over the environment's zones with a topology spread constraint.
   * @default - true when the environment has two or more zones
   */
  readonly zoneSpread?: boolean;
  /**
   * Node group the pods must run on (node affinity on its labels, tolerations for its taints).
   * @default - any node
   */
  readonly nodeGroup?: string;
  /**
   * PodDisruptionBudget; `false` for none (policy then fails for replicated workloads). An autoscaled Deployment
   * starts with one pod (see `autoscaling`), so a `minAvailable` of 1 or more blocks every eviction until the HPA
   * first scales it up (one HPA sync, 15 s by default); the default never blocks.
   * @default { maxUnavailable: 1 } (allows one eviction at any size, one pod included; with one pod per node, a node drain never waits on it)
   */
  readonly disruptionBudget?: DisruptionBudgetProps | false;
  /**
   * HorizontalPodAutoscaler; `false` for none. With an HPA the Deployment leaves `replicas` out, so no apply or
   * sync ever resets the HPA's decision. The price: a newly created Deployment starts with one pod until the HPA's
   * first sync raises it to `minReplicas` (the HPA does that without waiting for metrics). Writing
   * `replicas: minReplicas` instead would need every consumer to ignore the field afterwards (Argo CD
   * `ignoreDifferences` on /spec/replicas with `RespectIgnoreDifferences=true`, Pulumi `ignoreChanges`, never a
   * plain `kubectl apply`), and a consumer that forgets scales a busy Deployment back to the minimum.
   * @default - the environment's autoscaling, if any
   */
  readonly autoscaling?: AutoscalingProps | false;
  /**
   * Update strategy.
   * @default RollingUpdate with maxSurge 25% and maxUnavailable 0
   */
  readonly strategy?: UpdateStrategy;
  /**
   * Old ReplicaSets kept for `kubectl rollout undo`.
   * @default 5
   */
  readonly revisionHistoryLimit?: number;
  /**
   * Environment variables.
   * @default {}
   */
  readonly env?: Record<string, EnvSource>;
  /**
   * ConfigMaps and Secrets whose keys all become environment variables.
   * @default []
   */
  readonly envFrom?: EnvFromSource[];
  /**
   * Init containers, run in order before the main container.
   * @default []
   */
  readonly initContainers?: kplus.ContainerProps[];
  /**
   * Sidecar containers next to the main one.
   * @default []
   */
  readonly sidecars?: kplus.ContainerProps[];
  /**
   * PriorityClass of the pods.
   * @default - the cluster default
   */
  readonly priorityClassName?: string;
  /**
   * Seconds from the moment a pod is told to stop until it is killed. The clock starts before the preStop delay,
   * so the application's own shutdown gets `terminationGracePeriodSeconds - preStopDelaySeconds`; it must be
   * longer than the delay.
   * @default 30, plus preStopDelaySeconds when that is set (the application keeps Kubernetes' default 30 s after SIGTERM)
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * Seconds the main container keeps running, and serving, after its pod is marked for deletion and before it
   * gets SIGTERM. Removing a pod from a Service's endpoints reaches kube-proxy, ingress controllers and load
   * balancers only after a while; a container that stops at once fails the requests still routed to it. Written
   * as a `preStop` exec hook running `sleep <seconds>`, so the image must have `sleep` on its PATH (busybox,
   * coreutils; distroless and scratch images do not, and then the hook fails, the kubelet records a
   * FailedPreStopHook event and sends SIGTERM without delay). The hook runs with the container's own restricted
   * securityContext and writes nothing, so the restricted Pod Security Standard and the read-only root
   * filesystem still hold. (The built-in `sleep` action needs no binary but is alpha behind the
   * PodLifecycleSleepAction feature gate in Kubernetes 1.29.)
   * @default - none: the container gets SIGTERM as soon as the pod is deleted
   */
  readonly preStopDelaySeconds?: number;
  /**
   * Writable directories (emptyDir) under the read-only root filesystem.
   * @default ['/tmp']
   */
  readonly writablePaths?: string[];
}

/** Main-container resources when none are given: small, with the memory limit the policy wants and no CPU limit (CPU limits throttle latency-sensitive services). */
export const DEFAULT_RESOURCES: kplus.ContainerResources = {
  cpu: { request: kplus.Cpu.millis(100) },
  memory: { request: Size.mebibytes(128), limit: Size.mebibytes(256) },
};
// Scale out at 40% of the CPU request: headroom while new pods and nodes start (docs/practice.md#autoscaling).
const DEFAULT_CPU_UTILIZATION = 40;
// Kubernetes' own scale-down stabilization window.
const DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS = 300;
const DEFAULT_SCALE_DOWN_PERCENT_PER_MINUTE = 50;
// Used when a workload autoscales in an environment that sets no bounds: 2 survives a node failure, 10 is the
// node range's ceiling (docs/practice.md#autoscaling).
const FALLBACK_AUTOSCALING = { minReplicas: 2, maxReplicas: 10 };
// Enough ReplicaSets to roll back a few releases without cluttering `kubectl get rs` (Kubernetes keeps 10).
const DEFAULT_REVISION_HISTORY_LIMIT = 5;
// Kubernetes' default grace period.
const DEFAULT_GRACE_PERIOD_SECONDS = 30;
// A pod that must wait minutes for endpoints to converge has a routing problem a sleep will not fix.
const MAX_PRE_STOP_DELAY_SECONDS = 120;
const DEFAULT_ANTI_AFFINITY_WEIGHT = 100;
const ZONE_KEY = 'topology.kubernetes.io/zone';

function intOrString(value: CountOrPercent): kplus.k8s.IntOrString {
  return typeof value === 'number' ? kplus.k8s.IntOrString.fromNumber(value) : kplus.k8s.IntOrString.fromString(value);
}

function percentOrAbsolute(value: CountOrPercent): kplus.PercentOrAbsolute {
  return typeof value === 'number' ? kplus.PercentOrAbsolute.absolute(value) : kplus.PercentOrAbsolute.percent(Number(value.slice(0, -1)));
}

/**
 * A Deployment that survives node failure: pods spread over nodes (hostname
 * anti-affinity) and zones, a PodDisruptionBudget, optional HPA, probes,
 * resources, non-root security context and its own ServiceAccount.
 */
export class AntiAffinityDeployment extends Construct {
  public readonly deployment: kplus.Deployment;
  public readonly serviceAccount: kplus.ServiceAccount;
  /** The Service, when there is one. */
  public readonly service?: kplus.Service;
  /** The PodDisruptionBudget, when the workload can run two or more pods. */
  public readonly disruptionBudget?: kplus.k8s.KubePodDisruptionBudget;
  /** The HPA, when autoscaled. */
  public readonly autoscaler?: kplus.HorizontalPodAutoscaler;
  /** Labels that select this workload's pods. */
  public readonly selector: Readonly<Record<string, string>>;
  /** In-cluster URL of the Service's first port, e.g. `http://web-api.prod.svc:8080`. */
  public readonly url?: string;
  /** Fewest and most pods the workload runs. */
  public readonly replicaRange: { readonly min: number; readonly max: number };

  constructor(scope: Construct, id: string, props: AntiAffinityDeploymentProps) {
    super(scope, id);
    const env = Stack.of(this).environment;
    const name = assertDnsLabel(this, 'name', props.name);
    this.validateImage(props.image);
    const ports = this.resolvePorts(props.ports ?? []);
    const autoscaling = this.resolveAutoscaling(props.autoscaling, env.autoscaling);
    const replicas = autoscaling ? undefined : assertInteger(this, 'replicas', props.replicas ?? env.replicas, 1, INT32_MAX);
    this.replicaRange = autoscaling ? { min: autoscaling.minReplicas, max: autoscaling.maxReplicas } : { min: replicas!, max: replicas! };
    const group = props.nodeGroup === undefined ? undefined : env.nodeGroup(props.nodeGroup, this.node.path);
    const strategy = props.strategy ?? { type: 'RollingUpdate' };
    const antiAffinity = props.antiAffinity ?? 'preferred';
    this.validateStrategy(strategy);
    this.validatePlacement(antiAffinity, strategy, group, env.nodeGroups);

    this.selector = Object.freeze(selectorLabels(name, env));
    const labels = workloadLabels(name, env, props.component === undefined ? undefined : assertLabelValue(this, 'component', props.component));
    this.serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: { name, labels },
      automountToken: false,
    });

    const probes = this.resolveProbes(props, ports);
    const grace = this.resolveGrace(props.terminationGracePeriodSeconds, props.preStopDelaySeconds);
    this.deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name, labels },
      podMetadata: { labels },
      select: false,
      replicas,
      strategy: strategy.type === 'Recreate'
        ? kplus.DeploymentStrategy.recreate()
        : kplus.DeploymentStrategy.rollingUpdate({ maxSurge: percentOrAbsolute(strategy.maxSurge ?? '25%'), maxUnavailable: percentOrAbsolute(strategy.maxUnavailable ?? 0) }),
      serviceAccount: this.serviceAccount,
      automountServiceAccountToken: false,
      terminationGracePeriod: Duration.seconds(grace.terminationGracePeriodSeconds),
      securityContext: { ensureNonRoot: true },
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: this.selector }));

    this.deployment.addContainer(hardened({
      name,
      image: props.image,
      // The tag is pinned, so a cached image is the right one; pulling on every start only adds a registry dependency.
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: props.command,
      args: props.args,
      ports: ports.map((p) => ({ number: p.port, name: p.name, protocol: p.protocol === 'UDP' ? kplus.Protocol.UDP : kplus.Protocol.TCP })),
      resources: this.validateResources('resources', props.resources ?? DEFAULT_RESOURCES),
      liveness: probes.liveness,
      readiness: probes.readiness,
      startup: props.startup,
      ...(grace.preStopDelaySeconds !== undefined ? { lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(grace.preStopDelaySeconds)]) } } : {}),
      envVariables: this.resolveEnv(props.env ?? {}),
      envFrom: (props.envFrom ?? []).map((source, i) =>
        'configMap' in source ? kplus.Env.fromConfigMap(this.configMap(source.configMap, `env-from-${i}`)) : kplus.Env.fromSecret(this.secret(source.secret, `env-from-${i}`)),
      ),
    }));
    this.validateExtraContainers(name, props.initContainers ?? [], props.sidecars ?? []);
    for (const [i, init] of (props.initContainers ?? []).entries()) this.deployment.addInitContainer(hardened(this.withResources(init, `initContainers[${i}]`)));
    for (const [i, sidecar] of (props.sidecars ?? []).entries()) this.deployment.addContainer(hardened(this.withResources(sidecar, `sidecars[${i}]`)));
    for (const [i, path] of assertMountPaths(this, 'writablePaths', props.writablePaths ?? ['/tmp']).entries()) {
      const volume = kplus.Volume.fromEmptyDir(this, `writable-${i}`, `writable-${i}`);
      for (const c of [...this.deployment.initContainers, ...this.deployment.containers]) c.mount(path, volume);
    }

    // Peers are selected by the stable labels, not by cdk8s-plus' construct-path label.
    const peers = kplus.Pods.select(this, 'peers', { labels: this.selector });
    this.deployment.scheduling.separate(peers, {
      topology: kplus.Topology.HOSTNAME,
      weight: antiAffinity === 'required' ? undefined : assertInteger(this, 'antiAffinityWeight', props.antiAffinityWeight ?? DEFAULT_ANTI_AFFINITY_WEIGHT, 1, 100),
    });
    if (group) {
      for (const [key, value] of Object.entries(group.labels)) this.deployment.scheduling.attract(kplus.Node.labeled(kplus.NodeLabelQuery.is(key, value)));
      for (const taint of group.taints) {
        const effect = { NoSchedule: kplus.TaintEffect.NO_SCHEDULE, PreferNoSchedule: kplus.TaintEffect.PREFER_NO_SCHEDULE, NoExecute: kplus.TaintEffect.NO_EXECUTE }[taint.effect];
        const query = taint.value === undefined ? kplus.NodeTaintQuery.exists(taint.key, { effect }) : kplus.NodeTaintQuery.is(taint.key, taint.value, { effect });
        this.deployment.scheduling.tolerate(kplus.Node.tainted(query));
      }
    }

    const podSpec = ApiObject.of(this.deployment);
    // cdk8s-plus labels pods with a value derived from the construct path; nothing here selects by it, and
    // keeping it would roll every pod whenever a construct is renamed.
    podSpec.addJsonPatch(JsonPatch.remove(`/spec/template/metadata/labels/${kplus.Pod.ADDRESS_LABEL.replace('/', '~1')}`));
    podSpec.addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', assertInteger(this, 'revisionHistoryLimit', props.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT, 0, INT32_MAX)));
    // The restricted Pod Security Standard also wants the runtime's default seccomp profile.
    podSpec.addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' }));
    if (props.priorityClassName !== undefined) {
      podSpec.addJsonPatch(JsonPatch.add('/spec/template/spec/priorityClassName', assertDnsLabel(this, 'priorityClassName', props.priorityClassName)));
    }
    if (props.zoneSpread ?? env.zones.length >= 2) {
      podSpec.addJsonPatch(JsonPatch.add('/spec/template/spec/topologySpreadConstraints', [{
        maxSkew: 1,
        topologyKey: ZONE_KEY,
        // Soft, so losing a zone degrades placement instead of blocking it.
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: { ...this.selector } },
        // Count only pods of the same revision, so a rollout spreads its new pods too.
        matchLabelKeys: ['pod-template-hash'],
      }]));
    }

    if (autoscaling) {
      this.autoscaler = new kplus.HorizontalPodAutoscaler(this, 'autoscaler', {
        metadata: { name, labels },
        target: this.deployment,
        minReplicas: autoscaling.minReplicas,
        maxReplicas: autoscaling.maxReplicas,
        metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(autoscaling.cpuUtilization))],
        scaleDown: {
          stabilizationWindow: Duration.seconds(autoscaling.scaleDownStabilizationSeconds),
          policies: [{ replicas: kplus.Replicas.percent(autoscaling.scaleDownPercentPerMinute), duration: Duration.minutes(1) }],
        },
      });
    }

    if (this.replicaRange.max >= 2 && props.disruptionBudget !== false) {
      this.disruptionBudget = this.createDisruptionBudget(name, labels, props.disruptionBudget);
    }

    const exposure = props.service;
    if (exposure !== false && (exposure !== undefined || ports.length > 0)) {
      if (ports.length === 0) {
        throw new ShipshapeError(this, { problem: 'a Service was asked for but the container has no ports', value: exposure, fix: 'add ports, or set service: false' });
      }
      const type = exposure?.type ?? 'ClusterIP';
      assertDns1035Label(this, 'name', name);
      const servicePorts = ports.map((p, i) => ({
        name: p.name,
        port: i === 0 ? assertInteger(this, 'service.port', exposure?.port ?? p.port, 1, 65535) : p.port,
        targetPort: p.port,
        protocol: p.protocol === 'UDP' ? kplus.Protocol.UDP : kplus.Protocol.TCP,
      }));
      // The API server refuses two Service ports with one number and protocol.
      const taken = servicePorts.find((p, i) => servicePorts.findIndex((q) => q.port === p.port && q.protocol === p.protocol) !== i);
      if (taken) {
        throw new ShipshapeError(this, { problem: `the Service would have two ports ${taken.port}: service.port gives the first container port the number of another`, value: { servicePort: exposure?.port, ports: ports.map((p) => p.port) }, fix: 'choose a service.port that no other container port uses' });
      }
      this.service = new kplus.Service(this, 'service', {
        metadata: { name, labels },
        type: { ClusterIP: kplus.ServiceType.CLUSTER_IP, NodePort: kplus.ServiceType.NODE_PORT, LoadBalancer: kplus.ServiceType.LOAD_BALANCER }[type],
        ports: servicePorts,
      });
      for (const [key, value] of Object.entries(this.selector)) this.service.selectLabel(key, value);
      const serviceObject = ApiObject.of(this.service);
      if (type !== 'ClusterIP') serviceObject.addJsonPatch(JsonPatch.add('/spec/externalTrafficPolicy', exposure?.externalTrafficPolicy ?? 'Local'));
      if (type === 'LoadBalancer') exempt(serviceObject, 'service-load-balancer', `requested through service.type of ${this.node.path}`);
      this.url = `http://${name}.${env.namespace}.svc:${exposure?.port ?? ports[0].port}`;
    }
  }

  private validateImage(image: string): void {
    assertPinnedImage(this, 'image', image, 'ghcr.io/acme/web:1.4.2');
  }

  private resolvePorts(ports: WorkloadPort[]): Required<WorkloadPort>[] {
    const resolved = ports.map((p, i) => ({
      port: assertInteger(this, `ports[${i}].port`, p.port, 1, 65535),
      name: p.name ?? (i === 0 ? 'http' : `port-${p.port}`),
      protocol: p.protocol ?? 'TCP',
    }));
    for (const key of ['port', 'name'] as const) {
      const values = resolved.map((p) => p[key]);
      const dup = values.find((v, i) => values.indexOf(v) !== i);
      if (dup !== undefined) throw new ShipshapeError(this, { problem: `two ports share the ${key} ${dup}`, value: ports, fix: `give every port its own ${key}` });
    }
    resolved.forEach((p, i) => assertPortName(this, `ports[${i}].name`, p.name));
    return resolved;
  }

  private resolveAutoscaling(props: AutoscalingProps | false | undefined, fromEnvironment: { minReplicas: number; maxReplicas: number } | undefined) {
    if (props === false || (props === undefined && !fromEnvironment)) return undefined;
    const base = fromEnvironment ?? FALLBACK_AUTOSCALING;
    const resolved = {
      minReplicas: props?.minReplicas ?? base.minReplicas,
      maxReplicas: props?.maxReplicas ?? base.maxReplicas,
      cpuUtilization: assertInteger(this, 'autoscaling.cpuUtilization', props?.cpuUtilization ?? DEFAULT_CPU_UTILIZATION, 1, 100),
      scaleDownStabilizationSeconds: assertInteger(this, 'autoscaling.scaleDownStabilizationSeconds', props?.scaleDownStabilizationSeconds ?? DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS, 0, 3600),
      scaleDownPercentPerMinute: assertInteger(this, 'autoscaling.scaleDownPercentPerMinute', props?.scaleDownPercentPerMinute ?? DEFAULT_SCALE_DOWN_PERCENT_PER_MINUTE, 1, 100),
    };
    validateAutoscaling(this.node.path, resolved.minReplicas, resolved.maxReplicas);
    return resolved;
  }

  private validateStrategy(strategy: UpdateStrategy): void {
    if (strategy.type !== 'RollingUpdate') return;
    for (const field of ['maxSurge', 'maxUnavailable'] as const) {
      const value = strategy[field];
      if (value === undefined) continue;
      if (!isCountOrPercent(value)) throw new ShipshapeError(this, { problem: `strategy.${field} must be a non-negative integer or a percentage from "0%" to "100%"`, value, fix: `set strategy.${field} to e.g. 1 or "25%"` });
    }
    // The API server refuses maxSurge and maxUnavailable both 0; when percentages merely round to 0 the
    // controller itself allows one unavailable pod, so only literal zeros are an error.
    const isZero = (v: CountOrPercent | undefined, fallback: CountOrPercent) => (v ?? fallback) === 0 || (v ?? fallback) === '0%';
    if (isZero(strategy.maxSurge, '25%') && isZero(strategy.maxUnavailable, 0)) {
      throw new ShipshapeError(this, {
        problem: 'a rolling update with maxSurge and maxUnavailable both 0 can never replace a pod, and the API server refuses it',
        value: { maxSurge: strategy.maxSurge, maxUnavailable: strategy.maxUnavailable },
        fix: 'allow a surge (maxSurge: 1) or an unavailable pod (maxUnavailable: 1)',
      });
    }
  }

  /** Required hostname anti-affinity puts at most one pod on a node: the node group must be able to hold them all, surge included. */
  private validatePlacement(antiAffinity: 'preferred' | 'required', strategy: UpdateStrategy, group: ResolvedNodeGroup | undefined, groups: readonly ResolvedNodeGroup[]): void {
    if (antiAffinity !== 'required') return;
    const capacity = group ? group.maxSize : groups.reduce((sum, g) => sum + g.maxSize, 0);
    if (!group && groups.length === 0) return;
    const where = group ? `node group "${group.name}"` : 'the environment';
    if (this.replicaRange.max > capacity) {
      throw new ShipshapeError(this, {
        problem: `required hostname anti-affinity puts one pod per node, but ${this.replicaRange.max} replicas can never fit ${where}, which has at most ${capacity} nodes`,
        value: { replicas: this.replicaRange.max, maxNodes: capacity },
        fix: `use antiAffinity: 'preferred', lower the replicas to ${capacity} or raise the node group's maxSize`,
      });
    }
    if (strategy.type === 'RollingUpdate') {
      const surge = resolveCountOrPercent(strategy.maxSurge ?? '25%', this.replicaRange.max, true);
      const unavailable = resolveCountOrPercent(strategy.maxUnavailable ?? 0, this.replicaRange.max, false);
      if (unavailable === 0 && this.replicaRange.max + surge > capacity) {
        throw new ShipshapeError(this, {
          problem: `with required anti-affinity and maxUnavailable 0, a rollout at ${this.replicaRange.max} replicas needs ${this.replicaRange.max + surge} nodes but ${where} has at most ${capacity}, so it would hang`,
          value: { replicas: this.replicaRange.max, maxSurge: strategy.maxSurge ?? '25%', maxNodes: capacity },
          fix: 'allow maxUnavailable: 1, use antiAffinity: \'preferred\', or raise the node group\'s maxSize',
        });
      }
    }
  }

  /** The grace period covers the preStop delay and the application's shutdown, so it must outlast the delay. */
  private resolveGrace(gracePeriod: number | undefined, preStopDelay: number | undefined): { terminationGracePeriodSeconds: number; preStopDelaySeconds?: number } {
    if (preStopDelay === undefined) {
      return { terminationGracePeriodSeconds: assertInteger(this, 'terminationGracePeriodSeconds', gracePeriod ?? DEFAULT_GRACE_PERIOD_SECONDS, 0) };
    }
    const delay = assertInteger(this, 'preStopDelaySeconds', preStopDelay, 1, MAX_PRE_STOP_DELAY_SECONDS);
    const total = assertInteger(this, 'terminationGracePeriodSeconds', gracePeriod ?? delay + DEFAULT_GRACE_PERIOD_SECONDS, 0);
    if (total <= delay) {
      throw new ShipshapeError(this, {
        problem: `terminationGracePeriodSeconds ${total} does not outlast preStopDelaySeconds ${delay}: the grace period starts before the delay, so the container would be killed before or right after it gets SIGTERM`,
        value: { terminationGracePeriodSeconds: total, preStopDelaySeconds: delay },
        fix: `set terminationGracePeriodSeconds to at least ${delay} plus the application's shutdown time (e.g. ${delay + DEFAULT_GRACE_PERIOD_SECONDS}), or omit it for that default`,
      });
    }
    return { terminationGracePeriodSeconds: total, preStopDelaySeconds: delay };
  }

  private resolveProbes(props: AntiAffinityDeploymentProps, ports: Required<WorkloadPort>[]) {
    const tcpPort = ports.find((p) => p.protocol === 'TCP');
    const fallback = tcpPort ? kplus.Probe.fromTcpSocket({ port: tcpPort.port }) : undefined;
    const liveness = props.liveness ?? fallback;
    const readiness = props.readiness ?? fallback;
    if (!liveness || !readiness) {
      throw new ShipshapeError(this, {
        problem: 'the container has no TCP port to check, so liveness and readiness probes must be given',
        value: { liveness: props.liveness !== undefined, readiness: props.readiness !== undefined },
        fix: 'set liveness and readiness, e.g. kplus.Probe.fromCommand(["/bin/healthcheck"])',
      });
    }
    return { liveness, readiness };
  }

  private validateResources(field: string, resources: kplus.ContainerResources): kplus.ContainerResources {
    assertContainerResources(this, field, resources);
    const request = resources.memory?.request?.toMebibytes({ rounding: 1 });
    const limit = resources.memory?.limit?.toMebibytes({ rounding: 1 });
    if (request !== undefined && limit !== undefined && request > limit) {
      throw new ShipshapeError(this, { problem: `${field}.memory.request (${request}Mi) is above the limit (${limit}Mi)`, value: { request, limit }, fix: 'make the memory request ≤ the memory limit' });
    }
    const cpuRequest = milliCpu(resources.cpu?.request);
    const cpuLimit = milliCpu(resources.cpu?.limit);
    if (cpuRequest !== undefined && cpuLimit !== undefined && cpuRequest > cpuLimit) {
      throw new ShipshapeError(this, { problem: `${field}.cpu.request (${cpuRequest}m) is above the limit (${cpuLimit}m)`, value: { request: cpuRequest, limit: cpuLimit }, fix: 'make the CPU request ≤ the CPU limit' });
    }
    return resources;
  }

  /**
   * The API server refuses container names that are not DNS labels and names repeated anywhere in the pod (init
   * containers included); cdk8s-plus names an unnamed container "main" and refuses probes on init containers
   * with a plain Error, so all of it is checked here first.
   */
  private validateExtraContainers(mainName: string, initContainers: kplus.ContainerProps[], sidecars: kplus.ContainerProps[]): void {
    const seen = new Map<string, string>([[mainName, 'name']]);
    const fields = [...initContainers.map((c, i) => [c, `initContainers[${i}]`] as const), ...sidecars.map((c, i) => [c, `sidecars[${i}]`] as const)];
    for (const [container, field] of fields) {
      if (container.name !== undefined && !isDns1123Label(container.name)) {
        throw new ShipshapeError(this, { problem: `${field}.name is not a valid container name: it must be an RFC 1123 label`, value: container.name, fix: 'use 1-63 lower-case letters, digits or "-", starting and ending with a letter or digit (e.g. "log-shipper")' });
      }
      const effective = container.name ?? 'main';
      const other = seen.get(effective);
      if (other !== undefined) {
        throw new ShipshapeError(this, { problem: `${field} is named "${effective}" like ${other}, and the API server refuses two containers of one pod with the same name`, value: container.name, fix: `give ${field} a name of its own${container.name === undefined ? ' (an unnamed container is called "main")' : ''}` });
      }
      seen.set(effective, field);
    }
    for (const [i, init] of initContainers.entries()) {
      const probes = (['liveness', 'readiness', 'startup'] as const).filter((p) => init[p] !== undefined);
      if (probes.length > 0) {
        throw new ShipshapeError(this, { problem: `initContainers[${i}] has a ${probes.join(' and a ')} probe, but init containers run to completion and take no probes`, value: probes, fix: `remove ${probes.map((p) => `initContainers[${i}].${p}`).join(' and ')}, or make it a sidecar` });
      }
    }
  }

  private withResources(container: kplus.ContainerProps, field: string): kplus.ContainerProps {
    assertPinnedImage(this, `${field}.image`, container.image);
    return { ...container, resources: this.validateResources(`${field}.resources`, container.resources ?? DEFAULT_RESOURCES) };
  }

  private resolveEnv(env: Record<string, EnvSource>): Record<string, kplus.EnvValue> {
    const out: Record<string, kplus.EnvValue> = {};
    for (const [key, source] of Object.entries(env)) {
      if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(key)) {
        throw new ShipshapeError(this, { problem: 'an environment variable name must be a C identifier (letters, digits, _, -, .)', value: key, fix: 'rename the variable' });
      }
      if (typeof source === 'string') {
        out[key] = kplus.EnvValue.fromValue(source);
        continue;
      }
      // The API server checks a referenced key as it checks the keys of the ConfigMap or Secret itself.
      const keyProblem = configMapKeyProblem(source.key);
      if (keyProblem) throw new ShipshapeError(this, { problem: `env.${key} references an invalid ${'configMap' in source ? 'ConfigMap' : 'Secret'} key: ${keyProblem}`, value: source.key, fix: 'name the key as it is in the ConfigMap or Secret, e.g. "password" or "app.properties"' });
      if ('configMap' in source) out[key] = kplus.EnvValue.fromConfigMap(this.configMap(source.configMap, `env-${key}`), source.key, { optional: source.optional });
      else out[key] = kplus.EnvValue.fromSecretValue({ secret: this.secret(source.secret, `env-${key}`), key: source.key }, { optional: source.optional });
    }
    return out;
  }

  private configMap(ref: string | kplus.IConfigMap, id: string): kplus.IConfigMap {
    return typeof ref === 'string' ? kplus.ConfigMap.fromConfigMapName(this, id, assertDnsLabel(this, 'configMap', ref)) : ref;
  }

  private secret(ref: string | kplus.ISecret, id: string): kplus.ISecret {
    return typeof ref === 'string' ? kplus.Secret.fromSecretName(this, id, assertDnsLabel(this, 'secret', ref)) : ref;
  }

  private createDisruptionBudget(name: string, labels: Record<string, string>, props: DisruptionBudgetProps | undefined) {
    let spec: DisruptionBudgetProps;
    if (props && (props.maxUnavailable !== undefined) === (props.minAvailable !== undefined)) {
      throw new ShipshapeError(this, { problem: 'disruptionBudget needs exactly one of maxUnavailable and minAvailable', value: props, fix: 'set one of them, e.g. { maxUnavailable: 1 }' });
    } else {
      spec = props ?? { maxUnavailable: 1 };
    }
    for (const [field, value] of Object.entries(spec)) {
      if (!isCountOrPercent(value)) throw new ShipshapeError(this, { problem: `disruptionBudget.${field} must be a non-negative integer or a percentage`, value, fix: 'use e.g. 1 or "25%"' });
    }
    if (!budgetAllowsEviction({ spec }, this.replicaRange.min)) {
      throw new ShipshapeError(this, {
        problem: `the PodDisruptionBudget allows no eviction at ${this.replicaRange.min} replicas, so every node drain and cluster-autoscaler scale-down would hang`,
        value: spec,
        fix: `use maxUnavailable: 1, or a minAvailable below ${this.replicaRange.min}`,
      });
    }
    return new kplus.k8s.KubePodDisruptionBudget(this, 'disruption-budget', {
      metadata: { name, labels },
      spec: {
        selector: { matchLabels: { ...this.selector } },
        ...(spec.maxUnavailable !== undefined ? { maxUnavailable: intOrString(spec.maxUnavailable) } : { minAvailable: intOrString(spec.minAvailable!) }),
        // Crash-looping pods must not block drains (Kubernetes 1.27+).
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });
  }
}

function milliCpu(cpu: kplus.Cpu | undefined): number | undefined {
  if (cpu === undefined) return undefined;
  const amount = String(cpu.amount);
  return amount.endsWith('m') ? Number(amount.slice(0, -1)) : Number(amount) * 1000;
}

/** Adds the capability drop every container gets on top of cdk8s-plus' non-root, read-only defaults. */
function hardened(container: kplus.ContainerProps): kplus.ContainerProps {
  return {
    ...container,
    securityContext: {
      ensureNonRoot: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      // cdk8s-plus-27's Capability enum has no ALL, which the container runtime accepts and the restricted profile asks for.
      capabilities: { drop: ['ALL' as kplus.Capability] },
      ...container.securityContext,
    },
  };
}
