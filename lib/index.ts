// The public entry `shipshape`: constructs, their props and types, and the documented helpers, each named. A
// module's other exports are internal (the library's own modules and its tests import them by path), so adding
// a helper to a module never publishes it; test/public-surface.test.ts lists these names.

// Environments, stacks, synthesis and errors.
export { ShipshapeApp } from './core/app';
export type { ShipshapeAppProps } from './core/app';
export { Environment } from './core/environment';
export type {
  AutoscalingSizing,
  ClusterDestination,
  ContainerRuntime,
  ControlPlane,
  ControlPlaneKind,
  DeliverySettings,
  EnvironmentProps,
  MonitoringSettings,
  NodeGroup,
  NodeTaint,
  ResolvedNodeGroup,
} from './core/environment';
export { ShipshapeAggregateError, ShipshapeError } from './core/errors';
export type { ErrorScope, ShipshapeErrorDetails } from './core/errors';
export type { ImageExecutable, ImageStructureTest, ImageUse, StructureFileExistenceTest, StructureMetadataTest, StructureTestConfig } from './core/image-tests';
export { LABELS, MANAGED_BY } from './core/labels';
export type { Manifest } from './core/manifest';
export { OutputFile } from './core/output-file';
export type { OutputFileProps, YamlDocuments } from './core/output-file';
export type { CountOrPercent } from './core/quantities';
export { Stack } from './core/stack';
export type { StackProps } from './core/stack';
export { synthesizeApp, synthesizeStack } from './core/synth';
export type { SynthesizedObject, SynthesizedStack } from './core/synth';
export { formatSummary, synth } from './core/writer';
export type { EnvironmentSummary, SynthOptions } from './core/writer';

// Policy: findings, exemptions, and the cdk8s-cli validation plugin.
export { ShipshapePolicyValidation } from './core/policy/cdk8s-validation';
export type { Cdk8sValidationContext } from './core/policy/cdk8s-validation';
export type { CredentialFinding, LocatedCredential } from './core/policy/credentials';
export type { ConstructWarning, PolicyExemption, PolicyFinding, PolicyReport } from './core/policy/engine';
export { exempt } from './core/policy/exemptions';
export type { DeclaredExemption, ExemptOptions } from './core/policy/exemptions';

// Workloads.
export { AntiAffinityDeployment } from './workloads/anti-affinity-deployment';
export type {
  AntiAffinityDeploymentProps,
  AutoscalingProps,
  ConfigMapKeySource,
  ConfigMapMount,
  DisruptionBudgetProps,
  EnvFromSource,
  EnvSource,
  PersistentVolumeClaimMount,
  SecretKeySource,
  SecretMount,
  ServiceExposure,
  UpdateStrategy,
  VolumeAccessMode,
  WorkloadPort,
  WorkloadVolume,
} from './workloads/anti-affinity-deployment';
export { ServiceMonitor } from './workloads/service-monitor';
export type { ServiceMonitorProps, WorkloadMetrics } from './workloads/service-monitor';
export { CANARY_ANNOTATIONS, CanaryRelease, TRACK_LABEL } from './workloads/canary-release';
export type { CanaryHeader, CanaryReleaseProps } from './workloads/canary-release';
export { CERT_MANAGER_ANNOTATIONS, DEFAULT_INGRESS_CLASS, WorkloadIngress } from './workloads/workload-ingress';
export type { IngressPath, IngressTls, WorkloadIngressProps } from './workloads/workload-ingress';

// Cluster operations.
export {
  ArgoCdApplication,
  AutoscalerCloud,
  CLUSTER_API_MANAGEMENT_RULES,
  CLUSTER_AUTOSCALER_RELEASES,
  ClusterAutoscaler,
  EtcdBackup,
  KUBEADM_ETCD_VERSIONS,
  KUBE_STATE_METRICS_RELEASES,
  KubeStateMetrics,
  MetricsServer,
  NODE_VERBS_BY_PROVIDER,
  POD_DEFINING_RESOURCES,
  PlatformPriorityClasses,
  TeamAccess,
  TenantNamespace,
  WorkloadAlerts,
  assertIrsaAllowed,
  clusterApiNodeGroupAnnotations,
  clusterAutoscalerClusterRoleRules,
  isManagedControlPlane,
} from './cluster';
export type {
  AccessPreset,
  AccessRule,
  AccessSubject,
  ArgoCdApplicationProps,
  AutoscaledNodeGroup,
  AutoscalerExpander,
  AutoscalerProviderName,
  AwsAutoDiscovery,
  AwsAutoscalerCloud,
  AzureAutoscalerCloud,
  ClusterAdminGrant,
  ClusterApiAutoscalerCloud,
  ClusterApiManagementCluster,
  ClusterAutoscalerProps,
  ElasticsearchMetricsSource,
  EtcdBackupAlertsProps,
  EtcdBackupProps,
  EtcdCertificates,
  ExpanderPriority,
  GceAutoscalerCloud,
  KubeStateMetricsProps,
  MetricsServerProps,
  PlatformPriorityClassesProps,
  PlatformTier,
  PriorityTierSettings,
  RbacResource,
  RbacVerb,
  ScaleDownSettings,
  ScaledNodeGroup,
  SnapshotUpload,
  TeamAccessProps,
  PodSecurityLevel,
  TenantContainerDefaults,
  TenantContainerMaximum,
  TenantDns,
  TenantNamespaceProps,
  TenantPeer,
  TenantPodSecurity,
  TenantPort,
  TenantQuota,
  TenantQuotaAmounts,
  TenantTrafficRule,
  WorkloadAlertsProps,
} from './cluster';

