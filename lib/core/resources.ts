import { Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';

// cdk8s' SizeRoundingBehavior.FLOOR: a fraction of a mebibyte is dropped rather than refused.
const FLOOR = 1;

/** The amounts of {@link resources}. */
export interface ResourceAmounts {
  /** CPU the scheduler reserves for the container; no CPU limit is set, because CPU limits throttle. */
  readonly cpu: kplus.Cpu;
  /** Memory the scheduler reserves for the container. */
  readonly memory: Size;
  /**
   * Memory at which the container is killed.
   * @default - the request: no overcommit, so a node never runs short of what its pods were promised
   */
  readonly memoryLimit?: Size;
}

/** A memory or storage quantity in whole MiB, e.g. `512Mi`. */
export function mebibytes(size: Size): kplus.k8s.Quantity {
  return kplus.k8s.Quantity.fromString(`${size.toMebibytes({ rounding: FLOOR })}Mi`);
}

/** A CPU quantity as the `Cpu` holds it (`Cpu.millis(250)` → `250m`, `Cpu.units(2)` → `2`). */
export function cpuQuantity(cpu: kplus.Cpu): kplus.k8s.Quantity {
  return kplus.k8s.Quantity.fromString(String(cpu.amount));
}

/**
 * Container requests and limits as L1 quantities: a CPU request and no CPU limit (CPU limits throttle), a memory
 * request and a memory limit (the request unless given).
 */
export function resources(amounts: ResourceAmounts): kplus.k8s.ResourceRequirements {
  return {
    requests: { cpu: cpuQuantity(amounts.cpu), memory: mebibytes(amounts.memory) },
    limits: { memory: mebibytes(amounts.memoryLimit ?? amounts.memory) },
  };
}
