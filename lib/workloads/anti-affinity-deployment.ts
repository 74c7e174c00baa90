import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { assertPinnedImage } from '../core/images';
import { selectorLabels, workloadLabels } from '../core/labels';
import { assertDnsLabel, assertInteger } from '../core/names';
import { CountOrPercent } from '../core/quantities';
import { Stack } from '../core/stack';
import { INT32_MAX, assertLabelValue, assertMountPaths } from '../core/validate';
import { AZURE_WORKLOAD_IDENTITY_LABEL } from '../core/workload-identity';
import { resolveEnv, resolveEnvFrom, resolveProbes } from './container-spec';
import { DisruptionBudgetProps, createDisruptionBudget, planDisruptionBudget } from './disruption-budget';
import { AutoscalingProps, createAutoscaler, resolveAutoscaling } from './horizontal-autoscaling';
import { checkPlacement, checkStrategy, deploymentStrategy, placePods, spreadOverZones } from './placement';
import { checkExtraContainers, hardenExtraContainer, hardenMainContainer, patchPodTemplate, resolveShutdown } from './pod-hardening';
import { ServiceMonitor, WorkloadMetrics, monitorWorkload, withMetricsPort } from './service-monitor';
import { annotate, annotateObjects, checkAnnotations, checkIdentity, checkImagePullSecrets, checkPodUser, mergeAnnotations } from './workload-metadata';
import { exposeService, resolvePorts } from './workload-service';
import { WorkloadVolume, mountVolumes } from './workload-volume';

