import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import * as shipshape from 'shipshape';
import * as shipshapePulumi from 'shipshape/pulumi';

const root = path.resolve(__dirname, '..');
const ENTRIES = { shipshape: 'lib/index.ts', 'shipshape/pulumi': 'lib/pulumi/index.ts' } as const;
type Entry = keyof typeof ENTRIES;

// The public API, reviewed: a name added to an entry must be added here too.
const PUBLIC: Record<Entry, readonly string[]> = {
  shipshape: [
    'AccessPreset',
    'AccessRule',
    'AccessSubject',
    'AlertRule',
    'AlertRuleGroup',
    'AntiAffinityDeployment',
    'AntiAffinityDeploymentProps',
    'ArgoCdApplication',
    'ArgoCdApplicationProps',
    'AutoscaledNodeGroup',
    'AutoscalerCloud',
    'AutoscalerExpander',
    'AutoscalerProviderName',
    'AutoscalingProps',
    'AutoscalingSizing',
    'AwsAutoDiscovery',
    'AwsAutoscalerCloud',
    'AzureAutoscalerCloud',
    'CLUSTER_API_MANAGEMENT_RULES',
    'Cdk8sValidationContext',
    'ClusterAdminGrant',
    'ClusterApiAutoscalerCloud',
    'ClusterApiManagementCluster',
    'ClusterAutoscaler',
    'ClusterAutoscalerProps',
    'ClusterDestination',
    'ConfigMapKeySource',
    'ConfigMapMount',
    'ConstructWarning',
    'ContainerRuntime',
    'ControlPlane',
    'ControlPlaneKind',
    'CountOrPercent',
    'CredentialFinding',
    'DaemonExemption',
    'DaemonLogging',
    'DaemonRule',
    'DeclaredExemption',
    'DeliverySettings',
    'DisruptionBudgetProps',
    'DistributionVersion',
    'DockerByteSize',
    'DockerCpus',
    'DockerDaemonConfig',
    'DockerDaemonConfigProps',
    'DockerDuration',
    'DockerHostMirrorSpec',
    'DockerHostRegistryMirror',
    'DockerHostRegistryMirrorProps',
    'DockerLogSize',
    'DockerPruneSchedule',
    'DockerPruneScheduleProps',
    'EfkArchiveProps',
    'EfkLogging',
    'EfkLoggingProps',
    'EfkStack',
    'EfkStackProps',
    'Elasticsearch',
    'ElasticsearchAntiAffinity',
    'ElasticsearchBootstrap',
    'ElasticsearchBootstrapProps',
    'ElasticsearchHeap',
    'ElasticsearchProps',
    'ElasticsearchStorageProps',
    'EnvFromSource',
    'EnvSource',
    'Environment',
    'EnvironmentProps',
    'EnvironmentSummary',
    'ErrorScope',
    'EtcdBackup',
    'EtcdBackupAlertsProps',
    'EtcdBackupProps',
    'EtcdCertificates',
    'ExemptOptions',
    'ExpanderPriority',
    'FileLogging',
    'FilesystemStorage',
    'FluentDirective',
    'FluentEnv',
    'FluentRegexp',
    'FluentValue',
    'FluentdAlerts',
    'FluentdAlertsProps',
    'FluentdArchiveProps',
    'FluentdBufferProps',
    'FluentdConfig',
    'FluentdConfigProps',
    'FluentdDaemonSet',
    'FluentdDaemonSetProps',
    'FluentdElasticsearchOutputProps',
    'FluentdEndpoint',
    'FluentdLogging',
    'FluentdParser',
    'FluentdS3OutputProps',
    'FluentdTailProps',
    'GceAutoscalerCloud',
    'GlobalMode',
    'GoDuration',
    'IRegistryMirror',
    'ImageExecutable',
    'ImageStructureTest',
    'ImageUse',
    'Kibana',
    'KibanaProps',
    'LABELS',
    'LocatedCredential',
    'MANAGED_BY',
    'Manifest',
    'MaxMapCountStrategy',
    'MetricsServer',
    'MetricsServerProps',
    'MirrorAccess',
    'MirrorCredentialSecrets',
    'MirrorStorage',
    'NodeGroup',
    'NodeTaint',
    'OutputFile',
    'OutputFileProps',
    'YamlDocuments',
    'PersistentVolumeClaimMount',
    'PlatformPriorityClasses',
    'PlatformPriorityClassesProps',
    'PlatformTier',
    'PolicyExemption',
    'PolicyFinding',
    'PolicyReport',
    'PriorityTierSettings',
    'PrometheusOperatorOptions',
    'PruneLogging',
    'PruneSchedule',
    'RbacResource',
    'RbacVerb',
    'RegistryConfig',
    'RegistryConfigProps',
    'RegistryMirror',
    'RegistryMirrorProps',
    'RegistryProxy',
    'RegistrySecretEnv',
    'RegistryStorage',
    'ReplicatedMode',
    'ResolvedLogging',
    'ResolvedNodeGroup',
    'ResolvedRestartPolicy',
    'ResolvedSwarmConfig',
    'ResolvedSwarmHealthcheck',
    'ResolvedSwarmMount',
    'ResolvedSwarmPlacement',
    'ResolvedSwarmPort',
    'ResolvedSwarmResources',
    'ResolvedSwarmSecret',
    'ResolvedUpdatePolicy',
    'RestartPolicy',
    'S3Storage',
    'ScaleDownSettings',
    'ScaledNodeGroup',
    'SecretKeySource',
    'SecretMount',
    'ServiceExposure',
    'ServiceMode',
    'ShipshapeAggregateError',
    'ShipshapeApp',
    'ShipshapeAppProps',
    'ShipshapeError',
    'ShipshapeErrorDetails',
    'ShipshapePolicyValidation',
    'SnapshotUpload',
    'Stack',
    'StackProps',
    'StructureFileExistenceTest',
    'StructureMetadataTest',
    'StructureTestConfig',
    'SwarmConfigFile',
    'SwarmExemption',
    'SwarmHealthcheck',
    'SwarmMount',
    'SwarmNetworkSpec',
    'SwarmPlacement',
    'SwarmPort',
    'SwarmProject',
    'SwarmProjectConfig',
    'SwarmProjectProps',
    'SwarmProjectSpec',
    'SwarmResources',
    'SwarmSecretRef',
    'SwarmService',
    'SwarmServiceProps',
    'SwarmServiceRule',
    'SwarmServiceSpec',
    'SwarmStack',
    'SwarmStackProps',
    'SynthOptions',
    'SynthesizedObject',
    'SynthesizedStack',
    'TeamAccess',
    'TeamAccessProps',
    'Ulimit',
    'UpdatePolicy',
    'UpdateStrategy',
    'VolumeAccessMode',
    'Weekday',
    'WorkloadPort',
    'WorkloadVolume',
    'clusterAutoscalerClusterRoleRules',
    'distributionVersion',
    'exempt',
    'formatSummary',
    'isManagedControlPlane',
    'synth',
    'synthesizeApp',
    'synthesizeStack',
    // Tables and checks the README documents.
    'CLUSTER_AUTOSCALER_RELEASES',
    'KUBEADM_ETCD_VERSIONS',
    'NODE_VERBS_BY_PROVIDER',
    'POD_DEFINING_RESOURCES',
    'assertIrsaAllowed',
    'clusterApiNodeGroupAnnotations',
    // Swarm clusters.
    'ResolvedSwarmNode',
    'SwarmCluster',
    'SwarmClusterProps',
    'SwarmJoinTokens',
    'SwarmNode',
    'SwarmUnlockKeyStore',
    'managerFailuresTolerated',
    // Tenant namespaces.
    'PodSecurityLevel',
    'TenantContainerDefaults',
    'TenantContainerMaximum',
    'TenantDns',
    'TenantNamespace',
    'TenantNamespaceProps',
    'TenantPeer',
    'TenantPodSecurity',
    'TenantPort',
    'TenantQuota',
    'TenantQuotaAmounts',
    'TenantTrafficRule',
    // Ingress and canary releases.
    'CANARY_ANNOTATIONS',
    'CERT_MANAGER_ANNOTATIONS',
    'CanaryHeader',
    'CanaryRelease',
    'CanaryReleaseProps',
    'DEFAULT_INGRESS_CLASS',
    'IngressPath',
    'IngressTls',
    'TRACK_LABEL',
    'WorkloadIngress',
    'WorkloadIngressProps',
    // Workload observability.
    'ElasticsearchExporter',
    'ElasticsearchExporterProps',
    'ElasticsearchMetricsSource',
    'KUBE_STATE_METRICS_RELEASES',
    'KubeStateMetrics',
    'KubeStateMetricsProps',
    'MonitoringSettings',
    'ServiceMonitor',
    'ServiceMonitorProps',
    'WorkloadAlerts',
    'WorkloadAlertsProps',
    'WorkloadMetrics',
  ],
  'shipshape/pulumi': ['DockerResources', 'ShipshapeStack', 'ShipshapeStackArgs', 'StackComponent', 'StackComponentArgs', 'fromInput', 'kubernetesManifestOf', 'shipshapePolicies'],
};

