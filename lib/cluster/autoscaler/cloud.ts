import { ErrorScope } from '../../core/errors';
import { AutoscalerProvider, invalidCloudField } from './provider';
import { AWS_AUTOSCALER_PROVIDER, AwsAutoscalerCloud } from './providers/aws';
import { AZURE_AUTOSCALER_PROVIDER, AzureAutoscalerCloud } from './providers/azure';
import { CLUSTER_API_AUTOSCALER_PROVIDER, ClusterApiAutoscalerCloud } from './providers/clusterapi';
import { GCE_AUTOSCALER_PROVIDER, GceAutoscalerCloud } from './providers/gce';

/**
 * The cloud providers of the cluster-autoscaler, by `provider`: the one table a new cloud is added to. The order
 * is the order error messages list them in.
 */
export const AUTOSCALER_PROVIDERS = Object.freeze({
  aws: AWS_AUTOSCALER_PROVIDER,
  gce: GCE_AUTOSCALER_PROVIDER,
  azure: AZURE_AUTOSCALER_PROVIDER,
  clusterapi: CLUSTER_API_AUTOSCALER_PROVIDER,
});

type Providers = typeof AUTOSCALER_PROVIDERS;
type SettingsOf<P> = P extends AutoscalerProvider<infer C> ? C : never;

/** The cloud the autoscaler drives; each variant carries what that cloud needs (one per {@link AUTOSCALER_PROVIDERS} entry). */
export type AutoscalerCloud = { [K in keyof Providers]: SettingsOf<Providers[K]> }[keyof Providers];

/** The name of a cloud provider the autoscaler supports. */
export type AutoscalerProviderName = AutoscalerCloud['provider'];

/**
 * Typed constructors of {@link AutoscalerCloud} settings, e.g. `AutoscalerCloud.aws({ region: 'eu-west-1' })`;
 * the same as writing the object with its `provider`.
 */
export const AutoscalerCloud = Object.freeze({
  /** AWS Auto Scaling groups. */
  aws: (settings: Omit<AwsAutoscalerCloud, 'provider'>): AwsAutoscalerCloud => ({ provider: 'aws', ...settings }),
  /** GCE managed instance groups. */
  gce: (settings: Omit<GceAutoscalerCloud, 'provider'> = {}): GceAutoscalerCloud => ({ provider: 'gce', ...settings }),
  /** Azure virtual machine scale sets. */
  azure: (settings: Omit<AzureAutoscalerCloud, 'provider'>): AzureAutoscalerCloud => ({ provider: 'azure', ...settings }),
  /** Cluster API machine sets. */
  clusterApi: (settings: Omit<ClusterApiAutoscalerCloud, 'provider'>): ClusterApiAutoscalerCloud => ({ provider: 'clusterapi', ...settings }),
});

/** The provider for a cloud's settings; throws naming `scope` for an unknown provider. */
export function autoscalerProviderFor(scope: ErrorScope, cloud: AutoscalerCloud): AutoscalerProvider<AutoscalerCloud> {
  const name = (cloud as { provider?: unknown } | undefined)?.provider;
  const provider = typeof name === 'string' && Object.prototype.hasOwnProperty.call(AUTOSCALER_PROVIDERS, name) ? AUTOSCALER_PROVIDERS[name as AutoscalerProviderName] : undefined;
  if (!provider) {
    throw invalidCloudField(
      scope,
      'provider',
      name,
      `use one of ${Object.keys(AUTOSCALER_PROVIDERS)
        .map((p) => `'${p}'`)
        .join(', ')}`,
      'cloud.provider is not a supported cloud',
    );
  }
  // Each entry reads the settings whose `provider` is its key, which is how it was found.
  return provider as AutoscalerProvider<AutoscalerCloud>;
}