export type { AutoscalingProps } from './horizontal-autoscaling';
export type { DisruptionBudgetProps } from './disruption-budget';
export { DEFAULT_RESOURCES } from './pod-hardening';
export type { ConfigMapMount, PersistentVolumeClaimMount, SecretMount, VolumeAccessMode, WorkloadVolume } from './workload-volume';

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
   * externalTrafficPolicy for NodePort and LoadBalancer Services. `Local` keeps the client's source address (the
   * application and its logs see the real client IP, which rate limits and allow lists need) and skips the second
   * hop through another node: each node forwards only to the Service's pods on itself. For a LoadBalancer
   * Service, Kubernetes then allocates `spec.healthCheckNodePort`, a port on every node where kube-proxy answers
   * `/healthz` with 200 only while a ready pod of the Service runs on that node; the cloud load balancer checks it
   * and sends traffic only to those nodes, so that port must be reachable from the load balancer's health checks
   * (security groups, firewalls). A NodePort Service has no such check: a client that calls a node without a
   * local pod gets no answer. Load is shared per node, not per pod, which the spread over nodes evens out.
   * `Cluster` reaches any pod from any node but replaces the client address with a node's.
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
   * Time from the moment a pod is told to stop until it is killed, in whole seconds. The clock starts before the
   * preStop delay, so the application's own shutdown gets `terminationGracePeriod - preStopDelay`; it must be
   * longer than the delay.
   * @default Duration.seconds(30), plus preStopDelay when that is set (the application keeps Kubernetes' default 30 s after SIGTERM)
   */
  readonly terminationGracePeriod?: Duration;
  /**
   * Time the main container keeps running, and serving, after its pod is marked for deletion and before it
   * gets SIGTERM, in whole seconds from 1 to 120. Removing a pod from a Service's endpoints reaches kube-proxy, ingress controllers and load
   * balancers only after a while; a container that stops at once fails the requests still routed to it. Written
   * as a `preStop` exec hook running `sleep <seconds>`, so the image must have `sleep` on its PATH (busybox,
   * coreutils; distroless and scratch images do not, and then the hook fails, the kubelet records a
   * FailedPreStopHook event and sends SIGTERM without delay). The hook runs with the container's own restricted
   * securityContext and writes nothing, so the restricted Pod Security Standard and the read-only root
   * filesystem still hold. (The built-in `sleep` action needs no binary but is alpha behind the
   * PodLifecycleSleepAction feature gate in Kubernetes 1.29.)
   * @default - none: the container gets SIGTERM as soon as the pod is deleted
   */
  readonly preStopDelay?: Duration;
  /**
   * Writable directories (emptyDir) under the read-only root filesystem.
   * @default ['/tmp']
   */
  readonly writablePaths?: string[];
  /**
   * PersistentVolumeClaims, ConfigMaps and Secrets mounted in the main container, by name:
   * `[{ mountPath: '/data', persistentVolumeClaim: 'shop-data', accessMode: 'ReadWriteMany' }, { mountPath: '/etc/shop',
   * configMap: 'shop-config' }, { mountPath: '/run/secrets/db', secret: 'shop-db' }]`. ConfigMaps and Secrets are
   * mounted read-only, Secret files with mode 0400 (the pods then need `fsGroup`). A claim is taken as
   * ReadWriteOnce unless its `accessMode` says otherwise, and such a claim is refused for more than one pod or a
   * rolling update with a surge pod, which would hang on another node. Volumes are named `pvc-<n>`,
   * `configmap-<n>` and `secret-<n>` after their position.
   * @default [] (only the emptyDir `writablePaths`)
   */
  readonly volumes?: WorkloadVolume[];
  /**
   * Annotations on every object the construct creates (Deployment, Service, PodDisruptionBudget, HPA,
   * ServiceAccount, ServiceMonitor). Keys are qualified names (`example.com/owner`); values are any string,
   * written as given; keys under `shipshape.io` and keys the construct sets itself are refused.
   * @default {}
   */
  readonly annotations?: Record<string, string>;
  /**
   * Annotations on the pods (the Deployment's pod template), e.g. for a service mesh or a log agent. Changing
   * one rolls the pods.
   * @default {} (plus the `prometheus.io/*` annotations of `metrics` where no Prometheus Operator runs)
   */
  readonly podAnnotations?: Record<string, string>;
  /**
   * Annotations on the workload's ServiceAccount, chiefly its cloud identity: EKS IRSA
   * (`eks.amazonaws.com/role-arn: arn:aws:iam::<account>:role/<name>`), GKE Workload Identity
   * (`iam.gke.io/gcp-service-account: <name>@<project>.iam.gserviceaccount.com`, which also mounts the
   * ServiceAccount token the GKE metadata server needs) or Azure Workload Identity
   * (`azure.workload.identity/client-id: <uuid>`, which also labels the pods `azure.workload.identity/use: "true"`
   * for the Azure webhook). Formats are checked; a value known only at deploy time (a Pulumi output) when it is resolved.
   * The identity must trust this ServiceAccount (named like the workload); a CanaryRelease's canary has its own,
   * `<name>-canary`, which it must trust too.
   * @default {}
   */
  readonly serviceAccountAnnotations?: Record<string, string>;
  /**
   * Names of Secrets of type `kubernetes.io/dockerconfigjson` the images are pulled with, written on the pod spec
   * (so the Deployment shows what it pulls with). Never the credential itself: create the Secret outside Git.
   * @default [] (the node's own registry access)
   */
  readonly imagePullSecrets?: string[];
  /**
   * User id every container runs as. Set it when the image's `USER` is root or a name (`nginx`, `node`): the pods
   * require a non-root user, and the kubelet starts such an image only when it can see a non-zero numeric uid,
   * which this gives it whatever the image declares (the image structure test then asserts no `USER`). 0 is
   * refused.
   * @default - the image's USER, which must then be a numeric, non-zero uid
   */
  readonly runAsUser?: number;
  /**
   * Primary group id of every container (0 is allowed, as by the restricted Pod Security Standard).
   * @default - the image's group
   */
  readonly runAsGroup?: number;
  /**
   * Group that owns the mounted volumes, added to every container's groups, so a non-root user can write a
   * claim's files and read Secret files. Ownership is changed only when the volume's root does not match
   * (`fsGroupChangePolicy: OnRootMismatch`), which keeps the start of a pod with a large volume fast.
   * @default - volumes keep their ownership (required when a Secret is mounted)
   */
  readonly fsGroup?: number;
  /**
   * The port serving Prometheus metrics: a ServiceMonitor selecting the Service where the environment runs the
   * Prometheus Operator (with its selector labels), `prometheus.io/*` pod annotations elsewhere.
   * @default - not scraped
   */
  readonly metrics?: WorkloadMetrics;
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
  /** The ServiceMonitor, when the workload declares metrics and the environment runs the Prometheus Operator. */
  public readonly serviceMonitor?: ServiceMonitor;
  /** Fewest and most pods the workload runs. */
  public readonly replicaRange: { readonly min: number; readonly max: number };
  /** Whether the pods run as a `runAsUser` of their own, whatever USER the image declares (the image structure test then asserts none). */
  public readonly overridesImageUser: boolean;

  constructor(scope: Construct, id: string, props: AntiAffinityDeploymentProps) {
    super(scope, id);
    const env = Stack.of(this).environment;
    const name = assertDnsLabel(this, 'name', props.name);
    assertPinnedImage(this, 'image', props.image, 'ghcr.io/acme/web:1.4.2');
    const ports = resolvePorts(this, withMetricsPort(props.ports ?? [], props.metrics));
    const autoscaling = resolveAutoscaling(this, props.autoscaling, env.autoscaling);
    const replicas = autoscaling ? undefined : assertInteger(this, 'replicas', props.replicas ?? env.replicas, 1, INT32_MAX);
    this.replicaRange = autoscaling ? { min: autoscaling.minReplicas, max: autoscaling.maxReplicas } : { min: replicas!, max: replicas! };
    const group = props.nodeGroup === undefined ? undefined : env.nodeGroup(props.nodeGroup, this.node.path);
    const strategy = props.strategy ?? { type: 'RollingUpdate' };
    const antiAffinity = props.antiAffinity ?? 'preferred';
    checkStrategy(this, strategy);
    checkPlacement(this, this.replicaRange.max, antiAffinity, strategy, group, env.nodeGroups);

    const podUser = checkPodUser(this, { runAsUser: props.runAsUser, runAsGroup: props.runAsGroup, fsGroup: props.fsGroup });
    this.overridesImageUser = podUser.runAsUser !== undefined;
    const annotations = checkAnnotations(this, 'annotations', props.annotations ?? {});
    const podAnnotations = checkAnnotations(this, 'podAnnotations', props.podAnnotations ?? {});
    const accountAnnotations = checkAnnotations(this, 'serviceAccountAnnotations', props.serviceAccountAnnotations ?? {});
    const identity = checkIdentity(this, 'serviceAccountAnnotations', mergeAnnotations(this, ['annotations', 'serviceAccountAnnotations'], annotations, accountAnnotations));

    this.selector = Object.freeze(selectorLabels(name, env));
    const labels = workloadLabels(name, env, props.component === undefined ? undefined : assertLabelValue(this, 'component', props.component));
    this.serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: { name, labels, ...(Object.keys(accountAnnotations).length > 0 ? { annotations: accountAnnotations } : {}) },
      automountToken: false,
    });

    const probes = resolveProbes(this, props, ports);
    const shutdown = resolveShutdown(this, props.terminationGracePeriod, props.preStopDelay);
    this.deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name, labels },
      podMetadata: { labels },
      select: false,
      replicas,
      strategy: deploymentStrategy(strategy),
      serviceAccount: this.serviceAccount,
      // GKE's metadata server exchanges the pod's own ServiceAccount token; the IRSA and Azure webhooks inject a
      // token of their own audience, so every other pod keeps the Kubernetes API token out.
      automountServiceAccountToken: identity.includes('gcp'),
      terminationGracePeriod: shutdown.terminationGracePeriod,
      securityContext: {
        ensureNonRoot: true,
        user: podUser.runAsUser,
        group: podUser.runAsGroup,
        ...(podUser.fsGroup !== undefined ? { fsGroup: podUser.fsGroup, fsGroupChangePolicy: kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH } : {}),
      },
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: this.selector }));

    const main = this.deployment.addContainer(
      hardenMainContainer(this, {
        name,
        image: props.image,
        // The tag is pinned, so a cached image is the right one; pulling on every start only adds a registry dependency.
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: props.command,
        args: props.args,
        ports: ports.map((p) => ({ number: p.port, name: p.name, protocol: p.protocol === 'UDP' ? kplus.Protocol.UDP : kplus.Protocol.TCP })),
        resources: props.resources,
        liveness: probes.liveness,
        readiness: probes.readiness,
        startup: props.startup,
        ...(shutdown.lifecycle ? { lifecycle: shutdown.lifecycle } : {}),
        envVariables: resolveEnv(this, props.env ?? {}),
        envFrom: resolveEnvFrom(this, props.envFrom ?? []),
      }),
    );
    checkExtraContainers(this, name, props.initContainers ?? [], props.sidecars ?? []);
    for (const [i, init] of (props.initContainers ?? []).entries()) this.deployment.addInitContainer(hardenExtraContainer(this, `initContainers[${i}]`, init));
    for (const [i, sidecar] of (props.sidecars ?? []).entries()) this.deployment.addContainer(hardenExtraContainer(this, `sidecars[${i}]`, sidecar));
    for (const [i, path] of assertMountPaths(this, 'writablePaths', props.writablePaths ?? ['/tmp']).entries()) {
      const volume = kplus.Volume.fromEmptyDir(this, `writable-${i}`, `writable-${i}`);
      for (const c of [...this.deployment.initContainers, ...this.deployment.containers]) c.mount(path, volume);
    }
    mountVolumes(this, main, props.volumes ?? [], { maxReplicas: this.replicaRange.max, strategy, fsGroup: podUser.fsGroup, writablePaths: props.writablePaths ?? ['/tmp'] });
    if (identity.includes('azure')) this.deployment.podMetadata.addLabel(AZURE_WORKLOAD_IDENTITY_LABEL, 'true');

    placePods(this, this.deployment, this.selector, antiAffinity, props.antiAffinityWeight, group);
    patchPodTemplate(this, this.deployment, {
      revisionHistoryLimit: props.revisionHistoryLimit,
      priorityClassName: props.priorityClassName,
      imagePullSecrets: props.imagePullSecrets === undefined ? undefined : checkImagePullSecrets(this, props.imagePullSecrets),
    });
    if (props.zoneSpread ?? env.zones.length >= 2) spreadOverZones(this.deployment, this.selector);

    if (autoscaling) this.autoscaler = createAutoscaler(this, { name, labels }, this.deployment, autoscaling);
    if (this.replicaRange.max >= 2 && props.disruptionBudget !== false) {
      this.disruptionBudget = createDisruptionBudget(this, { name, labels }, this.selector, planDisruptionBudget(this, props.disruptionBudget, this.replicaRange.min));
    }
    const exposed = exposeService(this, name, env.namespace, labels, this.selector, ports, props.service);
    this.service = exposed?.service;
    this.url = exposed?.url;
    if (props.metrics !== undefined) {
      const annotatePods = (key: string, value: string) => this.deployment.podMetadata.addAnnotation(key, value);
      this.serviceMonitor = monitorWorkload(this, { name, labels, serviceLabels: this.selector, hasService: this.service !== undefined, ports, annotatePods }, props.metrics);
    }
    annotate(this, 'podAnnotations', 'pod template', this.deployment.podMetadata, podAnnotations);
    annotateObjects(this, 'annotations', annotations);
  }
}