// Deprecated names kept for one release, and what replaces each.
const DEPRECATED: Record<string, string> = {
  ShipshapeStack: 'StackComponent',
  ShipshapeStackArgs: 'StackComponentArgs',
  EfkStack: 'EfkLogging',
  EfkStackProps: 'EfkLoggingProps',
  SwarmStack: 'SwarmProject',
  SwarmStackProps: 'SwarmProjectProps',
};

interface PublicSymbol {
  readonly name: string;
  readonly target: ts.Symbol;
  readonly declaration: ts.Declaration;
  readonly file: string;
  readonly isValue: boolean;
}

let checker: ts.TypeChecker;
const exported: Record<Entry, PublicSymbol[]> = { shipshape: [], 'shipshape/pulumi': [] };

function aliased(s: ts.Symbol): ts.Symbol {
  return s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
}

function hasJsDoc(s: ts.Symbol): boolean {
  return ts.displayPartsToString(s.getDocumentationComment(checker)).trim().length > 0 || s.getJsDocTags(checker).some((t) => t.name === 'deprecated');
}

beforeAll(() => {
  const files = Object.values(ENTRIES).map((f) => path.join(root, f));
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    esModuleInterop: true,
    resolveJsonModule: true,
    noEmit: true,
  });
  checker = program.getTypeChecker();
  for (const [entry, file] of Object.entries(ENTRIES) as [Entry, string][]) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(path.join(root, file))!)!;
    for (const s of checker.getExportsOfModule(module)) {
      const target = aliased(s);
      const declaration = target.getDeclarations()![0];
      exported[entry].push({ name: s.name, target, declaration, file: path.relative(root, declaration.getSourceFile().fileName), isValue: (target.flags & ts.SymbolFlags.Value) !== 0 });
    }
  }
}, 60_000);