// Logging.
export { EfkLogging, EfkStack, Elasticsearch, ElasticsearchBootstrap, ElasticsearchExporter, FluentEnv, FluentRegexp, FluentdAlerts, FluentdConfig, FluentdDaemonSet, Kibana } from './logging';
export type {
  AlertRule,
  AlertRuleGroup,
  EfkArchiveProps,
  EfkLoggingProps,
  EfkStackProps,
  ElasticsearchAntiAffinity,
  ElasticsearchBootstrapProps,
  ElasticsearchExporterProps,
  ElasticsearchHeap,
  ElasticsearchProps,
  ElasticsearchStorageProps,
  FluentDirective,
  FluentValue,
  FluentdAlertsProps,
  FluentdArchiveProps,
  FluentdBufferProps,
  FluentdConfigProps,
  FluentdDaemonSetProps,
  FluentdElasticsearchOutputProps,
  FluentdParser,
  FluentdS3OutputProps,
  FluentdTailProps,
  KibanaProps,
  MaxMapCountStrategy,
  PrometheusOperatorOptions,
} from './logging';

// Docker hosts.
export { DockerDaemonConfig, DockerPruneSchedule } from './docker';
export type {
  DaemonExemption,
  DaemonLogging,
  DaemonRule,
  DockerByteSize,
  DockerCpus,
  DockerDaemonConfigProps,
  DockerDuration,
  DockerLogSize,
  DockerPruneScheduleProps,
  FileLogging,
  FluentdEndpoint,
  FluentdLogging,
  GoDuration,
  IRegistryMirror,
  PruneLogging,
  PruneSchedule,
  Ulimit,
  Weekday,
} from './docker';

// Registry mirrors.
export { DockerHostRegistryMirror, RegistryConfig, RegistryMirror, distributionVersion } from './registry';
export type {
  DistributionVersion,
  DockerHostMirrorSpec,
  DockerHostRegistryMirrorProps,
  FilesystemStorage,
  MirrorAccess,
  MirrorCredentialSecrets,
  MirrorStorage,
  RegistryConfigProps,
  RegistryMirrorProps,
  RegistryProxy,
  RegistrySecretEnv,
  RegistryStorage,
  S3Storage,
} from './registry';

// Docker Swarm.
export { SwarmCluster, managerFailuresTolerated, SwarmProject, SwarmService, SwarmStack } from './swarm';
export type {
  GlobalMode,
  ReplicatedMode,
  ResolvedLogging,
  ResolvedRestartPolicy,
  ResolvedSwarmConfig,
  ResolvedSwarmHealthcheck,
  ResolvedSwarmMount,
  ResolvedSwarmPlacement,
  ResolvedSwarmPort,
  ResolvedSwarmResources,
  ResolvedSwarmSecret,
  ResolvedUpdatePolicy,
  RestartPolicy,
  ServiceMode,
  ResolvedSwarmNode,
  SwarmClusterProps,
  SwarmConfigFile,
  SwarmExemption,
  SwarmJoinTokens,
  SwarmNode,
  SwarmUnlockKeyStore,
  SwarmHealthcheck,
  SwarmMount,
  SwarmPlacement,
  SwarmPort,
  SwarmProjectProps,
  SwarmNetworkSpec,
  SwarmProjectConfig,
  SwarmProjectSpec,
  SwarmResources,
  SwarmSecretRef,
  SwarmServiceProps,
  SwarmServiceRule,
  SwarmServiceSpec,
  SwarmStackProps,
  UpdatePolicy,
} from './swarm';
