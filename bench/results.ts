/** The shape of bench/results.json, shared by the runner (bench/run.ts) and the Markdown renderer (bench/report.ts). */
import type { Machine, Measurement } from './harness';

/** Everything results.json holds. */
export interface BenchResults {
  readonly generatedAt: string;
  /** Wall time of the whole bench run, seconds. */
  readonly durationS: number;
  readonly machine: Machine;
  readonly options: { runs: number; warmups: number; sizes: number[]; quick: boolean; rss: string };
  readonly build?: { readonly tscMs: number; readonly ok: boolean; readonly errors?: string };
  readonly measurements: Record<string, Measurement>;
  readonly checks: { name: string; ok: boolean; detail: string }[];
  readonly derived: Record<string, number | null>;
  readonly targets: { id: string; target: string; value: string; met: boolean | null; note?: string }[];
  readonly errors: string[];
}