describe('the public surface', () => {
  for (const entry of Object.keys(ENTRIES) as Entry[]) {
    describe(`"${entry}"`, () => {
      it('exports exactly the reviewed names', () => {
        expect(exported[entry].map((s) => s.name).sort()).toEqual([...PUBLIC[entry]].sort());
      });

      it('documents every exported symbol with JSDoc', () => {
        const undocumented = exported[entry].filter((s) => !hasJsDoc(s.target)).map((s) => `${s.name} (${s.file})`);
        expect(undocumented).toEqual([]);
      });

      it('names every export explicitly: no `export *` in the entry', () => {
        const source = fs.readFileSync(path.join(root, ENTRIES[entry]), 'utf8');
        expect(source).not.toMatch(/export\s*\*/);
      });

      it('has at run time exactly the value exports the types declare', () => {
        const runtime = entry === 'shipshape' ? shipshape : shipshapePulumi;
        const values = exported[entry]
          .filter((s) => s.isValue)
          .map((s) => s.name)
          .sort();
        expect(Object.keys(runtime).sort()).toEqual(values);
      });
    });
  }

  it('keeps the deprecated aliases for one release, marked @deprecated and pointing at their replacement', () => {
    const all = [...exported.shipshape, ...exported['shipshape/pulumi']];
    const runtime: Record<string, unknown> = { ...shipshape, ...shipshapePulumi };
    for (const [old, replacement] of Object.entries(DEPRECATED)) {
      const symbol = all.find((s) => s.name === old);
      expect(symbol, old).toBeDefined();
      const tag = symbol!.target.getJsDocTags(checker).find((t) => t.name === 'deprecated');
      expect(ts.displayPartsToString(tag?.text ?? []), old).toContain(replacement);
      if (symbol!.isValue) expect(runtime[old], old).toBe(runtime[replacement]);
    }
  });

  it('no longer exports the internal helpers', () => {
    const names = new Set([...exported.shipshape, ...exported['shipshape/pulumi']].map((s) => s.name));
    for (const helper of [
      'byCodePoint',
      'writeFilesAtomically',
      'renderFluentValue',
      'ROTATE_SCRIPT',
      'YAML_OPTIONS',
      'renderFiles',
      'evaluatePolicy',
      'registerDockerResources',
      'pulumiResourceName',
    ]) {
      expect(names.has(helper), helper).toBe(false);
    }
  });

  it('exports every type the public API refers to that its module exports, so users can name it', () => {
    const publicTargets = new Set([...exported.shipshape, ...exported['shipshape/pulumi']].map((s) => s.target));
    const missing = new Set<string>();
    const visit = (node: ts.Node, from: string): void => {
      // Private members and function bodies are not part of the API.
      if (ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword)) return;
      if (ts.isBlock(node) || (ts.isPropertyDeclaration(node) && node.type === undefined)) return;
      if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
        const id = ts.isTypeReferenceNode(node) ? node.typeName : node.expression;
        const found = checker.getSymbolAtLocation(id);
        const target = found && aliased(found);
        const declaration = target?.getDeclarations()?.[0];
        const module = declaration && checker.getSymbolAtLocation(declaration.getSourceFile());
        const exportedByModule = module !== undefined && checker.getExportsOfModule(module).some((e) => aliased(e) === target);
        if (target && declaration && exportedByModule && declaration.getSourceFile().fileName.startsWith(path.join(root, 'lib') + path.sep) && !publicTargets.has(target)) {
          missing.add(`${target.name} (used by ${from})`);
        }
      }
      ts.forEachChild(node, (child) => visit(child, from));
    };
    for (const s of publicTargets) for (const d of s.getDeclarations() ?? []) if (!ts.isVariableDeclaration(d) || d.type) visit(d, s.name);
    expect([...missing].sort()).toEqual([]);
  });
});
