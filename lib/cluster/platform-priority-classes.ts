import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ShipshapeError } from '../core/errors';
import { LABELS, MANAGED_BY } from '../core/labels';
import { assertDnsLabel } from '../core/names';
import { Stack } from '../core/stack';
import { LABEL_VALUE_MAX } from '../core/validate';

/** The platform's priority tiers, highest first. */
export type PlatformTier = 'critical' | 'high' | 'standard' | 'batch';

/** One tier's PriorityClass settings. */
export interface PriorityTierSettings {
  /** Priority value; higher schedules (and preempts) first. Below 1,000,000,000 (reserved for system-*). */
  readonly value: number;
  /** What the tier is for, shown by `kubectl get priorityclass`. */
  readonly description: string;
  /**
   * Whether pods of the tier evict lower-priority pods to make room.
   * @default true
   */
  readonly preempts?: boolean;
}

/** Properties of {@link PlatformPriorityClasses}. */
export interface PlatformPriorityClassesProps {
  /**
   * Prefix of the PriorityClass names (`<prefix>-critical` ...).
   * @default 'platform'
   */
  readonly prefix?: string;
  /**
   * Per-tier overrides.
   * @default PLATFORM_TIERS
   */
  readonly tiers?: Partial<Record<PlatformTier, PriorityTierSettings>>;
  /**
   * Tier that pods without a priorityClassName get (`globalDefault`); `undefined` leaves the cluster default (0).
   * @default - none
   */
  readonly globalDefault?: PlatformTier;
}

/**
 * Default tiers. Values sit well below the system classes (2,000,000,000 and up) so node agents and control
 * plane add-ons always win, and far enough apart to insert tiers later. Batch does not preempt: a report job
 * must never evict a serving pod (Kubernetes docs, "Non-preempting PriorityClass").
 */
export const PLATFORM_TIERS: Readonly<Record<PlatformTier, PriorityTierSettings>> = Object.freeze({
  critical: { value: 1_000_000, description: 'Platform services every workload depends on (ingress, logging, backups)', preempts: true },
  high: { value: 100_000, description: 'Customer-facing services', preempts: true },
  standard: { value: 10_000, description: 'Internal services', preempts: true },
  batch: { value: 1_000, description: 'Batch and report jobs; never preempts other pods', preempts: false },
});
const TIER_ORDER: readonly PlatformTier[] = ['critical', 'high', 'standard', 'batch'];
// Kubernetes reserves values above one billion for system-* classes.
const MAX_USER_PRIORITY = 1_000_000_000;

/** PriorityClasses for the platform tiers; consumers take the names from `names` instead of repeating strings. */
export class PlatformPriorityClasses extends Construct {
  /** PriorityClass name per tier, e.g. `names.critical === 'platform-critical'`. */
  public readonly names: Readonly<Record<PlatformTier, string>>;
  public readonly classes: Readonly<Record<PlatformTier, kplus.k8s.KubePriorityClass>>;

  constructor(scope: Construct, id: string, props: PlatformPriorityClassesProps = {}) {
    super(scope, id);
    const env = Stack.of(this).environment;
    const prefix = assertDnsLabel(this, 'prefix', props.prefix ?? 'platform');
    // `<prefix>-<tier>` is also the app.kubernetes.io/name label value, which is limited to 63 characters.
    const longest = Math.max(...TIER_ORDER.map((t) => t.length));
    const prefixMax = LABEL_VALUE_MAX - 1 - longest;
    if (prefix.length > prefixMax) {
      throw new ShipshapeError(this, {
        problem: `prefix makes the PriorityClass name "${prefix}-${TIER_ORDER.find((t) => t.length === longest)}", which is also a label value, longer than ${LABEL_VALUE_MAX} characters`,
        value: prefix,
        fix: `shorten prefix to at most ${prefixMax} characters, e.g. "platform"`,
      });
    }
    const tiers = { ...PLATFORM_TIERS, ...props.tiers };
    const names = {} as Record<PlatformTier, string>;
    const classes = {} as Record<PlatformTier, kplus.k8s.KubePriorityClass>;
    let previous = Infinity;
    for (const tier of TIER_ORDER) {
      const settings = tiers[tier];
      if (!Number.isInteger(settings.value) || settings.value < 0 || settings.value >= MAX_USER_PRIORITY) {
        throw new ShipshapeError(this, {
          problem: `tiers.${tier}.value must be an integer from 0 to ${MAX_USER_PRIORITY - 1}`,
          value: settings.value,
          fix: 'use a value below the system-* classes, e.g. 100000',
        });
      }
      if (settings.value >= previous) {
        throw new ShipshapeError(this, {
          problem: `tiers.${tier}.value must be below the tier above it (${previous})`,
          value: settings.value,
          fix: `order the values critical > high > standard > batch`,
        });
      }
      previous = settings.value;
      const name = `${prefix}-${tier}`;
      names[tier] = name;
      classes[tier] = new kplus.k8s.KubePriorityClass(this, tier, {
        metadata: { name, labels: { [LABELS.name]: name, [LABELS.component]: 'scheduling', [LABELS.managedBy]: MANAGED_BY, [LABELS.environment]: env.name } },
        value: settings.value,
        description: settings.description,
        globalDefault: props.globalDefault === tier,
        preemptionPolicy: (settings.preempts ?? true) ? 'PreemptLowerPriority' : 'Never',
      });
    }
    this.names = Object.freeze(names);
    this.classes = Object.freeze(classes);
  }
}
